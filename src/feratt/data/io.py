"""Robust image reading: every failure names the file and says what was wrong."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm", ".ppm"})


class CorruptImageError(ValueError):
    """An image file that exists but cannot be decoded completely."""


def _truncation(data: np.ndarray, suffix: str) -> str | None:
    """Why the encoded bytes look cut short, or None; OpenCV decodes such files silently."""
    raw = data.tobytes()
    # A JPEG's end-of-image marker must follow its last start-of-scan marker.
    jpeg = suffix in {".jpg", ".jpeg"} and raw[:2] == b"\xff\xd8"
    if jpeg and raw.rfind(b"\xff\xd9") < raw.rfind(b"\xff\xda"):
        return "truncated JPEG (no end-of-image marker after the last scan)"
    if suffix == ".png" and raw[:4] == b"\x89PNG" and b"IEND" not in raw[-16:]:
        return "truncated PNG (no IEND chunk at the end)"
    return None


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file as uint8 HxW (grey) or HxWx3 (RGB).

    Raises FileNotFoundError when the file is missing and CorruptImageError (a ValueError) when it
    is empty, truncated or not decodable.
    """
    path = os.fspath(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except (FileNotFoundError, IsADirectoryError):
        raise FileNotFoundError(f"image file {path} does not exist") from None
    if data.size == 0:
        raise CorruptImageError(f"image file {path} is empty (0 bytes)")
    problem = _truncation(data, os.path.splitext(path)[1].lower())
    if problem:
        raise CorruptImageError(f"image file {path} is corrupt: {problem}")
    image = cv2.imdecode(data, cv2.IMREAD_ANYCOLOR)
    if image is None or image.size == 0:
        raise CorruptImageError(
            f"image file {path} is corrupt or not an image OpenCV can decode "
            f"(expected one of {', '.join(sorted(IMAGE_EXTENSIONS))})"
        )
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(float(image.max()), 1.0))
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3:
        code = cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB
        return cv2.cvtColor(image, code)
    return image


def to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """The image as grey HxW (channels=1) or RGB HxWx3 (channels=3)."""
    if channels == 1:
        return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if channels == 3:
        return image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
