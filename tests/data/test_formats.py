"""Every loader on a fixture written in its publisher's exact layout."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from native_layouts import (
    write_affectnet,
    write_bu3dfe,
    write_ckplus,
    write_fer2013_csv,
    write_ferplus,
    write_folder,
    write_jaffe,
    write_rafdb,
)

from feratt.data import open_dataset
from feratt.data.compositing import load_backgrounds
from feratt.data.labels import EXPRESSIONS


def names(dataset) -> list[str]:
    return [dataset.classes[label] for label in dataset.labels]


def test_ckplus_last_frames_and_neutral_first_frame(tmp_path, face_pixels):
    dataset = open_dataset(write_ckplus(tmp_path / "CK+", face_pixels))
    assert dataset.format_name == "ckplus"
    assert dataset.classes == EXPRESSIONS  # neutral + the 7 emotion codes
    assert len(dataset) == 12  # 3 labelled sequences x (3 peak frames + 1 neutral)
    assert dataset.class_counts() == {
        "neutral": 3, "happy": 3, "surprise": 0, "sad": 0, "anger": 3, "disgust": 0,
        "fear": 0, "contempt": 3,
    }  # fmt: skip
    assert dataset.subject_counts() == {"S005": 4, "S010": 4, "S011": 4}
    assert dataset.dropped == {"unlabelled sequences": 1}
    anger = [p[-6:-4] for p, n in zip(dataset.paths, names(dataset), strict=True) if n == "anger"]
    assert anger == ["04", "05", "06"]  # the last three frames of S005/001
    record = dataset[0]
    assert (
        record.path.endswith("S005_001_00000001.png") and dataset.classes[record.label] == "neutral"
    )
    assert record.image.shape == (120, 160) and record.landmarks.shape == (68, 2)


def test_ckplus_frames_configurable(tmp_path, face_pixels):
    root = write_ckplus(tmp_path / "CK+", face_pixels)
    dataset = open_dataset(root, frames=1, neutral_frames=0)
    assert "neutral" not in dataset.classes and len(dataset.classes) == 7
    assert len(dataset) == 3 and all(p.endswith("00000006.png") for p in dataset.paths)


def test_bu3dfe_codes_intensity_filter(tmp_path, face_pixels):
    root = write_bu3dfe(tmp_path / "BU3DFE", face_pixels)
    dataset = open_dataset(root)
    assert dataset.format_name == "bu3dfe" and len(dataset.classes) == 7
    assert len(dataset) == 18  # 2 subjects x (neutral + 2 expressions x 4 intensities)
    assert set(dataset.subjects) == {"F0001", "M0002"}
    strong = open_dataset(root, intensities=(3, 4))
    assert len(strong) == 10
    assert strong.class_counts()["anger"] == 4 and strong.class_counts()["neutral"] == 2
    assert {r.extra["intensity"] for r in strong.records} == {0, 3, 4}
    assert {r.extra["ethnicity"] for r in strong.records} == {"WH", "AE"}
    assert strong[0].image.shape == (128, 128, 3)


def test_jaffe_subject_and_expression_from_name(tmp_path, face_pixels):
    dataset = open_dataset(write_jaffe(tmp_path / "jaffe", face_pixels))
    assert dataset.format_name == "jaffe" and len(dataset.classes) == 7
    assert names(dataset) == ["anger", "happy", "neutral", "fear", "surprise"]
    assert list(dataset.subjects) == ["KA", "KA", "KA", "NA", "NA"]
    assert dataset[0].image.shape == (256, 256)


def test_fer2013_csv_usage_splits(tmp_path, face_pixels):
    root = write_fer2013_csv(tmp_path / "fer", face_pixels)
    dataset = open_dataset(root)
    assert dataset.format_name == "fer2013" and dataset.splits == ("train", "val", "test")
    assert names(dataset) == ["anger", "happy", "neutral", "happy", "surprise"]
    assert np.array_equal(dataset[1].image, face_pixels[1])
    assert dataset[1].path.endswith("fer2013.csv:3")
    assert len(open_dataset(root / "fer2013.csv", split="train")) == 3
    assert names(open_dataset(root, split="PrivateTest")) == ["surprise"]
    assert open_dataset(root).subjects.tolist() == [""] * 5


def test_ferplus_majority_and_soft_labels(tmp_path, face_pixels):
    dataset = open_dataset(write_ferplus(tmp_path / "ferplus", face_pixels))
    assert dataset.format_name == "ferplus" and dataset.classes == EXPRESSIONS
    assert names(dataset) == ["neutral", "happy"]
    assert dataset.dropped == {
        "no majority vote": 1,
        "no image (removed by FER+)": 1,
        "majority unknown or not a face": 1,
    }
    soft = dataset.soft_labels
    assert soft.shape == (2, 8) and np.allclose(soft.sum(1), 1)
    assert np.allclose(soft[0, [0, 4]], [6 / 9, 3 / 9])  # the single sad vote is an outlier
    assert np.array_equal(dataset[1].image, face_pixels[2])  # row-aligned with fer2013.csv


def test_ferplus_image_folders_or_missing_pixels(tmp_path, face_pixels):
    root = write_ferplus(tmp_path / "ferplus", face_pixels)
    (root / "fer2013.csv").unlink()
    with pytest.raises(FileNotFoundError, match="needs the FER2013 pixels"):
        open_dataset(root)
    (root / "FER2013Train").mkdir()
    for k in range(3):
        cv2.imwrite(str(root / "FER2013Train" / f"fer000000{k}.png"), face_pixels[k])
    dataset = open_dataset(root, split="train")
    assert [p.rsplit("/", 2)[1:] for p in dataset.paths] == [
        ["FER2013Train", "fer0000001.png"],
        ["FER2013Train", "fer0000002.png"],
    ]
    assert np.array_equal(dataset[1].image, face_pixels[2])


def test_rafdb_codes_and_splits(tmp_path, face_pixels):
    root = write_rafdb(tmp_path / "RAF-DB" / "basic", face_pixels)
    dataset = open_dataset(root)
    assert dataset.format_name == "rafdb" and len(dataset.classes) == 7
    assert names(dataset) == ["sad", "happy", "neutral", "surprise", "anger"]
    assert dataset.splits == ("train", "test")
    test = open_dataset(root, split="test")
    assert [p.split("/")[-1] for p in test.paths] == [
        "test_0001_aligned.jpg",
        "test_0002_aligned.jpg",
    ]
    assert test[0].image.shape == (100, 100, 3)


def test_affectnet_crops_box_and_drops_codes(tmp_path, face_pixels):
    root = write_affectnet(tmp_path / "AffectNet", face_pixels)
    dataset = open_dataset(root)
    assert dataset.format_name == "affectnet" and dataset.classes == EXPRESSIONS
    assert names(dataset) == ["happy", "contempt", "anger"]
    assert dataset.dropped == {"uncertain": 1, "no face": 1}
    assert dataset.splits == ("train", "val")
    record = dataset[0]
    assert record.image.shape == (96, 96, 3)
    assert record.landmarks.min() >= 0 and record.landmarks.max() <= 96
    seven = open_dataset(root, contempt=False)
    assert "contempt" not in seven.classes and len(seven) == 2
    validation = root / "validation.csv"  # some copies ship it without the header row
    validation.write_text(validation.read_text().split("\n", 1)[1])
    assert names(open_dataset(root, split="val")) == ["anger"]


def test_folder_synonyms_and_formats(tmp_path, face_pixels):
    dataset = open_dataset(write_folder(tmp_path / "mine", face_pixels))
    assert dataset.format_name == "folder"
    assert dataset.classes == ("neutral", "happy", "anger")
    assert dataset.class_counts() == {"neutral": 2, "happy": 2, "anger": 2}
    assert all(r.image.shape == (48, 48) for r in dataset)
    assert dataset[2:4].paths.tolist() == dataset.paths[2:4].tolist()


def test_format_forced_by_name(tmp_path, face_pixels):
    root = write_jaffe(tmp_path / "jaffe", face_pixels)
    assert open_dataset(root, format="jaffe").format_name == "jaffe"
    with pytest.raises(ValueError, match="unknown data set format 'nope'; known: ckplus"):
        open_dataset(root, format="nope")


def test_paths_under_the_home_folder(tmp_path, face_pixels, monkeypatch):
    """`~/...` works for data sets and background folders, as it does in configs."""
    monkeypatch.setenv("HOME", str(tmp_path))
    write_folder(tmp_path / "faces", face_pixels)
    (tmp_path / "bg").mkdir()
    cv2.imwrite(str(tmp_path / "bg" / "b.png"), face_pixels[0])
    assert len(open_dataset("~/faces")) == len(open_dataset(tmp_path / "faces")) > 0
    assert load_backgrounds("~/bg").shape[0] == 1
