"""The Python API: ``Recognizer.from_checkpoint(path).predict(image)`` -> one result per face
(``Recognizer.pretrained()`` for the weights shipped in the package).

Faces are found and cropped exactly as the training data was prepared (``feratt.data.preparation``),
then classified by a PyTorch or ONNX Runtime backend.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from feratt.checkpoint import Checkpoint, load_checkpoint
from feratt.data.inputs import model_input
from feratt.data.io import to_channels
from feratt.data.preparation import (
    FaceDetector,
    HaarFaceDetector,
    box_transform,
    image_transform,
    warp,
)
from feratt.inference.backends import Backend, OnnxBackend, TorchBackend, open_export
from feratt.inference.graph_export import OPTIONAL_OUTPUTS, is_torchscript_export
from feratt.inference.images import ImageInput, load_image
from feratt.pretrained import load_pretrained

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class FaceResult:
    """One face: where it is, what the model says, and what it looked at.

    Args:
        box: (x, y, w, h) in the pixels of the input image.
        label: predicted class name; ``label_index`` indexes ``probabilities``' keys.
        confidence: probability of ``label``.
        probabilities: class name -> probability, in the model's class order.
        embedding: (d,) representation z (Rep models), else None.
        attention_image: (S, S, 3) float32 I_att (the face as the attention module rebuilt
            it, about [0, 1]), else None (baseline).
        attention_map: (K, S, S) float32 attention logits A, else None.
        face_image: (S, S) uint8, the grey crop the model saw.
    """

    box: Box
    label: str
    label_index: int
    confidence: float
    probabilities: dict[str, float]
    embedding: np.ndarray | None
    attention_image: np.ndarray | None
    attention_map: np.ndarray | None
    face_image: np.ndarray

    def probability_vector(self) -> np.ndarray:
        return np.fromiter(self.probabilities.values(), dtype=np.float64)

    def with_probabilities(self, probabilities: np.ndarray) -> FaceResult:
        """The same face with other (e.g. temporally smoothed) probabilities and their argmax."""
        classes = list(self.probabilities)
        best = int(np.argmax(probabilities))
        return dataclasses.replace(
            self,
            label=classes[best],
            label_index=best,
            confidence=float(probabilities[best]),
            probabilities={c: float(p) for c, p in zip(classes, probabilities, strict=True)},
        )

    @staticmethod
    def table_columns(classes: Sequence[str]) -> list[str]:
        """Column names of ``table_row`` for a model with these classes."""
        return ["x", "y", "w", "h", "label", "confidence", *(f"p_{c}" for c in classes)]

    def table_row(self) -> dict[str, object]:
        """Box, label, confidence and one probability column per class (CSV/JSON friendly)."""
        x, y, w, h = self.box
        row: dict[str, object] = {"x": x, "y": y, "w": w, "h": h, "label": self.label}
        row["confidence"] = round(self.confidence, 6)
        row.update({f"p_{c}": round(p, 6) for c, p in self.probabilities.items()})
        return row


def _check_backend(backend: str) -> None:
    if backend not in ("torch", "onnx"):
        raise ValueError(f"unknown backend {backend!r}; expected 'torch' or 'onnx'")


def default_detector() -> HaarFaceDetector:
    """The training cascade, tuned for latency: a 400-pixel copy and a 1.2 scale pyramid find
    nearly the same boxes 3x faster than its defaults (see benchmarks/inference_latency.py)."""
    return HaarFaceDetector(max_side=400, scale_factor=1.2)


def prepare_crop(image: np.ndarray, box: Box | None, size: int) -> np.ndarray:
    """One face as training prepares it (``feratt.data.preparation``): grey, the square around the
    detection box widened by the detection margin (or the centred square of a face crop when
    ``box`` is None), resized to ``size``. Returns uint8 (S, S)."""
    matrix = box_transform(box, size) if box is not None else image_transform(image.shape, size)
    return warp(to_channels(image, 1), matrix, size)


class Recognizer:
    """Finds faces, prepares them as in training, and classifies them.

    Args:
        backend: a ``TorchBackend`` or ``OnnxBackend`` (see ``from_checkpoint``); its
            ``temperature`` calibrates the probabilities.
        detector: any ``FaceDetector``; by default ``default_detector()`` (Haar cascade).
        batch_size: faces per backend call.
    """

    def __init__(
        self,
        backend: Backend,
        detector: FaceDetector | None = None,
        batch_size: int = 32,
    ) -> None:
        self.backend = backend
        self.classes = backend.classes
        self.config = backend.config
        self.temperature = backend.temperature
        self._detector = detector
        self.batch_size = batch_size

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        device: str = "cpu",
        detector: FaceDetector | None = None,
        backend: str = "torch",
        threads: int | None = None,
        **kwargs,
    ) -> Recognizer:
        """Load a feratt checkpoint, or a file written by ``feratt export``.

        For a checkpoint, ``backend="onnx"`` exports it to ONNX in memory and runs it in ONNX
        Runtime (``threads`` sets its thread count); a ``temperature`` in its metadata divides
        the logits before the softmax. An exported file picks its own runtime: ``.onnx`` -> ONNX
        Runtime, TorchScript -> torch. Other keywords go to ``Recognizer``.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
        _check_backend(backend)
        if path.suffix.lower() == ".onnx" or is_torchscript_export(path):
            return cls(open_export(path, device=device, threads=threads), detector, **kwargs)
        return cls._from_loaded(load_checkpoint(path), device, detector, backend, threads, **kwargs)

    @classmethod
    def pretrained(
        cls,
        name: str = "fer2013_feratt",
        device: str = "cpu",
        detector: FaceDetector | None = None,
        backend: str = "torch",
        threads: int | None = None,
        **kwargs,
    ) -> Recognizer:
        """The weights shipped in the package under `name` (``feratt.pretrained``),
        checked against their SHA-256; otherwise as ``from_checkpoint``."""
        _check_backend(backend)
        return cls._from_loaded(load_pretrained(name), device, detector, backend, threads, **kwargs)

    @classmethod
    def _from_loaded(
        cls,
        checkpoint: Checkpoint,
        device: str,
        detector: FaceDetector | None,
        backend: str,
        threads: int | None,
        **kwargs,
    ) -> Recognizer:
        model, temperature = checkpoint.model, checkpoint.temperature
        classes = checkpoint.classes or tuple(str(i) for i in range(model.config.num_classes))
        if backend == "onnx":
            engine: Backend = OnnxBackend.from_model(
                model, classes, threads=threads, temperature=temperature
            )
        else:
            engine = TorchBackend(model, classes, device=device, temperature=temperature)
        return cls(engine, detector, **kwargs)

    @property
    def detector(self) -> FaceDetector:
        if self._detector is None:
            self._detector = default_detector()
        return self._detector

    def detect(self, image: np.ndarray) -> list[Box]:
        """Face boxes of an RGB image, clipped to it, largest first.

        The Haar detector works on a copy at most ``max_side`` pixels long (boxes are mapped
        back), so very large photos stay fast; faces under a tenth of the shorter side are missed.
        """
        height, width = image.shape[:2]
        boxes = []
        for x, y, w, h in self.detector.detect(image):
            x0, y0 = max(0, int(x)), max(0, int(y))
            x1, y1 = min(width, int(x + w)), min(height, int(y + h))
            if x1 > x0 and y1 > y0:
                boxes.append((x0, y0, x1 - x0, y1 - y0))
        return boxes

    def predict(self, image: ImageInput, detect: bool = True) -> list[FaceResult]:
        """All faces of one image (a path, numpy array or PIL image); [] when none is found.

        With ``detect=False`` the whole image is taken as one face crop.
        """
        return self.predict_batch([image], detect=detect)[0]

    def predict_batch(
        self, images: Sequence[ImageInput], detect: bool = True
    ) -> list[list[FaceResult]]:
        """``predict`` for many images, with the faces of all of them classified in batches."""
        boxes, crops = [], []
        for image in images:
            picture = load_image(image)
            grey = to_channels(picture, 1)  # once per image, not once per face
            if detect:
                found = self.detect(picture)
                crops.extend(prepare_crop(grey, box, self.config.input_size) for box in found)
            else:
                found = [(0, 0, picture.shape[1], picture.shape[0])]
                crops.append(prepare_crop(grey, None, self.config.input_size))
            boxes.append(found)
        outputs = self._classify(crops)
        index = itertools.count()
        return [
            [self._result(box, outputs, crops, next(index)) for box in found] for found in boxes
        ]

    def _classify(self, crops: list[np.ndarray]) -> dict[str, np.ndarray]:
        if not crops:
            return {}
        parts = [
            self.backend.run(
                model_input(crops[i : i + self.batch_size], self.config.in_channels).numpy()
            )
            for i in range(0, len(crops), self.batch_size)
        ]
        return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}

    def _result(
        self, box: Box, outputs: dict[str, np.ndarray], crops: list[np.ndarray], index: int
    ) -> FaceResult:
        probabilities = outputs["probabilities"][index]
        best = int(np.argmax(probabilities))
        extras = {n: outputs[n][index] if n in outputs else None for n in OPTIONAL_OUTPUTS}
        if extras["attention_image"] is not None:
            extras["attention_image"] = extras["attention_image"].transpose(1, 2, 0)
        return FaceResult(
            box=box,
            label=self.classes[best],
            label_index=best,
            confidence=float(probabilities[best]),
            probabilities={c: float(p) for c, p in zip(self.classes, probabilities, strict=True)},
            face_image=crops[index],
            **extras,
        )
