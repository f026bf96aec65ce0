"""Export a checkpoint to ONNX or TorchScript and prove the file computes what PyTorch computes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from feratt.inference.backends import TorchBackend, open_export, output_differences
from feratt.inference.exportable import export_onnx, export_torchscript
from feratt.inference.images import load_image
from feratt.inference.recognizer import model_input, prepare_crop

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
    and raises ValueError when any output differs by more than ``tolerance``.
    """
    from feratt.models.checkpoint import load_checkpoint

    if export_format not in FORMATS:
        raise ValueError(f"unknown export format {export_format!r}; expected onnx or torchscript")
    checkpoint = Path(checkpoint)
    loaded = load_checkpoint(checkpoint)
    model, config = loaded.model, loaded.model.config
    classes = loaded.classes or tuple(str(i) for i in range(config.num_classes))
    path = Path(out) if out else checkpoint.with_name(checkpoint.stem + FORMATS[export_format])
    if export_format == "onnx":
        export_onnx(model, classes, path, dynamic_batch=dynamic_batch)
    else:
        export_torchscript(model, classes, path)
    faces = verification_faces(verify_images, config.in_channels, config.input_size)
    differences = output_differences(TorchBackend(model, classes), open_export(path), faces)
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
    return model_input(crops, in_channels)
