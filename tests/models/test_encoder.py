"""ResNet34Encoder: the stride/channel contract and torchvision state-dict compatibility."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from feratt.models import ResNet34Encoder


def test_stage_shapes_follow_the_contract() -> None:
    encoder = ResNet34Encoder().eval()
    with torch.no_grad():
        stages = encoder(torch.rand(1, 3, 64, 64))
    assert [tuple(s.shape[1:]) for s in stages] == [
        (64, 16, 16),
        (128, 8, 8),
        (256, 4, 4),
        (512, 2, 2),
    ]
    assert encoder.out_channels == (64, 128, 256, 512)
    assert ResNet34Encoder(width=0.25).out_channels == (16, 32, 64, 128)


def test_layout_is_torchvisions_resnet34_without_fc() -> None:
    ours = {k: v.shape for k, v in ResNet34Encoder().state_dict().items()}
    theirs = {k: v.shape for k, v in torchvision.models.resnet34(weights=None).state_dict().items()}
    assert ours == {k: v for k, v in theirs.items() if not k.startswith("fc.")}


def test_loads_a_torchvision_state_dict_file(tmp_path: Path) -> None:
    resnet = torchvision.models.resnet34(weights=None)
    path = tmp_path / "resnet34.pth"
    torch.save(resnet.state_dict(), path)
    encoder = ResNet34Encoder(weights=path)
    torch.testing.assert_close(encoder.layer3[2].conv1.weight, resnet.layer3[2].conv1.weight)


def test_wrong_weights_are_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(ValueError, match=r"resnet18\.pth.*missing keys \(\d+\): layer1\.2"):
        ResNet34Encoder(weights=path)
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        ResNet34Encoder(weights=tmp_path / "absent.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="junk.pth: not a readable torch state dict"):
        ResNet34Encoder(weights=junk)
