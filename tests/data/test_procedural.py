"""The procedural face renderer and background generator behind `feratt demo`."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage.feature import hog
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from feratt.data.labels import EXPRESSIONS
from feratt.data.procedural import render_backgrounds, render_faces
from feratt.data.procedural.actions import sample_actions
from feratt.data.procedural.drawing import draw_face
from feratt.data.procedural.identity import sample_identity


def test_faces_shapes_labels_and_subjects():
    faces = render_faces(4, classes=("sad", "neutral", "happy"), size=32, seed=0, n_identities=2)
    assert faces.classes == ("neutral", "happy", "sad")  # canonical order
    assert faces.faces.shape == (12, 1, 32, 32) and faces.faces.dtype == np.uint8
    assert faces.masks.shape == (12, 32, 32) and faces.masks.dtype == bool
    assert np.bincount(faces.labels).tolist() == [4, 4, 4]
    assert set(faces.subjects) == {"P000", "P001"}
    for subject in ("P000", "P001"):  # every person shows every expression
        assert set(faces.labels[faces.subjects == subject]) == {0, 1, 2}
    assert len(set(faces.paths)) == 12


def test_faces_are_deterministic_per_seed():
    first, again = render_faces(2, size=32, seed=3), render_faces(2, size=32, seed=3)
    other = render_faces(2, size=32, seed=4)
    np.testing.assert_array_equal(first.faces, again.faces)
    np.testing.assert_array_equal(first.masks, again.masks)
    assert np.abs(first.faces.astype(int) - other.faces).mean() > 10


def test_masks_cover_the_face_not_the_corners():
    faces = render_faces(3, size=64, seed=1)
    coverage = faces.masks.mean(axis=(1, 2))
    assert ((coverage > 0.2) & (coverage < 0.7)).all(), coverage
    assert faces.masks[:, 30:34, 30:34].all()  # the face centre
    corners = faces.masks[:, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert not corners[:, :2].any()  # the top corners are backdrop or hair
    assert not faces.masks[:, :, :3].any() and not faces.masks[:, :, -3:].any()


def test_expressions_change_the_face_not_the_surroundings():
    person = sample_identity(np.random.default_rng(7))

    def draw(expression: str) -> tuple[np.ndarray, np.ndarray]:
        actions = sample_actions(expression, np.random.default_rng(0))
        # The same scene generator: pose, backdrop, hair and gaze are identical.
        return draw_face(person, actions, np.random.default_rng(11), 128)

    neutral, neutral_mask = draw("neutral")
    for expression in EXPRESSIONS[1:]:
        image, mask = draw(expression)
        # The face (a dropped jaw moves the chin and its shadow) and a margin for soft shading.
        face = cv2.dilate((mask | neutral_mask).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        change = np.abs(image - neutral)
        inside, outside = change[face].mean(), change[~face].mean()
        assert inside > 0.0015, expression
        assert inside > 5 * outside, (expression, inside, outside)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="n_per_class"):
        render_faces(0)
    with pytest.raises(ValueError, match="unknown expression"):
        render_faces(1, classes=("happy", "bored"))


def test_expressions_are_learnable_on_unseen_people():
    """A linear model on HOG features beats chance twice over on held-out identities."""
    faces = render_faces(40, classes=EXPRESSIONS[:7], size=32, seed=0, n_identities=20)
    person = np.array([int(s[1:]) for s in faces.subjects])
    test = person % 4 == 0
    features = np.stack(
        [hog(face[0], orientations=9, pixels_per_cell=(6, 6), cells_per_block=(2, 2))
         for face in faces.faces]
    )  # fmt: skip
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=200))
    model.fit(features[~test], faces.labels[~test])
    accuracy = model.score(features[test], faces.labels[test])
    assert accuracy > 2.0 / 7, accuracy


def test_backgrounds_are_cluttered_and_deterministic():
    backgrounds = render_backgrounds(6, size=(48, 80), seed=2)
    assert backgrounds.shape == (6, 48, 80) and backgrounds.dtype == np.uint8
    np.testing.assert_array_equal(backgrounds, render_backgrounds(6, size=(48, 80), seed=2))
    assert not np.array_equal(backgrounds, render_backgrounds(6, size=(48, 80), seed=3))
    pixels = backgrounds.astype(np.float32)
    assert (pixels.std(axis=(1, 2)) > 15).all()  # not flat
    edges = np.abs(np.diff(pixels, axis=2)).mean(axis=(1, 2))
    assert (edges > 2).all()  # texture and edges, not only smooth gradients
    assert np.abs(pixels[0] - pixels[1]).mean() > 10
