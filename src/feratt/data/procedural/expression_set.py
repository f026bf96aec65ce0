"""A labelled expression set of procedural face crops, with subjects, for demos and tests."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from feratt.data.labels import EXPRESSIONS, ordered_classes
from feratt.data.procedural.actions import sample_actions
from feratt.data.procedural.drawing import draw_face
from feratt.data.procedural.identity import sample_identity
from feratt.data.records import PreparedFaces

_SUPERSAMPLE = 2


def render_faces(
    n_per_class: int,
    classes: Sequence[str] = EXPRESSIONS,
    size: int = 64,
    seed: int = 0,
    n_identities: int | None = None,
) -> PreparedFaces:
    """Render `n_per_class` grey aligned face crops of each expression in `classes`.

    Identities (the subjects, ``P000``...) are shared by all classes so that subject-independent
    folds work; each is a fixed person, the same for a given seed whatever `n_per_class`. Pose,
    lighting, gaze and the expression's intensity vary per image. The default ``n_identities``
    gives each person about two images of each expression.

    Returns:
        PreparedFaces with faces uint8 (N, 1, size, size) and masks bool (N, size, size) on the
        face oval; ordered class by class.
    """
    if n_per_class < 1 or size < 16:
        raise ValueError(f"need n_per_class >= 1 and size >= 16, got {n_per_class} and {size}")
    classes = ordered_classes(classes)
    n_identities = n_identities or max(1, -(-n_per_class // 2))
    people = [sample_identity(np.random.default_rng([seed, 0, k])) for k in range(n_identities)]
    rng = np.random.default_rng([seed, 1])
    res = size * _SUPERSAMPLE
    count = n_per_class * len(classes)
    faces = np.empty((count, 1, size, size), np.uint8)
    masks = np.empty((count, size, size), bool)
    labels = np.repeat(np.arange(len(classes), dtype=np.int64), n_per_class)
    who = (np.arange(count) % n_identities).astype(int)
    for i in range(count):
        actions = sample_actions(classes[labels[i]], rng)
        image, mask = draw_face(people[who[i]], actions, rng, res)
        faces[i, 0], masks[i] = _photograph(image, mask, rng, size)
    return PreparedFaces(
        faces=faces,
        masks=masks,
        labels=labels,
        subjects=np.array([f"P{k:03d}" for k in who]),
        paths=np.array([f"procedural:{seed}/{classes[c]}/{i}" for i, c in enumerate(labels)]),
        classes=classes,
        meta={"source": "procedural", "seed": seed, "n_identities": n_identities},
    )


def _photograph(
    image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Head pose (roll, scale, shift), then a lighting gradient, exposure, blur and sensor noise."""
    res = image.shape[0]
    pose = cv2.getRotationMatrix2D((res / 2, res / 2), rng.uniform(-8, 8), rng.uniform(0.93, 1.07))
    pose[:, 2] += rng.uniform(-0.04, 0.04, size=2) * res
    image = cv2.warpAffine(
        image, pose, (res, res), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )
    mask = cv2.warpAffine(mask.astype(np.float32), pose, (res, res), flags=cv2.INTER_LINEAR)
    image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA) > 0.5
    axis = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * axis[None, :] + np.sin(angle) * axis[:, None]
    image = image * (1.0 + rng.uniform(0.0, 0.4) * ramp) * rng.uniform(0.8, 1.15)
    image = np.clip(image, 0.0, 1.0) ** rng.uniform(0.8, 1.25)
    if rng.random() < 0.3:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.4, 0.8))
    image = image + rng.normal(0.0, rng.uniform(0.003, 0.018), image.shape)
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8), mask
