"""Training and evaluation batches built on the device, free of Lightning.

Faces stay resident on the device as one uint8 tensor; each batch is drawn and composited there by
a generator seeded with (seed, stream, rank, step), so no images cross the host-device link, no
Python runs per image, the ranks of a multi-process run draw different batches, and a resumed run
draws exactly the batches an uninterrupted one would have drawn. ``DeviceBatches`` holds the
recipe for real, synthetic and mixed batches; the Lightning data module only adapts it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from feratt.config import DataConfig
from feratt.data.compositing import (
    BACKGROUND_ROLES,
    Compositor,
    CompositorConfig,
    background_roles,
)
from feratt.data.compositing.warp import invert_affine, without_mirror
from feratt.data.inputs import match_channels
from feratt.data.records import PreparedFaces

TRAIN_STREAM, EVAL_STREAM, STATISTICS_STREAM = 0, 1, 2
SPLITS = BACKGROUND_ROLES


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


@dataclass  # not frozen: Lightning moves dataclasses between devices field by field
class Batch:
    """One batch on the device.

    Args:
        image: float (N, C, S, S) in [0, 1], the network's input (composite or real face).
        clean: the dark face I_org, the attention target, aligned with `image`.
        label: int64 (N,) class indices.
        theta: (N, 2, 3) affine from `image`'s frame back to the face's (mirror removed).
        target: float32 (N, K) label distributions when trained on them (FER+), else None.
    """

    image: torch.Tensor
    clean: torch.Tensor
    label: torch.Tensor
    theta: torch.Tensor
    target: torch.Tensor | None = None


@dataclass
class EvalChunk:
    """Evaluation batch `batch` of `split`: the faces at `index` (fixed, in order)."""

    split: str
    index: torch.Tensor
    batch: int


class DeviceBatches:
    """The batch recipe over prepared faces and background roles, on any device.

    Args:
        config: data settings (mode, val_mode, synthetic fraction, sampling, augmentation,
            batch size, background split, compositor overrides, soft labels).
        faces: prepared ``train``, ``val`` and (optionally) ``test`` faces.
        backgrounds: uint8 (B, H, W) or (B, C, H, W), split into train/val/test roles by
            ``background_roles``; None for real-only data.
        size, channels: the model's input side and channels (grey faces are replicated).
        seed: training seed; batch ``t`` on rank ``r`` is a function of (seed, r, t).
    """

    def __init__(
        self,
        config: DataConfig,
        faces: dict[str, PreparedFaces | None],
        backgrounds: np.ndarray | torch.Tensor | None = None,
        size: int = 64,
        channels: int = 3,
        seed: int = 0,
    ) -> None:
        self.config = config
        self.faces = faces
        self.size = size
        self.channels = channels
        self.seed = seed
        self.backgrounds: dict[str, torch.Tensor] = {}
        if backgrounds is not None:
            pool = torch.as_tensor(backgrounds)
            pool = pool[:, None] if pool.ndim == 3 else pool
            roles = background_roles(
                len(pool),
                config.background_test_fraction,
                config.background_val_fraction,
                config.seed,
            )
            self.backgrounds = {split: pool[idx] for split, idx in roles.items()}
        self._faces: dict[tuple[str, torch.device], FaceTensors] = {}
        self._compositors: dict[tuple[str, torch.device], Compositor] = {}

    def eval_chunks(self, split: str) -> list[EvalChunk]:
        """The fixed, ordered evaluation batches of `split`."""
        faces = self.faces.get(split)
        if faces is None:
            raise ValueError(f"the data module has no {split!r} faces")
        chunks = torch.split(torch.arange(len(faces)), self.config.batch_size)
        return [EvalChunk(split, c, i) for i, c in enumerate(chunks)]

    def train_batch(self, step: int, device: torch.device, rank: int = 0) -> Batch:
        """The training batch of global step `step` on `rank`, built on `device`."""
        return self._sampled_batch(TRAIN_STREAM, step, device, rank)

    def statistics_batch(self, index: int, device: torch.device, rank: int = 0) -> Batch:
        """Batch `index` of a training-distribution stream kept apart from the training batches,
        for recomputing BatchNorm statistics without replaying what the optimiser saw."""
        return self._sampled_batch(STATISTICS_STREAM, index, device, rank)

    def eval_batch(
        self,
        split: str,
        index: torch.Tensor,
        batch: int,
        device: torch.device,
        synthetic: bool | None = None,
    ) -> Batch:
        """A fixed evaluation batch of `split` faces at `index` (same images every call).

        Synthetic images use the test-mode compositor and the split's own backgrounds; by default
        ``data.val_mode`` (else ``data.mode``) decides (mixed: its synthetic fraction).
        """
        generator = torch.Generator(device).manual_seed(
            stream_seed(self.seed, EVAL_STREAM, SPLITS.index(split), batch)
        )
        n = len(index)
        if synthetic is None:
            n_synthetic = self._n_synthetic(n, self.config.val_mode or self.config.mode)
        else:
            n_synthetic = n * bool(synthetic)
        return self._build(split, index.to(device), n_synthetic, generator, augment=False)

    def _tensors(self, split: str, device: torch.device) -> FaceTensors:
        key = (split, device)
        if key not in self._faces:
            faces = FaceTensors.from_prepared(self.faces[split], self.config.soft_labels)
            self._faces[key] = faces.to(device)
        return self._faces[key]

    def _compositor(self, split: str, device: torch.device) -> Compositor:
        key = (split, device)
        if key not in self._compositors:
            if split not in self.backgrounds:
                raise ValueError("synthetic batches need backgrounds (data.backgrounds)")
            mode = "train" if split == "train" else "test"
            config = replace(CompositorConfig(size=self.size, mode=mode), **self.config.compositor)
            self._compositors[key] = Compositor(self.backgrounds[split], config).to(device)
        return self._compositors[key]

    def _n_synthetic(self, n: int, mode: str) -> int:
        if mode == "real":
            return 0
        if mode == "synthetic":
            return n
        return round(n * self.config.synthetic_fraction)

    def _sampled_batch(self, stream: int, step: int, device: torch.device, rank: int) -> Batch:
        generator = torch.Generator(device).manual_seed(stream_seed(self.seed, stream, rank, step))
        n = self.config.batch_size
        balanced = self.config.sampling == "balanced"
        index = self._tensors("train", device).sample(n, generator, balanced)
        n_synthetic = self._n_synthetic(n, self.config.mode)
        return self._build("train", index, n_synthetic, generator, self.config.augment)

    def _build(
        self,
        split: str,
        index: torch.Tensor,
        n_synthetic: int,
        generator: torch.Generator,
        augment: bool,
    ) -> Batch:
        """The first `n_synthetic` faces at `index` composited, the rest real (jittered if
        `augment`), in that order."""
        device = index.device
        data = self._tensors(split, device)
        faces, masks, labels = data.faces[index], data.masks[index], data.labels[index]
        images, cleans, thetas = [], [], []
        if n_synthetic:
            composite = self._compositor(split, device)(
                faces[:n_synthetic], masks[:n_synthetic], labels[:n_synthetic], generator=generator
            )
            images.append(match_channels(composite.image, self.channels))
            cleans.append(match_channels(composite.clean, self.channels))
            thetas.append(invert_affine(composite.theta))
        if n_synthetic < len(index):
            real = faces[n_synthetic:].float() / 255
            pair = torch.cat([real, real * masks[n_synthetic:, None]], 1)
            back = torch.eye(2, 3, device=device).expand(len(real), 2, 3)
            if augment:
                pair, back = jitter(pair, generator)
            c = real.shape[1]
            images.append(match_channels(pair[:, :c], self.channels))
            cleans.append(match_channels(pair[:, c:], self.channels))
            thetas.append(back)
        return Batch(
            image=torch.cat(images),
            clean=torch.cat(cleans),
            label=labels,
            theta=without_mirror(torch.cat(thetas)),
            target=None if data.targets is None else data.targets[index],
        )
