"""FERAtt training losses (SPEC section 2): classification, attention and Gaussian structural.

All weights are 1; each term carries its own scale. Every term is computed in float32 from
batched tensor ops only (no Python loop over classes, no host synchronisation), so it is safe
under bf16 autocast and CUDA graphs / torch.compile.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from feratt.config import MIXUP_LAMBDAS, REP_MEANS, TrainConfig
from feratt.models.output import FERAttOutput


def attention_loss(attention_image: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """L_att = 5 * mean(tanh(3 * |I_org - I_att|)) over all pixels and channels.

    A 1-channel `clean` (grey I_org) broadcasts against the 3-channel attention image.
    """
    difference = (clean.float() - attention_image.float()).abs()
    return 5.0 * torch.tanh(3.0 * difference).mean()


def face_mask(clean: torch.Tensor) -> torch.Tensor:
    """(N, 1, S, S) float mask of the face, read off I_org (the face on black): I_org > 0."""
    return (clean.float().amax(dim=1, keepdim=True) > 0).float()


def mask_loss(attention_map: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """L_mask: binary cross-entropy between every attention logit map of G_att (N, K, S, S) and
    the face mask, read off I_org (the face on black: mask = I_org > 0)."""
    mask = face_mask(clean)
    return F.binary_cross_entropy_with_logits(attention_map.float(), mask.expand_as(attention_map))


def _squared_distances(
    z: torch.Tensor, one_hot: torch.Tensor, means: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, K) squared distances of each z_i to each class mean, and the (N, K) mask of classes
    that have a mean for that sample.

    ``batch``: the authors' means over the batch, z_i included (gradients flow through them);
    ``detached``: the same means as constants; ``leave_one_out``: z_i's own class mean leaves z_i
    out, so the loss cannot be lowered by dragging a mean towards its own members.
    """
    counts = one_hot.sum(dim=0)
    sums = one_hot.t() @ z
    centres = sums / counts.clamp(min=1.0)[:, None]
    if means == "detached":
        centres = centres.detach()
    # Direct differences rather than the ||a||^2 - 2ab + ||b||^2 expansion: exact for far-apart
    # embeddings, and its gradient is finite when a query coincides with a mean.
    squared = (z[:, None, :] - centres[None, :, :]).pow(2).sum(dim=-1)
    present = (counts > 0)[None, :].expand_as(squared)
    if means == "leave_one_out":
        own = one_hot.argmax(dim=1, keepdim=True)
        others = counts[own] - 1.0  # (N, 1) members of z_i's class besides z_i
        own_centre = (sums[own.squeeze(1)] - z) / others.clamp(min=1.0)
        own_squared = (z - own_centre).pow(2).sum(dim=-1, keepdim=True)
        squared = squared.scatter(1, own, own_squared)
        present = present.scatter(1, own, others > 0)
    return squared, present


def structural_loss(
    embedding: torch.Tensor,
    target: torch.Tensor,
    num_classes: int,
    sigma: float = 0.5,
    mixup_alpha: float | None = None,
    normalize: bool = False,
    means: str = "batch",
    mixup_lambda: str = "batch",
) -> torch.Tensor:
    """Gaussian structural loss L_rep = mean_i sum_c (p_ic - 1[y_i = c])^2.

    mu_c is the mean embedding of the batch samples of class c, over the classes present in the
    batch; p_ic is the softmax over those classes of -||z_i - mu_c||^2 / (2 sigma^2), computed in
    log space. A sample whose own class has no mean (leave-one-out, alone in its class) is skipped.

    Args:
        embedding: z, (N, d).
        target: class indices, (N,).
        num_classes: K.
        sigma: the Gaussians' standard deviation (on the unit sphere when `normalize`).
        mixup_alpha: if set, also score mixed embeddings lam * z_i + (1 - lam) * z_j (random
            pairs, lam ~ Beta(alpha, alpha)) against the soft labels lam * y_i + (1 - lam) * y_j;
            the class means stay those of the real samples.
        normalize: score z / ||z|| (scale-free: cross-entropy cannot inflate the distances).
        means: ``batch`` (the paper's), ``leave_one_out`` or ``detached`` class means.
        mixup_lambda: one lam per ``batch`` (the authors' code) or one per ``pair``. The
            authors' all-zero target for a mix of two classes is not offered: the posteriors
            of a row sum to 1, so that target is unreachable and only pushes p towards uniform;
            the soft label lam * y_i + (1 - lam) * y_j is what the mixture is.
    """
    if means not in REP_MEANS:
        raise ValueError(f"means must be one of {', '.join(REP_MEANS)}; got {means!r}")
    if mixup_lambda not in MIXUP_LAMBDAS:
        raise ValueError(f"mixup_lambda must be one of {', '.join(MIXUP_LAMBDAS)}")
    z = embedding.float()
    if normalize:
        z = F.normalize(z, dim=1)
    one_hot = F.one_hot(target, num_classes).to(z.dtype)
    squared, present = _squared_distances(z, one_hot, means)
    labels = one_hot
    if mixup_alpha is not None:
        # The mixed rows are scored against the real samples' means (mu_c of the whole batch).
        counts = one_hot.sum(dim=0)
        centres = (one_hot.t() @ z) / counts.clamp(min=1.0)[:, None]
        if means == "detached":
            centres = centres.detach()
        rows = 1 if mixup_lambda == "batch" else z.shape[0]
        concentration = torch.full((rows, 1), float(mixup_alpha), device=z.device)
        # validate_args=False: argument validation would synchronise with the host.
        lam = torch.distributions.Beta(concentration, concentration, validate_args=False).sample()
        perm = torch.randperm(z.shape[0], device=z.device)
        mixed = lam * z + (1 - lam) * z[perm]
        mixed_squared = (mixed[:, None, :] - centres[None, :, :]).pow(2).sum(dim=-1)
        squared = torch.cat([squared, mixed_squared])
        present = torch.cat([present, (counts > 0)[None, :].expand_as(mixed_squared)])
        labels = torch.cat([one_hot, lam * one_hot + (1 - lam) * one_hot[perm]])
    logits = (-squared / (2.0 * sigma**2)).masked_fill(~present, float("-inf"))
    probabilities = torch.log_softmax(logits, dim=1).exp()
    scored = (labels * present).sum(dim=1) > 0  # rows whose target class has a mean
    errors = (probabilities - labels * present).pow(2).sum(dim=1)
    return (errors * scored).sum() / scored.sum().clamp(min=1)


class FERAttLoss(nn.Module):
    """Total FERAtt loss; returns each term for logging.

    `loss_fn(output, target, clean=None)` -> {"loss": total, "cls": L_cls, "att": L_att (when the
    model has an attention image and `clean` = I_org is given), "rep": L_rep (when the model has an
    embedding), "stn": L_stn (STN variant, when the target theta is given)}, all scalar float32
    tensors; the logged terms are unweighted, the total weights L_att and L_rep.

    Args:
        sigma: sigma of the structural loss.
        mixup: append mixed embedding pairs with soft labels to the structural loss.
        mixup_alpha: Beta(alpha, alpha) of the mixing coefficient.
        mixup_lambda: one coefficient per ``batch`` (the authors') or per ``pair``.
        rep_normalize, rep_means: `structural_loss` options (scale-free z, class-mean form).
        att_weight, rep_weight: weights of L_att and L_rep in the total (the paper: 1 and 1).
        mask_weight: weight of L_mask (`mask_loss`; 0, the paper: not computed).
    """

    def __init__(
        self,
        sigma: float = 0.5,
        mixup: bool = False,
        mixup_alpha: float = 2.0,
        mixup_lambda: str = "batch",
        rep_normalize: bool = False,
        rep_means: str = "batch",
        att_weight: float = 1.0,
        rep_weight: float = 1.0,
        mask_weight: float = 0.0,
    ) -> None:
        super().__init__()
        self.sigma = sigma
        self.mixup = mixup
        self.mixup_alpha = mixup_alpha
        self.mixup_lambda = mixup_lambda
        self.rep_normalize = rep_normalize
        self.rep_means = rep_means
        self.weights = {"att": att_weight, "rep": rep_weight, "mask": mask_weight}

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
        if self.weights["mask"] > 0 and output.attention_map is not None and clean is not None:
            terms["mask"] = mask_loss(output.attention_map, clean)
        if output.theta is not None and theta is not None:
            terms["stn"] = F.mse_loss(output.theta.float(), theta.float())
        if output.embedding is not None:
            terms["rep"] = structural_loss(
                output.embedding,
                target,
                output.logits.shape[1],
                self.sigma,
                self.mixup_alpha if self.mixup else None,
                normalize=self.rep_normalize,
                means=self.rep_means,
                mixup_lambda=self.mixup_lambda,
            )
        total = sum(self.weights.get(name, 1.0) * value for name, value in terms.items())
        return {"loss": total, **terms}

    def extra_repr(self) -> str:
        return (
            f"sigma={self.sigma}, mixup={self.mixup}, mixup_alpha={self.mixup_alpha}, "
            f"mixup_lambda={self.mixup_lambda}, rep_normalize={self.rep_normalize}, "
            f"rep_means={self.rep_means}, weights={self.weights}"
        )


def loss_from_config(config: TrainConfig) -> FERAttLoss:
    """The FERAttLoss a TrainConfig's loss keys describe."""
    return FERAttLoss(
        sigma=config.loss_sigma,
        mixup=config.mixup,
        mixup_lambda=config.mixup_lambda,
        rep_normalize=config.rep_normalize,
        rep_means=config.rep_means,
        att_weight=config.att_weight,
        rep_weight=config.rep_weight,
        mask_weight=config.mask_weight,
    )
