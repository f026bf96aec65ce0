"""`fit(config)`: one training run on Lightning, from an ExperimentConfig to feratt checkpoints.

The run folder holds ``config.yaml``, ``checkpoints/`` (Lightning: periodic, ``best.ckpt`` on the
validation accuracy, ``last.ckpt``), ``csv/`` and ``tensorboard/`` logs, and the feratt-format
``model-best.pt`` and ``model-last.pt``. Re-running the same config resumes from ``last.ckpt``.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import (
    Callback,
    LearningRateMonitor,
    ModelCheckpoint,
    RichProgressBar,
    TQDMProgressBar,
)
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger
from torch import nn

from feratt.checkpoint import load_checkpoint, save_checkpoint
from feratt.config import ExperimentConfig, TrainConfig
from feratt.data.compositing import CompositorConfig
from feratt.engine.attention_grid import AttentionGridCallback
from feratt.engine.datamodule import FERAttDataModule
from feratt.engine.module import FERAttModule
from feratt.engine.precise_bn import PreciseBatchNorm
from feratt.engine.visdom_logger import VisdomLogger
from feratt.pretrained import DEFAULT_PRETRAINED, load_pretrained

BEST_METRIC = "val/acc"


@dataclass(frozen=True)
class FitResult:
    """Where a finished run left its outputs, and its final logged metrics."""

    run_dir: Path
    best_checkpoint: Path | None
    last_checkpoint: Path
    metrics: dict[str, float]


def check_config(config: ExperimentConfig, needs_data_paths: bool = True) -> None:
    """Fail before training, naming the key, on problems `ExperimentConfig` cannot see alone."""
    if needs_data_paths:
        config.data.check_paths()
    try:
        replace(CompositorConfig(size=config.model.input_size), **config.data.compositor)
    except TypeError as err:
        raise ValueError(f"data.compositor: {err}") from err


def _precision(train: TrainConfig) -> str:
    if train.precision != "auto":
        return train.precision
    if train.accelerator not in ("auto", "gpu", "cuda") or not torch.cuda.is_available():
        return "32-true"
    return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"


def _loggers(config: ExperimentConfig) -> list[Logger]:
    run_dir, train = config.run_dir, config.train
    loggers: list[Logger] = [CSVLogger(run_dir, name="csv")]
    if train.logger == "tensorboard":
        loggers.insert(0, TensorBoardLogger(run_dir, name="tensorboard"))
    elif train.logger == "visdom":
        env = train.visdom_env or config.name.replace("/", "_")
        loggers.insert(0, VisdomLogger(env=env, server=train.visdom_server, port=train.visdom_port))
    return loggers


class FinalStageCheckpoint(ModelCheckpoint):
    """Keeps the best validation of the whole network only: while a staged FERAtt run trains
    G_rep alone (``train.classifier_warmup_steps``), I_att is still the input, and such a model
    would be a plain PreActResNet18 reported as FERAtt."""

    def __init__(self, first_step: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.first_step = first_step

    def _scores(self, trainer: L.Trainer, pl_module: L.LightningModule) -> bool:
        return not pl_module.model.has_attention or trainer.global_step > self.first_step

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._scores(trainer, pl_module):
            super().on_train_epoch_end(trainer, pl_module)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._scores(trainer, pl_module):
            super().on_validation_end(trainer, pl_module)


def _callbacks(config: ExperimentConfig) -> tuple[list[Callback], ModelCheckpoint]:
    train, checkpoints = config.train, config.run_dir / "checkpoints"
    every = (
        {"every_n_train_steps": train.checkpoint_every_n_steps}
        if train.checkpoint_every_n_steps > 0
        else {"every_n_epochs": train.checkpoint_every_n_epochs}
    )
    periodic = ModelCheckpoint(
        dirpath=checkpoints,
        filename="{epoch:03d}-{step:07d}",
        save_top_k=-1,
        save_last=True,
        **every,
    )
    best = FinalStageCheckpoint(
        train.classifier_warmup_steps,
        dirpath=checkpoints,
        filename="best",
        monitor=BEST_METRIC,
        mode="max",
        save_top_k=1,
        auto_insert_metric_name=False,
    )
    callbacks: list[Callback] = [periodic, best]
    if train.precise_bn_batches > 0:
        callbacks.append(PreciseBatchNorm(train.precise_bn_batches))
    if train.lr_schedule != "fixed" or train.lr_warmup_steps > 0:
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    if train.grid_every_n_epochs > 0:
        callbacks.append(AttentionGridCallback(config.run_dir, train.grid_every_n_epochs))
    if train.progress_bar:
        bar = RichProgressBar if importlib.util.find_spec("rich") else TQDMProgressBar
        # Each refresh reads the metrics back from the device: refresh as often as logs are written.
        callbacks.append(bar(refresh_rate=train.log_every_n_steps))
    return callbacks, best


def build_trainer(
    config: ExperimentConfig, extra_callbacks: Sequence[Callback] = ()
) -> tuple[L.Trainer, ModelCheckpoint]:
    """The Lightning Trainer of a run (and its best-checkpoint callback)."""
    train = config.train
    callbacks, best = _callbacks(config)
    trainer = L.Trainer(
        accelerator=train.accelerator,
        devices=train.devices,
        num_nodes=train.num_nodes,
        strategy=train.strategy,
        precision=_precision(train),
        max_epochs=train.max_epochs,
        max_steps=train.max_steps,
        callbacks=[*callbacks, *extra_callbacks],
        logger=_loggers(config),
        default_root_dir=config.run_dir,
        log_every_n_steps=train.log_every_n_steps,
        check_val_every_n_epoch=train.val_every_n_epochs,
        enable_progress_bar=train.progress_bar,
        # `feratt models` gives parameters and GFLOPs; Lightning's table counts 0 FLOPs here.
        enable_model_summary=False,
        # The data module shards its own batches by rank; see FERAttDataModule.
        use_distributed_sampler=False,
    )
    return trainer, best


def initialise_from(model: nn.Module, source: str) -> str:
    """Copy into `model` every tensor of the `source` weights (``pretrained[:NAME]`` or a
    checkpoint path) whose name and shape match; returns a one-line account of what was kept."""
    name = source.partition(":")[2] or DEFAULT_PRETRAINED
    loaded = load_pretrained(name) if source.split(":")[0] == "pretrained" else None
    if loaded is None:
        loaded = load_checkpoint(source)
    if loaded.config.name != model.config.name:
        raise ValueError(
            f"train.init: {source} holds a {loaded.config.name}, but the run trains a "
            f"{model.config.name}"
        )
    target = model.state_dict()
    weights = loaded.model.state_dict()
    same = {k: v for k, v in weights.items() if k in target and v.shape == target[k].shape}
    if not same:
        raise ValueError(f"train.init: no tensor of {source} fits the model (other width?)")
    model.load_state_dict(same, strict=False)
    fresh = sorted(set(target) - set(same))
    return f"{len(same)} of {len(target)} tensors" + (
        f"; fresh: {', '.join(fresh[:6])}{' ...' if len(fresh) > 6 else ''}" if fresh else ""
    )


def fit(
    config: ExperimentConfig,
    datamodule: FERAttDataModule | None = None,
    callbacks: Sequence[Callback] = (),
) -> FitResult:
    """Train `config` (resuming its run folder's last checkpoint) and export feratt checkpoints.

    Args:
        config: the experiment; its ``data`` paths are used unless `datamodule` is given.
        datamodule: in-memory data (``FERAttDataModule.from_prepared``), e.g. for the demo.
        callbacks: extra Lightning callbacks (progress reporting, timing...).
    """
    check_config(config, needs_data_paths=datamodule is None)
    L.seed_everything(config.train.seed, workers=True, verbose=False)
    if datamodule is None:
        datamodule = FERAttDataModule(
            config.data,
            size=config.model.input_size,
            channels=config.model.in_channels,
            seed=config.train.seed,
        )
    module = FERAttModule(
        model=config.model.to_dict(),
        classes=list(datamodule.classes),
        train=asdict(config.train),
        data=asdict(config.data),
    )
    if config.train.init is not None:
        kept = initialise_from(module.model, config.train.init)
        print(f"initialised from {config.train.init}: {kept}", file=sys.stderr)
    if config.train.compile:
        module.model.compile()
    run_dir = config.run_dir
    trainer, best = build_trainer(config, callbacks)
    if trainer.is_global_zero:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    last = run_dir / "checkpoints" / "last.ckpt"
    resume_from = last if config.train.resume and last.is_file() else None
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from)

    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    metadata: dict[str, Any] = {
        "config": config.to_dict(),
        "epoch": trainer.current_epoch,
        "global_step": trainer.global_step,
        "metrics": metrics,
    }
    last_export = run_dir / "model-last.pt"
    best_export = run_dir / "model-best.pt" if best.best_model_path else None
    if trainer.is_global_zero:
        classes = list(module.classes)
        save_checkpoint(last_export, module.model, classes=classes, metadata=metadata)
        if best_export is not None:
            score = float(best.best_model_score) if best.best_model_score is not None else None
            best_metadata = {**metadata, "source": best.best_model_path, BEST_METRIC: score}
            best_model = load_checkpoint(best.best_model_path).model
            save_checkpoint(best_export, best_model, classes=classes, metadata=best_metadata)
    return FitResult(run_dir, best_export, last_export, metrics)
