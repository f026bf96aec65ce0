"""Export a checkpoint to ONNX or TorchScript and prove the file computes what PyTorch computes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from feratt.checkpoint import Checkpoint, load_checkpoint
from feratt.data.inputs import model_input
from feratt.inference.backends import TorchBackend, open_export, output_differences
from feratt.inference.graph_export import export_onnx, export_torchscript
from feratt.inference.images import load_image
from feratt.inference.recognizer import prepare_crop
from feratt.pretrained import load_pretrained

FORMATS = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}


@dataclass(frozen=True)
class ExportReport:
    """The exported file and, per output, its largest difference from PyTorch (relative to
    max(1, |output|)) on the verification faces."""

    path: Path
    differences: dict[str, float]
    faces: int


def export_checkpoint(
    checkpoint: str | Path,
    export_format: str = "onnx",
    out: str | Path | None = None,
    dynamic_batch: bool = False,
    verify_images: Sequence[str | Path] = (),
    tolerance: float = 1e-4,
) -> ExportReport:
    """Write ``checkpoint`` as ONNX or TorchScript (next to it unless ``out``), then check it.

    The check runs PyTorch and the exported file on ``verify_images`` (face crops, prepared as
    ``feratt predict --no-detect`` prepares them) or, without them, on 4 seeded random images,
    and raises ValueError when any output differs by more than ``tolerance``. A ``temperature``
    in the checkpoint's metadata is built into the graph's probabilities.
    """
    _check_format(export_format)
    checkpoint = Path(checkpoint)
    path = Path(out) if out else checkpoint.with_name(checkpoint.stem + FORMATS[export_format])
    return _export(
        load_checkpoint(checkpoint), path, export_format, dynamic_batch, verify_images, tolerance
    )


def export_pretrained(
    name: str = "fer2013_feratt",
    export_format: str = "onnx",
    out: str | Path | None = None,
    dynamic_batch: bool = False,
    verify_images: Sequence[str | Path] = (),
    tolerance: float = 1e-4,
) -> ExportReport:
    """``export_checkpoint`` for the weights shipped under `name`, written to the working folder
    (``<name>.onnx``) unless ``out``: the package folder may not be writable."""
    _check_format(export_format)
    path = Path(out) if out else Path(name + FORMATS[export_format])
    return _export(
        load_pretrained(name), path, export_format, dynamic_batch, verify_images, tolerance
    )


def _check_format(export_format: str) -> None:
    if export_format not in FORMATS:
        raise ValueError(f"unknown export format {export_format!r}; expected onnx or torchscript")


def _export(
    loaded: Checkpoint,
    path: Path,
    export_format: str,
    dynamic_batch: bool,
    verify_images: Sequence[str | Path],
    tolerance: float,
) -> ExportReport:
    model, config, temperature = loaded.model, loaded.config, loaded.temperature
    classes = loaded.classes or tuple(str(i) for i in range(config.num_classes))
    if export_format == "onnx":
        export_onnx(model, classes, path, dynamic_batch=dynamic_batch, temperature=temperature)
    else:
        export_torchscript(model, classes, path, temperature=temperature)
    faces = verification_faces(verify_images, config.in_channels, config.input_size)
    reference = TorchBackend(model, classes, temperature=temperature)
    differences = output_differences(reference, open_export(path), faces)
    worst = max(differences, key=differences.get)
    if differences[worst] > tolerance:
        raise ValueError(
            f"{path}: exported {worst} differs from PyTorch by {differences[worst]:.2e} "
            f"(tolerance {tolerance:.0e})"
        )
    return ExportReport(path, differences, len(faces))


def verification_faces(
    images: Sequence[str | Path], in_channels: int, size: int, seed: int = 0
) -> np.ndarray:
    """Model inputs (N, C, S, S) from face-crop files, or 4 seeded random images without any."""
    if not images:
        return np.random.default_rng(seed).random((4, in_channels, size, size), np.float32)
    crops = [prepare_crop(load_image(path), None, size) for path in images]
    return model_input(crops, in_channels).numpy()
