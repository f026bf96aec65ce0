"""`feratt eval` on a training run's own checkpoint, as the README uses it: no --data, the data
settings (path, folds, backgrounds, cache) read from the checkpoint."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import torch
from eval_reference import assert_record_of, assert_saved_embeddings

from feratt.checkpoint import load_checkpoint
from feratt.cli import main
from feratt.config import ExperimentConfig
from feratt.engine import protocol
from feratt.engine.datamodule import FERAttDataModule
from feratt.engine.train import fit


@pytest.mark.slow
def test_eval_without_data_reads_the_run_config(
    tiny_config: Callable[..., ExperimentConfig], capsys: pytest.CaptureFixture
) -> None:
    """A run trained on fold 1 of 2 is evaluated on that fold's faces (real and composited from
    the run's backgrounds): its records score the selected model's own predictions there."""
    config = tiny_config("data.folds=2", "data.fold=1", "data.mode=mixed")
    checkpoint = fit(config).run_dir / "model-best.pt"
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(checkpoint), "--synthetic", "--device", "cpu"]) == 0
    out = checkpoint.parent / "eval-model-best"
    assert f"results in {out}" in capsys.readouterr().out

    data = FERAttDataModule(config.data, seed=config.train.seed)
    data.setup("test")
    test, train = data.faces["test"], data.faces["train"]
    counts = {split: len(faces) for split, faces in data.faces.items()}
    assert counts == {"train": 18, "val": 3, "test": 21}  # the subset's 42 faces, by subject
    assert not set(test.subjects) & set(train.subjects)
    model = load_checkpoint(checkpoint).model
    for kind in ("real", "synthetic"):
        record = json.loads((out / f"{kind}.json").read_text())
        assert (record["data"], record["fold"]) == (config.data.path, 1)
        images = protocol.test_images(data, kind == "synthetic", torch.device("cpu"))
        assert_record_of(record, model, images, test.labels, train.faces, train.labels)
        assert_saved_embeddings(out / record["embeddings"], model, images, test.labels)
