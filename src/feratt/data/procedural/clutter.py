"""Cluttered procedural backgrounds standing in for natural photos behind composited faces."""

from __future__ import annotations

import cv2
import numpy as np


def render_backgrounds(n: int, size: tuple[int, int] = (128, 128), seed: int = 0) -> np.ndarray:
    """Render `n` grey clutter images, uint8 (n, H, W), deterministic for a seed.

    Each mixes what natural scenes hold at several scales: smooth shading, noise octaves,
    overlapping filled shapes with their own gradients, straight edges and lines, and striped
    texture patches, so that faces composited on them are hard to segment.
    """
    if n < 0:
        raise ValueError(f"need n >= 0 backgrounds, got {n}")
    height, width = size
    rng = np.random.default_rng([seed, 2])
    out = np.empty((n, height, width), np.uint8)
    for i in range(n):
        out[i] = _clutter(rng, height, width)
    return out


def _noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Smooth noise with about `cells` features across the image."""
    grid = rng.normal(0.0, 1.0, (cells, cells)).astype(np.float32)
    return cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)


def _clutter(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    y, x = y / height, x / width
    image = (
        rng.uniform(0.2, 0.8)
        + rng.uniform(-0.3, 0.3) * (x - 0.5)
        + rng.uniform(-0.3, 0.3) * (y - 0.5)
    )
    image = (image + sum(_noise(rng, height, width, c) * 0.25 / c**0.5 for c in (3, 8, 24))).astype(
        np.float32
    )
    scale = max(height, width)
    for _ in range(rng.integers(6, 18)):
        layer = np.zeros((height, width), np.uint8)
        kind = rng.integers(4)
        cx, cy = rng.uniform(-0.1, 1.1) * width, rng.uniform(-0.1, 1.1) * height
        extent = rng.uniform(0.05, 0.5) * scale
        if kind == 0:
            axes = (int(extent), int(extent * rng.uniform(0.3, 1.0)))
            cv2.ellipse(
                layer, (int(cx), int(cy)), axes, rng.uniform(0, 180), 0, 360, 255, -1, cv2.LINE_AA
            )
        elif kind == 1:
            corners = rng.uniform(-extent, extent, (rng.integers(3, 7), 2)) + (cx, cy)
            cv2.fillPoly(layer, [corners.astype(np.int32)], 255, cv2.LINE_AA)
        elif kind == 2:
            end = np.array([cx, cy]) + rng.uniform(-2, 2, 2) * extent
            thickness = int(rng.integers(1, max(2, scale // 25)))
            cv2.line(
                layer, (int(cx), int(cy)), tuple(int(v) for v in end), 255, thickness, cv2.LINE_AA
            )
        else:
            box = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * extent * rng.uniform(0.3, 1, 2)
            cv2.fillPoly(layer, [(box + (cx, cy)).astype(np.int32)], 255, cv2.LINE_AA)
        alpha = layer.astype(np.float32) / 255.0
        tone = (
            rng.uniform(0.0, 1.0) + rng.uniform(-0.3, 0.3) * (x - 0.5) + rng.uniform(-0.3, 0.3) * y
        )
        if rng.random() < 0.35:
            angle, period = rng.uniform(0, np.pi), rng.uniform(0.01, 0.06)
            stripes = np.sin((np.cos(angle) * x + np.sin(angle) * y) / period)
            tone = tone + rng.uniform(0.05, 0.25) * stripes
        elif rng.random() < 0.5:
            tone = tone + 0.15 * _noise(rng, height, width, int(rng.integers(8, 40)))
        image = image * (1.0 - alpha) + tone * alpha
    if rng.random() < 0.4:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 2.0))
    image = image + rng.normal(0.0, rng.uniform(0.0, 0.03), image.shape).astype(np.float32)
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
