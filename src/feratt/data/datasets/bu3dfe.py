"""BU-3DFE 2D frontal textures: ``F0001/F0001_AN03WH_F2D.bmp``.

The name carries the subject (F/M + 4 digits), the expression code (AN, DI, FE, HA, NE, SA, SU),
the intensity (01-04; 00 for neutral) and the ethnicity code (WH, BL, AE, AM, IN, LA).
"""

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

BU3DFE_CLASSES = ordered_classes(EXPRESSION_CODES.values())
_SUBJECT_DIR = re.compile(r"^[FM]\d{4}$")
_FILE = re.compile(r"^([FM]\d{4})_([A-Z]{2})(\d{2})([A-Z]{2})_F2D\.bmp$", re.IGNORECASE)


def _subject_dirs(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(d for d in root.iterdir() if d.is_dir() and _SUBJECT_DIR.match(d.name))


def _detect(root: Path) -> bool:
    return any(next(d.glob("*_F2D.bmp"), None) for d in _subject_dirs(root)[:3])


@register_format(
    "bu3dfe",
    "BU-3DFE: F0001/F0001_AN03WH_F2D.bmp (subject, expression, intensity 01-04, ethnicity)",
    _detect,
)
def load_bu3dfe(
    root: Path,
    *,
    skip_corrupt: bool = False,
    intensities: tuple[int, ...] = (1, 2, 3, 4),
    neutral: bool = True,
) -> FaceDataset:
    """BU-3DFE frontal 2D images; keep the given expression `intensities` (1-4) and, if
    `neutral`, the neutral faces (7 classes, or 6 without neutral)."""
    if not set(intensities) <= {1, 2, 3, 4}:
        raise ValueError(f"BU-3DFE intensities are 1-4, got {intensities}")
    classes = BU3DFE_CLASSES if neutral else tuple(c for c in BU3DFE_CLASSES if c != "neutral")
    log = SkipLog(skip_corrupt)
    records: list[RecordInfo] = []
    for subject_dir in _subject_dirs(root):
        for path in sorted(subject_dir.glob("*_F2D.bmp")):
            match = _FILE.match(path.name)
            code = match.group(2).upper() if match else ""
            if not match or code not in EXPRESSION_CODES:
                log.problem(
                    path,
                    "BU-3DFE file name does not match <subject>_<AN|DI|FE|HA|NE|SA|SU><01-04>"
                    "<ethnicity>_F2D.bmp",
                )
                continue
            subject, _, level, ethnicity = match.groups()
            name = EXPRESSION_CODES[code]
            if name not in classes or (name != "neutral" and int(level) not in intensities):
                continue
            extra = {"intensity": int(level), "ethnicity": ethnicity.upper()}
            records.append(RecordInfo(str(path), classes.index(name), subject.upper(), extra=extra))
    return FaceDataset(
        records, classes, "bu3dfe", root, skip_corrupt=skip_corrupt, skipped=log.skipped
    )
