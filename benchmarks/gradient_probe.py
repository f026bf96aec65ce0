"""Gradient norm of each FERAtt module (G_att, G_ft, G_rec, G_rep) before the optimiser steps of
the demo's own FERAtt+Rep+Cls run: shows when the attention side explodes or dies.

    python benchmarks/gradient_probe.py --seed 2 --steps 60 [train.attention_lr_scale=0.1 ...]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import lightning as L
import torch

from feratt.engine.demo import DemoSettings, demo_datamodule, experiment
from feratt.engine.train import fit

MODULES = ("attention", "features", "reconstruction", "classifier")


class GradientProbe(L.Callback):
    """Prints the per-module gradient norms every `every` steps and stops after `steps`."""

    def __init__(self, steps: int, every: int) -> None:
        self.steps, self.every = steps, every
        print("| step | lr | " + " | ".join(f"grad {m}" for m in MODULES) + " | train cls |")
        print("| ---: " * (len(MODULES) + 3) + "|")

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:  # noqa: ANN001
        step = trainer.global_step
        if step % self.every:
            return
        norms = []
        for name in MODULES:
            grads = [p.grad for p in getattr(pl_module.model, name).parameters()]
            norms.append(torch.linalg.vector_norm(torch.stack(
                [torch.linalg.vector_norm(g) for g in grads if g is not None] or [torch.zeros(())]
            )).item())  # fmt: skip
        cls = trainer.callback_metrics.get("train/cls_step", torch.tensor(float("nan")))
        lr = optimizer.param_groups[0]["lr"]
        print(f"| {step} | {lr:.1e} | " + " | ".join(f"{n:.3g}" for n in norms) + f" | {cls:.3f} |")

    def on_train_batch_end(self, trainer, *args) -> None:  # noqa: ANN001, ANN002
        trainer.should_stop = trainer.global_step >= self.steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("overrides", nargs="*", help="dotted config overrides")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        settings = DemoSettings(out_dir=Path(out), seed=args.seed, progress_bar=False)
        datamodule = demo_datamodule(settings)
        config = experiment(settings, "feratt_rep_cls", len(datamodule.classes))
        fit(config.replace(*args.overrides), datamodule, [GradientProbe(args.steps, args.every)])


if __name__ == "__main__":
    main()
