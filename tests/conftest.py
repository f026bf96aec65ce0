"""Shared fixtures: the real data in ../shared/data and the shipped weights, skipped with a reason
when absent, and a failure instead when the environment variable CI is "true" (`.ci/run` sets it),
so that a CI run without them cannot pass by skipping."""

from __future__ import annotations

import dataclasses
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from feratt import create_model, pretrained
from feratt.checkpoint import save_checkpoint
from feratt.config import DataConfig
from feratt.data.labels import EXPRESSIONS
from feratt.engine.datamodule import FERAttDataModule

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

# Tiny test models gain nothing from intra-op threads, and oversubscribed cores slow them badly.
torch.set_num_threads(1)


def require(present: bool, what: str) -> None:
    """Skips the test when `what` is not `present`; fails it under CI=true."""
    if present:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what}; CI=true requires it, so the tests that need it fail, not skip")
    pytest.skip(what)


def _shared(sub: str) -> Path:
    path = SHARED_DATA / sub
    require(path.is_dir(), f"real data folder {path} is absent (see ../shared/data/README.md)")
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
def fer_crops(fer2013_dir: Path) -> list[Path]:
    """Six FER2013 validation face crops from three classes."""
    crops = []
    for name in ("happy", "sad", "surprise"):
        crops += sorted((fer2013_dir / "val" / name).glob("*.jpg"))[:2]
    return crops


@pytest.fixture(scope="session")
def backgrounds_dir() -> Path:
    """Natural background photos (BSDS crops) for the compositor."""
    return _shared("backgrounds")


@pytest.fixture(scope="session")
def shipped_weights() -> Path:
    """The shipped FER2013 weights file, checked against its recorded SHA-256."""
    path = pretrained.pretrained_path()
    require(path.is_file(), f"no shipped weights at {path} (a source checkout)")
    return pretrained.verify_pretrained(path=path)


@pytest.fixture(scope="session")
def ckplus48_fold0(
    ckplus48_dir: Path, backgrounds_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., FERAttDataModule]:
    """`ckplus48_fold0(mode, batch_size)`: the data module of CK+48's subject-independent fold 0
    of 10 at 64x64 RGB, seed 0, composited on the real backgrounds when `mode` asks for it."""

    def build(mode: str, batch_size: int) -> FERAttDataModule:
        config = DataConfig(
            path=str(ckplus48_dir),
            format="ckplus48",
            backgrounds=str(backgrounds_dir),
            folds=10,
            fold=0,
            mode=mode,
            batch_size=batch_size,
            cache_dir=str(tmp_path_factory.mktemp("cache")),
        )
        data = FERAttDataModule(config, size=64, channels=3, seed=0)
        data.setup()
        return data

    return build


@pytest.fixture
def install_pretrained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[dict[str, Any] | None], Path]:
    """Installs a tiny feratt_rep_cls checkpoint (7 classes) as the pretrained "fer2013_feratt"
    weights, with the given metadata: the file goes to the folder $FERATT_PRETRAINED_DIR names,
    and the registry entry records its SHA-256 for the test's duration."""

    def install(metadata: dict[str, Any] | None = None) -> Path:
        torch.manual_seed(0)
        model = create_model("feratt_rep_cls", num_classes=7, width=0.125).eval()
        with torch.no_grad():  # logits a few units apart, so a temperature visibly matters
            model.classifier.fc.weight.mul_(20)
        path = tmp_path / "pretrained" / "fer2013_feratt.pt"
        save_checkpoint(path, model, EXPRESSIONS[:7], metadata)
        entry = dataclasses.replace(
            pretrained.PRETRAINED["fer2013_feratt"], sha256=pretrained.file_sha256(path)
        )
        monkeypatch.setitem(pretrained.PRETRAINED, entry.name, entry)
        monkeypatch.setenv(pretrained.PRETRAINED_DIR_ENV, str(path.parent))
        return path

    return install


@pytest.fixture
def file_size_limited() -> Callable[..., subprocess.CompletedProcess]:
    """`file_size_limited(argv, limit_bytes)`: run `argv` in a process that cannot grow any file
    past `limit_bytes` (RLIMIT_FSIZE): a write beyond it fails with EFBIG as on a full disk,
    leaving the file cut at the limit. `argv` may start with "feratt" for the command line."""

    def run(argv: list[str], limit_bytes: int) -> subprocess.CompletedProcess:
        def limit() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

        if argv[0] == "feratt":
            argv = [sys.executable, "-c", _FERATT_MAIN, *argv[1:]]
        return subprocess.run(argv, capture_output=True, text=True, timeout=600, preexec_fn=limit)

    return run


_FERATT_MAIN = (
    "import sys, torch; torch.set_num_threads(1); from feratt.cli import main; "
    "sys.exit(main(sys.argv[1:]))"
)
