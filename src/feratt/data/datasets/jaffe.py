"""JAFFE: ``KA.AN1.39.tiff`` files (subject initials, expression code + repeat, image number)."""

from __future__ import annotations

import re
from pathlib import Path

from feratt.data.datasets.base import (
    EXPRESSION_CODES,
    FaceDataset,
    RecordInfo,
    SkipLog,
)
from feratt.data.datasets.registry import register_format
from feratt.data.labels import ordered_classes

JAFFE_CLASSES = ordered_classes(EXPRESSION_CODES.values())
_FILE = re.compile(r"^([A-Z]{2})\.([A-Z]{2})\d+\.\d+\.tiff?$", re.IGNORECASE)


def _tiff_files(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.suffix.lower() in {".tif", ".tiff"})


def _detect(root: Path) -> bool:
    return any(_FILE.match(p.name) for p in _tiff_files(root)[:20])


@register_format("jaffe", "JAFFE: KA.AN1.39.tiff files (subject.EXPRn.number.tiff)", _detect)
def load_jaffe(root: Path, *, skip_corrupt: bool = False) -> FaceDataset:
    """JAFFE's 213 images of 10 subjects, 7 classes; the subject is the initials prefix."""
    log = SkipLog(skip_corrupt)
    records: list[RecordInfo] = []
    for path in _tiff_files(root):
        match = _FILE.match(path.name)
        code = match.group(2).upper() if match else ""
        if code not in EXPRESSION_CODES:
            log.problem(path, "JAFFE file name does not match XX.<AN|DI|FE|HA|NE|SA|SU>n.id.tiff")
            continue
        label = JAFFE_CLASSES.index(EXPRESSION_CODES[code])
        records.append(RecordInfo(str(path), label, match.group(1).upper()))
    return FaceDataset(
        records, JAFFE_CLASSES, "jaffe", root, skip_corrupt=skip_corrupt, skipped=log.skipped
    )
