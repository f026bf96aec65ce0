"""RAF-DB basic: ``EmoLabel/list_patition_label.txt`` and ``Image/aligned/*_aligned.jpg``.

Label lines read ``train_00001.jpg 5`` with codes 1-7 = surprise, fear, disgust, happiness,
sadness, anger, neutral; the name prefix (train/test) is the fixed split.
"""

from __future__ import annotations

from pathlib import Path

from feratt.data.datasets.base import FaceDataset, RecordInfo, SkipLog
from feratt.data.datasets.registry import register_format
from feratt.data.labels import canonical, ordered_classes

RAFDB_CODES = ("surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral")
RAFDB_CLASSES = ordered_classes(RAFDB_CODES)
LABEL_FILE = Path("EmoLabel") / "list_patition_label.txt"


def _detect(root: Path) -> bool:
    return (root / LABEL_FILE).is_file()


@register_format(
    "rafdb",
    f"RAF-DB basic: {LABEL_FILE.as_posix()} ('train_00001.jpg 5', codes 1-7) and "
    "Image/aligned/train_00001_aligned.jpg",
    _detect,
)
def load_rafdb(root: Path, *, skip_corrupt: bool = False, aligned: bool = True) -> FaceDataset:
    """RAF-DB's basic emotions, 7 classes, train/test splits; `aligned` picks the 100x100
    aligned faces (Image/aligned) over the original photos (Image/original)."""
    label_path = root / LABEL_FILE
    if not label_path.is_file():
        raise FileNotFoundError(f"RAF-DB label file {label_path} not found")
    image_dir = root / "Image" / ("aligned" if aligned else "original")
    log = SkipLog(skip_corrupt)
    records = []
    for line_number, line in enumerate(label_path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        where = f"{label_path}:{line_number}"
        if len(parts) != 2 or not parts[1].isdigit() or not 1 <= int(parts[1]) <= 7:
            log.problem(where, f"expected '<name>.jpg <code 1-7>', got {line.strip()!r}")
            continue
        name, code = parts[0], int(parts[1])
        split = name.split("_", 1)[0].lower()
        if split not in {"train", "test"}:
            log.problem(where, f"image name {name!r} should start with train_ or test_")
            continue
        stem, suffix = Path(name).stem, Path(name).suffix
        file_name = f"{stem}_aligned{suffix}" if aligned else name
        label = RAFDB_CLASSES.index(canonical(RAFDB_CODES[code - 1]))
        records.append(RecordInfo(str(image_dir / file_name), label, None, split))
    return FaceDataset(
        records,
        RAFDB_CLASSES,
        "rafdb",
        root,
        skip_corrupt=skip_corrupt,
        skipped=log.skipped,
        sources=[str(label_path)],
    )
