"""The typed result of every feratt model's forward pass."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class FERAttOutput:
    """What a forward pass returns; modules a model lacks leave their fields as None.

    Args:
        logits: (N, K) class scores.
        embedding: (N, d) representation z (Rep models), else None.
        attention_image: (N, 3, H, W) I_att from G_rec, else None (baseline).
        attention_map: (N, K, H, W) A, the logits of G_att, else None.
        features: (N, K, H, W) F from G_ft, else None.
        theta: (N, 2, 3) affine predicted by the STN variant's localisation net, else None.
        aligned_image: (N, 3, H, W) I_att resampled by the STN or the moment alignment, what
            G_rep classifies; None when G_rep takes I_att (or the image) as it is.
    """

    logits: torch.Tensor
    embedding: torch.Tensor | None = None
    attention_image: torch.Tensor | None = None
    attention_map: torch.Tensor | None = None
    features: torch.Tensor | None = None
    theta: torch.Tensor | None = None
    aligned_image: torch.Tensor | None = None
