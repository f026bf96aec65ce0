"""The Lightning-free batch pipeline: seeded by (seed, stream, rank, step), class-balanced
sampling, and the one background split that training, validation, tests and `feratt synth` use."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from feratt.config import DataConfig
from feratt.data.batches import Batch, DeviceBatches, FaceTensors
from feratt.data.compositing import background_roles
from feratt.data.records import PreparedFaces
from feratt.data.synthetic import backgrounds_for

SIZE = 64
CPU = torch.device("cpu")


def _prepared(labels: list[int]) -> PreparedFaces:
    n = len(labels)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:SIZE, :SIZE]
    mask = ((x - 31.5) / 26) ** 2 + ((y - 32) / 30) ** 2 <= 1
    return PreparedFaces(
        faces=rng.integers(30, 220, (n, 1, SIZE, SIZE), dtype=np.uint8),
        masks=np.broadcast_to(mask, (n, SIZE, SIZE)).copy(),
        labels=np.asarray(labels, dtype=np.int64),
        subjects=np.array([f"S{i // 2}" for i in range(n)]),
        paths=np.array([f"face{i}.png" for i in range(n)]),
        classes=("happy", "sad", "anger"),
    )


def _pool(n: int = 20) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, 80, 80), generator=torch.Generator().manual_seed(0)).byte()


def test_the_pipeline_imports_without_lightning() -> None:
    code = "import sys, feratt.data.batches; assert 'lightning' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_one_background_split_for_training_and_synth() -> None:
    pool = torch.arange(20, dtype=torch.uint8).view(20, 1, 1, 1).expand(20, 1, 8, 8)
    roles = {split: backgrounds_for(pool, split) for split in ("train", "val", "test")}
    assert [len(roles[s]) for s in ("train", "val", "test")] == [14, 2, 4]
    levels = {split: set(b[:, 0, 0, 0].tolist()) for split, b in roles.items()}
    assert levels["train"].isdisjoint(levels["val"] | levels["test"])
    assert levels["val"].isdisjoint(levels["test"])
    assert torch.equal(roles["test"], backgrounds_for(pool, "test"))
    with pytest.raises(ValueError, match="split"):
        backgrounds_for(pool, "all")
    batches = DeviceBatches(DataConfig(), {"train": _prepared([0, 1])}, pool)
    for split, role in roles.items():
        assert torch.equal(batches.backgrounds[split], role)
    assert background_roles(20).keys() == {"train", "val", "test"}


def test_balanced_sample_draws_classes_uniformly() -> None:
    tensors = FaceTensors.from_prepared(_prepared([0] * 90 + [2] * 10))  # class 1 absent
    index = tensors.balanced_sample(4000, torch.Generator().manual_seed(0))
    counts = torch.bincount(tensors.labels[index], minlength=3)
    assert counts[1] == 0 and abs(counts[0] - counts[2]) < 300
    assert len(set(index[tensors.labels[index] == 2].tolist())) == 10  # every rare face


def test_batches_are_a_function_of_seed_stream_rank_and_step() -> None:
    faces = _prepared([i % 3 for i in range(12)])
    config = DataConfig(mode="mixed", batch_size=12)

    def batches(seed: int = 3) -> DeviceBatches:
        return DeviceBatches(config, {"train": faces, "val": faces}, _pool(), seed=seed)

    first = batches().train_batch(0, CPU)
    assert isinstance(first, Batch) and first.image.shape == (12, 3, SIZE, SIZE)
    assert first.clean.shape == first.image.shape and first.theta.shape == (12, 2, 3)
    again = batches().train_batch(0, CPU)
    assert torch.equal(first.image, again.image) and torch.equal(first.label, again.label)
    data = batches()
    for other in (
        data.train_batch(1, CPU),
        data.train_batch(0, CPU, rank=1),
        data.statistics_batch(0, CPU),
        batches(seed=4).train_batch(0, CPU),
    ):
        assert not torch.equal(other.image, first.image)
