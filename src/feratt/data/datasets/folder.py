"""Class-per-folder trees: any `<class>/*.png` tree, optionally under `train|val|test/`.

Two publisher layouts are such trees with a fixed vocabulary: CK+48 (`<class>/S###_###_*.png`,
subject from the file prefix) and the FER2013 image folders (`train/<class>/Training_*.jpg`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from feratt.data.datasets.base import (
    SPLIT_ALIASES,
    FaceDataset,
    RecordInfo,
    SkipLog,
    canonical_split,
)
from feratt.data.datasets.registry import register_format
from feratt.data.io import IMAGE_EXTENSIONS
from feratt.data.labels import EXPRESSIONS, canonical, ordered_classes

CKPLUS48_CLASSES = ordered_classes(
    ["anger", "contempt", "disgust", "fear", "happy", "sad", "surprise"]
)
FER2013_CLASSES = ordered_classes(
    ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
)
_CKPLUS48_NAME = re.compile(r"^(S\d+)_\d+_\d+\.png$", re.IGNORECASE)
_FER2013_NAME = re.compile(r"^(Training|PublicTest|PrivateTest)_\d+\.\w+$")


def _subdirs(folder: Path) -> list[Path]:
    with os.scandir(folder) as entries:
        return sorted(Path(e.path) for e in entries if e.is_dir() and not e.name.startswith("."))


def _image_names(folder: Path) -> list[str]:
    with os.scandir(folder) as entries:
        return sorted(
            e.name
            for e in entries
            if not e.name.startswith(".")
            and e.name[e.name.rfind(".") :].lower() in IMAGE_EXTENSIONS
        )


def _is_class_name(name: str) -> bool:
    try:
        canonical(name)
    except ValueError:
        return False
    return True


def _split_dirs(root: Path) -> list[tuple[str | None, Path]]:
    """(split, class-tree root) pairs: the split folders when every subfolder is one."""
    if not root.is_dir():
        return []
    dirs = _subdirs(root)
    if dirs and all(d.name.lower() in SPLIT_ALIASES for d in dirs):
        return [(canonical_split(d.name), d) for d in dirs]
    return [(None, root)]


def _first_image(root: Path) -> str | None:
    """Name of the first image in the first class folder of the tree, or None."""
    for _, tree in _split_dirs(root):
        for class_dir in _subdirs(tree):
            if _is_class_name(class_dir.name):
                names = _image_names(class_dir)
                if names:
                    return names[0]
    return None


def read_class_tree(
    root: Path,
    format_name: str,
    skip_corrupt: bool,
    classes: tuple[str, ...] | None = None,
    subject_of: Callable[[str], str] | None = None,
) -> FaceDataset:
    """Read `[split/]class/image` files; `subject_of(file name)` raises ValueError if malformed."""
    log = SkipLog(skip_corrupt)
    found: list[tuple[str | None, str, Path]] = []
    for split, tree in _split_dirs(root):
        for class_dir in _subdirs(tree):
            if _is_class_name(class_dir.name):
                found.append((split, canonical(class_dir.name), class_dir))
            else:
                log.problem(
                    class_dir,
                    f"unknown class folder {class_dir.name!r}; expected expression names "
                    f"({', '.join(EXPRESSIONS)} or a synonym)",
                )
    if not found and not log.skipped:
        raise ValueError(f"{root} has no class folders; expected <class>/<image> files")
    classes = classes or ordered_classes([name for _, name, _ in found])
    records: list[RecordInfo] = []
    for split, name, class_dir in found:
        if name not in classes:
            log.problem(class_dir, f"class {name!r} is not one of {format_name}'s {classes}")
            continue
        label, folder = classes.index(name), str(class_dir)
        for file_name in _image_names(class_dir):
            path = os.path.join(folder, file_name)
            subject = None
            if subject_of is not None:
                try:
                    subject = subject_of(file_name)
                except ValueError as err:
                    log.problem(path, str(err))
                    continue
            records.append(RecordInfo(path, label, subject, split))
    return FaceDataset(
        records, classes, format_name, root, skip_corrupt=skip_corrupt, skipped=log.skipped
    )


def _ckplus48_subject(file_name: str) -> str:
    match = _CKPLUS48_NAME.match(file_name)
    if not match:
        raise ValueError(f"CK+48 file name {file_name!r} does not match S###_###_########.png")
    return match.group(1).upper()


def _detect_ckplus48(root: Path) -> bool:
    first = _first_image(root)
    return (
        first is not None and _split_dirs(root)[0][0] is None and bool(_CKPLUS48_NAME.match(first))
    )


@register_format(
    "ckplus48",
    "CK+48 crops: <class>/S###_###_########.png (subject = S### prefix), 7 classes",
    _detect_ckplus48,
)
def load_ckplus48(root: Path, *, skip_corrupt: bool = False) -> FaceDataset:
    """CK+48: 48x48 peak-frame crops in anger/contempt/.../surprise folders, no neutral."""
    return read_class_tree(root, "ckplus48", skip_corrupt, CKPLUS48_CLASSES, _ckplus48_subject)


def _detect_fer2013_folders(root: Path) -> bool:
    first = _first_image(root)
    return first is not None and bool(_FER2013_NAME.match(first))


@register_format(
    "fer2013-folders",
    "FER2013 image folders: train|val|test/<class>/Training_*.jpg (angry, disgust, ...)",
    _detect_fer2013_folders,
)
def load_fer2013_folders(root: Path, *, skip_corrupt: bool = False) -> FaceDataset:
    """FER2013 exported to image folders; the split folders are the fixed splits."""
    return read_class_tree(root, "fer2013-folders", skip_corrupt, FER2013_CLASSES)


def _detect_folder(root: Path) -> bool:
    return _first_image(root) is not None


@register_format(
    "folder",
    "class-per-folder tree: [train|val|test/]<expression>/<image> (names via canonical())",
    _detect_folder,
)
def load_folder(root: Path, *, skip_corrupt: bool = False) -> FaceDataset:
    """Any class-per-folder tree; the classes are the expression folders present."""
    return read_class_tree(root, "folder", skip_corrupt)
