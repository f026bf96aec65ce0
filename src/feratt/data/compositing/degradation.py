"""Input-only degradations of SPEC section 3, step 5, batched: CLAHE, Gaussian noise and blur."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

_BINS = 256


def _tile_weights(size: int, tiles: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Per pixel along one axis: the two neighbouring tile centres and the weight of the second."""
    position = torch.arange(size, device=device, dtype=torch.float32) * (tiles / size) - 0.5
    first = position.floor()
    weight = position - first
    return first.clamp(min=0).long(), (first + 1).clamp(max=tiles - 1).long(), weight


@functools.lru_cache(maxsize=16)
def _tile_layout(
    height: int, width: int, tiles: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """CLAHE's fixed geometry for one image size, built once per size and device.

    Returns the tile of each pixel of the padded image (Hp, Wp), the first table entry of the
    four tiles around each pixel (4, H * W), and their bilinear weights (4, H * W).
    """
    padded_h, padded_w = height + (-height) % tiles, width + (-width) % tiles
    rows = torch.arange(tiles, device=device).repeat_interleave(padded_h // tiles)
    cols = torch.arange(tiles, device=device).repeat_interleave(padded_w // tiles)
    tile_of_pixel = rows.view(-1, 1) * tiles + cols.view(1, -1)
    y0, y1, wy = (t[:height, None] for t in _tile_weights(padded_h, tiles, device))
    x0, x1, wx = (t[None, :width] for t in _tile_weights(padded_w, tiles, device))
    starts = [(row * tiles + col) * _BINS for row in (y0, y1) for col in (x0, x1)]
    weights = [a * b for a in (1 - wy, wy) for b in (1 - wx, wx)]
    return (
        tile_of_pixel,
        torch.stack([s.expand(height, width).reshape(-1) for s in starts]),
        torch.stack([w.expand(height, width).reshape(-1) for w in weights]),
    )


def clahe(grey: torch.Tensor, clip_limit: float = 2.0, tiles: int = 8) -> torch.Tensor:
    """Contrast-limited adaptive histogram equalisation of grey images (N, 1, H, W) in [0, 1].

    OpenCV's algorithm (cv2.createCLAHE) on 8-bit levels: per-tile histograms clipped at the
    limit with the excess spread evenly (the remainder one count on every `step`-th bin), their
    scaled CDFs as lookup tables, and bilinear interpolation between the four nearest tile
    centres. Sizes the tile grid does not divide are padded by reflection, as OpenCV does.
    """
    n, _, height, width = grey.shape
    device = grey.device
    tile_of_pixel, corner_starts, corner_weights = _tile_layout(height, width, tiles, device)
    levels = (grey * 255.0).round_().clamp_(0, 255)
    padded = F.pad(levels, (0, (-width) % tiles, 0, (-height) % tiles), mode="reflect")
    area, cells = tile_of_pixel.numel() // (tiles * tiles), tiles * tiles
    offset = torch.arange(n, device=device).view(n, 1, 1, 1) * cells + tile_of_pixel
    bins = (offset * _BINS + padded.long()).view(-1)
    histogram = torch.zeros(n * cells * _BINS, dtype=torch.int32, device=device)
    histogram.scatter_add_(0, bins, torch.ones_like(bins, dtype=torch.int32))
    limit = max(int(clip_limit * area / _BINS), 1)
    clipped = histogram.view(n, cells, _BINS).clamp_(max=limit)
    excess = (area - clipped.sum(-1, keepdim=True, dtype=torch.int32)).float()
    spread = (excess / _BINS).floor()
    remainder = excess - spread * _BINS
    step = (_BINS / remainder.clamp(min=1)).floor().clamp(min=1)
    level_axis = torch.arange(_BINS, device=device, dtype=torch.float32)
    extra = torch.minimum((level_axis / step).floor() + 1, remainder)
    count = clipped.cumsum(-1, dtype=torch.int32).float() + (level_axis + 1) * spread + extra
    tables = (count * ((_BINS - 1) / area)).round_().view(n, -1)
    index = levels.view(n, 1, -1).long() + corner_starts
    corners = tables.gather(1, index.view(n, -1)).view(n, 4, -1)
    equalised = (corners * corner_weights).sum(1).round_() / 255.0
    return equalised.view(n, 1, height, width)


def gaussian_kernels(sizes: torch.Tensor, max_size: int) -> torch.Tensor:
    """1-D Gaussian kernels (N, max_size), each of odd length `sizes[i]` centred and zero-padded.

    Sigma follows OpenCV's rule for a given kernel size: 0.3 * ((size - 1) / 2 - 1) + 0.8.
    """
    radius = torch.arange(max_size, device=sizes.device, dtype=torch.float32) - max_size // 2
    sigma = 0.3 * ((sizes.float() - 1.0) / 2.0 - 1.0) + 0.8
    weights = torch.exp(-(radius**2) / (2.0 * sigma.view(-1, 1) ** 2))
    weights = weights * (radius.abs() <= (sizes.view(-1, 1) // 2)).float()
    return weights / weights.sum(-1, keepdim=True)


def gaussian_blur(image: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Separable blur of (N, C, H, W), a kernel (N, K) per sample; borders reflect (OpenCV)."""
    n, channels, height, width = image.shape
    k = kernels.shape[1]
    weight = kernels.repeat_interleave(channels, 0)
    flat = F.pad(image.reshape(1, n * channels, height, width), (k // 2,) * 4, mode="reflect")
    flat = F.conv2d(flat, weight.view(-1, 1, 1, k), groups=n * channels)
    flat = F.conv2d(flat, weight.view(-1, 1, k, 1), groups=n * channels)
    return flat.view(n, channels, height, width)


def select(apply: torch.Tensor, changed: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """Per sample, `changed` where `apply` (N,) is True, else `original`."""
    return torch.where(apply.view(-1, 1, 1, 1), changed, original)
