"""Face preparation (SPEC section 3): detect, align, crop, resize, and fit the face mask.

Every face becomes one affine warp of its source image into an S x S crop: with 68-point
landmarks the eyes are levelled and the landmark box plus a margin is cropped, and the mask is
the landmarks' convex hull; otherwise the crop is the detected face or the (pre-cropped) image
and the mask is an ellipse fitted to it. Crops keep their real surroundings; the "dark" face
I_org is the crop times its mask.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from feratt.data.datasets import FaceDataset
from feratt.data.io import to_channels
from feratt.data.records import FaceRecord, PreparedFaces

# Bump when the preparation changes, so cached arrays are rebuilt.
PREPARE_VERSION = 1
Box = tuple[int, int, int, int]
# 68-point (iBUG/Multi-PIE) indices of the two eyes.
LEFT_EYE, RIGHT_EYE = slice(36, 42), slice(42, 48)
# Ellipse fitted to a face crop, as fractions of its side: centre (x, y) and semi-axes.
ELLIPSE_CENTRE, ELLIPSE_AXES = (0.5, 0.52), (0.40, 0.48)
# Haar boxes are tight around eyebrows-to-mouth; widen them by this fraction of their side.
DETECTION_MARGIN = 0.1


@runtime_checkable
class FaceDetector(Protocol):
    """Anything that finds faces: `detect(image) -> [(x, y, w, h), ...]`, largest first."""

    def detect(self, image: np.ndarray) -> list[Box]: ...


class HaarFaceDetector:
    """OpenCV's bundled frontal-face Haar cascade, run on a downscaled copy of big images.

    Args:
        cascade: cascade XML file; OpenCV's ``haarcascade_frontalface_default.xml`` by default.
        max_side: images are shrunk so their longer side is at most this before detection.
        scale_factor, min_neighbors: ``detectMultiScale`` parameters.
        min_size: smallest face, as a fraction of the (shrunk) image's shorter side.
    """

    def __init__(
        self,
        cascade: str | Path | None = None,
        max_side: int = 640,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size: float = 0.1,
    ) -> None:
        default = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        self.cascade = Path(cascade) if cascade else default
        if not self.cascade.is_file():
            raise FileNotFoundError(
                f"Haar cascade {self.cascade} not found (opencv-python-headless < 5 ships it)"
            )
        self.max_side, self.scale_factor = max_side, scale_factor
        self.min_neighbors, self.min_size = min_neighbors, min_size
        self._local = threading.local()  # CascadeClassifier is not thread-safe

    def _classifier(self) -> cv2.CascadeClassifier:
        if not hasattr(self._local, "classifier"):
            self._local.classifier = cv2.CascadeClassifier(str(self.cascade))
        return self._local.classifier

    def detect(self, image: np.ndarray) -> list[Box]:
        grey = to_channels(image, 1)
        scale = min(1.0, self.max_side / max(grey.shape))
        if scale < 1.0:
            grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        side = max(int(self.min_size * min(grey.shape)), 8)
        found = self._classifier().detectMultiScale(
            cv2.equalizeHist(grey), self.scale_factor, self.min_neighbors, minSize=(side, side)
        )
        boxes = [tuple(int(round(v / scale)) for v in box) for box in np.reshape(found, (-1, 4))]
        return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)

    def __repr__(self) -> str:
        return (
            f"HaarFaceDetector({self.cascade.name}, max_side={self.max_side}, "
            f"scale_factor={self.scale_factor}, min_neighbors={self.min_neighbors})"
        )


def _square_crop(x0: float, y0: float, x1: float, y1: float, size: int) -> np.ndarray:
    """3x3 matrix mapping the square around box (x0, y0, x1, y1) onto an S x S image."""
    side = max(x1 - x0, y1 - y0, 1.0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    scale = size / side
    return np.array(
        [[scale, 0, size / 2 - cx * scale], [0, scale, size / 2 - cy * scale], [0, 0, 1]]
    )


def landmark_transform(landmarks: np.ndarray, size: int, margin: float = 0.2) -> np.ndarray:
    """2x3 affine: level the eyes, crop the landmark box plus `margin` x inter-ocular distance.

    Without 68 points (no eye indices) the landmark box is cropped unrotated.
    """
    rotation = np.eye(3)
    eye_distance = 0.0
    if len(landmarks) == 68:
        left, right = landmarks[LEFT_EYE].mean(0), landmarks[RIGHT_EYE].mean(0)
        dx, dy = right - left
        eye_distance = float(np.hypot(dx, dy))
        centre = (float(left[0] + right[0]) / 2, float(left[1] + right[1]) / 2)
        rotation[:2] = cv2.getRotationMatrix2D(centre, float(np.degrees(np.arctan2(dy, dx))), 1.0)
    points = landmarks @ rotation[:2, :2].T + rotation[:2, 2]
    pad = margin * eye_distance
    (x0, y0), (x1, y1) = points.min(0) - pad, points.max(0) + pad
    return (_square_crop(x0, y0, x1, y1, size) @ rotation)[:2]


def box_transform(box: Box, size: int, margin: float = DETECTION_MARGIN) -> np.ndarray:
    """2x3 affine cropping the square around a detection box widened by `margin` of its side."""
    x, y, w, h = box
    pad = margin * max(w, h)
    return _square_crop(x - pad, y - pad, x + w + pad, y + h + pad, size)[:2]


def image_transform(shape: Sequence[int], size: int) -> np.ndarray:
    """2x3 affine taking the centred square of an already cropped face."""
    h, w = shape[:2]
    side = min(h, w)
    x0, y0 = (w - side) / 2, (h - side) / 2
    return _square_crop(x0, y0, x0 + side, y0 + side, size)[:2]


def warp(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Apply a 2x3 crop transform, pre-shrinking big sources with area averaging (no aliasing)."""
    shrink = float(np.sqrt(abs(matrix[0, 0] * matrix[1, 1] - matrix[0, 1] * matrix[1, 0])))
    if shrink < 0.5:
        factor = min(1.0, 2 * shrink)
        image = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        matrix = matrix @ np.diag([1 / factor, 1 / factor, 1.0])
    return cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


@functools.lru_cache(maxsize=8)
def ellipse_mask(size: int) -> np.ndarray:
    """bool (S, S) ellipse fitted to a face crop (for sets without landmarks); read-only."""
    mask = np.zeros((size, size), np.uint8)
    centre = (round(ELLIPSE_CENTRE[0] * size), round(ELLIPSE_CENTRE[1] * size))
    axes = (round(ELLIPSE_AXES[0] * size), round(ELLIPSE_AXES[1] * size))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1, thickness=-1)
    mask = mask.astype(bool)
    mask.flags.writeable = False
    return mask


def hull_mask(points: np.ndarray, size: int) -> np.ndarray:
    """bool (S, S) convex hull of landmark points given in crop coordinates."""
    mask = np.zeros((size, size), np.uint8)
    hull = cv2.convexHull(np.round(points).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1)
    return mask.astype(bool)


def prepare_face(
    record: FaceRecord,
    size: int = 64,
    channels: int = 1,
    detector: FaceDetector | None = None,
    margin: float = 0.2,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """One record -> (face uint8 (C, S, S), mask bool (S, S), detected).

    `detected` is False when a detector was given but found no face (the whole image is used).
    """
    image = to_channels(record.image, channels)
    detected = True
    if record.landmarks is not None:
        matrix = landmark_transform(record.landmarks, size, margin)
    else:
        boxes = detector.detect(image) if detector is not None else []
        detected = detector is None or bool(boxes)
        matrix = box_transform(boxes[0], size) if boxes else image_transform(image.shape, size)
    face = warp(image, matrix, size)
    if record.landmarks is not None:
        points = record.landmarks @ matrix[:, :2].T + matrix[:, 2]
        mask = hull_mask(points, size)
    else:
        mask = ellipse_mask(size)
    face = face[None] if face.ndim == 2 else face.transpose(2, 0, 1)
    return np.ascontiguousarray(face), mask, detected


def prepare_faces(
    dataset: FaceDataset,
    size: int = 64,
    channels: int = 1,
    detect: bool = False,
    detector: FaceDetector | None = None,
    margin: float = 0.2,
    workers: int | None = None,
) -> PreparedFaces:
    """Decode, align and mask every face of `dataset` into PreparedFaces.

    Args:
        dataset: an opened data set; unreadable faces raise, or are skipped (and listed in
            ``meta["skipped"]``) when it was opened with ``skip_corrupt=True``.
        size: side S of the square crops (64 by default; 128 works).
        channels: 1 (grey) or 3 (RGB).
        detect: find faces in uncropped images (HaarFaceDetector unless `detector` is given);
            records with landmarks are always aligned on them.
        margin: landmark-box margin as a fraction of the inter-ocular distance.
        workers: decoding threads (OpenCV releases the GIL); default min(4, CPU count).
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    if size < 8:
        raise ValueError(f"face size must be at least 8 pixels, got {size}")
    if detect and detector is None:
        detector = HaarFaceDetector()
    active = detector if detect else None
    n = len(dataset)
    faces = np.zeros((n, channels, size, size), np.uint8)
    masks = np.zeros((n, size, size), bool)
    kept = np.zeros(n, bool)
    undetected = np.zeros(n, bool)

    def prepare(index: int) -> None:
        record = dataset.read(index)
        if record is None:
            return
        faces[index], masks[index], found = prepare_face(record, size, channels, active, margin)
        kept[index], undetected[index] = True, not found

    workers = workers or min(4, os.cpu_count() or 1)
    chunks = [range(start, min(start + 256, n)) for start in range(0, n, 256)]
    with ThreadPoolExecutor(max(1, workers)) as pool:
        list(pool.map(lambda chunk: [prepare(i) for i in chunk], chunks))
    if not kept.any():
        raise ValueError(f"no face of {dataset.root} could be read ({n} tried)")
    meta = {
        "format": dataset.format_name,
        "root": dataset.root,
        "size": size,
        "channels": channels,
        "detect": bool(detect),
        "detector": repr(active) if active is not None else None,
        "margin": margin,
        "undetected": int(undetected.sum()),
        "skipped": [list(item) for item in dict.fromkeys(dataset.skipped)],
        "version": PREPARE_VERSION,
    }
    if not kept.all():
        faces, masks = faces[kept], masks[kept]
    return PreparedFaces(
        faces,
        masks,
        dataset.labels[kept],
        dataset.subjects[kept],
        dataset.paths[kept],
        dataset.classes,
        meta,
        None if dataset.soft_labels is None else dataset.soft_labels[kept],
    )


def dark_faces(prepared: PreparedFaces) -> np.ndarray:
    """I_org of SPEC section 3: the faces with everything outside their masks set to 0."""
    return prepared.faces * prepared.masks[:, None]


def preview_grid(prepared: PreparedFaces, count: int = 16, seed: int = 0) -> np.ndarray:
    """uint8 image with rows of faces, their masks and dark faces for `count` random faces."""
    count = min(count, len(prepared))
    index = np.sort(np.random.default_rng(seed).choice(len(prepared), count, replace=False))
    chosen = prepared.subset(index)
    faces = to_rgb_rows(chosen.faces)
    masks = np.repeat(chosen.masks[:, None].astype(np.uint8) * 255, 3, axis=1)
    dark = to_rgb_rows(dark_faces(chosen))
    rows = [
        np.concatenate(list(block.transpose(0, 2, 3, 1)), axis=1) for block in (faces, masks, dark)
    ]
    return np.concatenate(rows, axis=0)


def to_rgb_rows(faces: np.ndarray) -> np.ndarray:
    """(N, C, S, S) uint8 faces as (N, 3, S, S)."""
    return np.repeat(faces, 3, axis=1) if faces.shape[1] == 1 else faces
