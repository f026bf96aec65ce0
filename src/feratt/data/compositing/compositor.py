"""The synthetic compositor of SPEC section 3 as batched tensor code (CPU or CUDA).

A face crop and its mask are scaled, flipped and warped, relit on the Lab lightness axis to
match a random background crop, pasted onto it through the cleaned-up mask, turned grey and
degraded (input only). Every random number comes from the caller's torch.Generator on the
compositor's device: the same seed gives the same batch, and nothing syncs with the host.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import nn

from feratt.data.compositing import color, degradation, morphology, warp

# (rotation in degrees, translation and 3-point warp as fractions of the image size).
AFFINE_RANGES = {"train": (30.0, 0.2, 0.1), "test": (45.0, 0.3, 0.2)}


@dataclass(frozen=True)
class CompositorConfig:
    """Settings of the compositor; the defaults are SPEC section 3's.

    Args:
        size: side of the output images.
        mode: "train" or "test", picks the default affine ranges (AFFINE_RANGES).
        rotation, translation, warp: override the mode's ranges (degrees, fractions).
        scale: range of the uniform random zoom of the face.
        flip_p: probability of a horizontal flip.
        background_zoom: the background crop is a square of side `size` + U(0, zoom) pixels of
            the stored background (clamped to its size), resized to `size`.
        relight: match the face's mean Lab lightness (over the mask) to the background's.
        relight_clamp: bounds of the lightness gain.
        lightness_clip: bounds of the relit lightness.
        morph_kernel: side of the square of the mask's closing and erosion.
        fill_sweeps: flood sweeps of the hole filling (see morphology.fill_holes).
        grey: convert the outputs to grey (replicated to 3 channels). Colour backgrounds are then
            stored grey, and their lightness is that of their grey version.
        clahe_p, clahe_clip, clahe_tiles: CLAHE probability, clip limit and tile grid.
        noise_p, noise_sigma: probability and standard deviation (in [0, 1] units) of additive
            Gaussian noise (the authors add it with their blur, p = 0.25, sigma = 0.05).
        blur_p, blur_kernel: probability of a Gaussian blur and the range of its odd kernel side
            (sigma from OpenCV's rule for the side).
    """

    size: int = 64
    mode: str = "train"
    rotation: float | None = None
    translation: float | None = None
    warp: float | None = None
    scale: tuple[float, float] = (0.8, 1.2)
    flip_p: float = 0.5
    background_zoom: float = 50.0
    relight: bool = True
    relight_clamp: tuple[float, float] = (0.5, 1.5)
    lightness_clip: tuple[float, float] = (10.0, 90.0)
    morph_kernel: int = 7
    fill_sweeps: int = 1
    grey: bool = True
    clahe_p: float = 0.25
    clahe_clip: float = 2.0
    clahe_tiles: int = 8
    noise_p: float = 0.25
    noise_sigma: float = 0.05
    blur_p: float = 0.25
    blur_kernel: tuple[int, int] = (3, 7)

    def __post_init__(self) -> None:
        if self.mode not in AFFINE_RANGES:
            raise ValueError(f"mode must be one of {sorted(AFFINE_RANGES)}, got {self.mode!r}")
        if self.size < 8:
            raise ValueError(f"size must be at least 8 pixels, got {self.size}")
        for name in ("flip_p", "clahe_p", "noise_p", "blur_p"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(
                    f"{name} must be a probability in [0, 1], got {getattr(self, name)}"
                )
        if self.morph_kernel < 1 or self.morph_kernel % 2 == 0:
            raise ValueError(f"morph_kernel must be odd and positive, got {self.morph_kernel}")
        low, high = self.blur_kernel
        if low % 2 == 0 or high % 2 == 0 or not 1 <= low <= high:
            raise ValueError(
                f"blur_kernel must be two odd sides low <= high, got {self.blur_kernel}"
            )
        if not 0.0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"scale must be a range of positive factors, got {self.scale}")

    @property
    def affine_ranges(self) -> tuple[float, float, float]:
        """(rotation, translation, warp) in effect: the overrides, else the mode's defaults."""
        defaults = AFFINE_RANGES[self.mode]
        overrides = (self.rotation, self.translation, self.warp)
        return tuple(d if o is None else o for d, o in zip(defaults, overrides, strict=True))

    def without_noise(self) -> CompositorConfig:
        """The same settings with CLAHE, noise and blur switched off."""
        return replace(self, clahe_p=0.0, noise_p=0.0, blur_p=0.0)


@dataclass
class CompositeBatch:
    """One composited batch, all on the compositor's device.

    Grey `image` and `clean` are expanded views of one channel (no copy): use out-of-place ops
    on them, or `.contiguous()` first.

    Args:
        image: float (N, 3, s, s) in [0, 1], the network input.
        clean: float (N, 3, s, s), I_org: the warped face on black, before relighting,
            background and noise (the attention target of SPEC section 2).
        mask: bool (N, 1, s, s), the cleaned-up face mask the composite used.
        theta: float (N, 2, 3), the affine map the face was sampled with: output normalised
            coordinates -> face normalised coordinates (affine_grid, align_corners=False).
        label: (N,) labels as given, or None.
    """

    image: torch.Tensor
    clean: torch.Tensor
    mask: torch.Tensor
    theta: torch.Tensor
    label: torch.Tensor | None

    def __len__(self) -> int:
        return self.image.shape[0]


# Columns of the per-sample uniform draws.
_SCALE, _FLIP, _ANGLE, _SHIFT, _WARP, _BACKGROUND, _ZOOM, _CROP = 0, 1, 2, 3, 5, 11, 12, 13
# Each degradation uses two columns: a rank that picks its candidates, then an acceptance draw.
_CLAHE, _NOISE, _BLUR, _BLUR_SIZE, _DRAWS = 15, 17, 19, 21, 22


class Compositor(nn.Module):
    """Composites aligned faces onto random crops of a background pool (SPEC section 3).

    Args:
        backgrounds: uint8 (B, C, H, W), C = 1 or 3, H and W at least `config.size` (see
            `load_backgrounds`). They are stored once as a float atlas on the module's device.
        config: the settings; CompositorConfig() by default.

    Call it as `compositor(faces, masks, labels=None, generator=None)` with faces uint8 or float
    in [0, 1] (N, C, S, S), C = 1 or 3, and bool masks (N, S, S); it returns a CompositeBatch.
    """

    def __init__(self, backgrounds: torch.Tensor, config: CompositorConfig | None = None) -> None:
        super().__init__()
        self.config = config or CompositorConfig()
        if not isinstance(backgrounds, torch.Tensor) or backgrounds.dtype != torch.uint8:
            raise ValueError("backgrounds must be a uint8 tensor (B, C, H, W)")
        if backgrounds.dim() != 4 or backgrounds.shape[1] not in (1, 3) or not len(backgrounds):
            raise ValueError(
                f"backgrounds must be (B, C, H, W) with C = 1 or 3 and B >= 1, "
                f"got {tuple(backgrounds.shape)}"
            )
        count, channels, height, width = backgrounds.shape
        size = self.config.size
        if height < size or width < size:
            raise ValueError(
                f"backgrounds are {height}x{width}, smaller than the output size {size}x{size}"
            )
        self.tile_size = (height, width)
        self.tiles = count
        # The atlas stacks the photos vertically, so that one grid_sample crops and zooms every
        # sample's background. Grey output needs only grey photos: luma commutes with
        # interpolation and pasting.
        pool = backgrounds.float().div_(255.0)
        if self.config.grey and channels == 3:
            pool, channels = color.rgb_to_grey(pool), 1
        atlas = pool.permute(1, 0, 2, 3).reshape(1, channels, count * height, width)
        self.register_buffer("atlas", atlas, persistent=False)
        # Grey relighting looks the Lab conversions up in tables: exact powers cost 4x more.
        lightness_table = color.tabulate(color.grey_to_lightness, 0.0, 1.0)
        grey_table = color.tabulate(color.lightness_to_grey, 0.0, 100.0)
        self.register_buffer("lightness_table", lightness_table, persistent=False)
        self.register_buffer("grey_table", grey_table, persistent=False)

    @property
    def device(self) -> torch.device:
        return self.atlas.device

    def _check(
        self,
        faces: torch.Tensor,
        masks: torch.Tensor | None,
        labels: torch.Tensor | None,
        generator: torch.Generator | None,
    ) -> None:
        if masks is None:
            raise ValueError("faces without masks: pass the bool face masks (N, S, S) as well")
        if faces.dim() != 4 or faces.shape[1] not in (1, 3) or faces.shape[2] != faces.shape[3]:
            raise ValueError(
                f"faces must be square (N, C, S, S) with C = 1 or 3, got {tuple(faces.shape)}"
            )
        if not faces.dtype == torch.uint8 and not faces.dtype.is_floating_point:
            raise ValueError(f"faces must be uint8 or float in [0, 1], got {faces.dtype}")
        expected = (faces.shape[0], *faces.shape[2:])
        if tuple(masks.shape) != expected:
            raise ValueError(
                f"mask/face size mismatch: masks are {tuple(masks.shape)}, faces "
                f"{tuple(faces.shape)} need masks {expected}"
            )
        if masks.dtype != torch.bool:
            raise ValueError(f"masks must be bool, got {masks.dtype}")
        if labels is not None and len(labels) != len(faces):
            raise ValueError(f"{len(labels)} labels for {len(faces)} faces")
        if generator is not None and generator.device.type != self.device.type:
            raise ValueError(
                f"the generator is on {generator.device}, the compositor on {self.device}: "
                "create it with torch.Generator(device=compositor.device)"
            )

    @torch.no_grad()
    def forward(
        self,
        faces: torch.Tensor,
        masks: torch.Tensor | None,
        labels: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> CompositeBatch:
        """Composite a batch of faces; see the class docstring."""
        self._check(faces, masks, labels, generator)
        cfg, device, n, size = self.config, self.device, faces.shape[0], self.config.size
        draws = torch.rand(n, _DRAWS, generator=generator, device=device)
        faces = faces.to(device)
        faces = faces.float() / 255.0 if faces.dtype == torch.uint8 else faces.float()
        face_channels = faces.shape[1]

        theta = warp.invert_affine(self._face_transform(draws))
        # Warped past the output's edges so that the mask clean-up sees the face go on there.
        margin = morphology.clean_margin(cfg.morph_kernel)
        stacked = torch.cat((faces, masks.to(device).unsqueeze(1).float()), 1)
        warped = warp.sample(stacked, theta, size, margin)
        face = warped[:, :face_channels, margin : margin + size, margin : margin + size]
        mask = morphology.clean_mask(
            warped[:, face_channels:] > 0.5, cfg.morph_kernel, cfg.fill_sweeps, margin
        )
        background = warp.sample_atlas(self.atlas, self._crop_theta(draws), size)

        relit = self._relight(face, background, mask) if cfg.relight else face
        if cfg.grey and face_channels == 3:
            relit, face = color.rgb_to_grey(relit), color.rgb_to_grey(face)
        channels = max(relit.shape[1], background.shape[1])
        image = torch.where(
            mask, relit.expand(-1, channels, -1, -1), background.expand(-1, channels, -1, -1)
        )
        clean = face * mask
        image = self._degrade(image, draws, generator)
        return CompositeBatch(
            image=image.expand(-1, 3, -1, -1),
            clean=clean.expand(-1, 3, -1, -1),
            mask=mask,
            theta=theta,
            label=None if labels is None else torch.as_tensor(labels).to(device),
        )

    def _face_transform(self, draws: torch.Tensor) -> torch.Tensor:
        rotation, translation, corner_warp = self.config.affine_ranges
        low, high = self.config.scale
        signed = 2.0 * draws - 1.0
        return warp.face_transform(
            scale=low + (high - low) * draws[:, _SCALE],
            flip=draws[:, _FLIP] < self.config.flip_p,
            angle_deg=rotation * signed[:, _ANGLE],
            translation=translation * signed[:, _SHIFT : _SHIFT + 2],
            warp=corner_warp * signed[:, _WARP : _WARP + 6].view(-1, 3, 2),
        )

    def _crop_theta(self, draws: torch.Tensor) -> torch.Tensor:
        height, width = self.tile_size
        tile = (draws[:, _BACKGROUND] * self.tiles).floor().clamp(max=self.tiles - 1)
        side = (self.config.size + self.config.background_zoom * draws[:, _ZOOM]).clamp(
            max=min(height, width)
        )
        left = draws[:, _CROP] * (width - side)
        top = draws[:, _CROP + 1] * (height - side)
        return warp.crop_theta(torch.stack((left, top, side), -1), tile, self.tile_size, self.tiles)

    def _relight(
        self, face: torch.Tensor, background: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Scale the face's Lab lightness by its mean's ratio to the background's (SPEC 3.3)."""
        grey = face.shape[1] == 1
        if grey:
            lightness = self._grey_lightness(face)
        else:
            lab = color.rgb_to_lab(face)
            lightness = lab[:, :1]
        if background.shape[1] == 1:
            background_lightness = self._grey_lightness(background)
        else:
            background_lightness = color.rgb_to_lightness(background)
        weight = mask.float()
        face_mean = (lightness * weight).sum((1, 2, 3)) / weight.sum((1, 2, 3)).clamp(min=1.0)
        back_mean = background_lightness.mean((1, 2, 3))
        gain = (back_mean / face_mean.clamp(min=1e-6)).clamp(*self.config.relight_clamp)
        relit = (lightness * gain.view(-1, 1, 1, 1)).clamp(*self.config.lightness_clip)
        if grey:
            return color.interpolate(self.grey_table, relit, 0.0, 100.0)
        return color.lab_to_rgb(torch.cat((relit, lab[:, 1:]), 1))

    def _grey_lightness(self, grey: torch.Tensor) -> torch.Tensor:
        return color.interpolate(self.lightness_table, grey, 0.0, 1.0)

    def _degrade(
        self, image: torch.Tensor, draws: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        """Input-only CLAHE, Gaussian noise and blur, each on a random subset of the batch."""
        cfg = self.config

        def add_noise(part: torch.Tensor, _: torch.Tensor) -> torch.Tensor:
            return self._noise(part, generator)

        image = self._some(image, draws, _CLAHE, cfg.clahe_p, lambda part, _: self._clahe(part))
        image = self._some(image, draws, _NOISE, cfg.noise_p, add_noise)
        return self._some(image, draws, _BLUR, cfg.blur_p, self._blur).clamp(0.0, 1.0)

    @staticmethod
    def _some(
        image: torch.Tensor,
        draws: torch.Tensor,
        column: int,
        probability: float,
        change: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        """Apply `change(images, their draws)` to each sample with `probability`.

        Only ceil(p * N) random candidates are processed, each kept with probability
        p * N / ceil(p * N): every sample still has exactly probability p, the work shrinks by
        1 / p, and all shapes stay static (no host sync).
        """
        count = math.ceil(probability * len(image))
        if count == 0:
            return image
        chosen = draws[:, column].argsort()[:count]
        part, part_draws = image[chosen], draws[chosen]
        keep = part_draws[:, column + 1] < probability * len(image) / count
        changed = degradation.select(keep, change(part, part_draws), part)
        return image.index_copy(0, chosen, changed)

    def _noise(self, image: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        gaussian = torch.randn(image.shape, generator=generator, device=image.device)
        return (image + self.config.noise_sigma * gaussian).clamp(0.0, 1.0)

    def _blur(self, image: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
        low, high = self.config.blur_kernel
        choices = (high - low) // 2 + 1
        side = low + 2 * (draws[:, _BLUR_SIZE] * choices).floor().clamp(max=choices - 1)
        return degradation.gaussian_blur(image, degradation.gaussian_kernels(side, high))

    def _clahe(self, image: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if image.shape[1] == 1:
            return degradation.clahe(image, cfg.clahe_clip, cfg.clahe_tiles)
        # Colour: equalise the Lab lightness only, as OpenCV users do.
        lab = color.rgb_to_lab(image)
        lightness = degradation.clahe(lab[:, :1] / 100.0, cfg.clahe_clip, cfg.clahe_tiles) * 100.0
        return color.lab_to_rgb(torch.cat((lightness, lab[:, 1:]), 1))
