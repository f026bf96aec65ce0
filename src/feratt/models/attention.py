"""G_att: the attention U-Net over a ResNet34 encoder, producing one attention logit map per class.

Decoder (SPEC section 1, channels at width 1, input 64x64): the encoder's layer4 is max-pooled to
1x1, then six blocks of bilinear x2 upsample + two conv3x3+ReLU, concatenating layer4..layer1:
center 512->512->256 @2, dec5 512+256->512->256 @4, dec4 256+256->512->256 @8,
dec3 128+256->256->64 @16, dec2 64+64->128->128 @32, dec1 128->128->32 @64; then a head
conv3x3(32->32)+ReLU, conv1x1(32->K). At reduced widths no decoder layer has fewer than 8
channels (MIN_PLAIN_CHANNELS): without BN, 4-channel layers died and G_att never learnt.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from feratt.models.encoder import ResNet34Encoder
from feratt.models.layers import MIN_PLAIN_CHANNELS, UpsampleBlock, conv3x3_relu, scaled


class AttentionUNet(nn.Module):
    """Attention U-Net G_att: normalised image (N, 3, S, S) -> attention logits A (N, K, S, S).

    Args:
        num_classes: K, one attention map per class.
        width: channel multiplier for the encoder and decoder (1.0 = the paper's).
        encoder_weights: optional torchvision ResNet34 state dict file for the encoder.
    """

    def __init__(
        self, num_classes: int, width: float = 1.0, encoder_weights: str | Path | None = None
    ) -> None:
        super().__init__()
        self.encoder = ResNet34Encoder(width, weights=encoder_weights)
        e1, e2, e3, e4 = self.encoder.out_channels
        c32, c64, c128, c256, c512 = (
            scaled(c, width, MIN_PLAIN_CHANNELS) for c in (32, 64, 128, 256, 512)
        )
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.center = UpsampleBlock(e4, c512, c256)
        self.dec5 = UpsampleBlock(e4 + c256, c512, c256)
        self.dec4 = UpsampleBlock(e3 + c256, c512, c256)
        self.dec3 = UpsampleBlock(e2 + c256, c256, c64)
        self.dec2 = UpsampleBlock(e1 + c64, c128, c128)
        self.dec1 = UpsampleBlock(c128, c128, c32)
        self.head = nn.Sequential(conv3x3_relu(c32, c32), nn.Conv2d(c32, num_classes, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f1, f2, f3, f4 = self.encoder(x)
        y = self.center(self.pool(f4))
        y = self.dec5(torch.cat([y, f4], dim=1))
        y = self.dec4(torch.cat([y, f3], dim=1))
        y = self.dec3(torch.cat([y, f2], dim=1))
        y = self.dec2(torch.cat([y, f1], dim=1))
        return self.head(self.dec1(y))
