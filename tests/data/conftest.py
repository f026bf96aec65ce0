"""The face pixels the native-layout writers (native_layouts.py) fill their fixtures with."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest


@pytest.fixture(scope="session")
def face_pixels(ckplus48_dir: Path) -> list[np.ndarray]:
    """Eight 48x48 grey CK+48 faces (skipped, or failed under CI=true, without the data)."""
    files = sorted(ckplus48_dir.glob("*/S0[1-9]*.png"))[::40][:8]
    assert len(files) == 8, f"{ckplus48_dir} has {len(files)} of the 8 faces face_pixels takes"
    return [cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files]
