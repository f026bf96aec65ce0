"""The default recipe makes FERAtt+Rep+Cls learn from the first steps on real CK+48 faces.

Measured (see benchmarks/RESULTS.md): the mean training L_cls over steps 60-90 was 1.30 with the
recipe and 1.91 with the authors' setting at the same learning rate on 2026-12-01, and 1.31 / 1.77
on the dev box of 2026-12-06 (the same on one and two threads: another CPU, other oneDNN kernels);
ln 7 = 1.95 is the plateau of issue 11. The thresholds sit between, with margin on both sides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from feratt.config import TrainConfig, load_config
from feratt.engine.datamodule import FERAttDataModule
from feratt.losses import loss_from_config
from feratt.models import create_model

REPO_ROOT = Path(__file__).resolve().parents[2]
STEPS = 90
RECIPE_THRESHOLD = 1.6
AUTHORS_FLOOR = 1.7
CPU = torch.device("cpu")


def _mean_training_cls(data: FERAttDataModule, model_options: dict, train: TrainConfig) -> float:
    """Mean L_cls of the last third of a STEPS-step run with `train`'s losses and stages."""
    torch.manual_seed(0)
    model = create_model("feratt_rep_cls", num_classes=7, width=0.125, **model_options)
    loss_fn = loss_from_config(train)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True)
    history = []
    for step in range(STEPS):
        batch = data.train_batch(step, CPU)
        detach = train.attention_detach_steps < 0 or step < train.attention_detach_steps
        losses = loss_fn(model(batch.image, detach_attention=detach), batch.label, batch.clean)
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()
        history.append(losses["cls"].item())
    return sum(history[-STEPS // 3 :]) / (STEPS // 3)


@pytest.fixture(scope="module")
def real_fold0(ckplus48_fold0: Callable[..., FERAttDataModule]) -> FERAttDataModule:
    return ckplus48_fold0("real", batch_size=24)


@pytest.mark.slow
def test_recipe_clears_the_plateau_on_real_faces(real_fold0: FERAttDataModule) -> None:
    recipe = _mean_training_cls(real_fold0, {}, TrainConfig())
    assert recipe < RECIPE_THRESHOLD, recipe


@pytest.mark.slow
def test_the_authors_setting_is_one_include_away_and_plateaus(
    real_fold0: FERAttDataModule,
) -> None:
    authors = load_config(REPO_ROOT / "configs" / "authors" / "ckplus48_feratt_rep_cls.yaml")
    model = {"reconstruction": "paper", "normalization": "cifar"}
    assert {k: getattr(authors.model, k) for k in model} == model
    plateau = _mean_training_cls(real_fold0, model, replace(authors.train, lr=1e-3))
    assert plateau > AUTHORS_FLOOR, plateau
