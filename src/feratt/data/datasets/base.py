"""The data set object every loader returns: face metadata up front, pixels on access."""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import cv2
import numpy as np

from feratt.data.io import probe_image, read_image
from feratt.data.records import FaceRecord

# Users name the shipped splits in several ways; they all map onto these.
SPLIT_ALIASES: dict[str, str] = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "publictest": "val",
    "test": "test",
    "privatetest": "test",
}

# Two-letter expression codes shared by BU-3DFE and JAFFE file names.
EXPRESSION_CODES: dict[str, str] = {
    "AN": "anger",
    "DI": "disgust",
    "FE": "fear",
    "HA": "happy",
    "NE": "neutral",
    "SA": "sad",
    "SU": "surprise",
}


class CorruptEntryError(ValueError):
    """A face (image file, CSV row, label entry) that cannot be read; opening the data set with
    ``skip_corrupt=True`` (``--skip-corrupt``) skips and lists such entries instead."""


def canonical_split(name: str) -> str:
    """The canonical split name (train, val, test) for a publisher's or a user's name."""
    key = name.strip().lower()
    if key not in SPLIT_ALIASES:
        raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLIT_ALIASES)}")
    return SPLIT_ALIASES[key]


@dataclass(frozen=True, slots=True)
class RecordInfo:
    """What is known about one face without decoding it.

    Args:
        path: the file holding the pixels (an image, or the CSV of a pixel-table data set).
        label: index into the data set's ``classes``.
        subject: subject id, or None when the data set has no subjects.
        split: the shipped split (train, val, test), or None.
        row: the line of ``path`` holding the pixels, for CSV-backed sets.
        extra: loader-specific payload (a landmark file, a face box...).
    """

    path: str
    label: int
    subject: str | None = None
    split: str | None = None
    row: int | None = None
    extra: Any = None

    @property
    def source(self) -> str:
        """Where the face comes from, as shown to users (``file`` or ``file.csv:line``)."""
        return self.path if self.row is None else f"{self.path}:{self.row}"


Reader = Callable[[RecordInfo], tuple[np.ndarray, "np.ndarray | None"]]


def read_image_record(info: RecordInfo) -> tuple[np.ndarray, None]:
    """The default reader: the record's image file, no landmarks."""
    return read_image(info.path), None


class FaceDataset(Sequence[FaceRecord]):
    """A data set opened in its native layout: metadata up front, pixels decoded on access.

    Args:
        records: one RecordInfo per face (labels, subjects, splits, paths: no decoding needed).
        classes: canonical class names; labels index this tuple.
        format_name: the registered format that read the layout.
        root: the path the data set was opened from.
        reader: decodes one record into (image, landmarks or None).
        skip_corrupt: when True, `read` returns None for unreadable faces and records them in
            ``skipped`` instead of raising.
        skipped: (path, reason) pairs already skipped while reading the layout.
        dropped: reason -> count of entries the publisher ships but the protocol leaves out
            (e.g. AffectNet's "uncertain"), for reporting.
        soft_labels: optional float32 (N, len(classes)) label distributions (FER+ votes).
        sources: label/landmark/CSV files the data set reads besides the image files.
    """

    def __init__(
        self,
        records: Sequence[RecordInfo],
        classes: Sequence[str],
        format_name: str,
        root: str | Path,
        reader: Reader = read_image_record,
        *,
        skip_corrupt: bool = False,
        skipped: Sequence[tuple[str, str]] = (),
        dropped: dict[str, int] | None = None,
        soft_labels: np.ndarray | None = None,
        sources: Sequence[str] = (),
    ) -> None:
        self.records = list(records)
        self.classes = tuple(classes)
        self.format_name = format_name
        self.root = str(root)
        self.reader = reader
        self.skip_corrupt = skip_corrupt
        self.skipped: list[tuple[str, str]] = list(skipped)
        self.dropped = dict(dropped or {})
        self.soft_labels = soft_labels
        self.sources = tuple(sources)
        if soft_labels is not None and soft_labels.shape != (len(self.records), len(self.classes)):
            raise ValueError(f"soft_labels must be (N, K), got {soft_labels.shape}")

    def __len__(self) -> int:
        return len(self.records)

    @overload
    def __getitem__(self, index: int) -> FaceRecord: ...

    @overload
    def __getitem__(self, index: slice) -> FaceDataset: ...

    def __getitem__(self, index: int | slice) -> FaceRecord | FaceDataset:
        """The decoded face at `index` (or, for a slice, the data set restricted to it)."""
        if isinstance(index, slice):
            return self.subset(range(len(self))[index])
        info = self.records[index]
        try:
            image, landmarks = self.reader(info)
        except FileNotFoundError:
            raise  # already names the missing file; keep its type
        except (ValueError, OSError, cv2.error) as err:
            message = str(err)
            if info.path not in message:
                message = f"{info.source}: {message}"
            raise CorruptEntryError(message) from err
        return FaceRecord(image, info.label, info.subject, landmarks, info.source)

    def read(self, index: int) -> FaceRecord | None:
        """The face at `index`; None (and an entry in ``skipped``) if unreadable and skipping."""
        try:
            return self[index]
        except (ValueError, FileNotFoundError) as err:
            if not self.skip_corrupt:
                raise
            self.skipped.append((self.records[index].source, str(err)))
            return None

    def checked(self, decode: bool = False) -> FaceDataset:
        """The data set without its unreadable faces, found by decoding every face (`decode`)
        or, quickly, by probing each image file (`feratt.data.io.probe_image`: symlink loops,
        unreadable or empty files, no image header...). Raises CorruptEntryError (or
        FileNotFoundError) at the first bad one unless opened with ``skip_corrupt``; the ones
        skipped are added to ``skipped``."""
        good = []
        for index, info in enumerate(self.records):
            if decode:
                if self.read(index) is not None:
                    good.append(index)
                continue
            problem = None if info.row is not None else probe_image(info.path)
            if problem is None:
                good.append(index)
            elif self.skip_corrupt:
                self.skipped.append((info.source, problem))
            else:
                raise CorruptEntryError(f"{info.source}: {problem}")
        return self if len(good) == len(self) else self.subset(good)

    def __iter__(self) -> Iterator[FaceRecord]:
        for index in range(len(self)):
            record = self.read(index)
            if record is not None:
                yield record

    def __repr__(self) -> str:
        return (
            f"FaceDataset(format={self.format_name!r}, root={self.root!r}, n={len(self)}, "
            f"classes={self.classes})"
        )

    @property
    def labels(self) -> np.ndarray:
        return np.array([r.label for r in self.records], dtype=np.int64)

    @property
    def subjects(self) -> np.ndarray:
        """Subject ids as a str array, "" where the data set has none."""
        return np.array([r.subject or "" for r in self.records], dtype=str)

    @property
    def paths(self) -> np.ndarray:
        return np.array([r.source for r in self.records], dtype=str)

    @property
    def splits(self) -> tuple[str, ...]:
        """The shipped splits present, in train, val, test order."""
        present = {r.split for r in self.records if r.split}
        return tuple(s for s in ("train", "val", "test") if s in present)

    def split_counts(self) -> dict[str, int]:
        counts = Counter(r.split for r in self.records)
        return {name: counts[name] for name in self.splits}

    def class_counts(self) -> dict[str, int]:
        counts = Counter(r.label for r in self.records)
        return {name: counts.get(i, 0) for i, name in enumerate(self.classes)}

    def subject_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(r.subject for r in self.records if r.subject).items()))

    def subset(self, index: Sequence[int] | np.ndarray) -> FaceDataset:
        """The data set restricted to the records at `index` (same classes, reader and sources)."""
        index = np.asarray(index, dtype=np.int64)
        return FaceDataset(
            [self.records[i] for i in index],
            self.classes,
            self.format_name,
            self.root,
            self.reader,
            skip_corrupt=self.skip_corrupt,
            skipped=self.skipped,
            dropped=self.dropped,
            soft_labels=None if self.soft_labels is None else self.soft_labels[index],
            sources=self.sources,
        )

    def select_split(self, split: str) -> FaceDataset:
        """The records of one shipped split; ValueError when the set ships no such split."""
        name = canonical_split(split)
        if not self.splits:
            raise ValueError(
                f"{self.format_name} data set at {self.root} ships no fixed splits; "
                "use feratt.data.folds for subject-independent folds"
            )
        if name not in self.splits:
            raise ValueError(
                f"{self.format_name} data set at {self.root} has no split {split!r}; "
                f"it has {', '.join(self.splits)}"
            )
        return self.subset([i for i, r in enumerate(self.records) if r.split == name])

    def fingerprint(self) -> str:
        """Hash of the records and of every source file's size and mtime (the cache key)."""
        digest = hashlib.sha256()
        header = [self.format_name, os.path.abspath(self.root), self.classes]
        digest.update(json.dumps(header).encode())
        lines = [f"{r.source}\t{r.label}\t{r.subject}\t{r.split}" for r in self.records]
        for name in dict.fromkeys([*self.sources, *(r.path for r in self.records)]):
            try:
                stat = os.stat(name)
                lines.append(f"{name}\t{stat.st_size}\t{stat.st_mtime_ns}")
            except OSError:
                lines.append(f"{name}\tmissing")
        digest.update("\n".join(lines).encode())
        if self.soft_labels is not None:
            digest.update(np.ascontiguousarray(self.soft_labels).tobytes())
        return digest.hexdigest()


class SkipLog:
    """Collects layout problems: raises at once, or records (path, reason) when skipping."""

    def __init__(self, skip_corrupt: bool) -> None:
        self.skip_corrupt = skip_corrupt
        self.skipped: list[tuple[str, str]] = []

    def problem(self, path: str | Path, reason: str) -> None:
        if not self.skip_corrupt:
            raise CorruptEntryError(f"{path}: {reason}")
        self.skipped.append((str(path), reason))
