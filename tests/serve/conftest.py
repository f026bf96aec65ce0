"""Fixtures for the server: the shipped model, an app over it, and real photos as uploads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from serving import png_bytes
from skimage import data

from feratt.inference import Recognizer
from feratt.serve import create_app


@pytest.fixture(scope="session")
def shipped(shipped_weights: Path) -> Recognizer:
    """The FER2013 weights shipped in the package."""
    return Recognizer.pretrained()


@pytest.fixture(scope="session")
def client(shipped: Recognizer) -> Iterator[TestClient]:
    """A test client of the app over the shipped model, default limits."""
    with TestClient(create_app(shipped, "fer2013_feratt")) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def astronaut_png() -> bytes:
    """scikit-image's astronaut photo (512x512, one smiling face) as a PNG file."""
    return png_bytes(data.astronaut())
