"""Face alignment from the attention mask's moments: a spatial transformer without parameters.

The compositor rotates, shifts, scales and shears the face; the attention mask finds it. The
mask's centroid and second moments give the affine that maps the upright face ellipse of the
prepared crops onto the mask, so resampling I_att through it brings the face back upright and
centred before G_rep (an STN whose theta is computed, not learnt). Closed-form 2x2 eigenvectors
(no atan2), so it exports to ONNX.
"""

from __future__ import annotations

import torch

ALIGNMENTS = ("none", "moments")
# The face ellipse of prepared crops (feratt.data.preparation's ELLIPSE_CENTRE / ELLIPSE_AXES),
# as fractions of the side: where an aligned face lands.
CANONICAL_CENTRE, CANONICAL_AXES = (0.5, 0.52), (0.40, 0.48)
# A mask below this share of the frame is too small to measure: the identity is used.
_MIN_AREA = 0.01
_SCALE_RANGE = (0.2, 2.0)


def attention_face(attention_map: torch.Tensor) -> torch.Tensor:
    """(N, K, H, W) G_att logits -> (N, 1, H, W) face probability: sigmoid(A) averaged over the
    K maps, the mask the ``moments`` alignment measures."""
    return torch.sigmoid(attention_map).mean(1, keepdim=True)


def _grid(size: int, like: torch.Tensor) -> torch.Tensor:
    """Pixel-centre coordinates in [-1, 1] (``affine_grid``'s ``align_corners=False``)."""
    return (torch.arange(size, device=like.device, dtype=like.dtype) * 2 + 1) / size - 1


def moment_alignment(mask: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """(N, 1, H, W) face probabilities -> (N, 2, 3) theta (``affine_grid`` convention: canonical
    output coordinates -> mask coordinates) taking the canonical upright ellipse onto the mask's.

    The pixels above `threshold` are the face; its covariance's major axis is the face's
    vertical, folded to within 90 degrees of upright. Masks under 1% of the frame give the
    identity. No gradient flows (the mask is a measurement here, not a prediction to train).
    """
    mask = mask.detach().float()
    n, _, h, w = mask.shape
    weight = (mask[:, 0] > threshold).float()
    area = weight.sum((1, 2))
    usable = area >= _MIN_AREA * h * w
    weight = weight / area.clamp_min(1.0)[:, None, None]
    ys, xs = _grid(h, mask)[:, None], _grid(w, mask)[None, :]
    mx, my = (weight * xs).sum((1, 2)), (weight * ys).sum((1, 2))
    dx, dy = xs - mx[:, None, None], ys - my[:, None, None]
    cxx, cyy = (weight * dx * dx).sum((1, 2)), (weight * dy * dy).sum((1, 2))
    cxy = (weight * dx * dy).sum((1, 2))
    half_sum, half_diff = (cxx + cyy) / 2, (cxx - cyy) / 2
    spread = torch.sqrt(half_diff**2 + cxy**2)
    major, minor = half_sum + spread, (half_sum - spread).clamp_min(0.0)
    # Major-axis eigenvector: from whichever row of (C - major I) is better conditioned.
    from_x = torch.stack([cxy, major - cxx], 1)
    from_y = torch.stack([major - cyy, cxy], 1)
    axis = torch.where((from_x.norm(dim=1) >= from_y.norm(dim=1))[:, None], from_x, from_y)
    length = axis.norm(dim=1, keepdim=True)
    upright = torch.tensor([0.0, 1.0], device=mask.device).expand(n, 2)
    axis = torch.where(length > 1e-12, axis / length.clamp_min(1e-12), upright)
    axis = axis * torch.where(axis[:, 1:] < 0, -1.0, 1.0)  # point down the face, not up
    # Rotation taking canonical (0, 1) onto the axis; (1, 0) goes to (axis_y, -axis_x).
    rotation = torch.stack(
        [torch.stack([axis[:, 1], axis[:, 0]], 1), torch.stack([-axis[:, 0], axis[:, 1]], 1)],
        1,
    )
    # A uniform ellipse with semi-axes (a, b) (normalised units: 2 * fraction) has variances a^2/4.
    var_x, var_y = CANONICAL_AXES[0] ** 2, CANONICAL_AXES[1] ** 2
    scale = torch.stack([torch.sqrt(minor / var_x), torch.sqrt(major / var_y)], 1)
    linear = rotation * scale.clamp(*_SCALE_RANGE)[:, None, :]
    centre = torch.tensor([2 * c - 1 for c in CANONICAL_CENTRE], device=mask.device)
    shift = torch.stack([mx, my], 1) - linear @ centre
    theta = torch.cat([linear, shift[:, :, None]], 2)
    identity = torch.eye(2, 3, device=mask.device).expand(n, 2, 3)
    return torch.where(usable[:, None, None], theta, identity)
