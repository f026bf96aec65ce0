"""Fixed synthetic face sets over the compositor: the synthetic test set of a split (SPEC
section 3, protocol) and writing a set to disk with a preview grid. Training batches are
``feratt.data.batches``."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import torch

from feratt.data.compositing import (
    BACKGROUND_ROLES,
    CompositeBatch,
    Compositor,
    CompositorConfig,
    background_roles,
)
from feratt.data.records import PreparedFaces
from feratt.fileio import atomic_write


def backgrounds_for(
    pool: torch.Tensor,
    split: str,
    test_fraction: float = 0.2,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> torch.Tensor:
    """The ``train``, ``val`` or ``test`` role of a background pool (uint8 (B, C, H, W)): the
    split training uses (``background_roles``; defaults: DataConfig's), disjoint and fixed."""
    if split not in BACKGROUND_ROLES:
        raise ValueError(f"split must be one of {', '.join(BACKGROUND_ROLES)}, got {split!r}")
    return pool[background_roles(len(pool), test_fraction, val_fraction, seed)[split]]


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
    with atomic_write(out_dir / "labels.csv", newline="") as handle:
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
