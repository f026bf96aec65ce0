"""Precise BatchNorm: recompute running statistics from the current weights before evaluation.

BatchNorm's running averages trail the weights by ~1/momentum steps. FERAtt's G_rec ends in
conv1x1 -> BatchNorm(3) -> ReLU, so at high learning rates that lag can turn the eval-mode
attention image nearly black. Averaging the statistics over fresh batches with frozen weights
(Wu & Johnson, "Rethinking Batch in BatchNorm", 2021) makes evaluation match the trained network.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def batchnorm_layers(model: nn.Module) -> list[_BatchNorm]:
    """The BatchNorm layers of `model` that keep running statistics and are not frozen (a
    frozen layer, all of its parameters fixed, keeps the statistics it was frozen with)."""
    return [
        m
        for m in model.modules()
        if isinstance(m, _BatchNorm) and m.track_running_stats and not _frozen(m)
    ]


def _frozen(layer: nn.Module) -> bool:
    parameters = list(layer.parameters())
    return bool(parameters) and not any(p.requires_grad for p in parameters)


@torch.no_grad()
def recompute_batchnorm_statistics(
    model: nn.Module,
    inputs: Iterable[Any],
    context: Callable[[], AbstractContextManager[Any]] = nullcontext,
    forward: Callable[[Any], Any] | None = None,
) -> int:
    """Replace every BatchNorm's running mean and variance by their equal-weight average over
    forward passes of `inputs` (weights and step counters untouched); returns the batch count.

    `context` wraps each forward pass (e.g. the trainer's autocast); `forward` (default: `model`)
    runs one item of `inputs`, for a model whose path depends on more than the image.
    """
    layers = batchnorm_layers(model)
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    tracked = [layer.num_batches_tracked.clone() for layer in layers]
    was_training = model.training
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative moving average: every batch weighs the same
    model.train()
    for layer in model.modules():
        if isinstance(layer, _BatchNorm) and _frozen(layer):
            layer.eval()
    count = 0
    try:
        for batch in inputs:
            with context():
                (forward or model)(batch)
            count += 1
    finally:
        for layer, momentum, steps in zip(layers, momenta, tracked, strict=True):
            layer.momentum = momentum
            layer.num_batches_tracked.copy_(steps)  # the training-step counter, not ours
        model.train(was_training)
    return count


class PreciseBatchNorm(Callback):
    """Recompute BatchNorm statistics on `num_batches` training-distribution batches (drawn from
    the data module's statistics stream) before each validation and at the end of each epoch
    trained since, so validation scores and saved checkpoints see statistics of their weights.

    Under DDP every rank uses its own batches and the statistics are averaged across ranks.
    """

    def __init__(self, num_batches: int) -> None:
        if num_batches < 1:
            raise ValueError(f"PreciseBatchNorm needs num_batches >= 1, got {num_batches}")
        self.num_batches = num_batches
        self._stale = False

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self._stale = True

    # In checkpoints, so that a resumed run refreshes exactly when the uninterrupted one would.
    def state_dict(self) -> dict[str, Any]:
        return {"stale": self._stale}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._stale = bool(state_dict.get("stale", self._stale))

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._refresh(trainer, pl_module)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._refresh(trainer, pl_module)

    def _refresh(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._stale:
            return
        datamodule = trainer.datamodule
        device, rank = pl_module.device, trainer.global_rank
        # Indices continue across refreshes, so every refresh sees new batches.
        first = trainer.global_step * self.num_batches
        batches = (
            datamodule.statistics_batch(first + i, device, rank) for i in range(self.num_batches)
        )
        # Through the path validation takes at this stage of the schedule.
        recompute_batchnorm_statistics(
            pl_module,
            batches,
            trainer.precision_plugin.forward_context,
            forward=functools.partial(pl_module.stage_forward, training=False),
        )
        if trainer.world_size > 1:
            for layer in batchnorm_layers(pl_module):
                for buffer in (layer.running_mean, layer.running_var):
                    buffer.copy_(trainer.strategy.reduce(buffer, reduce_op="mean"))
        self._stale = False
