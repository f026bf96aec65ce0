"""sRGB <-> CIE Lab (D65, 2 degree observer) in torch, matching skimage.color's definitions.

The compositor relights faces on the Lab lightness axis (SPEC section 3, step 3). Grey images get
a one-channel shortcut: for R = G = B = v the Lab lightness depends on v alone and a = b = 0.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

# Constants stay Python floats: building device tensors from them would cost a host sync on CUDA.
_RGB_TO_XYZ = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
_XYZ_TO_RGB = (
    (3.24048134, -1.53715152, -0.49853633),
    (-0.96925495, 1.87599, 0.04155593),
    (0.05564664, -0.20404134, 1.05731107),
)
_WHITE_D65 = (0.95047, 1.0, 1.08883)
_EPSILON = (6.0 / 29.0) ** 3
_LUMA_601 = (0.299, 0.587, 0.114)


def _linearize(srgb: torch.Tensor) -> torch.Tensor:
    return torch.where(
        srgb > 0.04045, ((srgb.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4, srgb / 12.92
    )


def _gamma(linear: torch.Tensor) -> torch.Tensor:
    return torch.where(
        linear > 0.0031308,
        1.055 * linear.clamp(min=0.0031308) ** (1.0 / 2.4) - 0.055,
        linear * 12.92,
    )


def _f(t: torch.Tensor) -> torch.Tensor:
    return torch.where(
        t > _EPSILON, t.clamp(min=_EPSILON) ** (1.0 / 3.0), t * (841.0 / 108.0) + 4.0 / 29.0
    )


def _f_inverse(t: torch.Tensor) -> torch.Tensor:
    return torch.where(t > 6.0 / 29.0, t**3, (t - 4.0 / 29.0) * (108.0 / 841.0))


def _mix(weights: tuple[float, ...], channels: tuple[torch.Tensor, ...]) -> torch.Tensor:
    return sum(w * c for w, c in zip(weights, channels, strict=True))


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB (N, 3, H, W) in [0, 1] -> Lab (N, 3, H, W) with L in [0, 100]."""
    linear = _linearize(rgb).unbind(1)
    fx, fy, fz = (
        _f(_mix(row, linear) / white) for row, white in zip(_RGB_TO_XYZ, _WHITE_D65, strict=True)
    )
    return torch.stack((116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)), 1)


def rgb_to_lightness(rgb: torch.Tensor) -> torch.Tensor:
    """Lab lightness (N, 1, H, W) of sRGB (N, 3, H, W): it depends on the luminance Y alone."""
    luminance = _mix(_RGB_TO_XYZ[1], _linearize(rgb).unbind(1))
    return (116.0 * _f(luminance) - 16.0).unsqueeze(1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """Lab (N, 3, H, W) -> sRGB (N, 3, H, W), clipped to [0, 1] (out-of-gamut colours)."""
    lightness, a, b = lab.unbind(1)
    fy = (lightness + 16.0) / 116.0
    f_xyz = (fy + a / 500.0, fy, fy - b / 200.0)
    xyz = tuple(_f_inverse(f) * white for f, white in zip(f_xyz, _WHITE_D65, strict=True))
    linear = torch.stack([_mix(row, xyz) for row in _XYZ_TO_RGB], 1)
    return _gamma(linear.clamp(min=0.0)).clamp(0.0, 1.0)


def grey_to_lightness(grey: torch.Tensor) -> torch.Tensor:
    """Lab lightness of a grey sRGB image in [0, 1] (R = G = B, so Y equals linear intensity)."""
    return 116.0 * _f(_linearize(grey)) - 16.0


def lightness_to_grey(lightness: torch.Tensor) -> torch.Tensor:
    """Inverse of `grey_to_lightness`, clipped to [0, 1]."""
    return _gamma(_f_inverse((lightness + 16.0) / 116.0)).clamp(0.0, 1.0)


def rgb_to_grey(rgb: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.601 luma (OpenCV's and PIL's grey conversion): (N, 3, H, W) -> (N, 1, H, W)."""
    return _mix(_LUMA_601, rgb.unbind(1)).unsqueeze(1)


def tabulate(
    function: Callable[[torch.Tensor], torch.Tensor], low: float, high: float
) -> torch.Tensor:
    """`function` sampled at 4097 even steps over [low, high] (in float64), for `interpolate`."""
    return function(torch.linspace(low, high, 4097, dtype=torch.float64)).float()


def interpolate(table: torch.Tensor, x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Piecewise-linear lookup of x in a `tabulate` table over [low, high] (clamped to it).

    For the grey conversions above it is within 1e-4 (L units) of exact, and two gathers cost
    far less than the exact powers and branches.
    """
    position = ((x - low) * ((len(table) - 1) / (high - low))).clamp(0, len(table) - 1)
    start = position.floor().clamp(max=len(table) - 2)
    index = start.long()
    first = table.take(index)
    return first + (position - start) * (table.take(index + 1) - first)
