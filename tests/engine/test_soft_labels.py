"""Soft-label training (FER+ annotator votes): from the CSVs to L_cls, on real FER2013 faces."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from training_replay import StepRecorder, replayed_cls, weights_changed

from feratt.checkpoint import load_checkpoint
from feratt.config import ExperimentConfig, load_config
from feratt.data.cache import prepare_cached
from feratt.data.datasets import open_dataset
from feratt.engine.datamodule import FERAttDataModule
from feratt.engine.train import fit
from feratt.losses import FERAttLoss
from feratt.models.output import FERAttOutput

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

# FER2013 folder name -> FER+ vote column (neutral,happiness,surprise,sadness,anger,disgust,fear).
VOTE_COLUMN = {
    "neutral": 0, "happy": 1, "surprise": 2, "sad": 3, "angry": 4, "disgust": 5, "fear": 6,
}  # fmt: skip


def _write_ferplus(fer2013_dir: Path, root: Path, per_class: int = 6) -> Path:
    """FER+ layout (fer2013.csv + fer2013new.csv) over real FER2013 val faces; each face gets
    seven votes for its FER2013 class and two for each of the next two columns. Per class, the
    last two faces are PublicTest (val) and PrivateTest (test), the others Training."""
    root.mkdir(parents=True)
    pixels, votes, usages = [], [], []
    usage = ["Training"] * (per_class - 2) + ["PublicTest", "PrivateTest"]
    for name, column in VOTE_COLUMN.items():
        for path in sorted((fer2013_dir / "val" / name).glob("*.jpg"))[:per_class]:
            pixels.append(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))
            row = np.zeros(10, int)
            row[column], row[(column + 1) % 7], row[(column + 2) % 7] = 7, 2, 2
            votes.append(row)
        usages += usage
    fer = ["emotion,pixels,Usage"] + [f"0,{' '.join(map(str, p.ravel()))},Training" for p in pixels]
    (root / "fer2013.csv").write_text("\n".join(fer) + "\n")
    header = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,"
    new = [header + "unknown,NF"] + [
        f"{u},fer{i:07d}.png,{','.join(map(str, v))}"
        for i, (u, v) in enumerate(zip(usages, votes, strict=True))
    ]
    (root / "fer2013new.csv").write_text("\n".join(new) + "\n")
    return root


@pytest.fixture
def ferplus_root(fer2013_dir: Path, tmp_path: Path) -> Path:
    return _write_ferplus(fer2013_dir, tmp_path / "ferplus")


def test_soft_targets_replace_labels_in_the_classification_loss_only() -> None:
    torch.manual_seed(0)
    logits, embedding = torch.randn(6, 4), torch.randn(6, 8)
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    distribution = torch.softmax(torch.randn(6, 4), 1)
    output = FERAttOutput(logits=logits, embedding=embedding)
    loss = FERAttLoss()
    hard = loss(output, labels)
    one_hot = loss(output, labels, distribution=F.one_hot(labels, 4).float())
    soft = loss(output, labels, distribution=distribution)
    torch.testing.assert_close(one_hot["cls"], hard["cls"])
    expected = -(distribution * torch.log_softmax(logits, 1)).sum(1).mean()
    torch.testing.assert_close(soft["cls"], expected)
    torch.testing.assert_close(soft["rep"], hard["rep"])


def test_vote_distributions_survive_preparation_and_the_cache(
    ferplus_root: Path, tmp_path: Path
) -> None:
    dataset = open_dataset(ferplus_root)
    first = prepare_cached(dataset, tmp_path / "cache")
    again = prepare_cached(open_dataset(ferplus_root), tmp_path / "cache")
    assert not first.meta["cache_hit"] and again.meta["cache_hit"]
    for prepared in (first, again):
        assert prepared.soft_labels.shape == (42, 8)
        np.testing.assert_allclose(prepared.soft_labels, dataset.soft_labels)
        assert (prepared.soft_labels.argmax(1) == prepared.labels).all()
    subset = first.subset(np.arange(5, 12))
    np.testing.assert_array_equal(subset.soft_labels, first.soft_labels[5:12])


@pytest.mark.parametrize("mode", ["real", "mixed"])
def test_batches_carry_the_distributions_of_their_faces(
    ferplus_root: Path, backgrounds_dir: Path, tmp_path: Path, mode: str
) -> None:
    config = ExperimentConfig().replace(
        f"data.path={ferplus_root}",
        f"data.backgrounds={backgrounds_dir}",
        f"data.cache_dir={tmp_path / 'cache'}",
        f"data.mode={mode}",
        "data.soft_labels=true",
        "data.batch_size=16",
    )
    datamodule = FERAttDataModule(config.data)
    datamodule.setup("fit")
    batch = datamodule.train_batch(3, torch.device("cpu"))
    assert batch.target.shape == (16, 8)
    # Distributions of this fixture are 7/11, 2/11, 2/11 on distinct columns: the argmax is the
    # face's label, and every row's mass sits on the three columns the face was voted into.
    assert torch.equal(batch.target.argmax(1), batch.label)
    torch.testing.assert_close(batch.target.sum(1), torch.ones(16))
    assert ((batch.target > 0).sum(1) == 3).all()


@pytest.mark.slow
def test_the_shipped_ferplus_config_trains_on_soft_labels(
    ferplus_root: Path, backgrounds_dir: Path, tmp_path: Path
) -> None:
    config = load_config(
        CONFIGS / "ferplus_feratt_rep_cls.yaml",
        [
            f"output_dir={tmp_path / 'runs'}",
            "model.width=0.125",
            f"data.path={ferplus_root}",
            f"data.backgrounds={backgrounds_dir}",
            f"data.cache_dir={tmp_path / 'cache'}",
            "data.batch_size=8",
            "data.steps_per_epoch=2",
            "train.max_epochs=1",
            "train.accelerator=cpu",
            "train.logger=none",
            "train.progress_bar=false",
            "train.precise_bn_batches=1",
        ],
    )
    assert config.data.soft_labels and config.data.format == "ferplus"
    recorder = StepRecorder()
    result = fit(config, callbacks=[recorder])
    assert all(np.isfinite(result.metrics[f"train/{t}"]) for t in ("cls", "att", "rep"))
    targets = torch.cat([batch.target for _, batch in recorder.steps])
    assert targets.shape == (16, 8) and bool((targets.max(1).values < 1).any())  # real votes
    soft, hard = replayed_cls(recorder), replayed_cls(recorder, soft=False)
    assert abs(soft - hard) > 0.01  # so the check below tells the soft target from the labels
    assert result.metrics["train/cls"] == pytest.approx(soft, rel=1e-4)
    trained = load_checkpoint(result.last_checkpoint).model
    assert "classifier.fc.weight" in weights_changed(recorder.steps[0][0], trained)
    assert np.isfinite(result.metrics["val/cls"])


def test_soft_labels_on_a_set_without_votes_names_the_key(
    ckplus48_dir: Path, tmp_path: Path
) -> None:
    config = ExperimentConfig().replace(
        f"data.path={ckplus48_dir}",
        "data.mode=real",
        f"data.cache_dir={tmp_path / 'cache'}",
        "data.soft_labels=true",
    )
    with pytest.raises(ValueError, match="data.soft_labels is true but the train faces"):
        FERAttDataModule(config.data).setup("fit")
