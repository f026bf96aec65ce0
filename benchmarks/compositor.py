"""Compositor throughput: the batched torch compositor against a per-sample numpy/cv2 reference.

The reference follows the authors' generator (ferattention/torchlib/transforms/ferrender.py):
one sample at a time, the face resized to 256 px and padded, a background crop, three
cv2.warpAffine calls each for face and mask, skimage Lab relighting, cv2 morphology and
scipy hole filling, grey conversion, CLAHE / noise / blur, and a final resize to the output size.

    python benchmarks/compositor.py [--faces ../shared/data/ckplus48]
        [--backgrounds ../shared/data/backgrounds] [--batch 200] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import scipy.ndimage as ndi
import skimage.color as skcolor
import torch

from feratt.data.compositing import Compositor, CompositorConfig, load_backgrounds

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def load_faces(folder: Path, count: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` grey face crops resized to `size`, with an ellipse mask each."""
    paths = sorted(folder.rglob("*.png"))[:count]
    faces = np.stack(
        [cv2.resize(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), (size, size)) for p in paths]
    )
    y, x = np.mgrid[:size, :size]
    ellipse = ((x - (size - 1) / 2) / (0.42 * size)) ** 2 + (
        (y - size / 2) / (0.48 * size)
    ) ** 2 <= 1
    masks = np.broadcast_to(ellipse, faces.shape).copy()
    return torch.from_numpy(faces).unsqueeze(1), torch.from_numpy(masks)


def reference_sample(
    face: np.ndarray, mask: np.ndarray, back: np.ndarray, rng: np.random.Generator, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """One sample the authors' way (train settings); returns the grey composite and the mask."""
    image = np.pad(
        cv2.resize(cv2.cvtColor(face, cv2.COLOR_GRAY2RGB), (256, 256)), ((10, 10), (10, 10), (0, 0))
    )
    face_mask = np.pad(
        cv2.resize(mask.astype(np.uint8), (256, 256), interpolation=cv2.INTER_NEAREST), 10
    )
    side = image.shape[0]
    zoom = side + int(50 * rng.random())
    top, left = (rng.integers(0, max(1, n - zoom)) for n in back.shape[:2])
    back = cv2.resize(back[top : top + zoom, left : left + zoom], (side, side))
    centre = (side / 2, side / 2)
    scale = cv2.getRotationMatrix2D(centre, 0, rng.uniform(0.8, 1.2))
    rotation = cv2.getRotationMatrix2D(centre, rng.uniform(-30, 30), 1)
    shift = np.float32(
        [[1, 0, 0.2 * side * rng.uniform(-1, 1)], [0, 1, 0.2 * side * rng.uniform(-1, 1)]]
    )
    corners = np.float32([[0, 0], [0, side], [side, 0]])
    warp = cv2.getAffineTransform(
        corners, corners + 0.1 * side * rng.uniform(-1, 1, (3, 2)).astype(np.float32)
    )
    if rng.random() < 0.5:
        image, face_mask = image[:, ::-1].copy(), face_mask[:, ::-1].copy()
    for matrix in (scale, rotation, shift, warp):
        image = cv2.warpAffine(image, matrix, (side, side), flags=cv2.INTER_LINEAR)
        face_mask = cv2.warpAffine(face_mask, matrix, (side, side), flags=cv2.INTER_NEAREST)
    face_lab, back_lab = skcolor.rgb2lab(image), skcolor.rgb2lab(back)
    weight = face_mask > 0
    gain = np.clip(back_lab[..., 0].mean() / max(face_lab[..., 0][weight].mean(), 1e-6), 0.5, 1.5)
    face_lab[..., 0] = np.clip(face_lab[..., 0] * gain, 10, 90)
    relit = skcolor.lab2rgb(face_lab) * 255
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (7, 7))
    clean = cv2.erode(cv2.morphologyEx(face_mask, cv2.MORPH_CLOSE, kernel), kernel)
    clean = ndi.binary_fill_holes(clean > 0)[..., None]
    composite = np.where(clean, relit, back).astype(np.uint8)
    grey = cv2.cvtColor(composite, cv2.COLOR_RGB2GRAY)
    if rng.random() < 0.25:
        grey = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(grey)
    if rng.random() < 0.25:
        grey = np.clip(grey + rng.normal(0, 0.05 * 255, grey.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.25:
        k = int(rng.integers(1, 4)) * 2 + 1
        grey = cv2.GaussianBlur(grey, (k, k), 0)
    grey = cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB), cv2.resize(
        clean[..., 0].astype(np.uint8), (size, size)
    )


def time_reference(
    faces: torch.Tensor, masks: torch.Tensor, backgrounds: torch.Tensor, count: int, size: int
) -> float:
    """Samples per second of the per-sample reference (it uses one core)."""
    cv2.setNumThreads(1)
    rng = np.random.default_rng(0)
    face_np, mask_np = faces[:, 0].numpy(), masks.numpy()
    back_np = backgrounds.permute(0, 2, 3, 1).numpy()
    if back_np.shape[-1] == 1:
        back_np = np.repeat(back_np, 3, -1)
    start = time.perf_counter()
    for i in range(count):
        reference_sample(
            face_np[i % len(face_np)],
            mask_np[i % len(mask_np)],
            back_np[rng.integers(len(back_np))],
            rng,
            size,
        )
    return count / (time.perf_counter() - start)


def time_compositor(
    compositor: Compositor, faces: torch.Tensor, masks: torch.Tensor, repeats: int
) -> float:
    """Samples per second of the batched compositor (median over `repeats` batches)."""
    device = compositor.device
    faces, masks = faces.to(device), masks.to(device)
    generator = torch.Generator(device=device).manual_seed(0)
    compositor(faces, masks, generator=generator)
    timings = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        compositor(faces, masks, generator=generator)
        if device.type == "cuda":
            torch.cuda.synchronize()
        timings.append(time.perf_counter() - start)
    return len(faces) / float(np.median(timings))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=SHARED / "ckplus48")
    parser.add_argument("--backgrounds", type=Path, default=SHARED / "backgrounds")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--reference-samples", type=int, default=100)
    args = parser.parse_args()

    faces, masks = load_faces(args.faces, args.batch, args.size)
    backgrounds = load_backgrounds(args.backgrounds)
    compositor = Compositor(backgrounds, CompositorConfig(size=args.size))
    rows = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        rate = time_compositor(compositor, faces, masks, args.repeats)
        rows.append((f"torch CPU, {threads} thread(s)", rate, rate / threads))
    if torch.cuda.is_available():
        rate = time_compositor(compositor.to("cuda"), faces, masks, args.repeats * 4)
        rows.append((f"torch {torch.cuda.get_device_name()}", rate, float("nan")))
    reference = time_reference(faces, masks, backgrounds, args.reference_samples, args.size)
    rows.append(("per-sample numpy/cv2 reference, 1 core", reference, reference))

    print(f"compositor, {args.size}x{args.size}, batch {len(faces)}, torch {torch.__version__}")
    print(f"{'pipeline':44s} {'samples/s':>10s} {'per core':>10s} {'x ref/core':>10s}")
    for name, rate, per_core in rows:
        print(f"{name:44s} {rate:10.0f} {per_core:10.0f} {per_core / reference:10.1f}")


if __name__ == "__main__":
    main()
