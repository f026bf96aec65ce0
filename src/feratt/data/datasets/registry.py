"""The registry of data set layouts, format detection and `open_dataset`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from feratt.data.datasets.base import FaceDataset


@dataclass(frozen=True)
class DatasetFormat:
    """A registered layout: how to recognise it and how to read it."""

    name: str
    layout: str
    detect: Callable[[Path], bool]
    load: Callable[..., FaceDataset]


_FORMATS: dict[str, DatasetFormat] = {}


def register_format(
    name: str, layout: str, detect: Callable[[Path], bool]
) -> Callable[[Callable[..., FaceDataset]], Callable[..., FaceDataset]]:
    """Decorator registering a loader `load(root, *, skip_corrupt, **options) -> FaceDataset`.

    Formats are tried in registration order, so register the most specific layouts first.
    """

    def decorator(load: Callable[..., FaceDataset]) -> Callable[..., FaceDataset]:
        if name in _FORMATS:
            raise ValueError(f"data set format {name!r} is already registered")
        _FORMATS[name] = DatasetFormat(name, layout, detect, load)
        return load

    return decorator


def list_formats() -> list[DatasetFormat]:
    """The registered formats in detection order."""
    return list(_FORMATS.values())


def detect_format(path: str | Path) -> DatasetFormat:
    """The first registered format whose layout matches `path`; ValueError listing all if none."""
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"data set path {root} does not exist")
    for fmt in _FORMATS.values():
        if fmt.detect(root):
            return fmt
    expected = "\n".join(f"  {f.name}: {f.layout}" for f in _FORMATS.values())
    raise ValueError(f"{root} matches no known data set layout; expected one of:\n{expected}")


def open_dataset(
    path: str | Path,
    format: str | None = None,
    split: str | None = None,
    skip_corrupt: bool = False,
    **options: Any,
) -> FaceDataset:
    """Open a facial-expression data set in its publisher's layout.

    Args:
        path: the data set's root folder (or its CSV file for FER2013).
        format: a registered format name; detected from the layout when None.
        split: keep one shipped split (train, val, test or the publisher's name for it).
        skip_corrupt: skip unreadable images and malformed entries, recording them in
            ``dataset.skipped``, instead of raising.
        **options: format-specific options (e.g. ``frames=3`` for CK+, ``intensities=(3, 4)``
            for BU-3DFE, ``contempt=False`` for AffectNet).
    """
    path = Path(path).expanduser()
    if format is None:
        fmt = detect_format(path)
    elif format in _FORMATS:
        fmt = _FORMATS[format]
        if not Path(path).exists():
            raise FileNotFoundError(f"data set path {path} does not exist")
    else:
        raise ValueError(f"unknown data set format {format!r}; known: {', '.join(_FORMATS)}")
    accepted = [
        p for p in inspect.signature(fmt.load).parameters if p not in {"root", "skip_corrupt"}
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"{fmt.name} has no option(s) {', '.join(unknown)}; "
            f"it takes {', '.join(accepted) or 'none'}"
        )
    dataset = fmt.load(Path(path), skip_corrupt=skip_corrupt, **options)
    if split is not None:
        dataset = dataset.select_split(split)
    if len(dataset) == 0:
        where = f" (split {split})" if split else ""
        raise ValueError(f"{fmt.name} data set at {path}{where} is empty: no labelled faces found")
    return dataset
