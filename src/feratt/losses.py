"""FERAtt training losses (SPEC section 2): classification, attention and Gaussian structural.

All weights are 1; each term carries its own scale. Every term is computed in float32 from
batched tensor ops only (no Python loop over classes, no host synchronisation), so it is safe
under bf16 autocast and CUDA graphs / torch.compile.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from feratt.models.output import FERAttOutput


def attention_loss(attention_image: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """L_att = 5 * mean(tanh(3 * |I_org - I_att|)) over all pixels and channels.

    A 1-channel `clean` (grey I_org) broadcasts against the 3-channel attention image.
    """
    difference = (clean.float() - attention_image.float()).abs()
    return 5.0 * torch.tanh(3.0 * difference).mean()


def _class_log_posteriors(
    queries: torch.Tensor, means: torch.Tensor, present: torch.Tensor, sigma: float
) -> torch.Tensor:
    """log p_ic = log softmax_c(-||q_i - mu_c||^2 / (2 sigma^2)) over the present classes only."""
    # Direct differences rather than the ||a||^2 - 2ab + ||b||^2 expansion: exact for far-apart
    # embeddings, and its gradient is finite when a query coincides with a mean.
    squared = (queries[:, None, :] - means[None, :, :]).pow(2).sum(dim=-1)
    logits = (-squared / (2.0 * sigma**2)).masked_fill(~present, float("-inf"))
    return torch.log_softmax(logits, dim=1)


def structural_loss(
    embedding: torch.Tensor,
    target: torch.Tensor,
    num_classes: int,
    sigma: float = 0.5,
    mixup_alpha: float | None = None,
) -> torch.Tensor:
    """Gaussian structural loss L_rep = mean_i sum_c (p_ic - 1[y_i = c])^2.

    mu_c is the mean embedding of the batch samples of class c (gradients flow through it), over
    the classes present in the batch; p_ic is the softmax over those classes of
    -||z_i - mu_c||^2 / (2 sigma^2), computed in log space.

    Args:
        embedding: z, (N, d).
        target: class indices, (N,).
        num_classes: K.
        sigma: the Gaussians' standard deviation.
        mixup_alpha: if set, also score N mixed embeddings lam * z_i + (1 - lam) * z_j
            (random pairs, lam ~ Beta(alpha, alpha) per pair) against the soft labels
            lam * y_i + (1 - lam) * y_j; the class means stay those of the real samples.
    """
    z = embedding.float()
    one_hot = F.one_hot(target, num_classes).to(z.dtype)
    counts = one_hot.sum(dim=0)
    means = (one_hot.t() @ z) / counts.clamp(min=1.0)[:, None]
    queries, labels = z, one_hot
    if mixup_alpha is not None:
        concentration = torch.full((z.shape[0], 1), float(mixup_alpha), device=z.device)
        # validate_args=False: argument validation would synchronise with the host.
        lam = torch.distributions.Beta(concentration, concentration, validate_args=False).sample()
        perm = torch.randperm(z.shape[0], device=z.device)
        queries = torch.cat([z, lam * z + (1 - lam) * z[perm]])
        labels = torch.cat([one_hot, lam * one_hot + (1 - lam) * one_hot[perm]])
    probabilities = _class_log_posteriors(queries, means, counts > 0, sigma).exp()
    return (probabilities - labels).pow(2).sum(dim=1).mean()


class FERAttLoss(nn.Module):
    """Total FERAtt loss; returns each term for logging.

    `loss_fn(output, target, clean=None)` -> {"loss": total, "cls": L_cls, "att": L_att (when the
    model has an attention image and `clean` = I_org is given), "rep": L_rep (when the model has an
    embedding), "stn": L_stn (STN variant, when the target theta is given)}, all scalar float32
    tensors.

    Args:
        sigma: sigma of the structural loss.
        mixup: append mixed embedding pairs with soft labels to the structural loss.
        mixup_alpha: Beta(alpha, alpha) of the mixing coefficient.
    """

    def __init__(self, sigma: float = 0.5, mixup: bool = False, mixup_alpha: float = 2.0) -> None:
        super().__init__()
        self.sigma = sigma
        self.mixup = mixup
        self.mixup_alpha = mixup_alpha

    def forward(
        self,
        output: FERAttOutput,
        target: torch.Tensor,
        clean: torch.Tensor | None = None,
        distribution: torch.Tensor | None = None,
        theta: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """`distribution` (N, K), when given, is L_cls's target instead of the labels `target`
        (soft-label training, e.g. FER+ votes); L_rep always uses `target`. `theta` (N, 2, 3),
        the affine that takes each image back to its face's frame, is the target of the STN
        variant's L_stn (mean squared error of the six parameters)."""
        cls_target = target if distribution is None else distribution.float()
        terms = {"cls": F.cross_entropy(output.logits.float(), cls_target)}
        if output.attention_image is not None and clean is not None:
            terms["att"] = attention_loss(output.attention_image, clean)
        if output.theta is not None and theta is not None:
            terms["stn"] = F.mse_loss(output.theta.float(), theta.float())
        if output.embedding is not None:
            terms["rep"] = structural_loss(
                output.embedding,
                target,
                output.logits.shape[1],
                self.sigma,
                self.mixup_alpha if self.mixup else None,
            )
        return {"loss": sum(terms.values()), **terms}

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}, mixup={self.mixup}, mixup_alpha={self.mixup_alpha}"
