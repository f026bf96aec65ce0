"""Robust image reading: every failure names the file and says what was wrong."""

from __future__ import annotations

import io
import os
import stat
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm", ".ppm"})


# Images larger than this are refused before decoding (a 50-megapixel RGB image is 150 MB
# decoded); `feratt predict` and `feratt serve` share it.
MAX_IMAGE_PIXELS = 50_000_000


class CorruptImageError(ValueError):
    """An image file that exists but cannot be decoded completely."""


class ImageTooLargeError(ValueError):
    """An image with more pixels than the reader accepts."""


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


def read_image(path: str | Path, max_pixels: int | None = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode an image file as uint8 HxW (grey) or HxWx3 (RGB).

    Raises FileNotFoundError when the file is missing, CorruptImageError (a ValueError) when it
    is empty, truncated or not decodable, and ImageTooLargeError when it has over ``max_pixels``.
    """
    path = os.fspath(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except (FileNotFoundError, IsADirectoryError):
        raise FileNotFoundError(f"image file {path} does not exist") from None
    return decode_image(data, path, max_pixels)


def decode_image(
    data: bytes | np.ndarray, name: str, max_pixels: int | None = MAX_IMAGE_PIXELS
) -> np.ndarray:
    """``read_image`` for encoded bytes already in memory (an upload); ``name`` (a file name)
    heads every error message."""
    data = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data
    if data.size == 0:
        raise CorruptImageError(f"image file {name} is empty (0 bytes)")
    problem = _truncation(data, os.path.splitext(name)[1].lower())
    if problem:
        raise CorruptImageError(f"image file {name} is corrupt: {problem}")
    if max_pixels is not None:
        _check_pixels(_header_size(data, name, max_pixels), name, max_pixels)
    image = cv2.imdecode(data, cv2.IMREAD_ANYCOLOR)
    if image is None or image.size == 0:
        raise CorruptImageError(
            f"image file {name} is corrupt or not an image OpenCV can decode "
            f"(expected one of {', '.join(sorted(IMAGE_EXTENSIONS))})"
        )
    if max_pixels is not None:
        _check_pixels(image.shape[1::-1], name, max_pixels)
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(float(image.max()), 1.0))
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3:
        code = cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB
        return cv2.cvtColor(image, code)
    return image


def _header_size(data: np.ndarray, name: str, max_pixels: int) -> tuple[int, int] | None:
    """(width, height) from the file header without decoding the pixels (Pillow reads only the
    header), so a small file that would expand to gigabytes is refused before decoding; None
    for formats Pillow does not know (the decoded size is checked instead)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as header:
                return header.size
        except Image.DecompressionBombError:  # over twice Pillow's own limit
            pillow_limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
            raise ImageTooLargeError(
                f"image file {name} has over {pillow_limit:,} pixels, over the limit of "
                f"{max_pixels:,}"
            ) from None
        except (OSError, ValueError, SyntaxError):  # unknown or broken header: OpenCV decides
            return None


def _check_pixels(size: tuple[int, int] | None, name: str, max_pixels: int) -> None:
    if size is not None and size[0] * size[1] > max_pixels:
        raise ImageTooLargeError(
            f"image file {name} has {size[0] * size[1]:,} pixels ({size[0]}x{size[1]}), over "
            f"the limit of {max_pixels:,}"
        )


_PROBE_BYTES = 65536


def probe_image(path: str | Path, max_pixels: int | None = MAX_IMAGE_PIXELS) -> str | None:
    """What keeps the file at `path` from being a usable image, found without decoding it (a
    symlink loop, a dangling link, not a regular file, empty, unreadable, a header over
    `max_pixels`), or None. Reads at most 64 KiB."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file"
        if info.st_size == 0:
            return "empty (0 bytes)"
        with open(path, "rb") as handle:
            data = np.frombuffer(handle.read(_PROBE_BYTES), np.uint8)
    except OSError as err:
        return err.strerror or str(err)
    if max_pixels is not None:
        try:
            _check_pixels(_header_size(data, os.fspath(path), max_pixels), path, max_pixels)
        except ImageTooLargeError as err:
            return str(err).removeprefix(f"image file {path} ")
    return None


def to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """The image as grey HxW (channels=1) or RGB HxWx3 (channels=3)."""
    if channels == 1:
        return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if channels == 3:
        return image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
