"""`feratt data prepare` with `--detect`, `--channels` and `--split`, and the Recognizer seeing a
photo's face exactly as training prepared it."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from feratt.cli import main
from feratt.data import open_dataset
from feratt.data.cache import prepare_cached
from feratt.data.preparation import HaarFaceDetector
from feratt.inference import Recognizer


@pytest.fixture
def photo_set(tmp_path: Path) -> Path:
    """A class-per-folder set of one uncropped photo: scikit-image's astronaut, smiling."""
    root = tmp_path / "photos"
    (root / "happy").mkdir(parents=True)
    image = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(root / "happy" / "astronaut.png"), image)
    return root


def test_recognizer_sees_the_face_training_prepares_from_the_same_photo(
    photo_set: Path, tmp_path: Path, shipped_weights: Path, capsys: pytest.CaptureFixture
) -> None:
    cache = tmp_path / "cache"
    argv = ["data", "prepare", str(photo_set), "--out", str(cache), "--detect", "--size", "64"]
    assert main(argv) == 0
    assert "wrote 1 faces of 64x64" in capsys.readouterr().out
    prepared = prepare_cached(open_dataset(photo_set), cache, size=64, detect=True)  # reused
    trained_on = prepared.faces[0, 0]

    # The same cascade settings as training (the Recognizer's default trades some for speed).
    recognizer = Recognizer.pretrained(detector=HaarFaceDetector())
    (face,) = recognizer.predict(str(photo_set / "happy" / "astronaut.png"))
    assert face.face_image.shape == trained_on.shape == (64, 64)
    assert np.array_equal(face.face_image, trained_on)
    assert face.label == "happy"


def test_prepare_keeps_one_split_in_the_chosen_channels(
    fer2013_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    root = tmp_path / "fer2013"
    for folder in sorted(fer2013_dir.glob("*/*")):  # two faces per class and split
        (root / folder.relative_to(fer2013_dir)).mkdir(parents=True)
        for image in sorted(folder.glob("*.jpg"))[:2]:
            shutil.copy(image, root / image.relative_to(fer2013_dir))
    out = tmp_path / "cache"
    argv = ["data", "prepare", str(root), "--out", str(out), "--split", "val", "--channels", "3"]
    assert main([*argv, "--size", "48"]) == 0
    assert "wrote 14 faces of 48x48" in capsys.readouterr().out
    val = open_dataset(root, split="val")
    prepared = prepare_cached(val, out, size=48, channels=3)
    assert prepared.faces.shape == (14, 3, 48, 48)
    assert sorted(map(str, prepared.paths)) == sorted(str(p) for p in val.paths)
    assert all("/val/" in str(p) for p in prepared.paths)
    grey = cv2.imread(str(val.paths[0]), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(prepared.faces[0, 0], prepared.faces[0, 2])  # grey source, 3 copies
    assert np.abs(prepared.faces[0, 0].astype(int) - grey).mean() < 2  # 48x48 crop kept as is
