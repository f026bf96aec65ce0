"""ResNet34 encoder of the attention U-Net G_att, built from torchvision's ResNet blocks.

Stride and channel contract (input N x 3 x S x S, S a multiple of 64; channels at width 1):

| stage  | what                                     | output                 |
| ------ | ---------------------------------------- | ---------------------- |
| stem   | conv7x7/2 + BN + ReLU, then maxpool 2x2/2 | 64 @ S/4  (not returned) |
| layer1 | 3 BasicBlocks                            | 64 @ S/4               |
| layer2 | 4 BasicBlocks, first stride 2            | 128 @ S/8              |
| layer3 | 6 BasicBlocks, first stride 2            | 256 @ S/16             |
| layer4 | 3 BasicBlocks, first stride 2            | 512 @ S/32             |

`forward` returns [layer1, layer2, layer3, layer4]; `out_channels` lists their channel counts
(each scaled by `width`). The stem's 2x2 max-pool replaces torchvision's 3x3/2 one, as in the
FERAtt authors' code; it has no weights, so module names and parameter shapes at width 1 are
exactly those of `torchvision.models.resnet34()` without `fc`, and a torchvision-format state dict
loads as is (no pretrained weights are ever downloaded).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, conv1x1

from feratt.models._state import describe_mismatch
from feratt.models.layers import scaled

_STAGE_CHANNELS = (64, 128, 256, 512)
_STAGE_BLOCKS = (3, 4, 6, 3)
# Classifier weights in a torchvision ResNet34 state dict that the encoder has no use for.
_TORCHVISION_HEAD_KEYS = ("fc.weight", "fc.bias")


def _stage(in_channels: int, out_channels: int, blocks: int, stride: int) -> nn.Sequential:
    """A ResNet stage exactly as torchvision's `ResNet._make_layer` lays it out."""
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(
            conv1x1(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels)
        )
    first = BasicBlock(in_channels, out_channels, stride, downsample)
    return nn.Sequential(
        first, *(BasicBlock(out_channels, out_channels) for _ in range(blocks - 1))
    )


class ResNet34Encoder(nn.Module):
    """ResNet34 feature pyramid for the U-Net (see the module docstring for the contract).

    Args:
        width: channel multiplier (1.0 = torchvision's ResNet34).
        weights: optional path to a torchvision-format ResNet34 state dict (`fc.*` is ignored);
            loaded strictly, so a file for another architecture or width is a clear error.
    """

    def __init__(self, width: float = 1.0, weights: str | Path | None = None) -> None:
        super().__init__()
        channels = [scaled(c, width) for c in _STAGE_CHANNELS]
        self.out_channels = tuple(channels)
        self.conv1 = nn.Conv2d(3, channels[0], kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(channels[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=2, stride=2)
        inputs = [channels[0], *channels[:-1]]
        strides = (1, 2, 2, 2)
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            _stage(i, o, n, s)
            for i, o, n, s in zip(inputs, channels, _STAGE_BLOCKS, strides, strict=True)
        )
        self._init_like_torchvision()
        if weights is not None:
            self.load_torchvision_weights(weights)

    def _init_like_torchvision(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def load_torchvision_weights(self, path: str | Path) -> None:
        """Load a torchvision ResNet34 state dict saved with `torch.save(model.state_dict())`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ResNet34 weights file {path} does not exist")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ValueError(f"{path}: not a readable torch state dict ({err})") from err
        if not isinstance(state, dict):
            raise ValueError(f"{path}: expected a ResNet34 state dict, got {type(state).__name__}")
        state = {k: v for k, v in state.items() if k not in _TORCHVISION_HEAD_KEYS}
        mismatch = describe_mismatch(self.state_dict(), state)
        if mismatch:
            raise ValueError(
                f"{path}: not a torchvision ResNet34 state dict for this encoder "
                f"(stage channels {self.out_channels}): {mismatch}"
            )
        self.load_state_dict(state)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        f1 = self.layer1(x)
        f2 = self.layer2(f1)
        f3 = self.layer3(f2)
        return [f1, f2, f3, self.layer4(f3)]
