"""The face pixels the native-layout writers (native_layouts.py) fill their fixtures with."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

SHARED_CKPLUS48 = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ckplus48"


@pytest.fixture(scope="session")
def face_pixels() -> list[np.ndarray]:
    """Eight 48x48 grey faces: CK+48 crops when the shared data is there, else noise."""
    files = sorted(SHARED_CKPLUS48.glob("*/S0[1-9]*.png"))[::40][:8]
    if len(files) == 8:
        return [cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files]
    rng = np.random.default_rng(0)
    return [rng.integers(1, 255, (48, 48), dtype=np.uint8) for _ in range(8)]
