"""FER2013-style pixel tables (a CSV column of 48x48 grey faces), shared by FER2013 and FER+."""

from __future__ import annotations

import csv
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from feratt.data.datasets.base import Reader, SkipLog, canonical_split

SIDE = 48
_WHOLE = re.compile(r"[-+]?[0-9]+")


@dataclass
class PixelTable:
    """The rows of a FER2013 CSV: images (N, 48, 48), with `valid` False for malformed rows."""

    path: Path
    images: np.ndarray
    emotions: list[str]
    usages: list[str]
    lines: list[int]
    valid: np.ndarray

    def reader(self) -> Reader:
        """A reader returning the record's row (``RecordInfo.extra`` = row index)."""
        return lambda info: (self.images[info.extra], None)


def _parse_pixels(text: str) -> np.ndarray | str:
    """The 48x48 face of a pixels field, or why it is not one."""
    try:
        values = np.fromstring(text, dtype=np.int64, sep=" ")
    except (ValueError, DeprecationWarning):
        bad = next((t for t in text.split() if not _WHOLE.fullmatch(t)), text)
        return f"pixel value {bad[:20]!r} is not a whole number"
    if values.size != SIDE * SIDE:
        return f"pixels column has {values.size} values; expected {SIDE * SIDE}"
    outside = values[(values < 0) | (values > 255)]
    if outside.size:
        return f"pixel value {outside[0]} is outside 0-255"
    return values.astype(np.uint8).reshape(SIDE, SIDE)


def read_pixel_table(path: Path, log: SkipLog) -> PixelTable:
    """Parse a FER2013-style CSV; malformed pixel rows go to `log` (raise or skip)."""
    images, emotions, usages, lines, valid = [], [], [], [], []
    blank = np.zeros((SIDE, SIDE), np.uint8)
    with open(path, newline="") as handle, warnings.catch_warnings():
        # Older NumPy only warns (then truncates) on text it cannot parse: make that an error.
        warnings.simplefilter("error", DeprecationWarning)
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"emotion", "pixels"} <= set(reader.fieldnames):
            raise ValueError(
                f"{path} is not a FER2013 CSV: expected the header emotion,pixels,Usage, "
                f"got {reader.fieldnames}"
            )
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as err:  # e.g. a field over csv.field_size_limit() characters
                row = {"emotion": "", "pixels": None, "Usage": ""}  # keeps FER+ rows aligned
                face = f"unreadable CSV row ({err})"
            else:
                face = _parse_pixels(row["pixels"] or "")
            line = reader.reader.line_num  # DictReader's own line_num lags after a csv.Error
            ok = isinstance(face, np.ndarray)
            if not ok:
                log.problem(f"{path}:{line}", face)
            images.append(face if ok else blank)
            emotions.append(row.get("emotion") or "")  # None in a row cut short
            usages.append(row.get("Usage") or "")
            lines.append(line)
            valid.append(ok)
    stacked = np.stack(images) if images else np.zeros((0, SIDE, SIDE), np.uint8)
    return PixelTable(path, stacked, emotions, usages, lines, np.array(valid, dtype=bool))


def usage_split(usage: str) -> str | None | bool:
    """The split of a Usage value: None when blank, False when unknown."""
    if not usage.strip():
        return None
    try:
        return canonical_split(usage)
    except ValueError:
        return False
