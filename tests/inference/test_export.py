"""ONNX and TorchScript exports compute what PyTorch computes, on real FER2013 faces."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from model_reference import assert_faces_match

from feratt import create_model
from feratt.checkpoint import load_checkpoint, save_checkpoint
from feratt.cli import main
from feratt.data.labels import EXPRESSIONS
from feratt.inference import Recognizer
from feratt.inference.checkpoint_export import export_checkpoint, verification_faces
from feratt.models.alignment import attention_face, moment_alignment

OUTPUTS = ["logits", "probabilities", "embedding", "attention_image", "attention_map"]


def _pytorch_outputs(checkpoint, faces: np.ndarray) -> list[np.ndarray]:
    loaded = load_checkpoint(checkpoint)
    with torch.no_grad():
        output = loaded.model(torch.from_numpy(faces))
    probabilities = (output.logits / loaded.temperature).softmax(1)  # calibrated, as exported
    values = [output.logits, probabilities, output.embedding]
    return [v.numpy() for v in (*values, output.attention_image, output.attention_map)]


def _assert_close(got: np.ndarray, expected: np.ndarray, tolerance: float, name: str) -> None:
    """Within `tolerance` times the output's scale, max(1, largest magnitude): attention maps
    reach about 15, where float32 rounding alone exceeds an absolute 1e-4."""
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, atol=tolerance * scale, rtol=0, err_msg=name)


def test_onnx_file_matches_pytorch_on_fer2013_crops(
    checkpoint, fer_crops, crop_probabilities, classes, tmp_path
):
    path = tmp_path / "model.onnx"
    report = export_checkpoint(
        checkpoint, "onnx", path, dynamic_batch=True, verify_images=fer_crops
    )
    assert report.path == path and report.faces == len(fer_crops)
    assert set(report.differences) == set(OUTPUTS)
    assert max(report.differences.values()) < 1e-4

    # Independently of feratt's backends: the file itself in ONNX Runtime.
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == OUTPUTS
    meta = json.loads(session.get_modelmeta().custom_metadata_map["feratt"])
    assert meta["classes"] == list(classes)
    faces = verification_faces(fer_crops, 3, 64)
    assert faces.min() >= 0 and faces.max() <= 1 and faces.std() > 0.1  # real, varied pixels
    outputs = session.run(None, {"image": faces})
    for name, got, expected in zip(
        OUTPUTS, outputs, _pytorch_outputs(checkpoint, faces), strict=True
    ):
        _assert_close(got, expected, 1e-4, name)
    np.testing.assert_allclose(outputs[1], crop_probabilities, atol=1e-5)


def test_cli_export_fixed_batch_onnx_then_predict_with_it(
    checkpoint, fer_crops, crop_probabilities, classes, tmp_path, capsys
):
    path = tmp_path / "fixed.onnx"
    verify = [str(p) for p in fer_crops[:3]]
    argv = ["export", "-c", str(checkpoint), "--out", str(path), "--verify", *verify]
    assert main(argv) == 0
    assert "largest difference from PyTorch on 3 faces" in capsys.readouterr().out
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [1, 3, 64, 64]

    exported = Recognizer.from_checkpoint(path, backend="onnx")
    assert_faces_match(exported.predict_batch(fer_crops, detect=False), crop_probabilities, classes)


def test_cli_export_dynamic_batch_and_a_failing_tolerance(
    checkpoint, fer_crops, crop_probabilities, tmp_path, capsys
):
    """--dynamic-batch writes a graph of any batch size, giving the model's own probabilities on
    the six crops in one run; a --tolerance below the largest difference fails, naming it."""
    path = tmp_path / "dynamic.onnx"
    verify = [str(p) for p in fer_crops]
    argv = [
        "export",
        "-c",
        str(checkpoint),
        "-o",
        str(path),
        "--dynamic-batch",
        "--verify",
        *verify,
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "largest difference from PyTorch on 6 faces" in printed
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert isinstance(session.get_inputs()[0].shape[0], str)  # a named, free batch dimension
    probabilities = session.run(["probabilities"], {"image": verification_faces(fer_crops, 3, 64)})
    np.testing.assert_allclose(probabilities[0], crop_probabilities, atol=1e-5)

    report = export_checkpoint(
        checkpoint, "onnx", path, dynamic_batch=True, verify_images=fer_crops
    )
    name, worst = max(report.differences.items(), key=lambda item: item[1])
    assert printed.strip().endswith(f": {worst:.2e}") and worst > 0
    assert main([*argv, "--tolerance", str(worst / 2)]) == 1
    err = capsys.readouterr().err
    assert f"exported {name} differs from PyTorch by {worst:.2e} (tolerance {worst / 2:.0e})" in err


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit.load is deprecated
def test_torchscript_matches_pytorch(checkpoint, fer_crops, crop_probabilities, classes, tmp_path):
    path = tmp_path / "model.torchscript.pt"
    assert main(["export", "-c", str(checkpoint), "--format", "torchscript", "-o", str(path)]) == 0
    module = torch.jit.load(str(path))
    faces = verification_faces(fer_crops, 3, 64)
    with torch.no_grad():
        got = [v.numpy() for v in module(torch.from_numpy(faces))]
    for name, value, expected in zip(
        OUTPUTS, got, _pytorch_outputs(checkpoint, faces), strict=True
    ):
        _assert_close(value, expected, 1e-5, name)
    faces = Recognizer.from_checkpoint(path).predict_batch(fer_crops, detect=False)
    assert faces[0][0].attention_map.shape == (7, 64, 64)
    assert_faces_match(faces, crop_probabilities, classes)


def test_baseline_exports_logits_and_probabilities_only(baseline_checkpoint, tmp_path):
    report = export_checkpoint(baseline_checkpoint, "onnx", tmp_path / "base.onnx")
    assert set(report.differences) == {"logits", "probabilities"}


def test_export_errors_name_the_problem(checkpoint, tmp_path, capsys):
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"not a graph")
    with pytest.raises(ValueError, match="bogus.onnx"):
        Recognizer.from_checkpoint(bogus, backend="onnx")
    with pytest.raises(ValueError, match="export format"):
        export_checkpoint(checkpoint, "tflite")
    assert main(["export", "-c", str(tmp_path / "absent.pt")]) == 1
    assert "absent.pt does not exist" in capsys.readouterr().err


def test_stn_variant_exports_its_resampling(fer_crops, tmp_path):
    """affine_grid + grid_sample survive the ONNX export (opset 20) for a non-identity theta."""
    model = create_model("feratt_rep_cls_stn", num_classes=7, width=0.125)
    with torch.no_grad():  # a rotation of about 0.3 rad, zoom 1.1 and a shift
        model.localisation.regressor[-1].bias.copy_(torch.tensor([1.05, -0.3, 0.1, 0.3, 1.05, 0]))
    checkpoint = save_checkpoint(tmp_path / "stn.pt", model, classes=EXPRESSIONS[:7])
    report = export_checkpoint(checkpoint, "onnx", tmp_path / "stn.onnx", verify_images=fer_crops)
    assert set(report.differences) == set(OUTPUTS)
    assert max(report.differences.values()) < 1e-4


def test_moment_aligned_model_exports_its_alignment(fer_crops, tmp_path):
    """The moments, closed-form eigenvectors and resampling of `model.alignment=moments` survive
    the ONNX export, and the alignment is not the identity on these faces."""
    torch.manual_seed(0)
    model = create_model("feratt_rep_cls", num_classes=7, width=0.125, alignment="moments")
    with torch.no_grad():
        # An untrained G_att's maps sit a few thousandths under 0.5, an empty mask (the identity):
        # amplify the head so that the faces' own variations cross the threshold.
        head = model.attention.head[-1]
        head.weight.mul_(2000.0)
        head.bias.zero_()
        output = model(torch.from_numpy(verification_faces(fer_crops, 3, 64)))
    theta = moment_alignment(attention_face(output.attention_map))
    assert (theta - torch.eye(2, 3)).abs().amax() > 0.05
    checkpoint = save_checkpoint(tmp_path / "aligned.pt", model, classes=EXPRESSIONS[:7])
    report = export_checkpoint(
        checkpoint, "onnx", tmp_path / "aligned.onnx", verify_images=fer_crops
    )
    assert set(report.differences) == set(OUTPUTS)
    assert max(report.differences.values()) < 1e-4
