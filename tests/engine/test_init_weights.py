"""`train.init`: fine-tuning starts from the shipped weights or any checkpoint."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from feratt.checkpoint import load_checkpoint, save_checkpoint
from feratt.engine.train import initialise_from
from feratt.models import create_model


def test_init_from_pretrained_copies_every_matching_tensor(
    install_pretrained: Callable[..., Path],
) -> None:
    source = load_checkpoint(install_pretrained()).model.state_dict()
    torch.manual_seed(1)
    model = create_model("feratt_rep_cls", num_classes=7, width=0.125)
    summary = initialise_from(model, "pretrained")
    assert summary == f"{len(source)} of {len(source)} tensors"
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, source[name]), name


def test_init_for_other_classes_keeps_fresh_class_layers(tmp_path: Path) -> None:
    torch.manual_seed(0)
    trained = create_model("feratt_rep_cls", num_classes=7, width=0.125)
    path = save_checkpoint(tmp_path / "seven.pt", trained)
    torch.manual_seed(1)
    model = create_model("feratt_rep_cls", num_classes=8, width=0.125)
    fresh_fc = model.classifier.fc.weight.clone()
    summary = initialise_from(model, str(path))
    assert "fresh: " in summary and "classifier.fc.weight" in summary
    assert torch.equal(model.classifier.fc.weight, fresh_fc)
    encoder = "attention.encoder.conv1.weight"
    assert torch.equal(model.state_dict()[encoder], trained.state_dict()[encoder])


def test_init_from_another_model_is_a_named_error(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "base.pt", create_model("preactresnet18", width=0.125))
    model = create_model("feratt_rep_cls", width=0.125)
    with pytest.raises(ValueError, match="holds a preactresnet18, but the run trains a feratt"):
        initialise_from(model, str(path))
