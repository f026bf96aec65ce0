"""Face detection, landmark alignment, masks and dark faces."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
from native_layouts import (
    AFFECTNET_HEADER,
    face_landmarks,
    write_affectnet,
    write_ckplus,
    write_folder,
)

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


def _tilted_affectnet(root: Path, face: np.ndarray, degrees: float) -> Path:
    """One AffectNet row: `face` in the 96-pixel box at (70, 40) of a 240x200 photo, photo and
    landmarks rotated by `degrees` about the box centre, a red dot on each eye centre."""
    (root / "Manually_Annotated_Images" / "689").mkdir(parents=True)
    canvas = np.full((200, 240, 3), 60, np.uint8)
    canvas[40:136, 70:166] = cv2.resize(face, (96, 96))[..., None]
    turn = cv2.getRotationMatrix2D((118.0, 88.0), degrees, 1.0)
    canvas = cv2.warpAffine(canvas, turn, (240, 200), borderValue=(60, 60, 60))
    points = face_landmarks(70, 40, 96) @ turn[:, :2].T + turn[:, 2]
    for eye in (points[36], points[42]):
        centre = tuple(int(round(v * 16)) for v in eye)  # 4 bits of sub-pixel precision
        cv2.circle(canvas, centre, 3 * 16, (0, 0, 255), -1, cv2.LINE_AA, shift=4)
    cv2.imwrite(str(root / "Manually_Annotated_Images" / "689" / "tilted.png"), canvas)
    landmarks = ";".join(f"{v:.3f}" for v in points.ravel())
    row = f"689/tilted.png,70,40,96,96,{landmarks},1,0.5,-0.2"
    (root / "training.csv").write_text(f"{AFFECTNET_HEADER}\n{row}\n")
    return root


def test_affectnet_landmarks_align_the_box_crop(tmp_path: Path, face_pixels: list[np.ndarray]):
    """A face tilted by 15 degrees comes out with its eyes level, where the landmark crop puts
    them (within half a pixel)."""
    prepared = prepare_faces(open_dataset(write_affectnet(tmp_path / "an", face_pixels)))
    assert len(prepared) == 3 and prepared.masks.any(axis=(1, 2)).all()

    tilted = prepare_faces(
        open_dataset(_tilted_affectnet(tmp_path / "t", face_pixels[0], 15)), 64, 3
    )
    rgb = tilted.faces[0].astype(float)
    redness = np.clip(rgb[0] - rgb[1], 0, None)
    ys, xs = np.nonzero(redness > 40)
    centres = []
    for side in (xs < 32, xs >= 32):
        weights = redness[ys[side], xs[side]]
        centres.append(
            (np.average(xs[side], weights=weights), np.average(ys[side], weights=weights))
        )
    # The levelled landmarks span 0.05-0.95 of the box across and 0.4 (eyes) to 0.95 (chin) down;
    # the crop is the square around them widened by 0.2 eye distances (0.4 x 96) on each side.
    scale = 64 / (0.9 * 96 + 2 * 0.2 * 0.4 * 96)
    eye_x, eye_y = 0.2 * 96 * scale, (0.4 - 0.675) * 96 * scale  # from the crop's centre
    np.testing.assert_allclose(
        centres, [(32 - eye_x, 32 + eye_y), (32 + eye_x, 32 + eye_y)], atol=0.5
    )
    assert abs(centres[0][1] - centres[1][1]) < 0.25


def test_preview_grid_rows(tmp_path, face_pixels):
    prepared = prepare_faces(open_dataset(write_folder(tmp_path / "set", face_pixels)), size=32)
    grid = preview_grid(prepared, count=4)
    assert grid.shape == (3 * 32, 4 * 32, 3) and grid.dtype == np.uint8
    assert set(np.unique(grid[32:64])) <= {0, 255}  # the mask row
