"""Shared fixtures: the real data in ../shared/data, skipped with a reason when absent."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

# Tiny test models gain nothing from intra-op threads, and oversubscribed cores slow them badly.
torch.set_num_threads(1)


def _shared(sub: str) -> Path:
    path = SHARED_DATA / sub
    if not path.is_dir():
        pytest.skip(f"real data folder {path} is absent (see ../shared/data/README.md)")
    return path


@pytest.fixture(scope="session")
def ckplus48_dir() -> Path:
    """CK+48 face crops: <class>/S<subject>_<seq>_<frame>.png."""
    return _shared("ckplus48")


@pytest.fixture(scope="session")
def fer2013_dir() -> Path:
    """FER2013 image folders: train/<class>/*.jpg and val/<class>/*.jpg."""
    return _shared("fer2013")


@pytest.fixture(scope="session")
def backgrounds_dir() -> Path:
    """Natural background photos (BSDS crops) for the compositor."""
    return _shared("backgrounds")
