"""Pictures of predictions: boxes with labels on the photo, and one attention panel per face."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from feratt.inference.recognizer import FaceResult

_BOX_COLOUR = (40, 220, 90)
_TEXT_COLOUR = (255, 255, 255)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def annotate(image: np.ndarray, faces: Sequence[FaceResult]) -> np.ndarray:
    """A copy of the RGB image with each face's box and "label confidence" drawn on it."""
    canvas = image.copy()
    scale = max(0.4, max(image.shape[:2]) / 800)
    thickness = max(1, round(2 * scale))
    for face in faces:
        x, y, w, h = face.box
        cv2.rectangle(canvas, (x, y), (x + w, y + h), _BOX_COLOUR, thickness)
        _label(canvas, f"{face.label} {face.confidence:.2f}", (x, y), scale * 0.6, thickness)
    return canvas


def attention_panel(face: FaceResult, size: int = 192) -> np.ndarray:
    """Input | attention image | attention map over the input, side by side with a caption.

    Models without attention (the baseline) give the input alone.
    """
    panel = np.concatenate(list(attention_tiles(face, size).values()), axis=1)
    caption = np.zeros((28, panel.shape[1], 3), np.uint8)
    _label(caption, f"{face.label} {face.confidence:.2f}", (4, 24), 0.6, 1, background=False)
    return np.concatenate([caption, panel], axis=0)


def attention_tiles(face: FaceResult, size: int = 192) -> dict[str, np.ndarray]:
    """The panel's pictures, RGB uint8 (size, size, 3): ``input`` (the crop the model saw) and,
    for attention models, ``attention_image`` (I_att) and ``attention_map``.

    The map shown is sigmoid(A) for the predicted class, the gate FERAtt applies to its
    features, as a heat map blended over the input.
    """
    tiles = {"input": _tile(face.face_image, size)}
    if face.attention_image is not None:
        tiles["attention_image"] = _tile(_unit_to_uint8(face.attention_image), size)
    if face.attention_map is not None:
        gate = 0.5 + 0.5 * np.tanh(0.5 * face.attention_map[face.label_index])  # sigmoid
        heat = cv2.applyColorMap(_unit_to_uint8(gate), cv2.COLORMAP_JET)[:, :, ::-1]
        tiles["attention_map"] = cv2.addWeighted(tiles["input"], 0.5, _tile(heat, size), 0.5, 0)
    return tiles


def _tile(image: np.ndarray, size: int) -> np.ndarray:
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_NEAREST)


def _unit_to_uint8(values: np.ndarray) -> np.ndarray:
    return (np.clip(values, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _label(
    canvas: np.ndarray,
    text: str,
    origin: tuple[int, int],
    scale: float,
    thickness: int,
    background: bool = True,
) -> None:
    (width, height), baseline = cv2.getTextSize(text, _FONT, scale, thickness)
    x, y = origin[0], max(origin[1], height + baseline)
    if background:
        cv2.rectangle(canvas, (x, y - height - baseline), (x + width, y), _BOX_COLOUR, -1)
    cv2.putText(canvas, text, (x, y - baseline), _FONT, scale, _TEXT_COLOUR, thickness, cv2.LINE_AA)
