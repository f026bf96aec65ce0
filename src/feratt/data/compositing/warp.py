"""Affine transforms as batched 2x3 matrices in torch's normalised coordinates.

Convention (torch.nn.functional.affine_grid, align_corners=False): a matrix theta maps an
*output* pixel's normalised coordinates (x, y in [-1, 1]) to the *source* coordinates it samples.
The compositor composes scale, flip, rotation, translation and the 3-point warp (SPEC section 3,
step 1) into one forward map per sample and returns its inverse, the theta it sampled with.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _as_3x3(linear: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    top = torch.cat((linear, offset.unsqueeze(-1)), -1)
    bottom = torch.zeros_like(top[:, :1])
    bottom[:, :, 2] = 1.0
    return torch.cat((top, bottom), 1)


def without_mirror(theta: torch.Tensor) -> torch.Tensor:
    """`theta` (N, 2, 3) with any horizontal mirroring taken out: where the linear part reverses
    orientation, its x column is negated, so sampling through it gives the mirror image of what
    `theta` gives. (A face's mirror image is a face with the same expression; which of the two a
    warped face came from cannot be told, so a network is not asked to.)"""
    det = theta[:, 0, 0] * theta[:, 1, 1] - theta[:, 0, 1] * theta[:, 1, 0]
    sign = torch.where(det < 0, -1.0, 1.0).to(theta.dtype)
    return torch.cat((theta[:, :, :1] * sign.view(-1, 1, 1), theta[:, :, 1:]), -1)


def invert_affine(theta: torch.Tensor) -> torch.Tensor:
    """Inverse of a batch of 2x3 affine matrices (N, 2, 3), in closed form (no host sync)."""
    a, b, c = theta[:, 0].unbind(-1)
    d, e, f = theta[:, 1].unbind(-1)
    det = a * e - b * d
    inv_linear = torch.stack((torch.stack((e, -b), -1), torch.stack((-d, a), -1)), 1) / det.view(
        -1, 1, 1
    )
    inv_offset = -(inv_linear @ torch.stack((c, f), -1).unsqueeze(-1)).squeeze(-1)
    return torch.cat((inv_linear, inv_offset.unsqueeze(-1)), -1)


def face_transform(
    scale: torch.Tensor,
    flip: torch.Tensor,
    angle_deg: torch.Tensor,
    translation: torch.Tensor,
    warp: torch.Tensor,
) -> torch.Tensor:
    """Forward map (N, 2, 3) of the face: flip, scale, rotate, translate, then 3-point warp.

    Args:
        scale: (N,) zoom factors about the centre.
        flip: (N,) bool, mirror horizontally.
        angle_deg: (N,) rotation in degrees (counter-clockwise on screen).
        translation: (N, 2) shift as a fraction of the image size.
        warp: (N, 3, 2) displacement of the corners (left-top, left-bottom, right-top) as a
            fraction of the image size, as the authors' getAffineTransform of 3 points.
    """
    n = scale.shape[0]
    radians = angle_deg * (math.pi / 180.0)
    cos, sin = torch.cos(radians), torch.sin(radians)
    mirror = 1.0 - 2.0 * flip.to(scale.dtype)
    # y points down, so a counter-clockwise turn on screen is [[cos, sin], [-sin, cos]].
    linear = torch.stack(
        (torch.stack((cos * mirror, sin), -1), torch.stack((-sin * mirror, cos), -1)), 1
    ) * scale.view(n, 1, 1)
    similarity = _as_3x3(linear, 2.0 * translation)
    # Corners (-1,-1), (-1,1), (1,-1) move by 2*warp (normalised units); the affine map through
    # the three moved corners has columns e_x + (d2 - d0)/2, e_y + (d1 - d0)/2, offset (d1 + d2)/2.
    d0, d1, d2 = (2.0 * warp).unbind(1)
    eye = torch.eye(2, dtype=scale.dtype, device=scale.device).expand(n, 2, 2)
    warp_linear = eye + torch.stack(((d2 - d0) / 2.0, (d1 - d0) / 2.0), -1)
    corner_warp = _as_3x3(warp_linear, (d1 + d2) / 2.0)
    return (corner_warp @ similarity)[:, :2]


def crop_theta(
    box: torch.Tensor, tile: torch.Tensor, tile_size: tuple[int, int], tiles: int
) -> torch.Tensor:
    """Theta sampling square boxes from a vertical stack of equal tiles (the background atlas).

    Args:
        box: (N, 3) left, top, side of each box in pixels of its tile (pixel edges, not centres).
        tile: (N,) index of the tile each box lies in.
        tile_size: (height, width) of one tile.
        tiles: number of tiles stacked vertically.
    """
    height, width = tile_size
    left, top, side = box.unbind(-1)
    atlas_height = height * tiles
    zero = torch.zeros_like(side)
    row_x = torch.stack((side / width, zero, (2.0 * left + side) / width - 1.0), -1)
    row_y = torch.stack(
        (zero, side / atlas_height, (2.0 * (tile * height + top) + side) / atlas_height - 1.0), -1
    )
    return torch.stack((row_x, row_y), 1)


def sample(image: torch.Tensor, theta: torch.Tensor, size: int, margin: int = 0) -> torch.Tensor:
    """Bilinear resampling of (N, C, H, W) through theta to (N, C, size, size), zeros outside.

    With a `margin`, the output grid extends by that many pixels past each edge of the
    size x size frame theta refers to: (N, C, size + 2 margin, size + 2 margin).
    """
    canvas = size + 2 * margin
    if margin:
        theta = torch.cat((theta[:, :, :2] * (canvas / size), theta[:, :, 2:]), -1)
    grid = F.affine_grid(theta, [theta.shape[0], 1, canvas, canvas], align_corners=False)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def sample_atlas(atlas: torch.Tensor, theta: torch.Tensor, size: int) -> torch.Tensor:
    """Resample one atlas image (1, C, H, W) through N thetas at once -> (N, C, size, size)."""
    n = theta.shape[0]
    grid = F.affine_grid(theta, [n, 1, size, size], align_corners=False)
    flat = F.grid_sample(
        atlas, grid.reshape(1, n * size, size, 2), mode="bilinear", align_corners=False
    )
    return flat.view(atlas.shape[1], n, size, size).transpose(0, 1)
