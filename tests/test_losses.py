"""FERAtt losses against float64 references written directly from the SPEC formulas."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from feratt.losses import FERAttLoss, attention_loss, mask_loss, structural_loss
from feratt.models.output import FERAttOutput


def reference_structural(
    z: torch.Tensor, y: list[int], sigma: float, detach_means: bool = False
) -> torch.Tensor:
    """SPEC 2, loop by loop: means over present classes, softmax, squared error to one-hot."""
    present = sorted(set(y))
    means = {}
    for c in present:
        members = [z[i] for i in range(len(y)) if y[i] == c]
        mean = sum(members) / len(members)
        means[c] = mean.detach() if detach_means else mean
    total = 0.0
    for i in range(len(y)):
        scores = {c: torch.exp(-((z[i] - means[c]) ** 2).sum() / (2 * sigma**2)) for c in present}
        normaliser = sum(scores.values())
        total = total + sum((scores[c] / normaliser - float(y[i] == c)) ** 2 for c in present)
    return total / len(y)


@pytest.mark.parametrize(
    "labels",
    [
        [0, 1, 2, 3, 4, 5, 6, 7, 0, 1],  # every class
        [0, 0, 3, 3, 3, 6],  # classes 1, 2, 4, 5, 7 absent
        [2, 2, 2, 2],  # a single class
    ],
)
@pytest.mark.parametrize("sigma", [0.5, 2.0])
def test_structural_loss_matches_float64_reference(labels: list[int], sigma: float) -> None:
    torch.manual_seed(0)
    z = torch.randn(len(labels), 5, dtype=torch.float64) * 0.7
    expected = reference_structural(z, labels, sigma)
    got = structural_loss(z.float(), torch.tensor(labels), num_classes=8, sigma=sigma)
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(expected.item(), rel=1e-5, abs=1e-7)


def test_single_class_batch_has_zero_structural_loss() -> None:
    z = torch.randn(4, 3)
    assert structural_loss(z, torch.tensor([5, 5, 5, 5]), num_classes=8).item() == 0.0


def test_structural_gradient_flows_through_class_means() -> None:
    torch.manual_seed(1)
    labels = [0, 0, 1, 1, 2]
    # Small spread, so the posteriors are soft and the gradients sizeable.
    z = (torch.randn(5, 4, dtype=torch.float64) * 0.3).requires_grad_()
    (grad,) = torch.autograd.grad(structural_loss(z, torch.tensor(labels), 3), z)
    (with_means,) = torch.autograd.grad(reference_structural(z, labels, 0.5), z)
    (detached,) = torch.autograd.grad(reference_structural(z, labels, 0.5, detach_means=True), z)
    torch.testing.assert_close(grad, with_means, rtol=1e-4, atol=1e-6)
    assert (with_means - detached).abs().max() > 0.1 * with_means.abs().max() > 0


@pytest.mark.parametrize("scale", [1e4, 0.0])
def test_structural_loss_is_finite_on_extreme_embeddings(scale: float) -> None:
    # scale 1e4: clusters 1e4 apart (posteriors saturate); 0: all embeddings identical.
    z = (torch.tensor([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]]) * scale).requires_grad_()
    labels = torch.tensor([0, 0, 1, 2])
    for mixup_alpha in (None, 2.0):
        loss = structural_loss(z, labels, 3, mixup_alpha=mixup_alpha)
        (grad,) = torch.autograd.grad(loss, z)
        assert torch.isfinite(loss) and torch.isfinite(grad).all()
    expected = 0.0 if scale else 2 / 3  # identical: p = 1/3 for each of the 3 present classes
    assert structural_loss(z, labels, 3).item() == pytest.approx(expected, abs=1e-6)


def test_mixup_scores_soft_labelled_mixtures() -> None:
    torch.manual_seed(0)
    # Two tight, far-apart clusters: hard samples are classified perfectly, the mixtures
    # (between clusters) get soft targets that a nearest-mean posterior cannot match exactly.
    z = torch.cat([torch.zeros(4, 2), torch.full((4, 2), 3.0)])
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    assert structural_loss(z, labels, 2).item() == pytest.approx(0.0, abs=1e-6)
    mixed = structural_loss(z, labels, 2, mixup_alpha=2.0)
    assert 0.0 < mixed.item() < 1.0
    same_class = torch.tensor([1] * 8)
    assert structural_loss(z, same_class, 2, mixup_alpha=2.0).item() == pytest.approx(0.0)


def test_attention_loss_matches_formula() -> None:
    torch.manual_seed(0)
    clean, att = torch.rand(2, 3, 8, 8, dtype=torch.float64), torch.rand(2, 3, 8, 8)
    expected = (
        5
        * sum(
            math.tanh(3 * abs(a - b))
            for a, b in zip(clean.flatten().tolist(), att.flatten().tolist(), strict=True)
        )
        / clean.numel()
    )
    assert attention_loss(att, clean).item() == pytest.approx(expected, rel=1e-5)
    grey = clean[:, :1]  # 1-channel I_org broadcasts over the 3 attention channels
    assert attention_loss(att, grey).item() == pytest.approx(
        attention_loss(att, grey.expand(-1, 3, -1, -1)).item()
    )


def _output(with_attention: bool, with_embedding: bool) -> FERAttOutput:
    torch.manual_seed(0)
    return FERAttOutput(
        logits=torch.randn(4, 3),
        embedding=torch.randn(4, 6) if with_embedding else None,
        attention_image=torch.rand(4, 3, 8, 8) if with_attention else None,
    )


@pytest.mark.parametrize(
    ("attention", "embedding", "terms"),
    [
        (False, False, {"cls"}),
        (True, False, {"cls", "att"}),
        (True, True, {"cls", "att", "rep"}),
    ],
)
def test_ferattloss_terms_and_total(attention: bool, embedding: bool, terms: set[str]) -> None:
    output = _output(attention, embedding)
    target, clean = torch.tensor([0, 1, 2, 1]), torch.rand(4, 3, 8, 8)
    losses = FERAttLoss()(output, target, clean)
    assert set(losses) == terms | {"loss"}
    assert losses["cls"].item() == pytest.approx(F.cross_entropy(output.logits, target).item())
    assert losses["loss"].item() == pytest.approx(sum(losses[t].item() for t in terms))
    if attention:  # without I_org there is no attention term
        assert "att" not in FERAttLoss()(output, target)


def test_ferattloss_mixup_changes_only_the_rep_term() -> None:
    output, target, clean = _output(True, True), torch.tensor([0, 1, 2, 1]), torch.rand(4, 3, 8, 8)
    plain = FERAttLoss()(output, target, clean)
    mixed = FERAttLoss(mixup=True)(output, target, clean)
    assert set(mixed) == set(plain)
    assert mixed["cls"] == plain["cls"] and mixed["att"] == plain["att"]
    assert mixed["rep"] != plain["rep"] and torch.isfinite(mixed["rep"])


def test_ferattloss_handles_bf16_outputs() -> None:
    output = _output(True, True)
    output.logits, output.embedding = output.logits.bfloat16(), output.embedding.bfloat16()
    output.attention_image = output.attention_image.bfloat16()
    losses = FERAttLoss()(output, torch.tensor([0, 1, 2, 1]), torch.rand(4, 3, 8, 8))
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in losses.values())


def reference_leave_one_out(z: torch.Tensor, y: list[int], sigma: float) -> torch.Tensor:
    """L_rep with each sample's own class mean taken over the other members of its class;
    samples alone in their class are skipped."""
    total, scored = 0.0, 0
    for i in range(len(y)):
        means = {}
        for c in sorted(set(y)):
            members = [z[j] for j in range(len(y)) if y[j] == c and (c != y[i] or j != i)]
            if members:
                means[c] = sum(members) / len(members)
        if y[i] not in means:
            continue
        scores = {c: torch.exp(-((z[i] - m) ** 2).sum() / (2 * sigma**2)) for c, m in means.items()}
        normaliser = sum(scores.values())
        total = total + sum((s / normaliser - float(y[i] == c)) ** 2 for c, s in scores.items())
        scored += 1
    return total / scored


def test_leave_one_out_structural_loss_matches_reference() -> None:
    torch.manual_seed(2)
    labels = [0, 0, 0, 1, 1, 2, 3, 3]  # class 2 has a single member: that row is skipped
    z = (torch.randn(len(labels), 4, dtype=torch.float64) * 0.6).requires_grad_()
    expected = reference_leave_one_out(z, labels, 0.7)
    got = structural_loss(z, torch.tensor(labels), 5, sigma=0.7, means="leave_one_out")
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)
    (grad,) = torch.autograd.grad(got, z)
    (reference_grad,) = torch.autograd.grad(expected, z)
    torch.testing.assert_close(grad, reference_grad, rtol=1e-5, atol=1e-8)


def test_detached_means_match_the_reference_gradient() -> None:
    torch.manual_seed(3)
    labels = [0, 0, 1, 1, 2]
    z = (torch.randn(5, 4, dtype=torch.float64) * 0.3).requires_grad_()
    (grad,) = torch.autograd.grad(structural_loss(z, torch.tensor(labels), 3, means="detached"), z)
    (expected,) = torch.autograd.grad(reference_structural(z, labels, 0.5, detach_means=True), z)
    torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-6)


def test_normalised_structural_loss_ignores_the_embedding_scale() -> None:
    torch.manual_seed(4)
    z, labels = torch.randn(12, 6), torch.randint(0, 4, (12,))
    small = structural_loss(z, labels, 4, normalize=True)
    assert structural_loss(z * 50, labels, 4, normalize=True).item() == pytest.approx(small.item())
    expected = reference_structural(F.normalize(z.double(), dim=1), labels.tolist(), 0.5)
    assert small.item() == pytest.approx(expected.item(), rel=1e-5)
    # Raw embeddings 50x further apart saturate the posteriors; normalised ones do not.
    assert structural_loss(z * 50, labels, 4).item() != pytest.approx(small.item(), rel=0.1)


def test_batch_mixup_draws_one_coefficient_for_the_whole_batch() -> None:
    # One-hot embeddings of classes 0 and 1: with one lam per batch, every mixed row of two
    # different classes lies at the same point, so its posterior row repeats exactly.
    z = torch.tensor([[1.0, 0.0]] * 4 + [[0.0, 1.0]] * 4)
    labels = torch.tensor([0] * 4 + [1] * 4)
    torch.manual_seed(0)
    batch = structural_loss(z, labels, 2, sigma=1.0, mixup_alpha=2.0, mixup_lambda="batch")
    torch.manual_seed(0)
    pair = structural_loss(z, labels, 2, sigma=1.0, mixup_alpha=2.0, mixup_lambda="pair")
    assert batch.item() != pytest.approx(pair.item())
    with pytest.raises(ValueError, match="mixup_lambda"):
        structural_loss(z, labels, 2, mixup_alpha=2.0, mixup_lambda="row")


def test_ferattloss_weights_the_total_but_logs_raw_terms() -> None:
    output, target, clean = _output(True, True), torch.tensor([0, 1, 2, 1]), torch.rand(4, 3, 8, 8)
    plain = FERAttLoss()(output, target, clean)
    weighted = FERAttLoss(att_weight=0.25, rep_weight=0.5)(output, target, clean)
    assert weighted["att"] == plain["att"] and weighted["rep"] == plain["rep"]
    expected = plain["cls"] + 0.25 * plain["att"] + 0.5 * plain["rep"]
    assert weighted["loss"].item() == pytest.approx(expected.item())


def test_mask_loss_scores_the_attention_maps_against_the_face_on_black() -> None:
    clean = torch.zeros(2, 3, 8, 8)
    clean[0, :, 1:4, 1:4], clean[1, :, 4:8, 3:7] = 0.4, 0.7  # two faces, off centre
    face = clean.amax(1, keepdim=True) > 0
    maps = torch.randn(2, 5, 8, 8)
    expected = F.binary_cross_entropy_with_logits(maps, face.float().expand(-1, 5, -1, -1))
    assert mask_loss(maps, clean).item() == pytest.approx(expected.item())
    on_the_face = torch.where(face, 8.0, -8.0).expand(-1, 5, -1, -1)
    centred = torch.full((2, 5, 8, 8), -8.0)
    centred[..., 2:6, 2:6] = 8.0  # a centred prior, the same for every image
    assert mask_loss(on_the_face, clean) < 1e-3 < 1.0 < mask_loss(centred, clean)

    output = FERAttOutput(logits=torch.randn(2, 3), attention_image=torch.rand(2, 3, 8, 8),
                          attention_map=maps)  # fmt: skip
    target = torch.tensor([0, 1])
    assert "mask" not in FERAttLoss()(output, target, clean)  # the paper's losses by default
    plain, weighted = (
        FERAttLoss()(output, target, clean),
        FERAttLoss(mask_weight=0.5)(output, target, clean),
    )
    assert weighted["mask"].item() == pytest.approx(expected.item())
    assert weighted["loss"].item() == pytest.approx((plain["loss"] + 0.5 * expected).item())
