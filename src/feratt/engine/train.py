"""`fit(config)`: one training run on Lightning, from an ExperimentConfig to feratt checkpoints.

The run folder holds ``config.yaml``, ``checkpoints/`` (Lightning: periodic, ``best.ckpt`` on the
validation accuracy, ``last.ckpt``), ``csv/`` and ``tensorboard/`` logs, and the feratt-format
``model-best.pt`` and ``model-last.pt``. Re-running the same config resumes from ``last.ckpt``
(or, when that file cannot be read, from the newest periodic checkpoint that can, with a warning)
and reaches exactly the steps, validations and best model of an uninterrupted run. Every file is
written to a temporary file in its folder and then renamed (`feratt.fileio.atomic_write`).

Lightning resumes a checkpoint written at the ``on_train_batch_end`` of an epoch's last batch as
if that epoch's validation had run, and may run the next epoch twice; no such checkpoint is
written here (`PeriodicCheckpoint`), and one left by an older feratt is not resumed.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import warnings
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
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch import nn

from feratt.checkpoint import load_checkpoint, save_checkpoint
from feratt.config import ExperimentConfig, TrainConfig
from feratt.data.compositing import CompositorConfig
from feratt.engine.attention_grid import AttentionGridCallback
from feratt.engine.datamodule import FERAttDataModule
from feratt.engine.module import FERAttModule
from feratt.engine.precise_bn import PreciseBatchNorm
from feratt.engine.visdom_logger import VisdomLogger
from feratt.fileio import atomic_write, torch_save
from feratt.pretrained import DEFAULT_PRETRAINED, load_pretrained

BEST_METRIC = "val/acc"
LAST_CHECKPOINT = "last.ckpt"
PERIODIC_PATTERN = "epoch=*-step=*.ckpt"


class ResumeWarning(UserWarning):
    """A run folder's checkpoint could not be resumed; an older one (or none) is used instead."""


@dataclass(frozen=True)
class FitResult:
    """Where a finished run left its outputs, and its final logged metrics."""

    run_dir: Path
    best_checkpoint: Path | None
    last_checkpoint: Path
    metrics: dict[str, float]
    is_global_zero: bool = True  # False in the other processes of a multi-process run


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


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint files through `atomic_write`: Lightning's own writer stages the file
    in the system's temp folder and moves it, which is a copy (not atomic) across file systems."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} does not take storage_options")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        torch_save(checkpoint, path)


class PeriodicCheckpoint(ModelCheckpoint):
    """Periodic checkpoints and ``last.ckpt``, never written mid-way through an epoch's end.

    A step period that falls on an epoch's last batch is saved at that epoch's
    ``on_train_epoch_end`` instead (after its validation and the other epoch-end hooks), and
    epoch periods are always saved there; Lightning resumes a checkpoint written at the last
    batch's ``on_train_batch_end`` past the epoch's validation. Files of the same name (from a
    killed run the resumed one replays) are overwritten, not versioned.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(save_on_train_epoch_end=True, enable_version_counter=False, **kwargs)
        self._due_at_epoch_end = False

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if batch_idx + 1 >= trainer.num_training_batches:
            every = self._every_n_train_steps
            self._due_at_epoch_end = every > 0 and trainer.global_step % every == 0
            return
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        due, self._due_at_epoch_end = self._due_at_epoch_end, False
        if due and not self._should_skip_saving_checkpoint(trainer):
            candidates = self._monitor_candidates(trainer)
            self._save_topk_checkpoint(trainer, candidates)
            self._save_last_checkpoint(trainer, candidates)


class FinalStageCheckpoint(ModelCheckpoint):
    """Keeps the best validation of the whole network only: while a staged FERAtt run trains
    G_rep alone (``train.classifier_warmup_steps``), I_att is still the input, and such a model
    would be a plain PreActResNet18 reported as FERAtt."""

    def __init__(self, first_step: int, **kwargs: Any) -> None:
        # A best.ckpt left by a killed run is replaced, not versioned, by the resumed run.
        super().__init__(enable_version_counter=False, **kwargs)
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
    periodic = PeriodicCheckpoint(
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
    # The best model's callback goes first: last.ckpt then holds its state after this epoch.
    callbacks: list[Callback] = [best, periodic]
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


def _strategy(train: TrainConfig) -> str:
    # Frozen attention modules get no gradients after the freeze step: DDP must expect that.
    if train.strategy == "ddp" and train.attention_freeze_step > 0:
        return "ddp_find_unused_parameters_true"
    return train.strategy


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
        strategy=_strategy(train),
        precision=_precision(train),
        max_epochs=train.max_epochs,
        max_steps=train.max_steps,
        callbacks=[*callbacks, *extra_callbacks],
        plugins=[AtomicCheckpointIO()],
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


def _resume_problem(path: Path) -> str | None:
    """Why the Lightning checkpoint at `path` cannot be resumed exactly, or None."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, not a torch file, unreadable, ...
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        return f"cannot be read ({reason})"
    try:
        batches = payload["loops"]["fit_loop"]["epoch_loop.batch_progress"]
        current = batches["current"]
        at_last_batch_end = batches["is_last_batch"] and (
            current["completed"] == current["processed"] - 1
        )
    except (KeyError, TypeError):
        return "is not a Lightning training checkpoint (it has no training-loop state)"
    if at_last_batch_end:
        return (
            "was written at the end of an epoch's last batch, before the epoch's validation "
            "(by an older feratt); Lightning would resume it past that validation"
        )
    return None


def _newest_first(paths: Sequence[Path]) -> list[Path]:
    def key(path: Path) -> tuple[int, int, float]:
        found = re.match(r"epoch=(\d+)-step=(\d+)", path.name)
        epoch, step = (int(found[1]), int(found[2])) if found else (-1, -1)
        return step, epoch, path.stat().st_mtime

    return sorted(paths, key=key, reverse=True)


def resume_checkpoint(checkpoints: str | Path) -> Path | None:
    """The checkpoint a rerun of a run folder continues from: ``last.ckpt``, or, when that is
    missing or cannot be resumed (truncated, unreadable...), the newest periodic checkpoint that
    can, with a `ResumeWarning` naming each file passed over; None when there is none."""
    folder = Path(checkpoints)
    last = folder / LAST_CHECKPOINT
    candidates = [last] if last.is_file() else []
    candidates += _newest_first([p for p in folder.glob(PERIODIC_PATTERN) if p.is_file()])
    skipped = []
    for path in candidates:
        problem = _resume_problem(path)
        if problem is None:
            if skipped:
                warnings.warn(
                    f"{'; '.join(skipped)}: resuming from {path} instead", ResumeWarning, 2
                )
            return path
        skipped.append(f"checkpoint {path} {problem}")
    if skipped:
        warnings.warn(
            f"{'; '.join(skipped)}: no checkpoint to resume, training from the start",
            ResumeWarning,
            2,
        )
    return None


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
        with atomic_write(run_dir / "config.yaml") as handle:
            handle.write(yaml.safe_dump(config.to_dict(), sort_keys=False))
    resume_from = resume_checkpoint(run_dir / "checkpoints") if config.train.resume else None
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)

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
    return FitResult(run_dir, best_export, last_export, metrics, trainer.is_global_zero)
