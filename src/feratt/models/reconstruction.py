"""G_ft (feature extraction) and G_rec (reconstruction of the attention image I_att)."""

from __future__ import annotations

import torch
from torch import nn

from feratt.models.layers import MIN_PLAIN_CHANNELS, ResidualBlock, scaled


class FeatureExtractor(nn.Module):
    """G_ft: conv9x9(3->K), 8 residual blocks, conv3x3, plus a global skip from the first conv.

    Output F has K channels at full resolution, one feature map per class, fused with A.
    """

    def __init__(self, num_classes: int, in_channels: int = 3, num_blocks: int = 8) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, num_classes, kernel_size=9, padding=4)
        self.blocks = nn.Sequential(*(ResidualBlock(num_classes) for _ in range(num_blocks)))
        self.conv_out = nn.Conv2d(num_classes, num_classes, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stem = self.conv_in(x)
        return stem + self.conv_out(self.blocks(stem))


RECONSTRUCTIONS = ("residual", "paper")


class ReconstructionHead(nn.Module):
    """G_rec: concat(M, I, A) (2K+3 ch) -> conv3x3(->32)+ReLU -> conv1x1(->3) -> output = I_att.

    Output ``paper``: BatchNorm(3) -> ReLU (SPEC section 1; unbounded, about half the pixels 0 at
    init). ``residual``: I_att = sigmoid(logit(I) + delta) with the conv1x1 delta zero at init, so
    I_att starts as the input image, stays in [0, 1] like I_org, and G_rec learns what to remove.

    Args:
        num_classes: K.
        width: multiplier of the 32 hidden channels.
        output: ``residual`` or ``paper``.
    """

    def __init__(
        self,
        num_classes: int,
        width: float = 1.0,
        image_channels: int = 3,
        output: str = "residual",
    ) -> None:
        super().__init__()
        if output not in RECONSTRUCTIONS:
            raise ValueError(
                f"unknown reconstruction {output!r}; expected one of {', '.join(RECONSTRUCTIONS)}"
            )
        hidden = scaled(32, width, MIN_PLAIN_CHANNELS)
        self.output = output
        self.layers = nn.Sequential(
            nn.Conv2d(2 * num_classes + image_channels, hidden, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, image_channels, kernel_size=1),
        )
        if output == "paper":
            self.layers.extend([nn.BatchNorm2d(image_channels), nn.ReLU(inplace=True)])
        else:
            nn.init.zeros_(self.layers[-1].weight)
            nn.init.zeros_(self.layers[-1].bias)

    def forward(
        self, fused: torch.Tensor, image: torch.Tensor, attention: torch.Tensor
    ) -> torch.Tensor:
        out = self.layers(torch.cat([fused, image, attention], dim=1))
        if self.output == "paper":
            return out
        return torch.sigmoid(torch.logit(image, eps=_LOGIT_EPS) + out)

    def extra_repr(self) -> str:
        return f"output={self.output!r}"


# I = 0 or 1 maps to a finite logit (+-6.9), reachable by the residual in either direction.
_LOGIT_EPS = 1e-3
