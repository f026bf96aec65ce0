"""The shipped weights through `Recognizer.pretrained`, `feratt predict` and `feratt export`
(a tiny checkpoint installed in their place), their calibration temperature, and what the
commands say when the weights file is missing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from feratt import pretrained
from feratt.checkpoint import load_checkpoint
from feratt.cli import main
from feratt.data.inputs import model_input
from feratt.data.labels import EXPRESSIONS
from feratt.inference import Recognizer
from feratt.inference.backends import open_export
from feratt.inference.checkpoint_export import verification_faces
from feratt.inference.images import load_image
from feratt.inference.recognizer import prepare_crop


def _logits(checkpoint: Path, crop: Path) -> torch.Tensor:
    """The model's own logits for one face crop, prepared as `predict(detect=False)` does."""
    faces = model_input([prepare_crop(load_image(crop), None, 64)], 3)
    with torch.no_grad():
        return load_checkpoint(checkpoint).model(faces).logits[0]


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def test_pretrained_recognizer_divides_the_logits_by_the_temperature(
    install_pretrained, fer_crops
) -> None:
    path = install_pretrained({"temperature": 2.0})
    recognizer = Recognizer.pretrained()
    assert recognizer.temperature == 2.0 and recognizer.classes == EXPRESSIONS[:7]
    faces = recognizer.predict(fer_crops[0], detect=False)
    assert len(faces) == 1
    probabilities = faces[0].probability_vector()
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-6)
    logits = _logits(path, fer_crops[0])
    expected = torch.softmax(logits / 2, dim=0).numpy()
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)
    assert np.abs(probabilities - torch.softmax(logits, dim=0).numpy()).max() > 0.02
    assert faces[0].label == EXPRESSIONS[int(logits.argmax())]


def test_onnx_backend_applies_the_same_temperature(install_pretrained, fer_crops) -> None:
    install_pretrained({"temperature": 2.0})
    torch_faces = Recognizer.pretrained().predict_batch(fer_crops[:3], detect=False)
    onnx = Recognizer.pretrained(backend="onnx")
    assert onnx.temperature == 2.0
    for got, want in zip(onnx.predict_batch(fer_crops[:3], detect=False), torch_faces, strict=True):
        np.testing.assert_allclose(
            got[0].probability_vector(), want[0].probability_vector(), atol=1e-5
        )


def test_predict_without_checkpoint_matches_predict_with_that_file(
    install_pretrained, fer_crops, capsys: pytest.CaptureFixture
) -> None:
    path = install_pretrained({"temperature": 2.0})
    crop = str(fer_crops[0])
    assert main(["predict", crop, "--no-detect"]) == 0
    shipped = json.loads(capsys.readouterr().out)
    assert main(["predict", crop, "--no-detect", "--checkpoint", str(path)]) == 0
    assert shipped == json.loads(capsys.readouterr().out)
    assert len(shipped) == 1 and shipped[0]["path"] == crop
    expected = torch.softmax(_logits(path, fer_crops[0]) / 2, dim=0).numpy()
    got = [shipped[0][f"p_{name}"] for name in EXPRESSIONS[:7]]
    np.testing.assert_allclose(got, expected, atol=1e-5)  # the table rounds to 6 places


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit.load is deprecated
@pytest.mark.parametrize(
    ("export_format", "name"),
    [("onnx", "fer2013_feratt.onnx"), ("torchscript", "fer2013_feratt.torchscript.pt")],
)
def test_export_without_checkpoint_writes_the_calibrated_graph_here(
    export_format: str,
    name: str,
    install_pretrained,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys,
) -> None:
    install_pretrained({"temperature": 2.0})
    monkeypatch.chdir(tmp_path)
    assert main(["export", "--format", export_format]) == 0
    assert f"wrote {name}" in capsys.readouterr().out
    backend = open_export(tmp_path / name)
    assert backend.temperature == 2.0 and backend.classes == EXPRESSIONS[:7]
    outputs = backend.run(verification_faces((), 3, 64))
    np.testing.assert_allclose(outputs["probabilities"], _softmax(outputs["logits"] / 2), atol=1e-6)


@pytest.mark.parametrize("command", ["predict", "export"])
def test_missing_weights_give_one_line_and_a_failure_status(
    command: str, fer_crops, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv(pretrained.PRETRAINED_DIR_ENV, str(tmp_path))
    argv = [command, str(fer_crops[0]), "--no-detect"] if command == "predict" else [command]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith(f"feratt {command}: error: the pretrained weights 'fer2013_feratt'")
    assert "feratt train --config configs/release/fer2013_feratt.yaml" in line
    assert "scripts/release_weights.py RUN_DIR" in line
