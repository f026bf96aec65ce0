"""FERAtt (Marrero Fernandez et al., CVPRW 2019): attention, feature, reconstruction and
representation modules composed into one network, and the registered builders of the paper's three
models (`preactresnet18`, `feratt_cls`, `feratt_rep_cls`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from feratt.config import ModelConfig
from feratt.models._registry import register_model
from feratt.models.alignment import ALIGNMENTS, attention_face, moment_alignment
from feratt.models.attention import AttentionUNet
from feratt.models.layers import CLASSIFIER_NORMALIZATIONS, Normalize
from feratt.models.output import FERAttOutput
from feratt.models.preactresnet import PreActResNet
from feratt.models.reconstruction import RECONSTRUCTIONS, FeatureExtractor, ReconstructionHead
from feratt.models.stn import LocalisationNet, apply_affine

# The encoder's stride 32 plus the U-Net's max-pool to the 1x1 center.
_ATTENTION_SIZE_MULTIPLE = 64


class FERAtt(nn.Module):
    """The FERAtt network; without the attention modules it is the PreActResNet18 baseline.

    Input: float images in [0, 1], (N, C, S, S) with C = config.in_channels (grey is replicated
    to 3 channels) and S a multiple of 64 (of 2 for the baseline). Normalisation happens inside.
    Forward (SPEC section 1): A = G_att(I), F = G_ft(I), M = sigmoid(A) * F,
    I_att = G_rec(M, I, A); G_rep classifies I_att (the baseline: I) average-pooled to S/2.
    The STN variant first resamples I_att through the theta its localisation net predicts;
    ``config.alignment = "moments"`` through the theta the moments of sigmoid(A) give.

    Args:
        config: the ModelConfig this network was built from (kept as `.config`).
        classifier: G_rep; its embedding layer, if any, gives `FERAttOutput.embedding`.
        attention, features, reconstruction: G_att, G_ft, G_rec; all three or none.
        localisation: the STN variant's localisation net (needs the attention modules).
    """

    def __init__(
        self,
        config: ModelConfig,
        classifier: PreActResNet,
        attention: AttentionUNet | None = None,
        features: FeatureExtractor | None = None,
        reconstruction: ReconstructionHead | None = None,
        localisation: LocalisationNet | None = None,
    ) -> None:
        super().__init__()
        parts = (attention, features, reconstruction)
        if any(p is None for p in parts) and any(p is not None for p in parts):
            raise ValueError("FERAtt needs all of attention, features, reconstruction, or none")
        if localisation is not None and attention is None:
            raise ValueError("the STN variant needs the attention modules")
        self.config = config
        self.normalize = Normalize()
        self.classifier_normalize = Normalize.named(config.normalization)
        self.attention = attention
        self.features = features
        self.reconstruction = reconstruction
        self.localisation = localisation
        self.classifier = classifier

    @property
    def has_attention(self) -> bool:
        return self.attention is not None

    def attention_modules(self) -> list[nn.Module]:
        """The attention side, every module with weights but G_rep: G_att, G_ft, G_rec and the
        STN's localisation net (empty for the baseline); staged schedules train or fix it apart."""
        parts = (self.attention, self.features, self.reconstruction, self.localisation)
        return [part for part in parts if part is not None]

    def _check_input(self, x: torch.Tensor) -> None:
        multiple = _ATTENTION_SIZE_MULTIPLE if self.has_attention else 2
        if x.ndim != 4 or x.shape[1] != self.config.in_channels or not x.is_floating_point():
            raise ValueError(
                f"{self.config.name} expects float images (N, {self.config.in_channels}, S, S) "
                f"in [0, 1]; got {x.dtype} {tuple(x.shape)}"
            )
        if x.shape[-1] % multiple or x.shape[-2] % multiple:
            raise ValueError(
                f"{self.config.name} needs height and width divisible by {multiple}; got "
                f"{tuple(x.shape[-2:])}: resize or pad the images (e.g. to 64x64)"
            )

    def forward(
        self,
        x: torch.Tensor,
        detach_attention: bool = False,
        attention_weight: float = 1.0,
        face_mask: torch.Tensor | None = None,
    ) -> FERAttOutput:
        """The whole network; `detach_attention` stops G_rep's gradients at I_att, so the
        attention modules learn from L_att alone (a staged schedule's first stage).
        `attention_weight` t < 1 gives G_rep (1 - t) * I + t * I_att (a training schedule's
        blend; the network itself is t = 1). `face_mask` (N, 1, S, S), with the ``moments``
        alignment: align by this mask instead of sigmoid(A) (a training schedule's teacher)."""
        self._check_input(x)
        image = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        attention_map = features = attention_image = theta = aligned_image = None
        classifier_input = image
        if self.attention is not None:
            normalized = self.normalize(image)
            attention_map = self.attention(normalized)
            features = self.features(normalized)
            fused = torch.sigmoid(attention_map) * features  # M = sigma(A) * F (fusion)
            attention_image = self.reconstruction(fused, image, attention_map)
            classifier_input = attention_image.detach() if detach_attention else attention_image
            if attention_weight < 1.0:
                classifier_input = torch.lerp(image, classifier_input, attention_weight)
            if self.localisation is not None:
                theta = self.localisation(self.normalize(classifier_input))
                classifier_input = aligned_image = apply_affine(classifier_input, theta)
            elif self.config.alignment == "moments":
                face = face_mask
                if face is None:
                    face = attention_face(attention_map)
                aligned_image = apply_affine(classifier_input, moment_alignment(face))
                classifier_input = aligned_image
        return self._classify(
            classifier_input,
            attention_image=attention_image,
            attention_map=attention_map,
            features=features,
            theta=theta,
            aligned_image=aligned_image,
        )

    def forward_classifier(self, x: torch.Tensor) -> FERAttOutput:
        """G_rep alone on the input image, bypassing the attention modules (the baseline's path).

        With the ``residual`` G_rec, I_att starts as I, so a G_rep trained this way (the cheap
        warm-up stage, ``train.classifier_warmup_steps``) carries over to the whole network.
        """
        self._check_input(x)
        return self._classify(x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x)

    def _classify(self, image: torch.Tensor, **outputs: torch.Tensor | None) -> FERAttOutput:
        # Averaging commutes with the affine normalisation; pooling first is cheaper.
        pooled = self.classifier_normalize(F.avg_pool2d(image, 2))
        pre_logits = self.classifier.forward_head(
            self.classifier.forward_features(pooled), pre_logits=True
        )
        return FERAttOutput(
            logits=self.classifier.fc(pre_logits),
            embedding=pre_logits if self.classifier.embedding_dim is not None else None,
            **outputs,
        )


def _validate(config: ModelConfig, attention: bool, stn: bool) -> None:
    multiple = _ATTENTION_SIZE_MULTIPLE if attention else 2
    problems = []
    if config.num_classes < 2:
        problems.append(f"num_classes must be >= 2, got {config.num_classes}")
    if config.embedding_dim < 1:
        problems.append(f"embedding_dim must be >= 1, got {config.embedding_dim}")
    if config.in_channels not in (1, 3):
        problems.append(f"in_channels must be 1 or 3, got {config.in_channels}")
    if config.input_size < multiple or config.input_size % multiple:
        problems.append(f"input_size must be a multiple of {multiple}, got {config.input_size}")
    if config.width <= 0:
        problems.append(f"width must be > 0, got {config.width}")
    if config.reconstruction not in RECONSTRUCTIONS:
        problems.append(
            f"reconstruction must be one of {', '.join(RECONSTRUCTIONS)}, "
            f"got {config.reconstruction!r}"
        )
    if config.normalization not in CLASSIFIER_NORMALIZATIONS:
        problems.append(
            f"normalization must be one of {', '.join(CLASSIFIER_NORMALIZATIONS)}, "
            f"got {config.normalization!r}"
        )
    if config.alignment not in ALIGNMENTS:
        problems.append(
            f"alignment must be one of {', '.join(ALIGNMENTS)}, got {config.alignment!r}"
        )
    elif config.alignment != "none" and stn:
        problems.append("alignment and the STN's localisation net both align I_att: pick one")
    if problems:
        raise ValueError(f"invalid {config.name} config: " + "; ".join(problems))


def _build(
    config: ModelConfig,
    attention: bool,
    rep: bool,
    encoder_weights: str | Path | None = None,
    stn: bool = False,
) -> FERAtt:
    _validate(config, attention, stn)
    k, width = config.num_classes, config.width
    classifier = PreActResNet(k, embedding_dim=config.embedding_dim if rep else None, width=width)
    if not attention:
        return FERAtt(config, classifier)
    return FERAtt(
        config,
        classifier,
        attention=AttentionUNet(k, width, encoder_weights=encoder_weights),
        features=FeatureExtractor(k),
        reconstruction=ReconstructionHead(k, width, output=config.reconstruction),
        localisation=LocalisationNet(width=width) if stn else None,
    )


@register_model
def preactresnet18(**config: Any) -> FERAtt:
    """The paper's baseline: PreActResNet18 alone on the input average-pooled to half size.

    Keywords: the fields of ``ModelConfig`` (``num_classes``, ``width``, ...); ``embedding_dim``,
    ``reconstruction`` and ``alignment`` are recorded for a uniform signature, but unused.
    """
    return _build(ModelConfig("preactresnet18", **config), attention=False, rep=False)


def _attention_model(name: str, rep: bool, stn: bool, summary: str) -> Callable[..., FERAtt]:
    """Register the builder `name` of a model with the attention modules (one signature for all)."""

    def build(encoder_weights: str | Path | None = None, **config: Any) -> FERAtt:
        return _build(
            ModelConfig(name, **config),
            attention=True,
            rep=rep,
            encoder_weights=encoder_weights,
            stn=stn,
        )

    build.__name__ = build.__qualname__ = name
    build.__doc__ = (
        f"{summary}\n\nKeywords: the fields of ``ModelConfig`` (``num_classes``, ``width``, ...); "
        "`encoder_weights`: optional torchvision ResNet34 state dict file for G_att's encoder."
    )
    return register_model(build)


feratt_cls = _attention_model(
    "feratt_cls",
    rep=False,
    stn=False,
    summary="FERAtt+Cls: attention modules and a PreActResNet18 classifier (L_cls + L_att).",
)
feratt_rep_cls = _attention_model(
    "feratt_rep_cls",
    rep=True,
    stn=False,
    summary="FERAtt+Rep+Cls: attention modules, the d-dim embedding z and classifier (+ L_rep).",
)
feratt_rep_cls_stn = _attention_model(
    "feratt_rep_cls_stn",
    rep=True,
    stn=True,
    summary="FERAtt+Rep+Cls with the authors' STN: G_rep classifies I_att resampled through the "
    "affine theta a localisation net predicts from it (trained against the compositor's warp, "
    "L_stn).",
)
