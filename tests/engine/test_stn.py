"""The STN variant: identity start, theta targets that undo the compositor's and the
augmentation's warps on real CK+48 faces, and a training run that logs L_stn."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from training_replay import StepRecorder, replayed_cls, replayed_stn, weights_changed

from feratt import create_model
from feratt.checkpoint import load_checkpoint
from feratt.config import ExperimentConfig
from feratt.data.batches import FaceTensors, stream_seed
from feratt.engine.datamodule import FERAttDataModule
from feratt.engine.train import fit
from feratt.models.layers import Normalize
from feratt.models.stn import LocalisationNet, apply_affine

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
    assert batch.theta.shape == (24, 2, 3)
    assert not torch.allclose(batch.theta, batch.theta[:1])  # a warp of its own each

    # The faces of that batch: train_batch draws them first from the (seed, stream 0, rank 0,
    # step 0) generator.
    tensors = FaceTensors.from_prepared(data.faces["train"])
    index = tensors.balanced_sample(24, torch.Generator().manual_seed(stream_seed(3, 0, 0, 0)))
    assert torch.equal(tensors.labels[index], batch.label)
    dark = (tensors.faces[index].float() / 255 * tensors.masks[index, None]).expand(-1, 3, -1, -1)

    back = apply_affine(batch.clean, batch.theta)
    # Mirroring is left in (a mirrored face is a face): each image comes back as its face or
    # the face's mirror image. Compare where both show the face: the compositor's mask
    # clean-up erodes the border.
    errors, shown = [], []
    for i in range(len(back)):
        candidates = []
        for target in (dark[i], dark[i].flip(-1)):
            both = (back[i] > 0.02) & (target > 0.02)
            candidates.append(((back[i] - target).abs()[both].mean().item(), both, target))
        error, both, target = min(candidates, key=lambda c: c[0])
        errors.append(error)
        shown.append(both.float().mean().item())
    assert min(shown) > 0.2
    assert np.mean(errors) < 0.05, errors
    straight = [(batch.clean[i] - dark[i]).abs().mean().item() for i in range(len(back))]
    assert np.mean(straight) > 3 * np.mean(errors), (straight, errors)


def test_a_localisation_net_learns_the_warps_of_composited_ckplus48_faces(
    tiny_config: Callable[..., ExperimentConfig],
) -> None:
    """The theta targets are learnable: L_stn of a localisation net on clean composited faces
    falls well below its identity start within 150 Adam steps."""
    torch.manual_seed(0)
    config = tiny_config("data.mode=synthetic", "data.batch_size=32")
    data = FERAttDataModule(config.data, seed=0)
    data.setup("fit")
    net, normalize = LocalisationNet(), Normalize()
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for step in range(150):
        batch = data.train_batch(step, CPU)
        loss = F.mse_loss(net(normalize(batch.clean)), batch.theta)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert np.mean(losses[-25:]) < 0.6 * np.mean(losses[:5]), (losses[:5], losses[-25:])


@pytest.mark.slow
def test_fit_logs_the_stn_loss(tiny_config: Callable[..., ExperimentConfig]) -> None:
    """Training the STN variant moves its localisation net, and the logged train/stn is L_stn of
    the two steps replayed: each step's model's theta against its batch's target theta."""
    config = tiny_config("model.name=feratt_rep_cls_stn", "data.mode=mixed")
    recorder = StepRecorder()
    result = fit(config, callbacks=[recorder])
    assert len(recorder.steps) == 2
    assert result.metrics["train/stn"] == pytest.approx(replayed_stn(recorder), rel=1e-4)
    assert result.metrics["train/cls"] == pytest.approx(replayed_cls(recorder), rel=1e-4)
    trained = load_checkpoint(result.last_checkpoint).model
    changed = weights_changed(recorder.steps[0][0], trained)
    assert {"localisation.regressor.2.weight", "localisation.regressor.2.bias"} <= set(changed)
    assert result.metrics["val/stn"] > 0
