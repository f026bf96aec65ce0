"""AffectNet's manually annotated set: ``training.csv`` / ``validation.csv`` with face boxes.

Columns: subDirectory_filePath, face_x, face_y, face_width, face_height, facial_landmarks
("x;y;x;y;..." 68 points), expression, valence, arousal. Expression codes 0-7 = neutral, happy,
sad, surprise, fear, disgust, anger, contempt; 8-10 (none, uncertain, no face) are left out.
Images live under ``Manually_Annotated_Images/`` (or directly under the root).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from feratt.data.datasets.base import FaceDataset, RecordInfo, SkipLog
from feratt.data.datasets.registry import register_format
from feratt.data.io import read_image
from feratt.data.labels import canonical, ordered_classes

AFFECTNET_CODES = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")
DROPPED_CODES = {8: "none", 9: "uncertain", 10: "no face"}
CSV_SPLITS = {"training.csv": "train", "validation.csv": "val"}
# The columns of the CSVs (some copies of validation.csv ship without this header row).
COLUMNS = (
    "subDirectory_filePath",
    "face_x",
    "face_y",
    "face_width",
    "face_height",
    "facial_landmarks",
    "expression",
    "valence",
    "arousal",
)
IMAGE_DIR = "Manually_Annotated_Images"


def _read_face(info: RecordInfo) -> tuple[np.ndarray, np.ndarray | None]:
    """The image cropped to its face box; landmarks moved into the crop."""
    (x, y, w, h), landmarks = info.extra
    image = read_image(info.path)
    x0, y0 = max(x, 0), max(y, 0)
    crop = image[y0 : y + h, x0 : x + w]
    if crop.size == 0:
        raise ValueError(f"face box {(x, y, w, h)} lies outside the {image.shape[:2]} image")
    return crop, None if landmarks is None else landmarks - np.float32([x0, y0])


def _parse_landmarks(text: str) -> np.ndarray | None:
    """68 (x, y) points from "x;y;x;y;..."; None when absent or malformed (no alignment)."""
    try:
        values = np.array([float(v) for v in text.split(";") if v.strip()], np.float32)
    except ValueError:
        return None
    return values.reshape(68, 2) if values.size == 136 else None


def _has_header(first_row: list[str]) -> bool:
    return bool(first_row) and first_row[0] == COLUMNS[0]


def _looks_like_affectnet(first_row: list[str]) -> bool:
    if _has_header(first_row):
        return True
    return len(first_row) == len(COLUMNS) and "/" in first_row[0]


def _first_row(path: Path) -> list[str]:
    with open(path, newline="") as handle:
        return next(csv.reader(handle), [])


def _detect(root: Path) -> bool:
    return any(
        (root / name).is_file() and _looks_like_affectnet(_first_row(root / name))
        for name in CSV_SPLITS
    )


@register_format(
    "affectnet",
    "AffectNet: training.csv/validation.csv (subDirectory_filePath, face box, landmarks, "
    f"expression 0-10) with {IMAGE_DIR}/",
    _detect,
)
def load_affectnet(root: Path, *, skip_corrupt: bool = False, contempt: bool = True) -> FaceDataset:
    """AffectNet's 8 basic classes (7 with `contempt=False`), cropped to the annotated boxes."""
    names = [canonical(c) for c in AFFECTNET_CODES]
    classes = ordered_classes(names if contempt else names[:7])
    image_root = root / IMAGE_DIR if (root / IMAGE_DIR).is_dir() else root
    log = SkipLog(skip_corrupt)
    records, sources, dropped = [], [], {}
    for csv_name, split in CSV_SPLITS.items():
        path = root / csv_name
        if not path.is_file():
            continue
        sources.append(str(path))
        with open(path, newline="") as handle:
            first = _first_row(path)
            if not _looks_like_affectnet(first):
                raise ValueError(
                    f"{path} is not an AffectNet CSV: expected the columns {','.join(COLUMNS)}"
                )
            reader = csv.DictReader(handle, fieldnames=None if _has_header(first) else COLUMNS)
            for row in reader:
                where = f"{path}:{reader.line_num}"
                try:
                    code = int(row["expression"])
                    box = tuple(int(float(row[c])) for c in COLUMNS[1:5])
                except (TypeError, ValueError, KeyError):
                    log.problem(where, "expression and face box must be numbers")
                    continue
                if code in DROPPED_CODES or (code == 7 and not contempt):
                    reason = DROPPED_CODES.get(code, "contempt")
                    dropped[reason] = dropped.get(reason, 0) + 1
                    continue
                if not 0 <= code < len(AFFECTNET_CODES) or box[2] <= 0 or box[3] <= 0:
                    log.problem(where, f"expression {code} not in 0-10 or empty face box {box}")
                    continue
                landmarks = _parse_landmarks(row.get("facial_landmarks") or "")
                label = classes.index(names[code])
                image = image_root / row["subDirectory_filePath"]
                records.append(RecordInfo(str(image), label, None, split, extra=(box, landmarks)))
    return FaceDataset(
        records,
        classes,
        "affectnet",
        root,
        _read_face,
        skip_corrupt=skip_corrupt,
        skipped=log.skipped,
        dropped=dropped,
        sources=sources,
    )
