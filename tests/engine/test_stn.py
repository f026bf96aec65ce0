"""The STN variant: identity start, theta targets that undo the compositor's and the
augmentation's warps on real CK+48 faces, and a training run that logs L_stn."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from feratt import create_model
from feratt.config import ExperimentConfig
from feratt.engine.datamodule import FaceTensors, FERAttDataModule, stream_seed
from feratt.engine.train import fit
from feratt.models.stn import apply_affine

CPU = torch.device("cpu")


def test_the_stn_variant_starts_as_the_identity() -> None:
    torch.manual_seed(0)
    model = create_model("feratt_rep_cls_stn", num_classes=7, width=0.125).eval()
    with torch.no_grad():
        out = model(torch.rand(3, 3, 64, 64))
        identity = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).expand(3, 2, 3)
        torch.testing.assert_close(out.theta, identity)
        resampled = apply_affine(out.attention_image, out.theta)
    torch.testing.assert_close(resampled, out.attention_image, atol=1e-5, rtol=0)


@pytest.mark.parametrize("mode", ["synthetic", "real"])
def test_theta_targets_take_images_back_to_the_face_frame(
    tiny_config: Callable[..., ExperimentConfig], mode: str
) -> None:
    """Resampling a training batch's clean face through its theta gives back the prepared dark
    face (the compositor warps by up to 30 degrees, the augmentation by up to 10)."""
    config = tiny_config(f"data.mode={mode}", "data.batch_size=24")
    data = FERAttDataModule(config.data, seed=3)
    data.setup("fit")
    batch = data.train_batch(0, CPU)
    assert batch["theta"].shape == (24, 2, 3)
    assert not torch.allclose(batch["theta"], batch["theta"][:1])  # a warp of its own each

    # The faces of that batch: train_batch draws them first from the (seed, stream 0, rank 0,
    # step 0) generator.
    tensors = FaceTensors.from_prepared(data.faces["train"])
    index = tensors.balanced_sample(24, torch.Generator().manual_seed(stream_seed(3, 0, 0, 0)))
    assert torch.equal(tensors.labels[index], batch["label"])
    dark = (tensors.faces[index].float() / 255 * tensors.masks[index, None]).expand(-1, 3, -1, -1)

    back = apply_affine(batch["clean"], batch["theta"])
    # Compare where both show the face: the compositor's mask clean-up erodes the border.
    both = (back > 0.02) & (dark > 0.02)
    error = (back - dark).abs()[both].mean().item()
    unaligned = (batch["clean"] - dark).abs()[both].mean().item()
    assert both.float().mean() > 0.3
    assert error < 0.05, error
    assert unaligned > 5 * error, (unaligned, error)


@pytest.mark.slow
def test_fit_logs_the_stn_loss(tiny_config: Callable[..., ExperimentConfig]) -> None:
    config = tiny_config("model.name=feratt_rep_cls_stn", "data.mode=mixed")
    result = fit(config)
    for stage in ("train", "val"):
        assert np.isfinite(result.metrics[f"{stage}/stn"])
