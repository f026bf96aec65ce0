"""Every registered model: output shapes, parameter counts, gradients, bf16/channels_last."""

from __future__ import annotations

import pytest
import torch

from feratt import create_model, list_models
from feratt.config import ModelConfig
from feratt.losses import FERAttLoss
from feratt.models import FERAtt

TINY = 0.125  # width multiplier that keeps the tests fast


def test_the_papers_three_models_are_registered() -> None:
    assert {"preactresnet18", "feratt_cls", "feratt_rep_cls"} <= set(list_models())


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("size", [64, 128])
@pytest.mark.parametrize(("num_classes", "channels"), [(7, 1), (8, 3)])
def test_output_shapes(name: str, size: int, num_classes: int, channels: int) -> None:
    model = create_model(
        name,
        num_classes=num_classes,
        embedding_dim=16,
        input_size=size,
        in_channels=channels,
        width=TINY,
    )
    assert model.config == ModelConfig(name, num_classes, 16, size, channels, TINY)
    with torch.no_grad():
        out = model(torch.rand(2, channels, size, size))
    assert out.logits.shape == (2, num_classes)
    attention = name != "preactresnet18"
    assert (out.embedding is not None) == name.startswith("feratt_rep_cls")
    if out.embedding is not None:
        assert out.embedding.shape == (2, 16)
    assert (out.theta is not None) == name.endswith("_stn")
    if out.theta is not None:
        assert out.theta.shape == (2, 2, 3)
    for field in ("attention_image", "attention_map", "features"):
        assert (getattr(out, field) is not None) == attention, field
    if attention:
        assert out.attention_image.shape == (2, 3, size, size)
        assert out.attention_image.min() >= 0  # BN + ReLU output
        assert out.attention_map.shape == (2, num_classes, size, size)
        assert out.features.shape == (2, num_classes, size, size)


def _millions(model: torch.nn.Module) -> float:
    return sum(p.numel() for p in model.parameters()) / 1e6


# The paper's 46.3 M counts the authors' unused ImageNet head of torchvision's resnet34
# (Linear(512, 1000), 513,000 weights), which they kept as a submodule; feratt drops it.
_UNUSED_RESNET34_FC = 0.513


def test_parameter_counts_match_the_paper() -> None:
    rep = create_model("feratt_rep_cls", num_classes=8)
    assert _millions(rep) + _UNUSED_RESNET34_FC == pytest.approx(46.3, rel=0.01)
    assert _millions(rep.attention) == pytest.approx(34.6, rel=0.01)  # G_att "about 35 M"
    assert _millions(rep.classifier) == pytest.approx(11.2, rel=0.01)
    assert _millions(create_model("preactresnet18", num_classes=8)) == pytest.approx(11.2, rel=0.01)
    cls = create_model("feratt_cls", num_classes=8)
    # Rep adds Linear(512 -> 64) and shrinks the head to Linear(64 -> 8).
    extra = (512 * 64 + 64 + 64 * 8 + 8) - (512 * 8 + 8)
    assert round((_millions(rep) - _millions(cls)) * 1e6) == extra


@pytest.mark.parametrize("name", list_models())
def test_attention_modules_and_g_rep_hold_every_weight_once(name: str) -> None:
    model = create_model(name, num_classes=4, width=TINY)
    attention = [p for m in model.attention_modules() for p in m.parameters()]
    ids = [id(p) for p in attention + list(model.classifier.parameters())]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())
    assert (model.localisation in model.attention_modules()) == (name.endswith("stn"))
    assert bool(attention) == model.has_attention


@pytest.mark.parametrize("name", list_models())
def test_backward_reaches_every_parameter(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, num_classes=4, width=TINY)
    if model.localisation is not None:
        # Its last layer starts at zero (the identity transform), which holds back the gradient
        # of the layers before it for the first step only.
        torch.nn.init.normal_(model.localisation.regressor[-1].weight, std=1e-3)
    if model.reconstruction is not None:
        # The residual G_rec's last conv starts at zero too (I_att = I), for the same reason.
        torch.nn.init.normal_(model.reconstruction.layers[-1].weight, std=1e-3)
    images = torch.rand(4, 3, 64, 64)
    theta = torch.tensor([[1.0, 0.0, 0.1], [0.0, 1.0, 0.0]]).expand(4, 2, 3)
    losses = FERAttLoss()(model(images), torch.tensor([0, 1, 2, 1]), images, theta=theta)
    assert ("stn" in losses) == (model.localisation is not None)
    losses["loss"].backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), pname
        assert param.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", list_models())
def test_bf16_autocast_channels_last_matches_fp32(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, num_classes=4, width=TINY).eval()
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        reference = model(images)
        model.to(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fast = model(images.contiguous(memory_format=torch.channels_last))
    assert fast.logits.dtype == torch.bfloat16
    # Within 5% of the logits' spread (bf16 keeps 8 bits of mantissa), and the same ranking.
    spread = float(reference.logits.max() - reference.logits.min())
    assert spread > 0
    torch.testing.assert_close(fast.logits.float(), reference.logits, atol=0.05 * spread, rtol=0)
    assert torch.equal(fast.logits.float().argmax(1), reference.logits.argmax(1))
    if reference.attention_image is not None:
        torch.testing.assert_close(
            fast.attention_image.float(), reference.attention_image, atol=0.02, rtol=0
        )


def test_grey_input_equals_replicated_rgb() -> None:
    torch.manual_seed(0)
    grey = create_model("feratt_rep_cls", in_channels=1, width=TINY).eval()
    rgb = create_model("feratt_rep_cls", in_channels=3, width=TINY).eval()
    rgb.load_state_dict(grey.state_dict())
    image = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(grey(image).logits, rgb(image.expand(-1, 3, -1, -1)).logits)


@pytest.mark.parametrize(
    ("shape", "message"),
    [((2, 3, 64, 64), "expects float images \\(N, 1"), ((2, 1, 96, 96), "divisible by 64")],
)
def test_bad_input_is_a_clear_error(shape: tuple[int, ...], message: str) -> None:
    model = create_model("feratt_cls", in_channels=1, width=TINY)
    with pytest.raises(ValueError, match=message):
        model(torch.rand(shape))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_size": 96}, "multiple of 64"),
        ({"in_channels": 2}, "in_channels must be 1 or 3"),
        ({"num_classes": 1}, "num_classes must be >= 2"),
    ],
)
def test_invalid_config_is_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_model("feratt_rep_cls", width=TINY, **kwargs)


def test_baseline_accepts_any_even_size() -> None:
    model = create_model("preactresnet18", input_size=48, width=TINY)
    assert isinstance(model, FERAtt) and not model.has_attention
    assert model(torch.rand(2, 3, 48, 48)).logits.shape == (2, 8)


@pytest.mark.parametrize("name", ["feratt_rep_cls", "feratt_rep_cls_stn"])
def test_residual_reconstruction_starts_as_the_input_and_detaching_stops_cls(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, num_classes=4, width=TINY)
    images = torch.rand(2, 3, 64, 64)
    output = model(images)
    torch.testing.assert_close(output.attention_image, images.clamp(1e-3, 1 - 1e-3))
    torch.nn.init.normal_(model.reconstruction.layers[-1].weight, std=1e-2)
    for detach in (False, True):
        model.zero_grad()
        model(images, detach_attention=detach).logits.sum().backward()
        reached = model.reconstruction.layers[-1].weight.grad
        assert (reached is None or reached.abs().sum() == 0) == detach
        assert model.classifier.fc.weight.grad.abs().sum() > 0


def test_attention_weight_blends_g_rep_input_from_the_image_to_the_attention_image() -> None:
    torch.manual_seed(0)
    model = create_model("feratt_rep_cls", num_classes=4, width=TINY).eval()
    torch.nn.init.normal_(model.reconstruction.layers[-1].weight, std=0.5)  # I_att != I
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        on_image = model.forward_classifier(images).logits
        blended = model(images, attention_weight=0.25)
        on_attention = model(images).logits
        expected = model._classify(torch.lerp(images, blended.attention_image, 0.25)).logits
        torch.testing.assert_close(model(images, attention_weight=0.0).logits, on_image)
    torch.testing.assert_close(blended.logits, expected)
    assert not torch.allclose(on_attention, on_image, atol=1e-3)


def test_paper_reconstruction_and_normaliser_are_the_authors_layers() -> None:
    model = create_model(
        "feratt_rep_cls", num_classes=4, width=TINY, reconstruction="paper", normalization="cifar"
    )
    assert isinstance(model.reconstruction.layers[-2], torch.nn.BatchNorm2d)
    x = torch.rand(1, 3, 4, 4)
    mean = torch.tensor((0.4914, 0.4822, 0.4465)).view(1, 3, 1, 1)
    std = torch.tensor((0.2023, 0.1994, 0.2010)).view(1, 3, 1, 1)
    # The authors' normalize_layer: x * s / 0.5 + (m - 0.5) / 0.5.
    torch.testing.assert_close(model.classifier_normalize(x), x * std / 0.5 + (mean - 0.5) / 0.5)
