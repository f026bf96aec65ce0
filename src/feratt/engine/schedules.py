"""Learning-rate schedules as per-step multipliers of the base rate: linear warm-up, then fixed,
step decay or cosine decay over the run."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace


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
        restart_step: where a second stage begins (0: none); the schedule, warm-up included,
            runs over [0, restart_step) and again over [restart_step, total_steps), so the
            modules that join at the restart (FERAtt's attention modules after the classifier
            warm-up) start at the full rate rather than at a decayed one.
    """

    kind: str
    total_steps: int
    steps_per_epoch: int = 1
    warmup_steps: int = 0
    step_epochs: int = 20
    gamma: float = 0.1
    restart_step: int = 0

    def __call__(self, step: int) -> float:
        if 0 < self.restart_step < self.total_steps:
            first = step < self.restart_step
            stage = replace(
                self,
                total_steps=self.restart_step if first else self.total_steps - self.restart_step,
                restart_step=0,
            )
            return stage(step if first else step - self.restart_step)
        factor = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps > 0 else 1.0
        if self.kind == "step":
            factor *= self.gamma ** (step // max(1, self.step_epochs * self.steps_per_epoch))
        elif self.kind == "cosine":
            progress = min(step, self.total_steps) / max(1, self.total_steps)
            factor *= 0.5 * (1.0 + math.cos(math.pi * progress))
        return factor
