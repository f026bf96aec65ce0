"""Engine fixtures: a small CK+48 subset and tiny, fast experiment configs over it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from feratt.config import ExperimentConfig


@pytest.fixture(scope="session")
def ckplus48_subset(ckplus48_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CK+48 in its native layout, one frame of the first six sequences of every class."""
    root = tmp_path_factory.mktemp("ckplus48_subset")
    for class_dir in sorted(p for p in ckplus48_dir.iterdir() if p.is_dir()):
        (root / class_dir.name).mkdir()
        for image in sorted(class_dir.glob("*.png"))[::3][:6]:
            (root / class_dir.name / image.name).symlink_to(image)
    return root


@pytest.fixture(scope="session")
def backgrounds_subset(backgrounds_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twenty of the background photos, enough for disjoint train/val/test pools."""
    root = tmp_path_factory.mktemp("backgrounds_subset")
    for image in sorted(backgrounds_dir.glob("*.png"))[:20]:
        (root / image.name).symlink_to(image)
    return root


@pytest.fixture
def tiny_config(
    ckplus48_subset: Path, backgrounds_subset: Path, tmp_path: Path
) -> Callable[..., ExperimentConfig]:
    """`tiny_config(*overrides)`: a seconds-long CPU run on the CK+48 subset in `tmp_path`."""

    def make(*overrides: str) -> ExperimentConfig:
        base = ExperimentConfig().replace(
            "name=tiny",
            f"output_dir={tmp_path / 'runs'}",
            "model.name=feratt_rep_cls",
            "model.num_classes=7",
            "model.width=0.125",
            f"data.path={ckplus48_subset}",
            "data.format=ckplus48",
            f"data.backgrounds={backgrounds_subset}",
            f"data.cache_dir={tmp_path / 'cache'}",
            "data.val_fraction=0.3",
            "data.batch_size=4",
            "data.steps_per_epoch=2",
            "train.max_epochs=1",
            "train.accelerator=cpu",
            "train.logger=none",
            "train.progress_bar=false",
            "train.log_every_n_steps=1",
        )
        return base.replace(*overrides)

    return make
