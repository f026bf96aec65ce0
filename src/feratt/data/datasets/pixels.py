"""FER2013-style pixel tables (a CSV column of 48x48 grey faces), shared by FER2013 and FER+."""

from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from feratt.data.datasets.base import Reader, SkipLog, canonical_split

SIDE = 48


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


def read_pixel_table(path: Path, log: SkipLog) -> PixelTable:
    """Parse a FER2013-style CSV; malformed pixel rows go to `log` (raise or skip)."""
    images, emotions, usages, lines, valid = [], [], [], [], []
    blank = np.zeros((SIDE, SIDE), np.uint8)
    with open(path, newline="") as handle, warnings.catch_warnings():
        # np.fromstring warns (then truncates) on bad text; the length check below catches it.
        warnings.simplefilter("ignore", DeprecationWarning)
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"emotion", "pixels"} <= set(reader.fieldnames):
            raise ValueError(
                f"{path} is not a FER2013 CSV: expected the header emotion,pixels,Usage, "
                f"got {reader.fieldnames}"
            )
        for row in reader:
            values = np.fromstring(row["pixels"] or "", dtype=np.int16, sep=" ")
            ok = values.size == SIDE * SIDE and values.min() >= 0 and values.max() <= 255
            if not ok:
                log.problem(
                    f"{path}:{reader.line_num}",
                    f"pixels column has {values.size} values in 0-255; expected {SIDE * SIDE}",
                )
            images.append(values.astype(np.uint8).reshape(SIDE, SIDE) if ok else blank)
            emotions.append(row["emotion"])
            usages.append(row.get("Usage") or "")
            lines.append(reader.line_num)
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
