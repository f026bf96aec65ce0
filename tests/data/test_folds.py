"""Subject-independent folds and validation splits."""

from __future__ import annotations

import numpy as np
import pytest

from feratt.data.folds import SubjectKFold, fold_split, validation_faces, validation_split
from feratt.data.records import PreparedFaces


def toy_subjects(n_subjects: int = 23, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.repeat([f"S{i:03d}" for i in range(n_subjects)], rng.integers(2, 12, n_subjects))


def test_kfold_disjoint_covering_deterministic():
    subjects = toy_subjects()
    folds = list(SubjectKFold(5, seed=3).split(subjects))
    assert len(folds) == 5
    tested = np.concatenate([test for _, test in folds])
    assert np.array_equal(np.sort(tested), np.arange(len(subjects)))  # each image tested once
    for train, test in folds:
        assert not set(subjects[train]) & set(subjects[test])
        assert len(train) + len(test) == len(subjects)
    sizes = [len(test) for _, test in folds]
    assert max(sizes) - min(sizes) <= 11  # at most one subject's images apart
    again = list(SubjectKFold(5, seed=3).split(subjects))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    other = SubjectKFold(5, seed=4).assign(subjects)
    assert other != SubjectKFold(5, seed=3).assign(subjects)


def test_kfold_needs_enough_subjects():
    with pytest.raises(ValueError, match="3 subjects cannot fill 10 folds"):
        list(SubjectKFold(10).split(["a", "b", "c"]))
    with pytest.raises(ValueError, match="1 of 3 faces have no subject id"):
        list(SubjectKFold(2).split(["a", "", "c"]))


def test_kfold_without_subjects_is_stratified_per_image():
    labels = np.repeat(np.arange(4), 25)
    folds = list(SubjectKFold(5, seed=0).split([""] * 100, labels))
    for _, test in folds:
        assert np.bincount(labels[test]).tolist() == [5, 5, 5, 5]
    with pytest.raises(ValueError, match="pass labels"):
        list(SubjectKFold(5).split([None] * 10))


def test_validation_split_takes_whole_subjects():
    subjects = toy_subjects()
    train, val = validation_split(subjects, fraction=0.2, seed=0)
    assert not set(subjects[train]) & set(subjects[val])
    assert len(train) + len(val) == len(subjects) and len(val) > 0
    assert len(val) <= 0.2 * len(subjects) + 11
    again = validation_split(subjects, fraction=0.2, seed=0)
    assert np.array_equal(val, again[1])


def test_validation_split_without_subjects():
    labels = np.repeat(np.arange(2), 50)
    train, val = validation_split([""] * 100, 0.1, seed=0, labels=labels)
    assert len(val) == 10 and np.bincount(labels[val]).tolist() == [5, 5]
    assert not set(train) & set(val)


def test_validation_split_of_a_set_too_small_to_stratify():
    labels = np.repeat(np.arange(7), 6)  # 10% is 5 faces: fewer than the 7 classes
    train, val = validation_split([""] * 42, 0.1, seed=0, labels=labels)
    assert len(val) == 5 and len(train) == 37
    assert sorted({*train, *val}) == list(range(42))


def _faces(n_subjects: int = 12, per_subject: int = 3) -> PreparedFaces:
    n = n_subjects * per_subject
    return PreparedFaces(
        faces=np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1).repeat(4, 2).repeat(4, 3),
        masks=np.ones((n, 4, 4), bool),
        labels=np.arange(n) % 3,
        subjects=np.repeat([f"S{i:02d}" for i in range(n_subjects)], per_subject),
        paths=np.array([f"{i}.png" for i in range(n)]),
        classes=("a", "b", "c"),
    )


def test_fold_split_and_validation_faces_are_the_index_splits_applied():
    """`feratt cv` (through the data module) and the GPU runner both cut faces this way."""
    faces = _faces()
    for fold in range(3):
        train, test = fold_split(faces, 3, fold, seed=4)
        train_idx, test_idx = list(SubjectKFold(3, 4).split(faces.subjects, faces.labels))[fold]
        assert (train.paths == faces.paths[train_idx]).all()
        assert (test.paths == faces.paths[test_idx]).all()
        inner, val = validation_faces(train, 0.25, seed=4)
        inner_idx, val_idx = validation_split(train.subjects, 0.25, 4, train.labels)
        assert (val.paths == train.paths[val_idx]).all()
        assert (inner.paths == train.paths[inner_idx]).all()
        assert not set(inner.subjects) & set(val.subjects) | set(val.subjects) & set(test.subjects)
    with pytest.raises(ValueError, match=r"fold must be in \[0, 3\), got 3"):
        fold_split(faces, 3, 3)
