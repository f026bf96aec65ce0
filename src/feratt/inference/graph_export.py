"""The exportable forms of a feratt model: ONNX and TorchScript, with classes and config inside.

Exported graphs take ``image`` (N, C, S, S) float in [0, 1] and return the tuple named by
``ExportableModel.output_names``: logits, probabilities (softmax of the logits divided by the
calibration temperature), then whichever of embedding, attention_image and attention_map the
model produces.
"""

from __future__ import annotations

import importlib.util
import io
import json
import math
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

METADATA_KEY = "feratt"
OPTIONAL_OUTPUTS = ("embedding", "attention_image", "attention_map")
INPUT_NAME = "image"


class ExportableModel(nn.Module):
    """Wraps a feratt model, switched to eval mode, so that forward returns a flat tuple.

    Its probabilities are softmax(logits / temperature): every backend and exported file takes
    them from here, so a calibration temperature is applied once, the same way everywhere.
    """

    def __init__(self, model: nn.Module, temperature: float = 1.0) -> None:
        super().__init__()
        if not (math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be a positive number; got {temperature!r}")
        self.temperature = float(temperature)
        self.model = model.eval()
        config = model.config
        probe = torch.zeros(1, config.in_channels, config.input_size, config.input_size)
        device = next(model.parameters()).device
        with torch.inference_mode():
            output = model(probe.to(device))
        self.present = tuple(name for name in OPTIONAL_OUTPUTS if getattr(output, name) is not None)
        self.output_names = ("logits", "probabilities", *self.present)
        self.eval()  # the wrapper itself; exporters check its mode

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        output = self.model(image)
        extras = tuple(getattr(output, name) for name in self.present)
        probabilities = (output.logits / self.temperature).softmax(dim=1)
        return (output.logits, probabilities, *extras)


def export_metadata(wrapper: ExportableModel, classes: Sequence[str]) -> dict:
    """What a backend needs besides the graph: class names, model config, output names and the
    temperature the graph's probabilities use."""
    return {
        "classes": list(classes),
        "config": wrapper.model.config.to_dict(),
        "outputs": list(wrapper.output_names),
        "temperature": wrapper.temperature,
    }


def onnx_bytes(
    model: nn.Module,
    classes: Sequence[str],
    dynamic_batch: bool = False,
    opset: int = 20,
    temperature: float = 1.0,
) -> bytes:
    """Serialised ONNX model with feratt metadata in its metadata_props."""
    import onnx

    wrapper = ExportableModel(model, temperature).cpu()
    proto = _export_proto(wrapper, _example(model, 2 if dynamic_batch else 1), dynamic_batch, opset)
    meta = export_metadata(wrapper, classes)
    onnx.helper.set_model_props(proto, {METADATA_KEY: json.dumps(meta)})
    return proto.SerializeToString()


def _example(model: nn.Module, batch: int) -> torch.Tensor:
    """A traced input; batch 2 for dynamic graphs, since torch.export specialises size 1."""
    config = model.config
    return torch.rand(batch, config.in_channels, config.input_size, config.input_size)


def _export_proto(wrapper: ExportableModel, example: torch.Tensor, dynamic_batch: bool, opset: int):
    import onnx

    names = list(wrapper.output_names)
    if importlib.util.find_spec("onnxscript") is not None:
        # The torch.export-based exporter (the default since torch 2.9) needs onnxscript.
        dims = {INPUT_NAME: {0: torch.export.Dim("batch", min=1)}} if dynamic_batch else None
        program = torch.onnx.export(
            wrapper,
            (example,),
            input_names=[INPUT_NAME],
            output_names=names,
            dynamic_shapes=dims,
            opset_version=opset,
            dynamo=True,
            verbose=False,
        )
        return program.model_proto
    axes = {name: {0: "batch"} for name in (INPUT_NAME, *names)} if dynamic_batch else None
    buffer = io.BytesIO()
    with _quiet_tracing():
        torch.onnx.export(
            wrapper,
            (example,),
            buffer,
            input_names=[INPUT_NAME],
            output_names=names,
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )
    return onnx.load_from_string(buffer.getvalue())


@contextmanager
def _quiet_tracing() -> Iterator[None]:
    """Silence what tracing says about this model: the legacy exporter and torch.jit are
    deprecated but work offline, and the model's input checks are constant for a traced shape."""
    with warnings.catch_warnings():
        for category in (DeprecationWarning, FutureWarning, torch.jit.TracerWarning):
            warnings.simplefilter("ignore", category)
        yield


def export_onnx(
    model: nn.Module,
    classes: Sequence[str],
    path: str | Path,
    dynamic_batch: bool = False,
    temperature: float = 1.0,
) -> Path:
    """Write the ONNX file; returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(onnx_bytes(model, classes, dynamic_batch, temperature=temperature))
    return path


def export_torchscript(
    model: nn.Module, classes: Sequence[str], path: str | Path, temperature: float = 1.0
) -> Path:
    """Trace the model to TorchScript, metadata in the archive's extra file ``feratt.json``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapper = ExportableModel(model, temperature).cpu()
    example = _example(model, 2)
    meta = export_metadata(wrapper, classes)
    with _quiet_tracing(), torch.no_grad():
        traced = torch.jit.trace(wrapper, (example,))
        torch.jit.save(traced, str(path), _extra_files={f"{METADATA_KEY}.json": json.dumps(meta)})
    return path


def load_torchscript(path: str | Path) -> tuple[Any, dict]:
    """The traced module and its feratt metadata."""
    extra = {f"{METADATA_KEY}.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return module, json.loads(extra[f"{METADATA_KEY}.json"])


def is_torchscript_export(path: str | Path) -> bool:
    """True for a TorchScript archive with feratt metadata (what ``export_torchscript`` writes)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(n.endswith(f"/extra/{METADATA_KEY}.json") for n in archive.namelist())
