"""Seeded synthetic faces over the compositor: training batches, the fixed synthetic test set of a
split (SPEC section 3, protocol), and writing a set to disk with a preview grid."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import torch

from feratt.data.compositing import (
    CompositeBatch,
    Compositor,
    CompositorConfig,
    split_backgrounds,
)
from feratt.data.records import PreparedFaces


def backgrounds_for(
    pool: torch.Tensor, split: str, test_fraction: float = 0.2, seed: int = 0
) -> torch.Tensor:
    """The "train" or "test" part of a background pool (uint8 (B, C, H, W)), disjoint and fixed."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    train_idx, test_idx = split_backgrounds(len(pool), test_fraction, seed)
    return pool[train_idx if split == "train" else test_idx]


def balanced_indices(
    labels: torch.Tensor, num_classes: int, count: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """`count` face indices drawn class-balanced (SPEC section 3): a class uniformly among those
    present, then one of its faces uniformly. On the labels' device, without a host sync."""
    device = labels.device
    order = labels.argsort(stable=True)
    per_class = torch.zeros(num_classes, dtype=torch.long, device=device)
    per_class.scatter_add_(0, labels, torch.ones_like(labels))
    starts = per_class.cumsum(0) - per_class
    present = (per_class > 0).long()
    draws = torch.rand(count, 2, generator=generator, device=device)
    # The k-th present class, k uniform over the number of present classes.
    rank = (draws[:, 0] * present.sum()).floor().long()
    chosen = torch.searchsorted(present.cumsum(0), rank, right=True)
    within = (draws[:, 1] * per_class[chosen]).floor().long()
    return order[starts[chosen] + within]


class SyntheticFaceStream:
    """Endless class-balanced composite batches of a face set, seeded, on the compositor's device.

    Args:
        faces: the prepared faces (their crops, masks and labels move to the device once).
        compositor: a Compositor over the training backgrounds.
        seed: seeds the stream's generator; the same seed gives the same batches.
        balanced: draw classes uniformly (SPEC section 3), else faces uniformly.
    """

    def __init__(
        self, faces: PreparedFaces, compositor: Compositor, seed: int = 0, balanced: bool = True
    ) -> None:
        device = compositor.device
        self.compositor = compositor
        self.faces = torch.from_numpy(np.ascontiguousarray(faces.faces)).to(device)
        self.masks = torch.from_numpy(np.ascontiguousarray(faces.masks)).to(device)
        self.labels = torch.from_numpy(np.asarray(faces.labels, np.int64)).to(device)
        self.num_classes = len(faces.classes)
        self.balanced = balanced
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def batch(self, size: int) -> CompositeBatch:
        """The next `size` composites."""
        if self.balanced:
            index = balanced_indices(self.labels, self.num_classes, size, self.generator)
        else:
            index = torch.randint(
                len(self.labels), (size,), generator=self.generator, device=self.labels.device
            )
        return self.compositor(
            self.faces[index], self.masks[index], self.labels[index], self.generator
        )


def build_synthetic_set(
    faces: PreparedFaces,
    backgrounds: torch.Tensor,
    seed: int = 0,
    mode: str = "test",
    copies: int = 1,
    config: CompositorConfig | None = None,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> CompositeBatch:
    """A fixed synthetic set: every face composited `copies` times, on the CPU.

    Sample i is made from face i % len(faces). The same faces, backgrounds, seed, config and
    batch size give a bit-identical set on the CPU. For the synthetic test set of a split, pass
    the test subjects' faces and `backgrounds_for(pool, "test")`, never seen in training.

    Args:
        faces: the prepared faces.
        backgrounds: uint8 (B, C, H, W) background pool.
        seed: seeds the generator.
        mode: "test" (wider affine ranges) or "train"; ignored when `config` is given.
        copies: composites per face.
        config: full compositor settings (default: CompositorConfig(mode=mode)).
        batch_size: faces composited at once.
        device: where to composite.
    """
    if copies < 1:
        raise ValueError(f"copies must be at least 1, got {copies}")
    compositor = Compositor(backgrounds, config or CompositorConfig(mode=mode)).to(device)
    generator = torch.Generator(device=compositor.device).manual_seed(seed)
    source = torch.arange(len(faces)).repeat(copies)
    face_tensor = torch.from_numpy(np.ascontiguousarray(faces.faces))
    mask_tensor = torch.from_numpy(np.ascontiguousarray(faces.masks))
    label_tensor = torch.from_numpy(np.asarray(faces.labels, np.int64))
    parts = []
    for start in range(0, len(source), batch_size):
        index = source[start : start + batch_size]
        batch = compositor(face_tensor[index], mask_tensor[index], label_tensor[index], generator)
        parts.append({name: value.cpu() for name, value in vars(batch).items()})
    return CompositeBatch(**{name: torch.cat([p[name] for p in parts]) for name in parts[0]})


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) float in [0, 1] or bool -> uint8 (N, H, W, C)."""
    return (images.float() * 255.0).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


def preview_grid(batch: CompositeBatch, count: int = 16, columns: int = 4) -> np.ndarray:
    """uint8 RGB image: for the first `count` samples, composite | clean face | mask, in a grid."""
    count = min(count, len(batch))
    panels = [_to_uint8(batch.image[:count]), _to_uint8(batch.clean[:count])]
    panels.append(np.repeat(_to_uint8(batch.mask[:count]), 3, axis=-1))
    size = panels[0].shape[1]
    gap = max(1, size // 16)
    cell_w = 3 * size + 2 * gap
    rows = -(-count // columns)
    grid = np.full(
        (rows * (size + gap) - gap, columns * (cell_w + 2 * gap) - 2 * gap, 3), 96, np.uint8
    )
    for i in range(count):
        top, left = (i // columns) * (size + gap), (i % columns) * (cell_w + 2 * gap)
        for j, panel in enumerate(panels):
            x = left + j * (size + gap)
            grid[top : top + size, x : x + size] = panel[i]
    return grid


def save_synthetic_set(
    batch: CompositeBatch,
    out_dir: str | Path,
    classes: tuple[str, ...],
    sources: list[str] | None = None,
) -> Path:
    """Write images/, clean/, masks/ PNGs, labels.csv and preview.png to `out_dir`.

    labels.csv has one row per sample: file, label (index into `classes`), class name, and the
    source face's path when `sources` is given. Returns `out_dir`.
    """
    out_dir = Path(out_dir)
    folders = {name: out_dir / name for name in ("images", "clean", "masks")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "images": _to_uint8(batch.image),
        "clean": _to_uint8(batch.clean),
        "masks": _to_uint8(batch.mask),
    }
    labels = batch.label.tolist() if batch.label is not None else [None] * len(batch)
    with open(out_dir / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "label", "class"] + (["source"] if sources else []))
        for i, label in enumerate(labels):
            name = f"{i:06d}.png"
            for key, folder in folders.items():
                _write_png(folder / name, arrays[key][i])
            row = [name, "" if label is None else label, "" if label is None else classes[label]]
            writer.writerow(row + ([sources[i]] if sources else []))
    _write_png(out_dir / "preview.png", preview_grid(batch))
    return out_dir


def _write_png(path: Path, image: np.ndarray) -> None:
    """Write an RGB (H, W, 3) or grey (H, W, 1) uint8 image."""
    if image.shape[-1] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")
