"""Replaying training steps: what each step's batch and weights were, and the L_cls and L_stn
they give."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn

from feratt.data.batches import Batch
from feratt.models.output import FERAttOutput


class StepRecorder(pl.Callback):
    """Keeps, for every training step, a copy of the model before it and of its batch."""

    def __init__(self) -> None:
        self.steps: list[tuple[nn.Module, Batch]] = []

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: Any, batch: Batch, batch_idx: int
    ) -> None:
        self.steps.append((copy.deepcopy(pl_module.model), copy.deepcopy(batch)))


def _replayed(recorder: StepRecorder, loss: Callable[[FERAttOutput, Batch], torch.Tensor]) -> float:
    """The epoch mean (over images, as Lightning averages the logged steps) of `loss` of each
    recorded model (train mode, as in its step) on its batch."""
    losses, sizes = [], []
    for model, batch in recorder.steps:
        with torch.no_grad():
            value = loss(model.train()(batch.image), batch)
        losses.append(float(value) * len(batch.label))
        sizes.append(len(batch.label))
    return sum(losses) / sum(sizes)


def replayed_cls(recorder: StepRecorder, soft: bool = True) -> float:
    """The epoch's mean L_cls recomputed here: cross-entropy against the label distribution when
    the batch has one and `soft` (soft labels: -sum_k q_k log p_k), else against the labels."""

    def cls(output: FERAttOutput, batch: Batch) -> torch.Tensor:
        log_p = torch.log_softmax(output.logits.float(), dim=1)
        if soft and batch.target is not None:
            return -(batch.target.float() * log_p).sum(1).mean()
        return -log_p.gather(1, batch.label[:, None]).mean()

    return _replayed(recorder, cls)


def replayed_stn(recorder: StepRecorder) -> float:
    """The epoch's mean L_stn recomputed here: the mean squared difference of the six affine
    parameters of each model's theta and its batch's target theta."""

    def stn(output: FERAttOutput, batch: Batch) -> torch.Tensor:
        return ((output.theta.float() - batch.theta.float()) ** 2).mean()

    return _replayed(recorder, stn)


def weights_changed(before: nn.Module, after: nn.Module) -> list[str]:
    """Names of the parameters whose values differ between two models of one architecture."""
    others = dict(after.named_parameters())
    return [n for n, p in before.named_parameters() if not torch.equal(p, others[n].to(p))]
