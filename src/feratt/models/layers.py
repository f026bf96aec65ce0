"""Small building blocks shared by the FERAtt modules."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# ImageNet statistics: the fixed per-channel affine normalisation every branch sees, and the one a
# user-supplied torchvision ResNet34 state dict expects.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
CLASSIFIER_NORMALIZATIONS = ("imagenet", "cifar")


# The narrowest conv+ReLU layer without BN that the attention path gets: at width 0.125 the
# decoder's 4-channel layers left G_att's L_mask at ln 2 (benchmarks/RESULTS.md).
MIN_PLAIN_CHANNELS = 8


def scaled(channels: int, width: float, minimum: int = 1) -> int:
    """Channel count `channels` times the width multiplier, at least `minimum`."""
    return max(minimum, round(channels * width))


class Normalize(nn.Module):
    """Fixed per-channel affine normalisation of a [0, 1] image: (x - mean) / std."""

    def __init__(
        self, mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD
    ) -> None:
        super().__init__()
        # Not persistent: constants, not weights, so they stay out of checkpoints.
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    @classmethod
    def named(cls, name: str) -> Normalize:
        """``imagenet``: (x - m) / s (gain 4.4); ``cifar``: the authors' classifier-side
        ``normalize_layer``, x * s / 0.5 + (m - 0.5) / 0.5 with CIFAR statistics (gain 0.4)."""
        if name == "imagenet":
            return cls()
        if name == "cifar":
            mean = tuple((0.5 - m) / s for m, s in zip(CIFAR_MEAN, CIFAR_STD, strict=True))
            return cls(mean, tuple(0.5 / s for s in CIFAR_STD))
        choices = ", ".join(CLASSIFIER_NORMALIZATIONS)
        raise ValueError(f"unknown normalization {name!r}; expected one of {choices}")


def conv3x3_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    """conv3x3 (with bias, no BN) followed by ReLU: the unit of the U-Net decoder."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1), nn.ReLU(inplace=True)
    )


class UpsampleBlock(nn.Module):
    """U-Net decoder block: bilinear x2 upsample, then two conv3x3+ReLU (no BN)."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            conv3x3_relu(in_channels, mid_channels), conv3x3_relu(mid_channels, out_channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return self.convs(x)


class ResidualBlock(nn.Module):
    """conv3x3 -> LeakyReLU(0.2) -> conv3x3, plus identity (the SRResNet-style block of G_ft)."""

    def __init__(self, channels: int, negative_slope: float = 0.2) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.act = nn.LeakyReLU(negative_slope, inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


class PreActBlock(nn.Module):
    """Pre-activation basic block (He et al. 2016): BN-ReLU-conv3x3-BN-ReLU-conv3x3 + shortcut.

    The projection shortcut, when needed, reads the pre-activated input, as in the CIFAR
    PreActResNet the authors used.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(
            in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False
        )
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Conv2d(
                in_channels, out_channels, kernel_size=1, stride=stride, bias=False
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut
