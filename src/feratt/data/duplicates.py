"""Exact and near-duplicate faces in a data set (`feratt data check`): the same picture under two
labels, or in two subjects or splits, leaks test faces into training and caps accuracy.

Exact duplicates have identical decoded pixels. Near duplicates (re-encoded, relit or slightly
altered copies) are pairs whose 64-bit perceptual hashes (pHash: signs of the 8x8 lowest DCT
frequencies of a 32x32 grey copy against their median) differ in at most `max_distance` bits and
whose 32x32 grey copies, each brought to zero mean and unit variance, correlate at least
`min_correlation`. The hash alone is too coarse for 48x48 faces: on CK+48, two expressions of
one person often share it (pixel correlation 0.6-0.99), while consecutive frames of one
sequence correlate 0.994 (median).
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np

from feratt.data.datasets import FaceDataset
from feratt.data.io import to_channels

HASH_SIDE = 32
DEFAULT_MAX_DISTANCE = 8
DEFAULT_MIN_CORRELATION = 0.99


def _thumbnail(image: np.ndarray) -> np.ndarray:
    grey = to_channels(image, 1).astype(np.float32)
    return cv2.resize(grey, (HASH_SIDE, HASH_SIDE), interpolation=cv2.INTER_AREA)


def perceptual_hash(image: np.ndarray) -> int:
    """pHash of a grey or RGB uint8 image as a 64-bit integer."""
    low = cv2.dct(_thumbnail(image))[:8, :8].ravel()
    bits = low > np.median(low[1:])  # the DC term would dominate the median
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def normalised_thumbnail(image: np.ndarray) -> np.ndarray:
    """The 32x32 grey copy at zero mean and unit variance, flattened (float16): the mean of the
    product of two is their pixel correlation."""
    small = _thumbnail(image).ravel()
    return ((small - small.mean()) / max(float(small.std()), 1e-3)).astype(np.float16)


@dataclass(frozen=True)
class FaceKeys:
    """What pairs of faces are compared on: source, label, subject and split of each face."""

    paths: list[str]
    labels: np.ndarray
    subjects: list[str | None]
    splits: list[str | None]
    exact: list[bytes]  # digest of the decoded pixels
    hashes: np.ndarray  # uint64 perceptual hashes
    thumbnails: np.ndarray  # float16 (N, 1024), see normalised_thumbnail


def face_keys(dataset: FaceDataset) -> FaceKeys:
    """Decode every face of `dataset` once; unreadable faces raise unless it skips them."""
    paths, labels, subjects, splits, exact, hashes, thumbnails = [], [], [], [], [], [], []
    for index, info in enumerate(dataset.records):
        record = dataset.read(index)
        if record is None:
            continue
        image = np.ascontiguousarray(record.image)
        digest = hashlib.sha256(str(image.shape).encode() + image.tobytes()).digest()
        paths.append(record.path)
        labels.append(record.label)
        subjects.append(record.subject)
        splits.append(info.split)
        exact.append(digest)
        hashes.append(perceptual_hash(image))
        thumbnails.append(normalised_thumbnail(image))
    return FaceKeys(
        paths,
        np.asarray(labels),
        subjects,
        splits,
        exact,
        np.asarray(hashes, dtype=np.uint64),
        np.asarray(thumbnails, dtype=np.float16).reshape(-1, HASH_SIDE * HASH_SIDE),
    )


_BYTE_BITS = np.array([bin(v).count("1") for v in range(256)], np.uint8)


def _popcount(values: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # NumPy 2
        return np.bitwise_count(values)
    return _BYTE_BITS[values[..., None].view(np.uint8)].sum(-1)


def near_pairs(hashes: np.ndarray, max_distance: int, chunk: int = 256) -> np.ndarray:
    """(i, j) index pairs, i < j, whose hashes differ in at most `max_distance` bits (all pairs
    compared, a chunk of rows at a time)."""
    found = []
    for start in range(0, len(hashes), chunk):
        rows = hashes[start : start + chunk, None]
        distance = _popcount(rows ^ hashes[None, :])
        i, j = np.nonzero(distance <= max_distance)
        i = i + start
        keep = i < j
        found.append(np.stack([i[keep], j[keep]], 1))
    return np.concatenate(found) if found else np.zeros((0, 2), np.int64)


@dataclass
class DuplicateReport:
    """Duplicate pairs of one data set, counted by what they connect."""

    faces: int
    max_distance: int
    min_correlation: float
    exact_groups: int = 0
    counts: dict[str, Counter] = field(default_factory=dict)  # "exact"/"near" -> kind -> pairs
    examples: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "faces": self.faces,
            "max_distance": self.max_distance,
            "min_correlation": self.min_correlation,
            "exact_groups": self.exact_groups,
            "pairs": {k: dict(v) for k, v in self.counts.items()},
            "examples": {k: [list(e) for e in v] for k, v in self.examples.items()},
        }


# What a pair connects; a pair counts under every kind that applies.
KINDS = (
    "all",
    "same class",
    "different classes",
    "same subject",
    "different subjects",
    "same split",
    "different splits",
)


def _kinds(keys: FaceKeys, i: int, j: int) -> list[str]:
    kinds = ["all", "same class" if keys.labels[i] == keys.labels[j] else "different classes"]
    if keys.subjects[i] and keys.subjects[j]:
        same = keys.subjects[i] == keys.subjects[j]
        kinds.append("same subject" if same else "different subjects")
    if keys.splits[i] and keys.splits[j]:
        kinds.append("same split" if keys.splits[i] == keys.splits[j] else "different splits")
    return kinds


def find_duplicates(
    keys: FaceKeys,
    max_distance: int = DEFAULT_MAX_DISTANCE,
    min_correlation: float = DEFAULT_MIN_CORRELATION,
    examples: int = 10,
) -> DuplicateReport:
    """Exact and near-duplicate pairs of `keys` (near: not exact, hashes within `max_distance`
    bits and thumbnails correlating at least `min_correlation`), counted per kind, with up to
    `examples` pairs that cross a label, subject or split."""
    report = DuplicateReport(len(keys.paths), max_distance, min_correlation)
    groups: dict[bytes, list[int]] = defaultdict(list)
    for index, digest in enumerate(keys.exact):
        groups[digest].append(index)
    exact_pairs = [
        (members[a], members[b])
        for members in groups.values()
        for a in range(len(members))
        for b in range(a + 1, len(members))
    ]
    report.exact_groups = sum(len(m) > 1 for m in groups.values())
    exact_set = set(exact_pairs)
    candidates = near_pairs(keys.hashes, max_distance)
    first, second = keys.thumbnails[candidates[:, 0]], keys.thumbnails[candidates[:, 1]]
    correlation = (first.astype(np.float32) * second).mean(1)
    near = [(int(i), int(j)) for i, j in candidates[correlation >= min_correlation]]
    near = [pair for pair in near if pair not in exact_set]
    for name, pairs in (("exact", exact_pairs), ("near", near)):
        report.counts[name] = Counter({kind: 0 for kind in KINDS})
        report.examples[name] = []
        for i, j in pairs:
            kinds = _kinds(keys, i, j)
            report.counts[name].update(kinds)
            crossing = [k for k in kinds if k.startswith("different")]
            if crossing and len(report.examples[name]) < examples:
                report.examples[name].append((keys.paths[i], keys.paths[j], ", ".join(crossing)))
    return report


def report_lines(report: DuplicateReport) -> Iterable[str]:
    """The report as the lines `feratt data check` prints."""
    yield f"faces: {report.faces}"
    yield f"exact duplicates: {report.exact_groups} groups"
    for name, title in (
        ("exact", "exact duplicate pairs"),
        (
            "near",
            f"near-duplicate pairs (pHash within {report.max_distance} of 64 bits, pixel "
            f"correlation >= {report.min_correlation})",
        ),
    ):
        counts = report.counts[name]
        parts = [f"{kind} {counts[kind]}" for kind in KINDS[1:] if counts[kind]]
        yield f"{title}: {counts['all']}" + (f" ({', '.join(parts)})" if parts else "")
        for a, b, crossing in report.examples[name]:
            yield f"  {a} = {b}  [{crossing}]"
