"""The real folders in ../shared/data: exact counts (no decoding), subjects and folds."""

from __future__ import annotations

import numpy as np

from feratt.data import open_dataset
from feratt.data.folds import SubjectKFold, validation_split
from feratt.data.preparation import prepare_faces

# Counted once with `ls | wc -l` per class folder.
FER2013_TRAIN = {
    "neutral": 4965, "happy": 7215, "surprise": 3171, "sad": 4830, "anger": 3995,
    "disgust": 436, "fear": 4097,
}  # fmt: skip
FER2013_VAL = {
    "neutral": 607, "happy": 895, "surprise": 415, "sad": 653, "anger": 467, "disgust": 56,
    "fear": 496,
}  # fmt: skip
CKPLUS48 = {
    "happy": 207, "surprise": 249, "sad": 84, "anger": 135, "disgust": 177, "fear": 75,
    "contempt": 54,
}  # fmt: skip


def test_fer2013_folders_exact_counts(fer2013_dir):
    train = open_dataset(fer2013_dir, split="train")
    assert train.format_name == "fer2013-folders" and len(train) == 28709
    assert train.class_counts() == FER2013_TRAIN
    val = open_dataset(fer2013_dir, split="PublicTest")
    assert len(val) == 3589 and val.class_counts() == FER2013_VAL
    assert all("PublicTest_" in p for p in val.paths[::500])


def test_ckplus48_counts_and_subjects(ckplus48_dir):
    dataset = open_dataset(ckplus48_dir)
    assert dataset.format_name == "ckplus48" and len(dataset) == 981
    assert dataset.class_counts() == CKPLUS48
    assert len(dataset.subject_counts()) == 118
    assert dataset.subjects[0] == "S010"


def test_ckplus48_folds_disjoint_and_covering(ckplus48_dir):
    subjects = open_dataset(ckplus48_dir).subjects
    seen = []
    for train, test in SubjectKFold(10, seed=0).split(subjects):
        assert not set(subjects[train]) & set(subjects[test])
        seen.extend(set(subjects[test]))
        assert 85 <= len(test) <= 110  # 981 / 10, balanced in images
        inner_train, val = validation_split(subjects[train], 0.1, seed=0)
        assert not set(subjects[train][inner_train]) & set(subjects[train][val])
    assert sorted(seen) == sorted(set(subjects))  # every subject in exactly one test fold


def test_ckplus48_prepare(ckplus48_dir):
    prepared = prepare_faces(open_dataset(ckplus48_dir), size=64)
    assert prepared.faces.shape == (981, 1, 64, 64)
    assert len(np.unique(prepared.subjects)) == 118
    assert 60 < prepared.faces.mean() < 200
