"""Shipped pretrained weights: where they are looked for, their SHA-256 check, clear failures."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import torch

import feratt
from feratt import create_model, pretrained
from feratt.checkpoint import load_checkpoint, save_checkpoint
from feratt.data.labels import EXPRESSIONS
from feratt.pretrained import (
    PretrainedWeightsMissing,
    file_sha256,
    load_pretrained,
    pretrained_path,
)


def test_registry_points_inside_the_package_unless_the_environment_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(pretrained.PRETRAINED_DIR_ENV, raising=False)
    package = Path(feratt.__file__).parent
    assert pretrained_path() == package / "models" / "weights" / "fer2013_feratt.pt"
    monkeypatch.setenv(pretrained.PRETRAINED_DIR_ENV, str(tmp_path))
    assert pretrained_path("fer2013_feratt") == tmp_path / "fer2013_feratt.pt"
    with pytest.raises(KeyError, match="unknown pretrained weights 'resnet'; known: fer2013"):
        pretrained_path("resnet")


def test_loads_the_installed_file_and_exposes_its_temperature(install_pretrained) -> None:
    path = install_pretrained({"temperature": 2.0, "val/acc": 0.5})
    loaded = load_pretrained()
    assert loaded.classes == EXPRESSIONS[:7]
    assert loaded.temperature == 2.0 and loaded.metadata["val/acc"] == 0.5
    assert not loaded.model.training
    reference = load_checkpoint(path).model
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(images).logits, reference(images).logits)


def test_a_copy_elsewhere_loads_through_path(install_pretrained, tmp_path: Path) -> None:
    copy = tmp_path / "downloads" / "weights.pt"
    copy.parent.mkdir()
    shutil.copy(install_pretrained(), copy)
    assert load_pretrained(path=copy).temperature == 1.0  # no temperature in its metadata


def test_another_file_fails_the_sha256_check_naming_file_and_hashes(
    install_pretrained, tmp_path: Path
) -> None:
    expected = file_sha256(install_pretrained())
    model = create_model("feratt_rep_cls", num_classes=7, width=0.125)
    other = save_checkpoint(tmp_path / "other.pt", model, EXPRESSIONS[:7])
    with pytest.raises(ValueError, match="other.pt") as error:
        load_pretrained(path=other)
    assert expected in str(error.value) and file_sha256(other) in str(error.value)


def test_a_truncated_file_is_named_with_both_hashes(install_pretrained) -> None:
    path = install_pretrained()
    expected = file_sha256(path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"fer2013_feratt\.pt \(1000 bytes\)") as error:
        load_pretrained()
    assert expected in str(error.value) and file_sha256(path) in str(error.value)


def test_a_missing_file_says_what_is_missing_and_how_to_build_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(pretrained.PRETRAINED_DIR_ENV, str(tmp_path))
    with pytest.raises(PretrainedWeightsMissing) as error:
        load_pretrained()
    message = str(error.value)
    assert isinstance(error.value, FileNotFoundError)
    assert "'fer2013_feratt' are not in this installation" in message
    assert str(tmp_path / "fer2013_feratt.pt") in message
    assert "feratt train --config configs/release/fer2013_feratt.yaml" in message
    assert "python scripts/release_weights.py RUN_DIR" in message
    assert "\n" not in message


def test_a_file_without_a_recorded_sha256_is_refused(
    install_pretrained, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_pretrained()
    entry = dataclasses.replace(pretrained.PRETRAINED["fer2013_feratt"], sha256=None)
    monkeypatch.setitem(pretrained.PRETRAINED, "fer2013_feratt", entry)
    with pytest.raises(ValueError, match=r"no SHA-256 is recorded .*\(FER2013_FERATT_SHA256 in"):
        load_pretrained()
