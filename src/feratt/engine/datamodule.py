"""LightningDataModule: real, synthetic and mixed training batches built on the training device.

Faces stay resident on the device as one uint8 tensor. The training "loader" only counts steps;
each batch is drawn and composited on the device by a generator seeded with (seed, rank, global
step), so no images cross the host-device link, no Python runs per image, and a resumed run draws
exactly the batches an uninterrupted one would have drawn.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from feratt.config import DataConfig
from feratt.data import open_dataset
from feratt.data.cache import prepare_cached
from feratt.data.compositing import (
    Compositor,
    CompositorConfig,
    load_backgrounds,
    split_backgrounds,
)
from feratt.data.compositing.warp import invert_affine, without_mirror
from feratt.data.folds import SubjectKFold, validation_split
from feratt.data.records import PreparedFaces

_TRAIN_STREAM, _EVAL_STREAM, _STATISTICS_STREAM = 0, 1, 2
SPLITS = ("train", "val", "test")


def stream_seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from integers (seed, stream, rank, step...), stable across runs."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1, np.uint64)[0] >> 1)


@dataclass
class FaceTensors:
    """Prepared faces as device tensors, with what class-balanced sampling needs."""

    faces: torch.Tensor  # uint8 (N, C, S, S)
    masks: torch.Tensor  # bool (N, S, S)
    labels: torch.Tensor  # int64 (N,)
    by_class: torch.Tensor  # indices sorted by label
    class_start: torch.Tensor  # first position of each present class in by_class
    class_count: torch.Tensor
    targets: torch.Tensor | None = None  # float32 (N, K) label distributions, when trained on

    @classmethod
    def from_prepared(cls, prepared: PreparedFaces, soft_labels: bool = False) -> FaceTensors:
        """Device-ready tensors of `prepared`; `soft_labels` keeps its label distributions."""
        labels = torch.as_tensor(prepared.labels, dtype=torch.int64)
        by_class = torch.argsort(labels, stable=True)
        _, counts = torch.unique_consecutive(labels[by_class], return_counts=True)
        return cls(
            torch.as_tensor(prepared.faces),
            torch.as_tensor(prepared.masks, dtype=torch.bool),
            labels,
            by_class,
            torch.cumsum(counts, 0) - counts,
            counts,
            torch.as_tensor(prepared.soft_labels, dtype=torch.float32) if soft_labels else None,
        )

    def to(self, device: torch.device) -> FaceTensors:
        return FaceTensors(
            **{k: None if v is None else v.to(device) for k, v in vars(self).items()}
        )

    def balanced_sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """`n` indices: a present class uniformly at random, then one of its images."""
        device = self.labels.device
        cls = torch.randint(len(self.class_count), (n,), generator=generator, device=device)
        count = self.class_count[cls]
        offset = (torch.rand(n, generator=generator, device=device) * count).long()
        return self.by_class[self.class_start[cls] + torch.minimum(offset, count - 1)]

    def sample(self, n: int, generator: torch.Generator, balanced: bool = True) -> torch.Tensor:
        """`n` indices, class-balanced (the paper's batches) or uniform over the faces (the data
        set's own class frequencies, what plain accuracy on an imbalanced set rewards)."""
        if balanced:
            return self.balanced_sample(n, generator)
        return torch.randint(len(self.labels), (n,), generator=generator, device=self.labels.device)


def jitter(images: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Light standard augmentation on the device: flip p=0.5, rotation ±10°, scale ±10%, shift ±5%.

    One affine per sample, applied to all channels, so image and target stay aligned. Returns the
    images and the affine taking them back to the originals' frame.
    """
    n, device = len(images), images.device

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator, device=device)

    angle = uniform(-math.pi / 18, math.pi / 18)
    scale = uniform(0.9, 1.1)
    flip = torch.where(torch.rand(n, generator=generator, device=device) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos * flip, -sin, uniform(-0.1, 0.1)], 1),
            torch.stack([sin * flip, cos, uniform(-0.1, 0.1)], 1),
        ],
        1,
    )
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    jittered = F.grid_sample(images, grid, padding_mode="reflection", align_corners=False)
    return jittered, invert_affine(theta)


def _channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    if images.shape[1] == channels:
        return images
    if images.shape[1] == 1:
        return images.expand(-1, channels, -1, -1)
    return images.mean(1, keepdim=True)


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
        self.backgrounds: dict[str, torch.Tensor] = {}
        self._resident: dict[tuple[str, torch.device], Any] = {}
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
            splits = SubjectKFold(config.folds, config.seed).split(train.subjects, train.labels)
            train_idx, test_idx = next(s for k, s in enumerate(splits) if k == config.fold)
            train, test = train.subset(train_idx), train.subset(test_idx)
        if val is None:
            train_idx, val_idx = validation_split(
                train.subjects, config.val_fraction, config.seed, train.labels
            )
            train, val = train.subset(train_idx), train.subset(val_idx)
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
        if backgrounds is None:
            if self.config.mode != "real":
                raise ValueError(f"data.mode {self.config.mode!r} needs backgrounds")
            self.backgrounds = {}
            return
        backgrounds = torch.as_tensor(backgrounds)
        if backgrounds.ndim == 3:
            backgrounds = backgrounds[:, None]
        roles = self._split_backgrounds(len(backgrounds))
        self.backgrounds = {
            split: backgrounds[idx] for split, idx in zip(SPLITS, roles, strict=True)
        }

    def _split_backgrounds(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Disjoint (train, val, test) background indices; training never sees val/test ones."""
        config = self.config
        rest, test = split_backgrounds(n, config.background_test_fraction, config.seed)
        train, val = split_backgrounds(len(rest), config.background_val_fraction, config.seed + 1)
        return rest[train], rest[val], test

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

    def eval_chunks(self, split: str) -> list[dict[str, Any]]:
        """The fixed, ordered batches of `split` as {"split", "index", "batch"} items."""
        faces = self.faces.get(split)
        if faces is None:
            raise ValueError(f"the data module has no {split!r} faces")
        index = torch.arange(len(faces))
        chunks = torch.split(index, self.config.batch_size)
        return [{"split": split, "index": c, "batch": i} for i, c in enumerate(chunks)]

    # ------------------------------------------------------------------ device batches

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> dict[str, torch.Tensor]:
        device = self.trainer.lightning_module.device
        if self.trainer.training:
            return self.train_batch(self.trainer.global_step, device, rank=self.trainer.global_rank)
        return self.eval_batch(batch["split"], batch["index"], batch["batch"], device)

    def _tensors(self, split: str, device: torch.device) -> FaceTensors:
        key = (split, device)
        if key not in self._resident:
            faces = FaceTensors.from_prepared(self.faces[split], self.config.soft_labels)
            self._resident[key] = faces.to(device)
        return self._resident[key]

    def _compositor(self, split: str, device: torch.device) -> Compositor:
        key = (f"compositor/{split}", device)
        if key not in self._resident:
            if split not in self.backgrounds:
                raise ValueError("synthetic batches need backgrounds (data.backgrounds)")
            mode = "train" if split == "train" else "test"
            config = replace(CompositorConfig(size=self.size, mode=mode), **self.config.compositor)
            self._resident[key] = Compositor(self.backgrounds[split], config).to(device)
        return self._resident[key]

    def _build(
        self,
        split: str,
        index: torch.Tensor,
        n_synthetic: int,
        generator: torch.Generator,
        augment: bool,
    ) -> dict[str, torch.Tensor]:
        device = index.device
        data = self._tensors(split, device)
        faces, masks, labels = data.faces[index], data.masks[index], data.labels[index]
        images, cleans, thetas = [], [], []
        if n_synthetic:
            composite = self._compositor(split, device)(
                faces[:n_synthetic], masks[:n_synthetic], labels[:n_synthetic], generator=generator
            )
            images.append(_channels(composite.image, self.channels))
            cleans.append(_channels(composite.clean, self.channels))
            thetas.append(invert_affine(composite.theta))
        if n_synthetic < len(index):
            real = faces[n_synthetic:].float() / 255
            pair = torch.cat([real, real * masks[n_synthetic:, None]], 1)
            back = torch.eye(2, 3, device=device).expand(len(real), 2, 3)
            if augment:
                pair, back = jitter(pair, generator)
            c = real.shape[1]
            images.append(_channels(pair[:, :c], self.channels))
            cleans.append(_channels(pair[:, c:], self.channels))
            thetas.append(back)
        batch = {
            "image": torch.cat(images),
            "clean": torch.cat(cleans),
            "label": labels,
            "theta": without_mirror(torch.cat(thetas)),
        }
        if data.targets is not None:
            batch["target"] = data.targets[index]
        return batch

    def _n_synthetic(self, n: int, mode: str) -> int:
        if mode == "real":
            return 0
        if mode == "synthetic":
            return n
        return round(n * self.config.synthetic_fraction)

    def _sampled_batch(
        self, stream: int, step: int, device: torch.device, rank: int
    ) -> dict[str, torch.Tensor]:
        generator = torch.Generator(device).manual_seed(stream_seed(self.seed, stream, rank, step))
        n = self.config.batch_size
        balanced = self.config.sampling == "balanced"
        index = self._tensors("train", device).sample(n, generator, balanced)
        n_synthetic = self._n_synthetic(n, self.config.mode)
        return self._build("train", index, n_synthetic, generator, self.config.augment)

    def train_batch(
        self, step: int, device: torch.device, rank: int = 0
    ) -> dict[str, torch.Tensor]:
        """The class-balanced training batch of global step `step` on `rank`, built on `device`."""
        return self._sampled_batch(_TRAIN_STREAM, step, device, rank)

    def statistics_batch(
        self, index: int, device: torch.device, rank: int = 0
    ) -> dict[str, torch.Tensor]:
        """Batch `index` of a training-distribution stream kept apart from the training batches,
        for recomputing BatchNorm statistics without replaying what the optimiser saw."""
        return self._sampled_batch(_STATISTICS_STREAM, index, device, rank)

    def eval_batch(
        self,
        split: str,
        index: torch.Tensor,
        batch: int,
        device: torch.device,
        synthetic: bool | None = None,
    ) -> dict[str, torch.Tensor]:
        """A fixed evaluation batch of `split` faces at `index` (same images every call).

        Synthetic images use the test-mode compositor and the split's own backgrounds; by default
        ``data.val_mode`` (else ``data.mode``) decides (mixed: its synthetic fraction).
        """
        generator = torch.Generator(device).manual_seed(
            stream_seed(self.seed, _EVAL_STREAM, SPLITS.index(split), batch)
        )
        n = len(index)
        if synthetic is None:
            n_synthetic = self._n_synthetic(n, self.config.val_mode or self.config.mode)
        else:
            n_synthetic = n * bool(synthetic)
        return self._build(split, index.to(device), n_synthetic, generator, augment=False)
