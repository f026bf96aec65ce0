"""Run a face batch through PyTorch or ONNX Runtime; both give the same named numpy outputs."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from feratt.config import ModelConfig
from feratt.devices import torch_device
from feratt.inference.graph_export import (
    INPUT_NAME,
    METADATA_KEY,
    ExportableModel,
    load_torchscript,
    onnx_bytes,
)


class Backend(Protocol):
    """Maps float32 faces (N, C, S, S) in [0, 1] to named outputs (see ``ExportableModel``);
    ``temperature`` is the one its probabilities are computed with."""

    classes: tuple[str, ...]
    config: ModelConfig
    temperature: float
    output_names: tuple[str, ...]

    def run(self, faces: np.ndarray) -> dict[str, np.ndarray]: ...


class TorchBackend:
    """The PyTorch model itself, on any device, in inference mode; probabilities are
    softmax(logits / temperature)."""

    def __init__(
        self,
        model: nn.Module,
        classes: Sequence[str],
        device: str = "cpu",
        temperature: float = 1.0,
    ) -> None:
        self.device = torch_device(device)
        self.model = ExportableModel(model.to(self.device), temperature)
        self.classes = tuple(classes)
        self.config: ModelConfig = model.config
        self.temperature = self.model.temperature
        self.output_names = self.model.output_names

    def run(self, faces: np.ndarray) -> dict[str, np.ndarray]:
        return _run_module(self.model, self.output_names, faces, self.device)


class OnnxBackend:
    """An ONNX graph written by ``feratt export`` (or exported in memory) in ONNX Runtime."""

    def __init__(self, model: str | Path | bytes, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        source = model if isinstance(model, bytes) else str(model)
        try:
            self.session = ort.InferenceSession(
                source, sess_options=options, providers=_providers(ort)
            )
        except Exception as err:  # ORT raises its own exception types for unreadable graphs
            name = "in-memory model" if isinstance(model, bytes) else model
            raise ValueError(f"{name}: not a loadable ONNX model ({err})") from err
        props = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in props:
            raise ValueError(f"{model}: ONNX model lacks feratt metadata; export it with feratt")
        meta = json.loads(props[METADATA_KEY])
        self.classes = tuple(meta["classes"])
        self.config = ModelConfig.from_dict(meta["config"])
        self.output_names = tuple(meta["outputs"])
        self.temperature = float(meta.get("temperature", 1.0))  # older exports lack it
        batch = self.session.get_inputs()[0].shape[0]
        self.fixed_batch = batch if isinstance(batch, int) else None

    @classmethod
    def from_model(
        cls,
        model: nn.Module,
        classes: Sequence[str],
        threads: int | None = None,
        temperature: float = 1.0,
    ) -> OnnxBackend:
        """Export a PyTorch model in memory and load it (no file is written)."""
        graph = onnx_bytes(model.cpu(), classes, dynamic_batch=True, temperature=temperature)
        return cls(graph, threads=threads)

    def run(self, faces: np.ndarray) -> dict[str, np.ndarray]:
        faces = np.ascontiguousarray(faces, dtype=np.float32)
        step = self.fixed_batch or len(faces)
        chunks = [
            self.session.run(list(self.output_names), {INPUT_NAME: faces[i : i + step]})
            for i in range(0, len(faces), step)
        ]
        return {
            name: np.concatenate([chunk[k] for chunk in chunks])
            for k, name in enumerate(self.output_names)
        }


class TorchScriptBackend:
    """A TorchScript archive written by ``feratt export --format torchscript``."""

    def __init__(self, path: str | Path, device: str = "cpu") -> None:
        self.device = torch_device(device)
        try:
            module, meta = load_torchscript(path)
        except (RuntimeError, KeyError) as err:
            raise ValueError(f"{path}: not a feratt TorchScript export ({err})") from err
        self.module = module.to(self.device).eval()
        self.classes = tuple(meta["classes"])
        self.config = ModelConfig.from_dict(meta["config"])
        self.output_names = tuple(meta["outputs"])
        self.temperature = float(meta.get("temperature", 1.0))

    def run(self, faces: np.ndarray) -> dict[str, np.ndarray]:
        return _run_module(self.module, self.output_names, faces, self.device)


def _run_module(
    module: Callable[[torch.Tensor], Sequence[torch.Tensor]],
    names: Sequence[str],
    faces: np.ndarray,
    device: torch.device,
) -> dict[str, np.ndarray]:
    batch = torch.from_numpy(np.ascontiguousarray(faces, dtype=np.float32)).to(device)
    with torch.inference_mode():
        outputs = module(batch)
    return {name: value.float().cpu().numpy() for name, value in zip(names, outputs, strict=True)}


def open_export(path: str | Path, device: str = "cpu", threads: int | None = None) -> Backend:
    """The backend for an exported file: ``.onnx`` -> ONNX Runtime, else TorchScript."""
    if Path(path).suffix.lower() == ".onnx":
        return OnnxBackend(path, threads=threads)
    return TorchScriptBackend(path, device=device)


def output_differences(
    reference: Backend, candidate: Backend, faces: np.ndarray
) -> dict[str, float]:
    """Per output, the largest absolute difference between two backends on the same faces,
    relative to max(1, largest reference magnitude)."""
    expected, actual = reference.run(faces), candidate.run(faces)
    if set(expected) != set(actual):
        raise ValueError(f"outputs differ: {sorted(expected)} vs {sorted(actual)}")
    return {
        name: float(np.max(np.abs(actual[name] - ref)) / max(1.0, float(np.max(np.abs(ref)))))
        for name, ref in expected.items()
    }


def _providers(ort) -> list[str]:
    wanted = ("CUDAExecutionProvider", "CPUExecutionProvider")
    return [p for p in wanted if p in ort.get_available_providers()]
