"""Uploaded bytes -> the API's typed results, through the same ``Recognizer`` and attention
tiles as ``feratt predict`` (no second pipeline)."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import cv2
import numpy as np

from feratt.data.io import decode_image
from feratt.inference.images import to_rgb_uint8
from feratt.inference.recognizer import FaceResult, Recognizer
from feratt.inference.render import attention_tiles
from feratt.serve.schemas import Box, Face, FaceImages, ImageResult

TILE_SIZE = 128  # pixels of each returned picture; the page scales them


def predict_uploads(
    recognizer: Recognizer,
    uploads: Sequence[tuple[str, bytes]],
    max_pixels: int | None,
    detect: bool = True,
    attention: bool = False,
) -> list[ImageResult]:
    """(filename, encoded bytes) pairs -> one result per image; an undecodable or oversize
    file raises ``CorruptImageError`` / ``ImageTooLargeError`` naming it."""
    pictures = [to_rgb_uint8(decode_image(data, name, max_pixels), name) for name, data in uploads]
    results = recognizer.predict_batch(pictures, detect=detect)
    return [
        ImageResult(
            filename=name,
            width=picture.shape[1],
            height=picture.shape[0],
            faces=[face_result(face, attention) for face in faces],
        )
        for (name, _), picture, faces in zip(uploads, pictures, results, strict=True)
    ]


def face_result(face: FaceResult, attention: bool) -> Face:
    """One ``FaceResult`` as the API's ``Face``, with base64 PNG tiles when ``attention``."""
    x, y, w, h = face.box
    images = None
    if attention:
        tiles = {name: png_base64(tile) for name, tile in attention_tiles(face, TILE_SIZE).items()}
        images = FaceImages(
            input=tiles["input"],
            attention_image=tiles.get("attention_image"),
            attention_map=tiles.get("attention_map"),
        )
    return Face(
        box=Box(x=x, y=y, w=w, h=h),
        label=face.label,
        confidence=face.confidence,
        probabilities=face.probabilities,
        images=images,
    )


def png_base64(image: np.ndarray) -> str:
    """An RGB uint8 image as base64 PNG text."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("could not encode a PNG")
    return base64.b64encode(encoded.tobytes()).decode("ascii")
