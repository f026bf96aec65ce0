"""Spatial transformer of the authors' STN variant: a small localisation net that predicts the
2x3 affine theta taking the attention image back to the face's canonical frame, trained against
the compositor's known warp (Jaderberg et al., "Spatial Transformer Networks", 2015)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from feratt.models.layers import scaled


class LocalisationNet(nn.Module):
    """Image (N, C, S, S) -> theta (N, 2, 3) in `affine_grid` convention (align_corners=False):
    output normalised coordinates -> input normalised coordinates.

    conv7x7(8) - maxpool - ReLU - conv5x5(10) - maxpool - ReLU - 4x4 average pool - fc(32) - ReLU -
    fc(6), channels scaled by `width`; the last layer starts at the identity transform.
    """

    def __init__(self, in_channels: int = 3, width: float = 1.0) -> None:
        super().__init__()
        c1, c2, hidden = scaled(8, width), scaled(10, width), scaled(32, width)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, kernel_size=7),
            nn.MaxPool2d(2),
            nn.ReLU(inplace=True),
            nn.Conv2d(c1, c2, kernel_size=5),
            nn.MaxPool2d(2),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(4),
        )
        self.regressor = nn.Sequential(
            nn.Linear(c2 * 16, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 6)
        )
        last = self.regressor[-1]
        nn.init.zeros_(last.weight)
        with torch.no_grad():
            last.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.regressor(self.features(x).flatten(1)).view(-1, 2, 3)


def apply_affine(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Bilinear resampling of `images` through `theta` (zeros outside), same size."""
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False)
