"""Fixtures for inference tests: the shipped weights (outputs that depend on the face), a tiny
untrained baseline checkpoint, real photos and the model's own probabilities on FER2013 crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from model_reference import model_probabilities
from skimage import data

from feratt import create_model
from feratt.checkpoint import save_checkpoint
from feratt.data.labels import EXPRESSIONS
from feratt.inference import Recognizer

CLASSES = EXPRESSIONS[:7]
ASTRONAUT_FACE = (177, 67, 93, 93)


@pytest.fixture(scope="session")
def checkpoint(shipped_weights: Path) -> Path:
    """The shipped FER2013 feratt_rep_cls weights (all outputs present): trained, so its labels
    change with the face, unlike an untrained model's."""
    return shipped_weights


@pytest.fixture(scope="session")
def recognizer(checkpoint: Path) -> Recognizer:
    """A torch Recognizer over `checkpoint`."""
    return Recognizer.from_checkpoint(checkpoint)


@pytest.fixture(scope="session")
def crop_probabilities(checkpoint: Path, fer_crops: list[Path]) -> np.ndarray:
    """(6, 7) probabilities of the model itself on the six `fer_crops`, which it tells apart:
    at least three different labels, so a label check downstream can fail."""
    probabilities = model_probabilities(checkpoint, fer_crops)
    assert len(set(probabilities.argmax(1))) >= 3, probabilities.argmax(1)
    return probabilities


@pytest.fixture(scope="session")
def baseline_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny-width PreActResNet18 baseline checkpoint (no attention outputs)."""
    model = create_model("preactresnet18", num_classes=len(CLASSES), width=0.125)
    path = tmp_path_factory.mktemp("ckpt") / "preactresnet18.pt"
    return save_checkpoint(path, model, classes=CLASSES)


@pytest.fixture(scope="session")
def classes() -> tuple[str, ...]:
    """The class names stored in the test checkpoints."""
    return CLASSES


@pytest.fixture(scope="session")
def astronaut_face() -> tuple[int, int, int, int]:
    """Where OpenCV's Haar cascade finds the astronaut's face, (x, y, w, h)."""
    return ASTRONAUT_FACE


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's astronaut photo (512x512 RGB): exactly one face."""
    return data.astronaut()
