"""Learning-rate schedules as per-step multipliers of the base rate: linear warm-up, then fixed,
step decay or cosine decay over the run."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class LRSchedule:
    """`schedule(step)`: the factor applied to the base learning rate at optimiser step `step`.

    Args:
        kind: ``fixed``, ``step`` (x gamma every step_epochs epochs) or ``cosine`` (to 0 at
            total_steps).
        total_steps: optimiser steps in the whole run.
        steps_per_epoch: optimiser steps per epoch (for ``step``).
        warmup_steps: linear ramp from 1/warmup_steps to 1 over the first steps (0: none).
        step_epochs, gamma: the ``step`` decay period and factor.
    """

    kind: str
    total_steps: int
    steps_per_epoch: int = 1
    warmup_steps: int = 0
    step_epochs: int = 20
    gamma: float = 0.1

    def __call__(self, step: int) -> float:
        factor = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps > 0 else 1.0
        if self.kind == "step":
            factor *= self.gamma ** (step // max(1, self.step_epochs * self.steps_per_epoch))
        elif self.kind == "cosine":
            progress = min(step, self.total_steps) / max(1, self.total_steps)
            factor *= 0.5 * (1.0 + math.cos(math.pi * progress))
        return factor
