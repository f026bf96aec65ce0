"""FER+ (Microsoft's relabelling of FER2013): ``fer2013new.csv`` with ten annotators' votes.

Columns: Usage, Image name, neutral, happiness, surprise, sadness, anger, disgust, fear,
contempt, unknown, NF. Rows are aligned with ``fer2013.csv``, whose pixels they label; the
FERPlus tool's image folders (``FER2013Train|FER2013Valid|FER2013Test/fer0000000.png``) work too.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from feratt.data.datasets.base import (
    FaceDataset,
    Reader,
    RecordInfo,
    SkipLog,
    read_image_record,
)
from feratt.data.datasets.pixels import PixelTable, read_pixel_table, usage_split
from feratt.data.datasets.registry import register_format
from feratt.data.labels import EXPRESSIONS, canonical

FERPLUS_CSV = "fer2013new.csv"
FER2013_CSV = "fer2013.csv"
VOTE_COLUMNS = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
    "unknown",
    "NF",
)
IMAGE_FOLDERS = {"train": "FER2013Train", "val": "FER2013Valid", "test": "FER2013Test"}
FERPLUS_CLASSES = EXPRESSIONS


def ferplus_label(votes: np.ndarray) -> tuple[int | None, np.ndarray, str]:
    """Majority label (index into VOTE_COLUMNS' emotions), soft label and drop reason.

    As in Microsoft's FERPlus tool: single votes are outliers and removed; the majority must hold
    more than half of the remaining votes and be an emotion (not unknown / not a face).
    """
    kept = np.where(votes > 1, votes, 0).astype(np.float32)
    emotions = kept[:8]
    soft = emotions / emotions.sum() if emotions.sum() > 0 else emotions
    top = int(np.argmax(kept))
    if kept.sum() == 0 or kept[top] <= 0.5 * kept.sum():
        return None, soft, "no majority vote"
    if top >= 8:
        return None, soft, "majority unknown or not a face"
    return top, soft, ""


def _detect(root: Path) -> bool:
    return (root / FERPLUS_CSV).is_file()


def _pixel_source(root: Path, log: SkipLog, rows: int) -> tuple[Reader, PixelTable | None]:
    """Reader for FER2013 pixels: row-aligned fer2013.csv, else the FERPlus image folders."""
    csv_path = root / FER2013_CSV
    if csv_path.is_file():
        table = read_pixel_table(csv_path, log)
        if len(table.images) != rows:
            raise ValueError(
                f"{csv_path} has {len(table.images)} rows but {root / FERPLUS_CSV} has {rows}; "
                "FER+ labels are aligned row by row with the original fer2013.csv"
            )
        return table.reader(), table
    if any((root / folder).is_dir() for folder in IMAGE_FOLDERS.values()):
        return read_image_record, None
    raise FileNotFoundError(
        f"FER+ at {root} needs the FER2013 pixels: put {FER2013_CSV} next to {FERPLUS_CSV}, or the "
        f"FERPlus image folders {', '.join(IMAGE_FOLDERS.values())}"
    )


@register_format(
    "ferplus",
    f"FER+: {FERPLUS_CSV} (vote counts) with {FER2013_CSV} or FER2013Train|Valid|Test/ images",
    _detect,
)
def load_ferplus(root: Path, *, skip_corrupt: bool = False) -> FaceDataset:
    """FER+ with majority labels (8 classes) and the vote distributions as ``soft_labels``."""
    label_path = root / FERPLUS_CSV
    log = SkipLog(skip_corrupt)
    with open(label_path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"Usage", "Image name", *VOTE_COLUMNS} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(
                f"{label_path} is not a FER+ label file: missing columns {sorted(missing)}; "
                f"expected Usage,Image name,{','.join(VOTE_COLUMNS)}"
            )
        rows = [(reader.line_num, row) for row in reader]
    pixels, table = _pixel_source(root, log, len(rows))
    order = [EXPRESSIONS.index(canonical(c)) for c in VOTE_COLUMNS[:8]]
    records, soft_labels, dropped = [], [], {}
    for index, (line, row) in enumerate(rows):
        try:
            votes = np.array([float(row[c]) for c in VOTE_COLUMNS], dtype=np.float32)
        except (TypeError, ValueError):
            log.problem(f"{label_path}:{line}", f"vote counts must be numbers: {row}")
            continue
        split = usage_split(row["Usage"])
        if split is False:
            log.problem(f"{label_path}:{line}", f"Usage {row['Usage']!r} is not a FER2013 split")
            continue
        name = (row["Image name"] or "").strip()
        top, soft, reason = ferplus_label(votes)
        if not name:
            reason = "no image (removed by FER+)"
        if reason:
            dropped[reason] = dropped.get(reason, 0) + 1
            continue
        if table is not None:
            if not table.valid[index]:
                continue
            line = table.lines[index]
            record = RecordInfo(str(table.path), order[top], None, split, row=line, extra=index)
        else:
            image = root / IMAGE_FOLDERS.get(split or "", "") / name
            record = RecordInfo(str(image), order[top], None, split)
        records.append(record)
        soft_labels.append(soft[np.argsort(order)])
    return FaceDataset(
        records,
        FERPLUS_CLASSES,
        "ferplus",
        root,
        pixels,
        skip_corrupt=skip_corrupt,
        skipped=log.skipped,
        dropped=dropped,
        soft_labels=np.array(soft_labels, np.float32).reshape(-1, len(FERPLUS_CLASSES)),
        sources=[str(label_path)],
    )
