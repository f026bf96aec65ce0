"""The batched compositor (SPEC section 3): geometry, relighting, masks, noise, seeds, errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
import torch.nn.functional as F
from skimage.color import rgb2lab

from feratt.data.compositing import (
    Compositor,
    CompositorConfig,
    color,
    degradation,
    invert_affine,
    load_backgrounds,
    morphology,
    split_backgrounds,
    warp,
)
from feratt.data.synthetic import preview_grid

SIZE = 64


def _ellipse(size: int = SIZE) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(float(size)), torch.arange(float(size)), indexing="ij")
    return ((x - (size - 1) / 2) / (0.4 * size)) ** 2 + ((y - size / 2) / (0.47 * size)) ** 2 <= 1


def _faces(n: int, channels: int = 1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth random uint8 "faces" (N, C, S, S) with ellipse masks."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, channels, 8, 8, generator=generator)
    faces = F.interpolate(coarse, size=SIZE, mode="bicubic", align_corners=False).clamp(0, 1)
    faces = (40 + 180 * faces).round().byte()
    return faces, _ellipse().expand(n, SIZE, SIZE).clone()


def _backgrounds(n: int = 4, channels: int = 3, size: int = 96, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, channels, size, size), generator=generator, dtype=torch.uint8)


def _run(compositor: Compositor, faces, masks, seed: int = 0, labels=None):
    return compositor(faces, masks, labels, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("face_channels", [1, 3])
@pytest.mark.parametrize("background_channels", [1, 3])
@pytest.mark.parametrize("grey", [True, False])
def test_shapes_dtypes_ranges(face_channels, background_channels, grey):
    faces, masks = _faces(6, face_channels)
    compositor = Compositor(_backgrounds(channels=background_channels), CompositorConfig(grey=grey))
    labels = torch.arange(6)
    batch = _run(compositor, faces, masks, labels=labels)
    for images in (batch.image, batch.clean):
        assert images.shape == (6, 3, SIZE, SIZE) and images.dtype == torch.float32
        assert images.min() >= 0.0 and images.max() <= 1.0 and not images.isnan().any()
    assert batch.mask.shape == (6, 1, SIZE, SIZE) and batch.mask.dtype == torch.bool
    assert batch.theta.shape == (6, 2, 3) and not batch.theta.isnan().any()
    assert torch.equal(batch.label, labels) and len(batch) == 6
    assert 0.05 < batch.mask.float().mean() < 0.95
    if grey:
        assert torch.equal(batch.image[:, 0], batch.image[:, 2])


def test_float_faces_match_uint8_faces():
    faces, masks = _faces(4)
    compositor = Compositor(_backgrounds())
    as_uint8 = _run(compositor, faces, masks)
    as_float = _run(compositor, faces.float() / 255.0, masks)
    assert torch.allclose(as_uint8.image, as_float.image, atol=1e-5)


def test_same_seed_identical_different_seed_differs():
    faces, masks = _faces(8)
    compositor = Compositor(_backgrounds())
    first, again, other = (_run(compositor, faces, masks, seed) for seed in (5, 5, 6))
    for name in ("image", "clean", "mask", "theta"):
        assert torch.equal(getattr(first, name), getattr(again, name))
    assert not torch.equal(first.image, other.image)
    assert not torch.equal(first.theta, other.theta)


def test_outside_mask_is_the_background_crop_inside_the_face():
    faces, masks = _faces(8)
    config = CompositorConfig(relight=False).without_noise()
    compositor = Compositor(_backgrounds(), config)
    batch = _run(compositor, faces, masks, seed=3)
    # The same seed draws the same crops; with empty masks the composite is the crop alone.
    empty = _run(compositor, faces, torch.zeros_like(masks), seed=3)
    assert not empty.mask.any()
    outside = ~batch.mask.expand(-1, 3, -1, -1)
    assert torch.equal(batch.image[outside], empty.image[outside])
    inside = ~outside
    assert torch.allclose(batch.image[inside], batch.clean[inside], atol=1e-6)
    assert (batch.clean[outside] == 0).all()


def test_relighting_gain_and_lightness_clamp():
    faces, masks = _faces(12)
    faces[:4] = 255  # white faces hit the upper lightness clip after the gain
    faces[4:8] = 3  # near-black faces hit the lower clip
    config = CompositorConfig().without_noise()
    compositor = Compositor(_backgrounds(channels=1), config)
    batch = _run(compositor, faces, masks, seed=2)
    crops = _run(compositor, faces, torch.zeros_like(masks), seed=2).image[:, :1]
    inside = batch.mask
    relit = color.grey_to_lightness(batch.image[:, :1])
    original = color.grey_to_lightness(batch.clean[:, :1])
    assert relit[inside].min() >= 10.0 - 1e-3 and relit[inside].max() <= 90.0 + 1e-3
    face_mean = (original * inside).sum((1, 2, 3)) / inside.sum((1, 2, 3))
    gain = (color.grey_to_lightness(crops).mean((1, 2, 3)) / face_mean).clamp(0.5, 1.5)
    expected = (original * gain.view(-1, 1, 1, 1)).clamp(10.0, 90.0)
    assert (relit - expected)[inside].abs().max() < 0.5


def test_warping_back_with_theta_recovers_the_face():
    faces, masks = _faces(8)
    config = CompositorConfig(relight=False).without_noise()
    batch = _run(Compositor(_backgrounds(), config), faces, masks, seed=4)
    back = F.affine_grid(invert_affine(batch.theta), [8, 1, SIZE, SIZE], align_corners=False)
    restored = F.grid_sample(batch.clean[:, :1], back, align_corners=False)
    covered = F.grid_sample(batch.mask.float(), back, align_corners=False) > 0.999
    covered &= morphology.erode(covered, 3)
    assert covered.float().mean() > 0.2
    error = (restored - faces.float() / 255.0)[covered].abs()
    assert error.mean() < 0.02 and error.max() < 0.15


def test_flip_and_scale_conventions():
    faces, masks = _faces(2)
    config = CompositorConfig(
        rotation=0.0, translation=0.0, warp=0.0, scale=(0.5, 0.5), flip_p=1.0, relight=False
    ).without_noise()
    batch = _run(Compositor(_backgrounds(), config), faces, masks)
    expected = torch.tensor([[-2.0, 0.0, 0.0], [0.0, 2.0, 0.0]]).expand(2, 2, 3)
    assert torch.allclose(batch.theta, expected, atol=1e-6)
    unscaled = CompositorConfig(
        rotation=0.0, translation=0.0, warp=0.0, scale=(1.0, 1.0), flip_p=1.0, relight=False
    ).without_noise()
    batch = _run(Compositor(_backgrounds(), unscaled), faces, masks)
    flipped = faces.flip(-1).float() / 255.0
    assert torch.allclose(batch.clean[:, :1][batch.mask], flipped[batch.mask], atol=1e-5)


def test_three_point_warp_moves_the_corners():
    n = 5
    offsets = torch.rand(n, 3, 2) * 0.2 - 0.1
    forward = warp.face_transform(
        torch.ones(n), torch.zeros(n, dtype=torch.bool), torch.zeros(n), torch.zeros(n, 2), offsets
    )
    corners = torch.tensor([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0]])
    moved = corners @ forward[:, :, :2].transpose(1, 2) + forward[:, None, :, 2]
    assert torch.allclose(moved, corners + 2 * offsets, atol=1e-6)
    assert torch.allclose(invert_affine(invert_affine(forward)), forward, atol=1e-5)


def test_without_mirror_leaves_the_mirror_image_of_a_flipped_warp():
    angle = torch.tensor([0.3, -0.5])
    flipped = torch.tensor([True, False])
    forward = warp.face_transform(
        torch.tensor([1.1, 0.9]),
        flipped,
        angle,
        torch.tensor([[0.1, 0.0], [0.0, -0.2]]),
        torch.zeros(2, 3, 2),
    )
    upright = warp.without_mirror(forward)
    det = upright[:, 0, 0] * upright[:, 1, 1] - upright[:, 0, 1] * upright[:, 1, 0]
    assert (det > 0).all()
    assert torch.equal(upright[1], forward[1])  # not flipped: unchanged
    image = torch.rand(1, 1, 16, 16)
    through = F.grid_sample(
        image,
        F.affine_grid(forward[:1], [1, 1, 16, 16], align_corners=False),
        align_corners=False,
    )
    upright_through = F.grid_sample(
        image,
        F.affine_grid(upright[:1], [1, 1, 16, 16], align_corners=False),
        align_corners=False,
    )
    torch.testing.assert_close(upright_through, through.flip(-1), atol=1e-5, rtol=0)
    assert torch.equal(warp.without_mirror(upright), upright)


def test_background_crop_samples_one_tile_without_bleeding():
    pool = torch.stack([torch.zeros(1, 80, 80), torch.full((1, 80, 80), 255.0)]).byte()
    config = CompositorConfig(relight=False).without_noise()
    faces, masks = _faces(40)
    batch = _run(Compositor(pool, config), faces, torch.zeros_like(masks))
    means = batch.image.mean((1, 2, 3))
    assert set(means.tolist()) == {0.0, 1.0}


def test_background_crop_is_exact_without_zoom():
    ramp = torch.arange(SIZE * SIZE).view(1, 1, SIZE, SIZE) % 251
    config = CompositorConfig(background_zoom=0.0, relight=False).without_noise()
    faces, masks = _faces(2)
    batch = _run(Compositor(ramp.byte(), config), faces, torch.zeros_like(masks))
    assert torch.allclose(batch.image[:, :1], ramp.float().expand(2, 1, -1, -1) / 255, atol=1e-5)


def test_degradations_follow_their_probability():
    faces, masks = _faces(40)
    base = CompositorConfig(size=32).without_noise()
    reference = _run(Compositor(_backgrounds(), base), faces, masks, seed=7)
    for field in ("clahe_p", "noise_p", "blur_p"):
        for probability, low, high in ((1.0, 1.0, 1.0), (0.25, 0.2, 0.3)):
            config = CompositorConfig(**{**vars(base), field: probability})
            batch = _run(Compositor(_backgrounds(), config), faces, masks, seed=7)
            changed = (batch.image - reference.image).abs().amax((1, 2, 3)) > 1e-6
            assert low <= changed.float().mean() <= high, (field, probability)
            assert torch.equal(batch.clean, reference.clean)  # the target stays clean


@pytest.mark.parametrize("sigma", [0.02, 0.05, 0.1])
def test_noise_has_the_configured_standard_deviation(sigma: float):
    """Away from the [0, 1] clamp, the added noise is zero-mean with std `noise_sigma`."""
    faces, masks = _faces(16)
    base = CompositorConfig(size=32).without_noise()
    reference = _run(Compositor(_backgrounds(), base), faces, masks, seed=3).image[:, 0]
    noisy_config = CompositorConfig(**{**vars(base), "noise_p": 1.0, "noise_sigma": sigma})
    noisy = _run(Compositor(_backgrounds(), noisy_config), faces, masks, seed=3).image[:, 0]
    inside = (reference > 4 * sigma) & (reference < 1 - 4 * sigma)
    noise = (noisy - reference)[inside]
    assert noise.numel() > 5000
    assert abs(noise.mean().item()) < 0.05 * sigma
    assert noise.std().item() == pytest.approx(sigma, rel=0.05)


def test_fill_holes_matches_scipy():
    size = 48
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    radius = (y - 24) ** 2 + (x - 24) ** 2
    ring = (radius < 400) & (radius > 100)
    face_with_eyes = (radius < 400) & ~(((y - 18) ** 2 + (x - 16) ** 2) < 9)
    face_with_eyes &= ~(((y - 18) ** 2 + (x - 32) ** 2) < 9)
    open_c = ring & ~((x > 24) & (y > 20) & (y < 28))
    spiral = torch.zeros(size, size, dtype=torch.bool)
    spiral[8:40, 8] = spiral[8, 8:40] = spiral[8:40, 39] = spiral[39, 14:40] = True
    spiral[14:40, 14] = spiral[14, 14:34] = spiral[14:34, 33] = True  # a bay with 3 turns
    shapes = torch.stack([ring, face_with_eyes, open_c, spiral]).unsqueeze(1)
    expected = np.stack([ndi.binary_fill_holes(s[0].numpy()) for s in shapes])
    assert torch.equal(morphology.fill_holes(shapes, sweeps=3)[:, 0], torch.from_numpy(expected))
    assert torch.equal(
        morphology.fill_holes(shapes[:3], sweeps=1)[:, 0], torch.from_numpy(expected[:3])
    )


def test_fill_holes_one_sweep_is_exact_for_convex_masks():
    generator = torch.Generator().manual_seed(0)
    faces, masks = _faces(64)
    theta = invert_affine(
        warp.face_transform(
            0.6 + 0.8 * torch.rand(64, generator=generator),
            torch.rand(64, generator=generator) < 0.5,
            torch.rand(64, generator=generator) * 90 - 45,
            torch.rand(64, 2, generator=generator) * 0.6 - 0.3,
            torch.rand(64, 3, 2, generator=generator) * 0.4 - 0.2,
        )
    )
    warped = warp.sample(masks.unsqueeze(1).float(), theta, SIZE) > 0.5
    cleaned = morphology.erode(morphology.dilate(warped, 7), 13)
    expected = np.stack([ndi.binary_fill_holes(m[0].numpy()) for m in cleaned])
    assert torch.equal(morphology.fill_holes(cleaned)[:, 0], torch.from_numpy(expected))


@pytest.mark.parametrize("size", [3, 7, 13])
def test_dilate_erode_match_opencv_replicate(size):
    generator = torch.Generator().manual_seed(size)
    coarse = torch.rand(3, 1, 8, 8, generator=generator)
    masks = F.interpolate(coarse, size=SIZE, mode="bilinear") > 0.4
    kernel = np.ones((size, size), np.uint8)
    for op, ours in ((cv2.dilate, morphology.dilate), (cv2.erode, morphology.erode)):
        result = ours(masks, size)
        for i in range(3):
            reference = op(
                masks[i, 0].numpy().astype(np.uint8), kernel, borderType=cv2.BORDER_REPLICATE
            )
            assert np.array_equal(result[i, 0].numpy(), reference.astype(bool))


def test_clean_mask_margin_treats_the_border_as_open():
    margin = morphology.clean_margin(7)
    canvas = SIZE + 2 * margin
    y, x = torch.meshgrid(torch.arange(canvas), torch.arange(canvas), indexing="ij")
    half_plane = (x + y < 70).view(1, 1, canvas, canvas)
    cleaned = morphology.clean_mask(half_plane, 7, margin=margin)
    # Closing keeps a half-plane; the erosion by 7 moves its edge by 3 + 3 along each axis.
    assert torch.equal(cleaned, (x + y < 70 - 6)[None, None, margin:-margin, margin:-margin])


def test_clahe_matches_opencv_on_real_faces(ckplus48_dir):
    paths = sorted(ckplus48_dir.rglob("*.png"))[::97][:8]
    faces = np.stack([cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in paths])
    for size in (48, 64, 50):
        resized = np.stack([cv2.resize(f, (size, size)) for f in faces])
        ours = degradation.clahe(torch.from_numpy(resized).float().div(255).unsqueeze(1), 2.0, 8)
        opencv = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
        reference = np.stack([opencv.apply(f) for f in resized]).astype(np.float32)
        difference = np.abs(ours[:, 0].numpy() * 255 - reference)
        assert difference.max() <= 1.0 and difference.mean() < 0.05


def test_gaussian_blur_matches_opencv():
    image = torch.rand(3, 1, 32, 32)
    sides = torch.tensor([3.0, 5.0, 7.0])
    ours = degradation.gaussian_blur(image, degradation.gaussian_kernels(sides, 7))
    for i, side in enumerate((3, 5, 7)):
        sigma = 0.3 * ((side - 1) / 2 - 1) + 0.8  # OpenCV's rule (sigma 0 picks fixed tables)
        reference = cv2.GaussianBlur(image[i, 0].numpy(), (side, side), sigma)
        assert np.abs(ours[i, 0].numpy() - reference).max() < 1e-5


def test_lab_matches_skimage():
    rgb = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    lab = color.rgb_to_lab(rgb)
    reference = rgb2lab(rgb.permute(0, 2, 3, 1).numpy())
    assert np.abs(lab.permute(0, 2, 3, 1).numpy() - reference).max() < 1e-3
    assert torch.allclose(color.lab_to_rgb(lab), rgb, atol=1e-6)
    grey = torch.rand(2, 1, 16, 16, dtype=torch.float64)
    assert torch.allclose(
        color.grey_to_lightness(grey), color.rgb_to_lab(grey.expand(-1, 3, -1, -1))[:, :1]
    )
    assert torch.allclose(color.lightness_to_grey(color.grey_to_lightness(grey)), grey, atol=1e-9)
    assert torch.allclose(color.rgb_to_lightness(rgb), lab[:, :1], atol=1e-9)


def test_load_backgrounds_mixed_folder(tmp_path):
    cv2.imwrite(str(tmp_path / "grey.png"), np.full((120, 90), 100, np.uint8))
    cv2.imwrite(str(tmp_path / "colour.jpg"), np.full((80, 200, 3), (255, 0, 0), np.uint8))
    (tmp_path / "broken.png").write_bytes(b"not an image")
    (tmp_path / "notes.txt").write_text("ignored")
    pool = load_backgrounds(tmp_path)
    assert pool.shape == (2, 3, 80, 80) and pool.dtype == torch.uint8
    assert pool[0, 2].float().mean() > 240 and pool[0, 0].float().mean() < 15  # BGR -> RGB
    assert load_backgrounds(tmp_path, size=64, channels=1).shape == (2, 1, 64, 64)


def test_load_backgrounds_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        load_backgrounds(tmp_path / "missing")
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match=f"{tmp_path}.*no readable image"):
        load_backgrounds(tmp_path)


def test_split_backgrounds_deterministic_and_disjoint():
    train, test = split_backgrounds(50, 0.2, seed=3)
    again_train, again_test = split_backgrounds(50, 0.2, seed=3)
    assert torch.equal(train, again_train) and torch.equal(test, again_test)
    assert len(test) == 10 and len(train) == 40
    assert set(train.tolist()).isdisjoint(test.tolist())
    assert sorted(train.tolist() + test.tolist()) == list(range(50))
    assert not torch.equal(split_backgrounds(50, 0.2, seed=4)[1], test)
    with pytest.raises(ValueError, match="at least 2"):
        split_backgrounds(1)


def test_bad_input_errors():
    faces, masks = _faces(2)
    compositor = Compositor(_backgrounds())
    with pytest.raises(ValueError, match="faces without masks"):
        compositor(faces, None)
    with pytest.raises(ValueError, match="mask/face size mismatch"):
        compositor(faces, masks[:, :32, :32])
    with pytest.raises(ValueError, match="mask/face size mismatch"):
        compositor(faces, masks[:1])
    with pytest.raises(ValueError, match="masks must be bool"):
        compositor(faces, masks.float())
    with pytest.raises(ValueError, match="C = 1 or 3"):
        compositor(faces.expand(-1, 2, -1, -1), masks)
    with pytest.raises(ValueError, match="3 labels for 2 faces"):
        compositor(faces, masks, torch.zeros(3))
    with pytest.raises(ValueError, match="smaller than the output size 64x64"):
        Compositor(_backgrounds(size=48))
    with pytest.raises(ValueError, match="uint8"):
        Compositor(_backgrounds().float())
    with pytest.raises(ValueError, match="mode"):
        CompositorConfig(mode="val")
    with pytest.raises(ValueError, match="clahe_p"):
        CompositorConfig(clahe_p=1.5)
    with pytest.raises(ValueError, match="morph_kernel"):
        CompositorConfig(morph_kernel=6)


def test_affine_ranges_by_mode():
    assert CompositorConfig().affine_ranges == (30.0, 0.2, 0.1)
    assert CompositorConfig(mode="test").affine_ranges == (45.0, 0.3, 0.2)
    assert CompositorConfig(mode="test", rotation=10.0).affine_ranges == (10.0, 0.3, 0.2)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_runs_seeded():
    faces, masks = _faces(64, 3)
    compositor = Compositor(_backgrounds()).to("cuda")
    generator = torch.Generator(device="cuda").manual_seed(0)
    batch = compositor(faces.cuda(), masks.cuda(), generator=generator)
    again = compositor(faces.cuda(), masks.cuda(), generator=generator.manual_seed(0))
    assert batch.image.is_cuda and torch.equal(batch.mask, again.mask)
    assert torch.allclose(batch.image, again.image, atol=1e-6)
    assert batch.image.min() >= 0 and batch.image.max() <= 1 and not batch.image.isnan().any()
    with pytest.raises(ValueError, match="generator"):
        compositor(faces, masks, generator=torch.Generator())


def test_preview_grid_from_real_faces_and_backgrounds(ckplus48_dir, backgrounds_dir, tmp_path):
    paths = sorted(ckplus48_dir.rglob("*.png"))[::61][:16]
    faces = np.stack(
        [cv2.resize(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), (SIZE, SIZE)) for p in paths]
    )
    faces = torch.from_numpy(faces).unsqueeze(1)
    masks = _ellipse().expand(len(faces), SIZE, SIZE).clone()
    pool = load_backgrounds(backgrounds_dir)
    assert pool.shape[1:] == (3, 180, 180) and len(pool) > 500
    train, _ = split_backgrounds(len(pool))
    batch = _run(Compositor(pool[train[::4]]), faces, masks, seed=0)
    grid = preview_grid(batch, count=16, columns=4)
    path = tmp_path / "preview.png"
    assert cv2.imwrite(str(path), grid[..., ::-1])
    written = cv2.imread(str(path))
    assert written.shape == (4 * SIZE + 3 * 4, 4 * 3 * SIZE + 4 * 2 * 4 + 3 * 8, 3)
    assert written.std() > 30
    composites = batch.image[:, 0]
    outside = ~batch.mask[:, 0]
    assert composites[outside].std() > 0.1  # cluttered backgrounds, not black
