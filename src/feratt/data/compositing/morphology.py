"""Binary morphology on batched bool masks (N, 1, H, W): SPEC section 3, step 4.

Everything is whole-tensor bool logic on shifted slices (a handful of kernels per step, fast on
CPU and GPU alike; max_pool2d is many times slower on CPU). The image edge is replicated: a face
cut by the border keeps a straight edge there (OpenCV's default border, which treats the outside
as foreground when eroding, leaves rectangular stubs where a mask meets the border).
"""

from __future__ import annotations

import torch


def _window_reduce(mask: torch.Tensor, size: int, dim: int, dilation: bool) -> torch.Tensor:
    """OR (dilation) or AND (erosion) over a centred window of `size` (odd) pixels along `dim`."""
    combine = torch.logical_or if dilation else torch.logical_and
    reach, length = size // 2, mask.shape[dim]
    first = mask.narrow(dim, 0, 1).expand_as(mask.narrow(dim, 0, reach))
    last = mask.narrow(dim, length - 1, 1).expand_as(first)
    window, span = torch.cat((first, mask, last), dim), 1
    while span < size:
        step = min(span, size - span)
        length = window.shape[dim] - step
        window = combine(window.narrow(dim, 0, length), window.narrow(dim, step, length))
        span += step
    return window


def dilate(mask: torch.Tensor, size: int) -> torch.Tensor:
    """Dilation of a bool mask by a size x size square (size odd)."""
    return _window_reduce(_window_reduce(mask, size, -1, True), size, -2, True)


def erode(mask: torch.Tensor, size: int) -> torch.Tensor:
    """Erosion of a bool mask by a size x size square (size odd)."""
    return _window_reduce(_window_reduce(mask, size, -1, False), size, -2, False)


def _flood_forward(reached: torch.Tensor, passable: torch.Tensor, dim: int) -> None:
    """Extend `reached` in place along whole runs of `passable` pixels, towards higher indices.

    Parallel prefix (Kogge-Stone): after the step of length k, each pixel knows whether a reached
    pixel lies up to 2k pixels behind it with only passable pixels in between.
    """
    open_run = passable.clone()
    length, k = reached.shape[dim], 1
    while k < length:
        ahead, behind = (t.narrow(dim, 0, length - k) for t in (reached, open_run))
        gained = open_run.narrow(dim, k, length - k) & ahead
        if 2 * k < length:
            open_run.narrow(dim, k, length - k).logical_and_(behind.clone())
        reached.narrow(dim, k, length - k).logical_or_(gained)
        k *= 2


def fill_holes(mask: torch.Tensor, sweeps: int = 1) -> torch.Tensor:
    """Fill the holes of a bool mask (N, 1, H, W): background not 4-connected to the border.

    The background is flooded from the image border along whole row and column runs at once, in
    sweeps of four directions (rows both ways, then columns both ways), at a fixed cost and
    without a host sync. `sweeps` sweeps reach every background pixel joined to the border by a
    path with at most 2 * sweeps - 2 turns, and one sweep is exact for any mask whose rows (or
    columns) are single runs, which includes every convex mask: ellipses and landmark hulls,
    warped, closed and eroded. The result then equals scipy.ndimage.binary_fill_holes; raise
    `sweeps` for masks with winding bays.
    """
    n, background = len(mask), ~mask
    # Both directions of an axis run as one forward flood over the batch and its mirror image.
    passable = {dim: torch.cat((background, background.flip(dim))) for dim in (-1, -2)}
    reached = background.clone()
    reached[..., 1:-1, 1:-1] = False
    for _ in range(sweeps):
        for dim in (-1, -2):
            both_ways = torch.cat((reached, reached.flip(dim)))
            _flood_forward(both_ways, passable[dim], dim)
            reached = both_ways[:n] | both_ways[n:].flip(dim)
    return ~reached


def clean_margin(kernel: int) -> int:
    """How far (pixels) `clean_mask`'s closing and erosion reach: 3 (kernel - 1) / 2."""
    return 3 * (kernel - 1) // 2


def clean_mask(
    mask: torch.Tensor, kernel: int, fill_sweeps: int = 1, margin: int = 0
) -> torch.Tensor:
    """The authors' clean-up of a warped mask: closing and erosion (kernel x kernel), fill holes.

    A mask with `margin` = clean_margin(kernel) extra pixels on each side (the warped mask past
    the output's edge) is cleaned as if the image went on; the margin is cut before filling.
    """
    # Closing then erosion = dilation by k, then erosion by k twice = erosion by 2k - 1.
    closed = erode(dilate(mask, kernel), 2 * kernel - 1)
    if margin:
        closed = closed[..., margin:-margin, margin:-margin]
    return fill_holes(closed, fill_sweeps)
