"""PreActResNet18 with the CIFAR stem: the representation/classification network G_rep.

Input (N, 3, s, s) with s = 32 in the paper (any size works: global average pooling);
stem conv3x3 stride 1; stages of [2, 2, 2, 2] pre-activation blocks at 64/128/256/512 channels
(strides 1, 2, 2, 2); global average pool -> 512; optional embedding Linear(512 -> d) = z; then
Linear(-> K). timm-style `forward_features` / `forward_head(pre_logits=...)` split the two halves.
"""

from __future__ import annotations

import torch
from torch import nn

from feratt.models.layers import PreActBlock, scaled

_STAGE_CHANNELS = (64, 128, 256, 512)
_STAGE_STRIDES = (1, 2, 2, 2)


def _stage(in_channels: int, out_channels: int, blocks: int, stride: int) -> nn.Sequential:
    first = PreActBlock(in_channels, out_channels, stride)
    return nn.Sequential(
        first, *(PreActBlock(out_channels, out_channels) for _ in range(blocks - 1))
    )


class PreActResNet(nn.Module):
    """Pre-activation ResNet for small images, with an optional embedding layer before the logits.

    Args:
        num_classes: K.
        blocks: pre-activation blocks per stage ((2, 2, 2, 2) = PreActResNet18).
        embedding_dim: d of the embedding z = Linear(512 -> d); None for a plain classifier.
        width: channel multiplier (1.0 = 64..512).
        in_channels: channels of the input image.
    """

    def __init__(
        self,
        num_classes: int,
        blocks: tuple[int, ...] = (2, 2, 2, 2),
        embedding_dim: int | None = None,
        width: float = 1.0,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        channels = [scaled(c, width) for c in _STAGE_CHANNELS]
        self.conv1 = nn.Conv2d(in_channels, channels[0], kernel_size=3, padding=1, bias=False)
        inputs = [channels[0], *channels[:-1]]
        stages = (
            _stage(i, o, n, s)
            for i, o, n, s in zip(inputs, channels, blocks, _STAGE_STRIDES, strict=True)
        )
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.num_features = channels[-1]
        self.embedding_dim = embedding_dim
        self.embedding = (
            nn.Identity() if embedding_dim is None else nn.Linear(channels[-1], embedding_dim)
        )
        self.fc = nn.Linear(channels[-1] if embedding_dim is None else embedding_dim, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Unpooled feature map of the last stage, (N, 512 * width, s/8, s/8)."""
        x = self.conv1(x)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool and project: the embedding z (or pooled features) if `pre_logits`, else logits."""
        z = self.embedding(features.mean(dim=(2, 3)))
        return z if pre_logits else self.fc(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
