"""Replaying training steps: what each step's batch and weights were, and the L_cls they give."""

from __future__ import annotations

import copy
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn

from feratt.data.batches import Batch


class StepRecorder(pl.Callback):
    """Keeps, for every training step, a copy of the model before it and of its batch."""

    def __init__(self) -> None:
        self.steps: list[tuple[nn.Module, Batch]] = []

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: Any, batch: Batch, batch_idx: int
    ) -> None:
        self.steps.append((copy.deepcopy(pl_module.model), copy.deepcopy(batch)))


def replayed_cls(recorder: StepRecorder, soft: bool = True) -> float:
    """The epoch's mean L_cls recomputed here: each recorded model (train mode, as in its step)
    on its batch, cross-entropy against the label distribution when the batch has one and `soft`
    (soft labels: -sum_k q_k log p_k), else against the labels."""
    losses, sizes = [], []
    for model, batch in recorder.steps:
        with torch.no_grad():
            log_p = torch.log_softmax(model.train()(batch.image).logits.float(), dim=1)
        if soft and batch.target is not None:
            loss = -(batch.target.float() * log_p).sum(1).mean()
        else:
            loss = -log_p.gather(1, batch.label[:, None]).mean()
        losses.append(float(loss) * len(batch.label))
        sizes.append(len(batch.label))
    return sum(losses) / sum(sizes)


def weights_changed(before: nn.Module, after: nn.Module) -> list[str]:
    """Names of the parameters whose values differ between two models of one architecture."""
    others = dict(after.named_parameters())
    return [n for n, p in before.named_parameters() if not torch.equal(p, others[n].to(p))]
