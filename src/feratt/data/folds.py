"""Subject-independent splits: k-fold over subjects and a validation split carved from them.

Data sets without subjects (FER2013, RAF-DB, AffectNet, plain folders) have no identity to keep
apart; for them both functions fall back to stratified per-image splits (sklearn's
StratifiedKFold / train_test_split on `labels`), which is only sound because those sets ship
one image per identity in practice. Their fixed splits are read with
``open_dataset(path, split=...)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from feratt.data.records import PreparedFaces


def _subject_array(subjects: Sequence[str | None] | np.ndarray) -> np.ndarray:
    values = np.array(["" if s is None else str(s) for s in subjects], dtype=str)
    missing = values == ""
    if missing.any() and not missing.all():
        raise ValueError(f"{int(missing.sum())} of {len(values)} faces have no subject id")
    return values


def _need_labels(labels: Sequence[int] | np.ndarray | None, n: int) -> np.ndarray:
    if labels is None:
        raise ValueError("these faces have no subject ids: pass labels for a stratified split")
    labels = np.asarray(labels)
    if len(labels) != n:
        raise ValueError(f"got {len(labels)} labels for {n} faces")
    return labels


class SubjectKFold:
    """Deterministic k-fold over subjects: each subject is in exactly one test fold.

    Subjects are shuffled with `seed`, then dealt, largest first, to the fold holding the fewest
    images so far, so folds are balanced in images (and within one subject in subject count).

    Args:
        n_splits: number of folds k (at most the number of subjects).
        seed: shuffling seed; the same seed always gives the same folds.
    """

    def __init__(self, n_splits: int = 10, seed: int = 0) -> None:
        if n_splits < 2:
            raise ValueError(f"n_splits must be at least 2, got {n_splits}")
        self.n_splits, self.seed = n_splits, seed

    def assign(self, subjects: Sequence[str] | np.ndarray) -> dict[str, int]:
        """Subject id -> test fold index."""
        names, counts = np.unique(_subject_array(subjects), return_counts=True)
        if len(names) < self.n_splits:
            raise ValueError(f"{len(names)} subjects cannot fill {self.n_splits} folds")
        order = np.random.default_rng(self.seed).permutation(len(names))
        order = order[np.argsort(-counts[order], kind="stable")]
        load = np.zeros(self.n_splits, np.int64)
        members = np.zeros(self.n_splits, np.int64)
        fold_of: dict[str, int] = {}
        for i in order:
            fold = int(np.lexsort((members, load))[0])
            fold_of[str(names[i])] = fold
            load[fold] += counts[i]
            members[fold] += 1
        return fold_of

    def split(
        self,
        subjects: Sequence[str | None] | np.ndarray,
        labels: Sequence[int] | np.ndarray | None = None,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (train_idx, test_idx) per fold; per-image stratified when there are no subjects."""
        values = _subject_array(subjects)
        if len(values) and (values == "").all():
            folds = StratifiedKFold(self.n_splits, shuffle=True, random_state=self.seed)
            y = _need_labels(labels, len(values))
            yield from folds.split(np.zeros(len(y)), y)
            return
        fold_of = self.assign(values)
        folds = np.array([fold_of[s] for s in values])
        for k in range(self.n_splits):
            yield np.flatnonzero(folds != k), np.flatnonzero(folds == k)


def validation_split(
    subjects: Sequence[str | None] | np.ndarray,
    fraction: float = 0.1,
    seed: int = 0,
    labels: Sequence[int] | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, val_idx): whole subjects, shuffled by `seed`, until `fraction` of the images
    (at least one subject, never all) go to validation; without subjects, per-image and
    stratified by label when every class fits on both sides."""
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    values = _subject_array(subjects)
    if len(values) and (values == "").all():
        y = _need_labels(labels, len(values))
        n_val = math.ceil(fraction * len(y))
        classes, class_counts = np.unique(y, return_counts=True)
        # Stratify where each side can hold every class; tiny sets get a plain random split.
        stratifiable = min(n_val, len(y) - n_val) >= len(classes) and class_counts.min() >= 2
        train, val = train_test_split(
            np.arange(len(y)),
            test_size=n_val,
            random_state=seed,
            stratify=y if stratifiable else None,
        )
        return np.sort(train), np.sort(val)
    names, counts = np.unique(values, return_counts=True)
    if len(names) < 2:
        raise ValueError("a subject-independent validation split needs at least 2 subjects")
    order = np.random.default_rng(seed).permutation(len(names))
    taken = np.cumsum(counts[order]) <= fraction * len(values)
    taken[0] = True
    taken[-1] = False
    val = np.isin(values, names[order[taken]])
    return np.flatnonzero(~val), np.flatnonzero(val)


def fold_split(
    faces: PreparedFaces, folds: int, fold: int, seed: int = 0
) -> tuple[PreparedFaces, PreparedFaces]:
    """(train, test) faces of fold `fold` of the subject-independent `folds`-fold split."""
    if not 0 <= fold < folds:
        raise ValueError(f"fold must be in [0, {folds}), got {fold}")
    splits = SubjectKFold(folds, seed).split(faces.subjects, faces.labels)
    train_idx, test_idx = next(s for k, s in enumerate(splits) if k == fold)
    return faces.subset(train_idx), faces.subset(test_idx)


def validation_faces(
    faces: PreparedFaces, fraction: float, seed: int = 0
) -> tuple[PreparedFaces, PreparedFaces]:
    """(train, val) faces: `validation_split` of `faces` by subject (model selection data)."""
    train_idx, val_idx = validation_split(faces.subjects, fraction, seed, faces.labels)
    return faces.subset(train_idx), faces.subset(val_idx)
