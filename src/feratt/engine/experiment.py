"""`fit_and_evaluate`: train one experiment, reload its best model and run the test protocol.

Cross-validation, the demo and the GPU runner all go through it, so a model is always selected
and scored the same way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback

from feratt.checkpoint import Checkpoint, load_checkpoint
from feratt.config import ExperimentConfig
from feratt.engine.datamodule import FERAttDataModule
from feratt.engine.protocol import evaluate_datamodule
from feratt.engine.train import BEST_METRIC, FitResult, fit


@dataclass(frozen=True)
class FitEvaluation:
    """A finished run: its outputs, the model it selected, the test records and the timings."""

    fit: FitResult
    checkpoint_path: Path
    checkpoint: Checkpoint
    records: list[dict[str, Any]]
    fit_s: float
    eval_s: float

    @property
    def global_step(self) -> int:
        """Training steps of the run (from the selected checkpoint's metadata)."""
        return int(self.checkpoint.metadata.get("global_step", 0) or 0)


def fit_and_evaluate(
    config: ExperimentConfig,
    datamodule: FERAttDataModule,
    eval_dir: str | Path,
    callbacks: Sequence[Callback] = (),
    fold: int | None = None,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    attention_samples: int = 8,
    provenance: dict[str, Any] | None = None,
) -> FitEvaluation:
    """Fit `config` on `datamodule`, then evaluate its best checkpoint (the last one when
    nothing was validated) on the test faces, writing the records into `eval_dir`.

    Each record names the checkpoint and its validation score (``selected_val_acc``) besides
    `provenance`; `fold`, `batch_size`, `device`, `attention_samples`: see
    ``evaluate_datamodule``.
    """
    start = time.perf_counter()
    result = fit(config, datamodule=datamodule, callbacks=callbacks)
    fit_s = time.perf_counter() - start
    checkpoint_path = result.best_checkpoint or result.last_checkpoint
    checkpoint = load_checkpoint(checkpoint_path)
    records = evaluate_datamodule(
        checkpoint.model,
        datamodule,
        eval_dir,
        classes=checkpoint.classes,
        fold=fold,
        batch_size=batch_size,
        device=device,
        attention_samples=attention_samples,
        provenance={
            "checkpoint": str(checkpoint_path),
            "selected_val_acc": checkpoint.metadata.get(BEST_METRIC),
            **(provenance or {}),
        },
    )
    eval_s = time.perf_counter() - start - fit_s
    return FitEvaluation(result, checkpoint_path, checkpoint, records, fit_s, eval_s)
