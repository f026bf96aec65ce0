"""The background pool: natural photos read once into one uint8 tensor, and its train/test split."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


def _square(image: np.ndarray, size: int) -> np.ndarray:
    """Resize so the short side is `size`, then crop the centre square."""
    height, width = image.shape[:2]
    scale = size / min(height, width)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    image = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return image[top : top + size, left : left + size]


def load_backgrounds(
    folder: str | Path, size: int | None = None, channels: int | None = None
) -> torch.Tensor:
    """Read every image in `folder` (sorted by name) into a uint8 tensor (B, C, size, size).

    Photos of different sizes are brought to one square size: the short side is resized to
    `size`, then the centre square is kept. Without `size`, the smallest short side in the folder
    is used, so no photo is enlarged.

    Args:
        folder: a folder of images (png, jpg, bmp, tif, webp, pgm, ppm); others are ignored.
        size: side of the stored squares in pixels.
        channels: 1 (grey) or 3 (RGB); by default 3 if any image is in colour, else 1.

    Raises:
        FileNotFoundError: `folder` is not a folder.
        ValueError: no readable image in `folder`, or a bad `channels`.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"background folder {folder} does not exist")
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    images = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            continue
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        if image.dtype != np.uint8:
            image = cv2.convertScaleAbs(image, alpha=255.0 / max(float(image.max()), 1.0))
        if image.ndim == 3:
            code = cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB
            image = cv2.cvtColor(image, code)
        images.append(image)
    if not images:
        raise ValueError(f"background folder {folder} holds no readable image")
    if channels is None:
        channels = 3 if any(image.ndim == 3 for image in images) else 1
    side = size or min(min(image.shape[:2]) for image in images)
    stacked = []
    for image in images:
        image = _square(image, side)
        if channels == 1 and image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        elif channels == 3 and image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        stacked.append(image.reshape(side, side, channels))
    return torch.from_numpy(np.stack(stacked)).permute(0, 3, 1, 2).contiguous()


def split_backgrounds(
    n: int, test_fraction: float = 0.2, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint (train_idx, test_idx) over a pool of `n` backgrounds, the same for the same seed.

    The synthetic test set draws only from `test_idx`, so its backgrounds are never seen in
    training (SPEC section 3, protocol).
    """
    if n < 2:
        raise ValueError(f"need at least 2 backgrounds to split into train and test, got {n}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = min(max(1, round(n * test_fraction)), n - 1)
    return order[n_test:].sort().values, order[:n_test].sort().values


BACKGROUND_ROLES = ("train", "val", "test")


def background_roles(
    n: int, test_fraction: float = 0.2, val_fraction: float = 0.1, seed: int = 0
) -> dict[str, torch.Tensor]:
    """The one background split: disjoint ``train``/``val``/``test`` indices over `n` backgrounds,
    so training never composites onto a validation or test background."""
    rest, test = split_backgrounds(n, test_fraction, seed)
    train, val = split_backgrounds(len(rest), val_fraction, seed + 1)
    return {"train": rest[train], "val": rest[val], "test": test}
