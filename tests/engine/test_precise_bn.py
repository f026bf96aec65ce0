"""Precise BatchNorm: exact recomputed statistics, and the callback's place in a training run."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from feratt.checkpoint import load_checkpoint
from feratt.config import ExperimentConfig
from feratt.engine.datamodule import FERAttDataModule
from feratt.engine.precise_bn import batchnorm_layers, recompute_batchnorm_statistics
from feratt.engine.train import fit


def test_recomputed_statistics_are_the_equal_weight_average_of_the_batches() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 4), nn.BatchNorm1d(4)).eval()
    batches = [torch.randn(8, 4) * (i + 1) + i for i in range(3)]
    weights = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k}

    assert recompute_batchnorm_statistics(model, batches) == 3

    first = model[0]
    expected_mean = torch.stack([b.mean(0) for b in batches]).mean(0)
    expected_var = torch.stack([b.var(0, unbiased=True) for b in batches]).mean(0)
    torch.testing.assert_close(first.running_mean, expected_mean)
    torch.testing.assert_close(first.running_var, expected_var)
    assert not model.training
    assert all(layer.momentum == 0.1 for layer in batchnorm_layers(model))
    for key, value in weights.items():
        assert torch.equal(model.state_dict()[key], value), key


def test_lagging_statistics_are_replaced_by_those_of_the_current_weights() -> None:
    """After a jump in the layer before BN, eval mode matches train mode only once recomputed."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    x = torch.randn(256, 3)
    for _ in range(20):
        model(x)
    with torch.no_grad():
        model[0].bias += 5.0
        model[0].weight *= 3.0
    model.train()
    reference = model[0](x)
    reference = (reference - reference.mean(0)) / reference.var(0, unbiased=True).add(1e-5).sqrt()
    model.eval()
    stale_error = (model(x) - reference).abs().max()
    recompute_batchnorm_statistics(model, [x])
    fresh_error = (model(x) - reference).abs().max()
    assert stale_error > 1.0
    assert fresh_error < 1e-4


@pytest.mark.slow
def test_checkpoints_carry_the_statistics_of_their_weights(
    tiny_config: Callable[..., ExperimentConfig],
) -> None:
    """The saved model's BN statistics are exactly a recomputation over the statistics batches
    that follow the last training step (so the callback ran after training, before saving)."""
    config = tiny_config("data.mode=mixed", "train.precise_bn_batches=3")
    result = fit(config)
    saved = load_checkpoint(result.last_checkpoint).model

    datamodule = FERAttDataModule(config.data, seed=config.train.seed)
    datamodule.setup("fit")
    replay = load_checkpoint(result.last_checkpoint).model
    for layer in batchnorm_layers(replay):
        layer.running_mean.fill_(123.0)
    steps = config.data.steps_per_epoch * config.train.max_epochs
    cpu = torch.device("cpu")
    images = [datamodule.statistics_batch(steps * 3 + i, cpu).image for i in range(3)]
    recompute_batchnorm_statistics(replay, images)

    pairs = list(zip(batchnorm_layers(saved), batchnorm_layers(replay), strict=True))
    assert len(pairs) > 10
    for kept, again in pairs:
        torch.testing.assert_close(kept.running_mean, again.running_mean)
        torch.testing.assert_close(kept.running_var, again.running_var)
    training_batch = datamodule.train_batch(0, cpu).image
    assert not torch.equal(training_batch, images[0])


def test_a_negative_batch_count_names_the_key() -> None:
    with pytest.raises(ValueError, match="train.precise_bn_batches"):
        ExperimentConfig().replace("train.precise_bn_batches=-1")
