"""Turn whatever a user hands in (a path, a numpy array, a PIL image) into one uint8 RGB array."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from feratt.data.io import MAX_IMAGE_PIXELS, read_image

ImageInput = str | Path | np.ndarray | Any  # Any: a PIL.Image.Image (PIL is not imported here)

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm"})


def to_rgb_uint8(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Grey, RGB or RGBA; uint8, uint16 or float in [0, 1] -> contiguous uint8 HxWx3 RGB.

    Alpha is composited onto black (transparent pixels are not face evidence).
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ValueError(f"{name}: expected HxW, HxWx3 or HxWx4 pixels, got shape {image.shape}")
    if min(image.shape[:2]) == 0:
        raise ValueError(f"{name}: empty image of shape {image.shape}")
    image = _to_uint8(image, name)
    if image.ndim == 3 and image.shape[2] == 4:
        alpha = image[:, :, 3:].astype(np.uint16)
        image = ((image[:, :, :3] * alpha + 127) // 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image)


def _to_uint8(image: np.ndarray, name: str) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    if image.dtype == bool or np.issubdtype(image.dtype, np.floating):
        return (np.clip(image.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    raise ValueError(f"{name}: unsupported pixel type {image.dtype} (use uint8, uint16 or float)")


def load_image(source: ImageInput, max_pixels: int | None = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Any supported image input -> uint8 HxWx3 RGB; a file of more than `max_pixels` pixels
    (None: no limit) is refused from its header, before decoding."""
    if isinstance(source, (str, Path)):
        return to_rgb_uint8(read_image(source, max_pixels), name=str(source))
    if isinstance(source, np.ndarray):
        return to_rgb_uint8(source)
    if hasattr(source, "mode") and hasattr(source, "convert"):  # PIL.Image.Image
        return _pil_to_rgb(source)
    raise ValueError(f"unsupported image input of type {type(source).__name__}")


def _pil_to_rgb(image: Any) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return to_rgb_uint8(np.asarray(image).astype(np.uint16), name="PIL image")
    return to_rgb_uint8(np.asarray(image.convert("RGBA" if "A" in image.mode else "RGB")))
