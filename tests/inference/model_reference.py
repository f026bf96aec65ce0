"""What the checkpoint's model itself says about face crops: the reference that every inference
path (Recognizer, CLI, ONNX, TorchScript, video) is compared with."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from feratt.checkpoint import load_checkpoint
from feratt.data.inputs import model_input
from feratt.inference import FaceResult
from feratt.inference.images import load_image
from feratt.inference.recognizer import prepare_crop


def model_probabilities(checkpoint: Path, crops: Sequence[Path]) -> np.ndarray:
    """(N, K) softmax(logits / T) of the model on whole-image face crops, one crop per forward
    pass: no Recognizer, backend, batching or export involved."""
    loaded = load_checkpoint(checkpoint)
    rows = []
    for crop in crops:
        face = prepare_crop(load_image(crop), None, loaded.config.input_size)
        with torch.no_grad():
            logits = loaded.model(model_input([face], loaded.config.in_channels)).logits[0]
        rows.append(torch.softmax(logits / loaded.temperature, dim=0).numpy())
    return np.stack(rows)


def assert_rows_match(
    rows: Sequence[dict], probabilities: np.ndarray, classes: Sequence[str], atol: float = 2e-6
) -> None:
    """Each table row's label and p_<class> columns are those of the same row of probabilities
    (`atol` on top of the tables' 6 decimals)."""
    assert len(rows) == len(probabilities)
    for row, expected in zip(rows, probabilities, strict=True):
        assert row["label"] == classes[int(np.argmax(expected))], row
        got = [float(row[f"p_{c}"]) for c in classes]
        np.testing.assert_allclose(got, expected, atol=atol, err_msg=row["path"])


def assert_faces_match(
    faces: Sequence[Sequence[FaceResult]],
    probabilities: np.ndarray,
    classes: Sequence[str],
    atol: float = 1e-5,
) -> None:
    """`predict_batch(..., detect=False)` results: one face per image, each with the label and
    probabilities of the same row of `probabilities`."""
    assert [len(found) for found in faces] == [1] * len(probabilities)
    for (face,), expected in zip(faces, probabilities, strict=True):
        assert face.label == classes[int(np.argmax(expected))]
        np.testing.assert_allclose(face.probability_vector(), expected, atol=atol)
