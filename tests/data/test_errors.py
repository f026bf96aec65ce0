"""Bad input: each error names the file and says what was expected; skipping reports which."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
from native_layouts import write_ckplus, write_fer2013_csv, write_ferplus, write_folder, write_rafdb

from feratt.data import open_dataset
from feratt.data.io import CorruptImageError, read_image
from feratt.data.preparation import prepare_faces


@pytest.fixture
def folder_with_bad_files(tmp_path, face_pixels):
    root = write_folder(tmp_path / "set", face_pixels)
    good = (root / "happiness" / "img0.jpg").read_bytes()
    (root / "happiness" / "cut.jpg").write_bytes(good[: len(good) // 2])
    (root / "neutral" / "garbage.png").write_bytes(b"not an image at all")
    (root / "neutral" / "empty.bmp").write_bytes(b"")
    return root


def test_read_image_messages(folder_with_bad_files):
    root = folder_with_bad_files
    with pytest.raises(CorruptImageError, match=r"cut\.jpg is corrupt: truncated JPEG"):
        read_image(root / "happiness" / "cut.jpg")
    with pytest.raises(CorruptImageError, match=r"garbage\.png is corrupt or not an image"):
        read_image(root / "neutral" / "garbage.png")
    with pytest.raises(CorruptImageError, match=r"empty\.bmp is empty"):
        read_image(root / "neutral" / "empty.bmp")
    with pytest.raises(FileNotFoundError, match=r"missing\.png does not exist"):
        read_image(root / "missing.png")


def test_truncated_png(tmp_path, face_pixels):
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), face_pixels[0])
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(CorruptImageError, match="truncated PNG"):
        read_image(path)


def test_read_image_colour_is_rgb(tmp_path):
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[..., 0] = 255  # blue in OpenCV's order
    cv2.imwrite(str(tmp_path / "blue.png"), bgr)
    assert read_image(tmp_path / "blue.png")[0, 0].tolist() == [0, 0, 255]


def test_corrupt_image_raises_naming_file(folder_with_bad_files):
    dataset = open_dataset(folder_with_bad_files)
    with pytest.raises(ValueError, match=r"cut\.jpg"):
        prepare_faces(dataset, workers=1)


def test_skip_corrupt_reports_how_many_and_which(folder_with_bad_files):
    dataset = open_dataset(folder_with_bad_files, skip_corrupt=True)
    assert len(dataset) == 9
    prepared = prepare_faces(dataset, workers=2)
    assert len(prepared) == 6
    skipped = sorted(path.rsplit("/", 1)[1] for path, _ in prepared.meta["skipped"])
    assert skipped == ["cut.jpg", "empty.bmp", "garbage.png"]
    assert all(reason for _, reason in dataset.skipped)


def test_unknown_class_folder(tmp_path, face_pixels):
    root = write_folder(tmp_path / "set", face_pixels)
    (root / "bored").mkdir()
    cv2.imwrite(str(root / "bored" / "x.png"), face_pixels[0])
    with pytest.raises(
        ValueError, match=r"bored: unknown class folder 'bored'; expected expression"
    ):
        open_dataset(root)
    dataset = open_dataset(root, skip_corrupt=True)
    assert len(dataset) == 6 and dataset.skipped[0][0].endswith("bored")


def test_unknown_layout_lists_expected_layouts(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="matches no known data set layout") as err:
        open_dataset(tmp_path)
    for expected in ("ckplus: CK+ release", "Emotion/", "F0001_AN03WH_F2D.bmp", "KA.AN1.39.tiff"):
        assert expected in str(err.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_dataset(tmp_path / "nowhere")


def test_empty_dataset(tmp_path):
    (tmp_path / "README").write_text("JAFFE")
    with pytest.raises(ValueError, match=r"jaffe data set at .* is empty: no labelled faces"):
        open_dataset(tmp_path, format="jaffe")


def test_ckplus_missing_and_malformed_labels(tmp_path, face_pixels):
    root = write_ckplus(tmp_path / "CK+", face_pixels)
    bad = root / "Emotion" / "S010" / "001" / "S010_001_00000006_emotion.txt"
    bad.write_text("happy\n")
    with pytest.raises(ValueError, match=r"S010_001_00000006_emotion\.txt is malformed: expected"):
        open_dataset(root)
    assert len(open_dataset(root, skip_corrupt=True)) == 8
    bad.write_text("   9.0000000e+00\n")
    with pytest.raises(ValueError, match=r"has code 9.0; expected an integer 0-7"):
        open_dataset(root)
    landmarks = root / "Landmarks" / "S005" / "001" / "S005_001_00000001_landmarks.txt"
    landmarks.write_text("1 2\n3 4\n")
    bad.unlink()
    with pytest.raises(ValueError, match=r"S005_001_00000001_landmarks\.txt has shape \(2, 2\)"):
        open_dataset(root)[0]
    shutil.rmtree(root / "Emotion")
    with pytest.raises(FileNotFoundError, match=r"CK\+ label folder .*Emotion not found"):
        open_dataset(root)


def test_rafdb_malformed_line_and_missing_image(tmp_path, face_pixels):
    root = write_rafdb(tmp_path / "raf", face_pixels)
    label_file = root / "EmoLabel" / "list_patition_label.txt"
    label_file.write_text(label_file.read_text() + "train_00009.jpg happy\n")
    with pytest.raises(ValueError, match=r"list_patition_label\.txt:6: expected '<name>\.jpg"):
        open_dataset(root)
    label_file.write_text("train_00009.jpg 3\n")
    with pytest.raises(FileNotFoundError, match=r"train_00009_aligned\.jpg does not exist"):
        open_dataset(root)[0]


def test_fer2013_csv_bad_rows(tmp_path, face_pixels):
    root = write_fer2013_csv(tmp_path / "fer", face_pixels)
    csv_file = root / "fer2013.csv"
    csv_file.write_text(csv_file.read_text() + "2,1 2 3,Training\n9," + "0 " * 2304 + ",Training\n")
    with pytest.raises(ValueError, match=r"fer2013\.csv:7: pixels column has 3 values"):
        open_dataset(root)
    dataset = open_dataset(root, skip_corrupt=True)
    assert len(dataset) == 5
    assert [p.rsplit(":", 1)[1] for p, _ in dataset.skipped] == ["7", "8"]
    assert "not a FER2013 code 0-6" in dataset.skipped[1][1]


def test_ferplus_wrong_header(tmp_path, face_pixels):
    root = write_ferplus(tmp_path / "ferplus", face_pixels)
    (root / "fer2013new.csv").write_text("Usage,Image name,neutral\nTraining,a.png,3\n")
    with pytest.raises(ValueError, match=r"fer2013new\.csv is not a FER\+ label file: missing"):
        open_dataset(root)


def test_unknown_split(tmp_path, face_pixels):
    root = write_fer2013_csv(tmp_path / "fer", face_pixels)
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        open_dataset(root, split="dev")
    with pytest.raises(ValueError, match="ships no fixed splits"):
        open_dataset(write_folder(tmp_path / "f", face_pixels), split="train")


def test_unknown_option(tmp_path, face_pixels):
    root = write_rafdb(tmp_path / "raf", face_pixels)
    with pytest.raises(ValueError, match="rafdb has no option\\(s\\) frames; it takes aligned"):
        open_dataset(root, frames=3)


@pytest.mark.parametrize(
    ("pixels", "reason"),
    [
        ("65636 " + "0 " * 2303, "pixel value 65636 is outside 0-255"),
        ("12 abc " + "0 " * 2302, "pixel value 'abc' is not a whole number"),
        ("0 " * 70_000, "unreadable CSV row (field larger than field limit"),
    ],
    ids=["out-of-range", "non-numeric", "huge-field"],
)
def test_fer2013_csv_bad_pixels_name_the_line(tmp_path, face_pixels, capsys, pixels, reason):
    from feratt.cli import main

    root = write_fer2013_csv(tmp_path / "fer", face_pixels)
    csv_file = root / "fer2013.csv"
    good = csv_file.read_text().splitlines()[1]
    csv_file.write_text(csv_file.read_text() + f"3,{pixels},Training\n{good}\n")
    with pytest.raises(ValueError) as err:
        open_dataset(root)
    assert str(err.value).startswith(f"{csv_file}:7: {reason}")
    dataset = open_dataset(root, skip_corrupt=True)
    assert len(dataset) == 6  # the five rows and the good one after the bad row
    assert [p for p, _ in dataset.skipped] == [f"{csv_file}:7"]
    assert reason in dataset.skipped[0][1]
    assert np.array_equal(dataset[5].image, dataset[0].image)
    assert main(["data", "info", str(root)]) == 1
    stderr = capsys.readouterr().err
    assert f"{csv_file}:7: {reason}" in stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
