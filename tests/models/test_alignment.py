"""Moment alignment (`model.alignment=moments`): the affine it computes from a face mask undoes the
compositor's test-mode warp on real CK+48 faces, and the models accept and refuse it properly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from feratt import create_model
from feratt.data import open_dataset
from feratt.data.compositing import (
    Compositor,
    CompositorConfig,
    invert_affine,
    load_backgrounds,
)
from feratt.data.preparation import ELLIPSE_AXES, ELLIPSE_CENTRE, ellipse_mask, prepare_faces
from feratt.engine.attention_grid import attention_grid
from feratt.engine.evaluate import predict_all
from feratt.models.alignment import (
    CANONICAL_AXES,
    CANONICAL_CENTRE,
    attention_face,
    moment_alignment,
)
from feratt.models.stn import apply_affine

SIZE = 64


def _canonical_mask(n: int = 1) -> torch.Tensor:
    return torch.from_numpy(ellipse_mask(SIZE).copy()).float().expand(n, 1, SIZE, SIZE)


def test_the_canonical_frame_is_the_prepared_crops_ellipse() -> None:
    assert (CANONICAL_CENTRE, CANONICAL_AXES) == (ELLIPSE_CENTRE, ELLIPSE_AXES)
    theta = moment_alignment(_canonical_mask(2))
    assert torch.allclose(theta, torch.eye(2, 3).expand(2, 2, 3), atol=0.05)


def test_a_mask_too_small_to_measure_gives_the_identity() -> None:
    masks = torch.zeros(2, 1, SIZE, SIZE)
    masks[1, 0, 30:33, 30:33] = 1.0  # 9 pixels, under 1% of the frame
    assert torch.equal(moment_alignment(masks), torch.eye(2, 3).expand(2, 2, 3))


@pytest.fixture(scope="module")
def composites(ckplus48_dir: Path, backgrounds_dir: Path):
    """48 real CK+48 faces (every 20th) composited by the test-mode compositor, with their
    original faces on black."""
    prepared = prepare_faces(open_dataset(ckplus48_dir), size=SIZE).subset(np.arange(0, 981, 20))
    faces = torch.from_numpy(prepared.faces)
    masks = torch.from_numpy(prepared.masks)
    compositor = Compositor(
        load_backgrounds(backgrounds_dir, size=96), CompositorConfig(size=SIZE, mode="test")
    )
    batch = compositor(faces, masks, None, torch.Generator().manual_seed(0))
    original = faces.float() / 255 * masks[:, None]
    return batch, original, masks[:, None].float()


def _face_error(images: torch.Tensor, original: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference over each original face region, one value per face."""
    return ((images - original).abs() * masks).sum((1, 2, 3)) / masks.sum((1, 2, 3))


def _face_correlation(
    images: torch.Tensor, original: torch.Tensor, masks: torch.Tensor
) -> torch.Tensor:
    """Pearson correlation with the original face over its region, one value per face."""

    def centred(x: torch.Tensor) -> torch.Tensor:
        mean = (x * masks).sum((1, 2, 3), keepdim=True) / masks.sum((1, 2, 3), keepdim=True)
        return ((x - mean) * masks).flatten(1)

    a, b = centred(images), centred(original)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + 1e-8)


def _overlap(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Intersection over union of two soft masks cut at 0.5."""
    return ((a > 0.5) & (b > 0.5)).sum() / ((a > 0.5) | (b > 0.5)).sum()


def test_moments_of_the_mask_undo_the_test_warp_on_real_faces(composites) -> None:
    batch, original, masks = composites
    clean = batch.clean[:, :1]
    aligned = apply_affine(clean, moment_alignment(batch.mask.float()))
    before = _face_error(clean, original, masks)
    after = _face_error(aligned, original, masks)
    # The floor: the compositor's own warp undone (faces partly pushed out of the frame stay lost).
    oracle = _face_error(apply_affine(clean, invert_affine(batch.theta)), original, masks)
    assert before.median() > 1.5 * oracle.median()
    assert after.median() < 1.1 * oracle.median()
    assert (after < before).float().mean() > 0.85
    # Content, not just the outline: the aligned face correlates with the original (0.17 here,
    # 0.47 for the oracle, which also undoes the mirror; 0.09 upside down, 0.00 unaligned).
    assert _face_correlation(clean, original, masks).median() < 0.05
    assert _face_correlation(aligned, original, masks).median() > 0.13
    mask = batch.mask.float()
    assert _overlap(apply_affine(mask, moment_alignment(mask)), masks) > 0.8
    assert _overlap(mask, masks) < 0.6


def test_an_aligned_model_classifies_the_aligned_attention_image() -> None:
    torch.manual_seed(0)
    kwargs = {"num_classes": 3, "in_channels": 1, "width": 0.0625}
    plain = create_model("feratt_rep_cls", **kwargs).eval()
    aligned = create_model("feratt_rep_cls", alignment="moments", **kwargs).eval()
    aligned.load_state_dict(plain.state_dict())
    x = torch.rand(2, 1, SIZE, SIZE)
    with torch.no_grad():
        a, b = plain(x), aligned(x)
        face = attention_face(b.attention_map)
        expected = aligned._classify(apply_affine(b.attention_image, moment_alignment(face)))
    assert torch.equal(a.attention_image, b.attention_image)
    assert torch.allclose(b.logits, expected.logits, atol=1e-5)
    # A training schedule's teacher: the given mask, not G_att's, sets the alignment.
    mask = _canonical_mask(2).roll(shifts=(6, -5), dims=(2, 3))
    with torch.no_grad():
        taught = aligned(x, face_mask=mask)
        expected = aligned._classify(apply_affine(b.attention_image, moment_alignment(mask)))
    assert torch.allclose(taught.logits, expected.logits, atol=1e-5)
    assert not torch.allclose(taught.logits, b.logits, atol=1e-3)


def test_reports_show_what_g_rep_classifies_beside_i_att() -> None:
    """The evaluation plots and the training grid get a column of aligned I_att."""
    torch.manual_seed(0)
    kwargs = {"num_classes": 3, "in_channels": 1, "width": 0.0625}
    plain = create_model("feratt_rep_cls", **kwargs)
    aligned = create_model("feratt_rep_cls", alignment="moments", **kwargs)
    x = torch.rand(2, 1, SIZE, SIZE)
    shown = predict_all(aligned, x, 2, keep_attention=True)
    assert shown.aligned_images.shape == (2, 3, SIZE, SIZE)
    assert predict_all(plain, x, 2, keep_attention=True).aligned_images is None
    widths = [attention_grid(model, x).shape[-1] for model in (plain, aligned)]
    assert widths == [3 * (SIZE + 2) + 2, 4 * (SIZE + 2) + 2]


@pytest.mark.parametrize(
    ("name", "alignment", "message"),
    [
        ("feratt_rep_cls", "corners", "alignment must be one of none, moments, got 'corners'"),
        ("feratt_rep_cls_stn", "moments", "pick one"),
    ],
)
def test_a_wrong_alignment_is_refused_with_the_reason(name, alignment, message) -> None:
    with pytest.raises(ValueError, match=message):
        create_model(name, num_classes=3, width=0.0625, alignment=alignment)
