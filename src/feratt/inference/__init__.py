"""Inference: the `Recognizer` Python API, rendering, video, and export to ONNX/TorchScript."""

from feratt.inference.recognizer import FaceResult, Recognizer

__all__ = ["FaceResult", "Recognizer"]
