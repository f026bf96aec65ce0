"""FER2013 as Kaggle ships it: ``fer2013.csv`` with columns emotion, pixels, Usage.

Each row holds a 48x48 grey face as 2,304 space-separated values; Usage gives the fixed splits
(Training = train, PublicTest = val, PrivateTest = test).
"""

from __future__ import annotations

import csv
from pathlib import Path

from feratt.data.datasets.base import FaceDataset, RecordInfo, SkipLog
from feratt.data.datasets.pixels import read_pixel_table, usage_split
from feratt.data.datasets.registry import register_format
from feratt.data.labels import canonical, ordered_classes

# FER2013's emotion codes 0-6.
FER2013_CODES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER2013_CLASSES = ordered_classes(FER2013_CODES)
FER2013_CSV = "fer2013.csv"


def fer2013_csv_path(root: Path) -> Path:
    """The CSV itself when `root` is a file, else ``root/fer2013.csv``."""
    return root if root.is_file() else root / FER2013_CSV


def _detect(root: Path) -> bool:
    path = fer2013_csv_path(root)
    if not path.is_file() or path.suffix.lower() != ".csv":
        return False
    with open(path, newline="") as handle:
        header = next(csv.reader(handle), [])
    return {"emotion", "pixels"} <= set(header)


@register_format("fer2013", "FER2013 CSV: fer2013.csv with columns emotion,pixels,Usage", _detect)
def load_fer2013(root: Path, *, skip_corrupt: bool = False) -> FaceDataset:
    """FER2013 from its CSV: 7 classes, splits from Usage, no subjects."""
    path = fer2013_csv_path(root)
    if not path.is_file():
        raise FileNotFoundError(f"FER2013 CSV {path} not found")
    log = SkipLog(skip_corrupt)
    table = read_pixel_table(path, log)
    records = []
    for index, (code, usage, line) in enumerate(
        zip(table.emotions, table.usages, table.lines, strict=True)
    ):
        if not table.valid[index]:
            continue
        if code.strip() not in {str(i) for i in range(len(FER2013_CODES))}:
            log.problem(f"{path}:{line}", f"emotion {code!r} is not a FER2013 code 0-6")
            continue
        split = usage_split(usage)
        if split is False:
            log.problem(f"{path}:{line}", f"Usage {usage!r} is not Training/PublicTest/PrivateTest")
            continue
        label = FER2013_CLASSES.index(canonical(FER2013_CODES[int(code)]))
        records.append(RecordInfo(str(path), label, None, split, row=line, extra=index))
    return FaceDataset(
        records,
        FER2013_CLASSES,
        "fer2013",
        root,
        table.reader(),
        skip_corrupt=skip_corrupt,
        skipped=log.skipped,
    )
