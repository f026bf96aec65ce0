"""Fixtures for inference tests: a tiny-width checkpoint and real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data

from feratt import create_model
from feratt.checkpoint import save_checkpoint
from feratt.data.labels import EXPRESSIONS

CLASSES = EXPRESSIONS[:7]
ASTRONAUT_FACE = (177, 67, 93, 93)


def _checkpoint(directory: Path, name: str) -> Path:
    model = create_model(name, num_classes=len(CLASSES), width=0.125)
    return save_checkpoint(directory / f"{name}.pt", model, classes=CLASSES)


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny-width feratt_rep_cls checkpoint (all outputs present)."""
    return _checkpoint(tmp_path_factory.mktemp("ckpt"), "feratt_rep_cls")


@pytest.fixture(scope="session")
def baseline_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny-width PreActResNet18 baseline checkpoint (no attention outputs)."""
    return _checkpoint(tmp_path_factory.mktemp("ckpt"), "preactresnet18")


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
