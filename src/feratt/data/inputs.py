"""`model_input`: images in any of the package's layouts -> the float tensor a model takes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

ImageBatch = torch.Tensor | np.ndarray


def model_input(
    images: ImageBatch | Sequence[np.ndarray], in_channels: int, size: int | None = None
) -> torch.Tensor:
    """uint8 (0..255) or float (0..1) images -> float32 (N, C, S, S) in [0, 1] for a model.

    `images`: a batch (N, C, H, W), or grey crops (N, H, W) / a sequence of (H, W) crops. Grey
    images are repeated to `in_channels` (colour ones averaged to 1) and resized to `size`
    (None: kept).
    """
    if isinstance(images, (list, tuple)):
        images = np.stack(images)
    batch = torch.as_tensor(images)
    if batch.ndim == 3:
        batch = batch[:, None]
    if batch.ndim != 4:
        raise ValueError(f"expected images (N, C, H, W), got shape {tuple(batch.shape)}")
    batch = batch.float() / 255.0 if batch.dtype == torch.uint8 else batch.float()
    batch = match_channels(batch, in_channels)
    if size is not None and batch.shape[-2:] != (size, size):
        batch = F.interpolate(batch, size=(size, size), mode="bilinear", align_corners=False)
    return batch.contiguous()


def match_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """(N, C, H, W) images with `channels` channels: grey repeated, colour averaged to grey."""
    have = images.shape[1]
    if have == channels:
        return images
    if have == 1:
        return images.expand(-1, channels, -1, -1)
    if channels == 1:
        return images.mean(dim=1, keepdim=True)
    raise ValueError(f"cannot feed {have}-channel images to a {channels}-channel model")
