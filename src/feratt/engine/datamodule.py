"""LightningDataModule: a thin adapter of ``feratt.data.batches.DeviceBatches`` to Lightning.

It loads and splits the faces (data paths, folds, validation subjects) or takes them in memory.
The training "loader" only counts steps: ``on_after_batch_transfer`` hands Lightning the
``DeviceBatches`` batch of the global step and rank, built on the training device.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from feratt.config import DataConfig
from feratt.data import open_dataset
from feratt.data.batches import Batch, DeviceBatches, EvalChunk
from feratt.data.cache import prepare_cached
from feratt.data.compositing import load_backgrounds
from feratt.data.folds import fold_split, validation_faces
from feratt.data.records import PreparedFaces


class BatchPlan:
    """A sized iterable of batch descriptors, handed to Lightning as one loader.

    (Lightning reads a plain list as a list of loaders, hence the wrapper.)
    """

    def __init__(self, items: Sequence[Any]) -> None:
        self.items = items

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    # Training batches depend on the global step, not on the loader's position, so there is no
    # position to save; these two mark the plan as resumable mid-epoch to Lightning.
    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class FERAttDataModule(L.LightningDataModule):
    """Training, validation and test faces plus background sets, batched on the device.

    Build it from a ``DataConfig`` with data paths (faces are prepared and cached in
    ``prepare_data``/``setup``) or from in-memory data with ``from_prepared``.

    Args:
        config: data settings (mode, splits, folds, batch size, compositor overrides...).
        size: side of the model's input images (the prepared face size).
        channels: the model's input channels (grey faces are replicated).
        seed: training seed; batch ``t`` on rank ``r`` is a function of (seed, r, t).
    """

    def __init__(
        self, config: DataConfig, size: int = 64, channels: int = 3, seed: int = 0
    ) -> None:
        super().__init__()
        self.config = config
        self.size = size
        self.channels = channels
        self.seed = seed
        self.faces: dict[str, PreparedFaces | None] = {}
        self.batches: DeviceBatches | None = None
        self._classes: tuple[str, ...] | None = None

    @classmethod
    def from_prepared(
        cls,
        train: PreparedFaces,
        val: PreparedFaces,
        test: PreparedFaces | None = None,
        backgrounds: np.ndarray | torch.Tensor | None = None,
        *,
        channels: int = 3,
        seed: int = 0,
        **options: Any,
    ) -> FERAttDataModule:
        """A data module over in-memory faces; `backgrounds` (uint8 (N,H,W) or (N,C,H,W)) are split
        into train/val/test roles as from a folder; `options` are DataConfig fields."""
        module = cls(
            DataConfig(**options), size=train.faces.shape[-1], channels=channels, seed=seed
        )
        module._assign(train, val, test, backgrounds)
        return module

    # ------------------------------------------------------------------ loading

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names of the data set (cheap: does not prepare the faces)."""
        if self._classes is None:
            self._classes = tuple(self._open(self.config.train_split).classes)
        return self._classes

    def _open(self, split: str | None) -> Any:
        config = self.config
        return open_dataset(config.path, format=config.format, split=split, **config.options)

    def _prepare(self, split: str | None) -> PreparedFaces:
        cache_dir = Path(self.config.cache_dir).expanduser()
        return prepare_cached(self._open(split), cache_dir, size=self.size)

    def prepare_data(self) -> None:
        """Build the face caches once (rank zero) before every process loads them in `setup`."""
        if self.faces or self.config.path is None:
            return
        config = self.config
        for split in {config.train_split} | {s for s in (config.val_split, config.test_split) if s}:
            self._prepare(split)

    def setup(self, stage: str | None = None) -> None:
        if self.faces:
            return
        self._load_from_config()

    def _load_from_config(self) -> None:
        config = self.config
        config.check_paths()
        train = self._prepare(config.train_split)
        val = self._prepare(config.val_split) if config.val_split else None
        test = self._prepare(config.test_split) if config.test_split else None
        if config.folds:
            if test is not None:
                raise ValueError(
                    "data.test_split and data.folds are exclusive: folds make the test"
                )
            train, test = fold_split(train, config.folds, config.fold, config.seed)
        if val is None:
            train, val = validation_faces(train, config.val_fraction, config.seed)
        backgrounds = None
        if config.mode != "real" or config.backgrounds is not None:
            backgrounds = load_backgrounds(config.backgrounds)
        self._assign(train, val, test, backgrounds)

    def _assign(
        self,
        train: PreparedFaces,
        val: PreparedFaces,
        test: PreparedFaces | None,
        backgrounds: np.ndarray | torch.Tensor | None,
    ) -> None:
        if len(train) == 0 or len(val) == 0:
            raise ValueError(f"empty split: {len(train)} training and {len(val)} validation faces")
        if train.faces.shape[-1] != self.size:
            raise ValueError(
                f"faces are {train.faces.shape[-1]} px but the model takes {self.size}"
            )
        if self.config.soft_labels:
            for split, faces in (("train", train), ("val", val), ("test", test)):
                if faces is not None and faces.soft_labels is None:
                    raise ValueError(
                        f"data.soft_labels is true but the {split} faces have no label "
                        "distributions (FER+ is the data set that ships annotator votes)"
                    )
        self.faces = {"train": train, "val": val, "test": test}
        self._classes = tuple(train.classes)
        if backgrounds is None and self.config.mode != "real":
            raise ValueError(f"data.mode {self.config.mode!r} needs backgrounds")
        self.batches = DeviceBatches(
            self.config, self.faces, backgrounds, self.size, self.channels, self.seed
        )

    @property
    def backgrounds(self) -> dict[str, torch.Tensor]:
        """The train/val/test background roles (empty for real-only data)."""
        return self.batches.backgrounds if self.batches is not None else {}

    # ------------------------------------------------------------------ loaders

    def _world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    @property
    def steps_per_epoch(self) -> int:
        if self.config.steps_per_epoch:
            return self.config.steps_per_epoch
        _, world = self._world()
        return max(1, len(self.faces["train"]) // (self.config.batch_size * world))

    def train_dataloader(self) -> BatchPlan:
        # Items are placeholders: on_after_batch_transfer draws the batch of the global step.
        return BatchPlan(range(self.steps_per_epoch))

    def val_dataloader(self) -> BatchPlan:
        rank, world = self._world()
        return BatchPlan(self.eval_chunks("val")[rank::world])

    def test_dataloader(self) -> BatchPlan:
        rank, world = self._world()
        return BatchPlan(self.eval_chunks("test")[rank::world])

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Batch:
        device = self.trainer.lightning_module.device
        if self.trainer.training:
            return self.train_batch(self.trainer.global_step, device, rank=self.trainer.global_rank)
        return self.eval_batch(batch.split, batch.index, batch.batch, device)

    # ------------------------------------------------------------------ DeviceBatches
    # The batch recipe's methods, for code that holds the data module (callbacks, evaluation).

    @property
    def eval_chunks(self) -> Callable[..., list[EvalChunk]]:
        return self._batches().eval_chunks

    @property
    def train_batch(self) -> Callable[..., Batch]:
        return self._batches().train_batch

    @property
    def statistics_batch(self) -> Callable[..., Batch]:
        return self._batches().statistics_batch

    @property
    def eval_batch(self) -> Callable[..., Batch]:
        return self._batches().eval_batch

    def _batches(self) -> DeviceBatches:
        if self.batches is None:
            raise ValueError("the data module has no faces yet: call setup() first")
        return self.batches
