"""Helpers of the server tests: apps with other limits and images as upload bytes."""

from __future__ import annotations

import cv2
import numpy as np
from fastapi.testclient import TestClient

from feratt.inference import Recognizer
from feratt.serve import ServeSettings, create_app

ASTRONAUT_FACE = (177, 67, 93, 93)  # where the Haar cascade finds it, (x, y, w, h)


def make_client(recognizer: Recognizer, **limits: object) -> TestClient:
    """A test client of an app with other limits (use it as a context manager)."""
    return TestClient(create_app(recognizer, "fer2013_feratt", ServeSettings(**limits)))


def png_bytes(image: np.ndarray) -> bytes:
    """An RGB image encoded as PNG."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert ok
    return encoded.tobytes()
