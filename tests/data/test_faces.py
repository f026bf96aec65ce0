"""Face detection, landmark alignment, masks and dark faces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data
from native_layouts import face_landmarks, write_affectnet, write_ckplus, write_folder

from feratt.data import open_dataset
from feratt.data.preparation import (
    FaceDetector,
    HaarFaceDetector,
    dark_faces,
    landmark_transform,
    prepare_faces,
    preview_grid,
)

# Eileen Collins' face in skimage's astronaut photo (x, y, w, h), checked by eye.
ASTRONAUT_FACE = (177, 67, 93, 93)


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


@pytest.mark.parametrize("scale", [1, 3])
def test_haar_finds_the_astronaut(scale):
    image = skimage.data.astronaut()
    image = cv2.resize(image, None, fx=scale, fy=scale)  # 3x exercises the downscaled detection
    detector = HaarFaceDetector()
    assert isinstance(detector, FaceDetector)
    box = np.array(detector.detect(image)[0]) / scale
    assert iou(box, ASTRONAUT_FACE) > 0.6


class FixedBox:
    """A plugged-in detector: always the same box."""

    def detect(self, image):
        return [(8, 6, 30, 30)]


def test_custom_detector_and_undetected_fallback(tmp_path, face_pixels):
    root = write_folder(tmp_path / "set", face_pixels)
    dataset = open_dataset(root)
    prepared = prepare_faces(dataset, size=32, detect=True, detector=FixedBox(), workers=1)
    image = dataset[0].image
    side = 36  # the 30-pixel box widened by 10% on each side
    expected = cv2.resize(image[3 : 3 + side, 5 : 5 + side], (32, 32))
    assert np.abs(prepared.faces[0, 0].astype(int) - expected).mean() < 4
    noise = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
    cv2.imwrite(str(root / "neutral" / "img0.bmp"), noise)
    prepared = prepare_faces(open_dataset(root), detect=True, workers=1)
    assert prepared.meta["undetected"] >= 1 and len(prepared) == 6


def test_landmark_alignment_levels_the_eyes():
    points = face_landmarks(40, 50, 80)
    angle = np.deg2rad(20)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    tilted = (points - 90) @ rotation.T + 90
    matrix = landmark_transform(tilted, 64, margin=0.2)
    aligned = tilted @ matrix[:, :2].T + matrix[:, 2]
    left, right = aligned[36:42].mean(0), aligned[42:48].mean(0)
    assert abs(left[1] - right[1]) < 1e-3 and right[0] > left[0]
    eye_distance = right[0] - left[0]
    assert aligned.min() >= 0.2 * eye_distance - 1e-3 and aligned.max() <= 64


@pytest.mark.parametrize("size", [64, 128])
def test_ckplus_faces_hull_masks_and_dark_faces(tmp_path, face_pixels, size):
    dataset = open_dataset(write_ckplus(tmp_path / "CK+", face_pixels))
    prepared = prepare_faces(dataset, size=size, channels=3, workers=2)
    assert prepared.faces.shape == (12, 3, size, size) and prepared.faces.dtype == np.uint8
    assert prepared.masks.shape == (12, size, size) and prepared.masks.dtype == bool
    assert prepared.subjects.tolist()[0] == "S005" and prepared.classes == dataset.classes
    # The hull of the jaw + eye points covers the middle, not the corners.
    assert prepared.masks[:, size // 2, size // 2].all() and not prepared.masks[:, 0, 0].any()
    dark = dark_faces(prepared)
    assert (dark.transpose(1, 0, 2, 3)[:, ~prepared.masks] == 0).all()
    assert np.array_equal(dark[:, :, prepared.masks[0]][0], prepared.faces[0][:, prepared.masks[0]])
    # Crops keep their real surroundings: the background grey (90) shows outside the mask.
    assert (prepared.faces[:, :, ~prepared.masks[0]] > 0).mean() > 0.9


def test_precropped_faces_get_an_ellipse(tmp_path, face_pixels):
    dataset = open_dataset(write_folder(tmp_path / "set", face_pixels))
    prepared = prepare_faces(dataset, workers=1)
    assert prepared.faces.shape == (6, 1, 64, 64)
    assert 0.55 < prepared.masks.mean() < 0.65  # pi * 0.40 * 0.48 of the crop
    assert np.array_equal(prepared.masks[0], prepared.masks[-1])
    expected = cv2.resize(dataset[0].image, (64, 64), interpolation=cv2.INTER_LINEAR)
    assert np.abs(prepared.faces[0, 0].astype(int) - expected).mean() < 3


def test_affectnet_landmarks_align_the_box_crop(tmp_path, face_pixels):
    prepared = prepare_faces(open_dataset(write_affectnet(tmp_path / "an", face_pixels)))
    assert len(prepared) == 3 and prepared.masks.any(axis=(1, 2)).all()


def test_preview_grid_rows(tmp_path, face_pixels):
    prepared = prepare_faces(open_dataset(write_folder(tmp_path / "set", face_pixels)), size=32)
    grid = preview_grid(prepared, count=4)
    assert grid.shape == (3 * 32, 4 * 32, 3) and grid.dtype == np.uint8
    assert set(np.unique(grid[32:64])) <= {0, 255}  # the mask row
