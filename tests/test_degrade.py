"""The realistic degradations of srcnn.degrade: kernels, resizes, noise, JPEG, chains, presets, margins."""

from __future__ import annotations

import math

import numpy as np
import pytest

from srcnn import degrade as D
from srcnn.resize import imresize

from .conftest import smooth_image


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return smooth_image(96, 96, 3, seed=3).astype(np.float32) / 255.0


def _second_moments(k: np.ndarray) -> tuple[float, float, float]:
    ax = np.arange(k.shape[0]) - (k.shape[0] - 1) / 2
    yy, xx = np.meshgrid(ax, ax, indexing="ij")
    return float((k * xx * xx).sum()), float((k * yy * yy).sum()), float((k * xx * yy).sum())


@pytest.mark.parametrize("make", [
    lambda: D.gaussian_kernel(21, 2.0),
    lambda: D.gaussian_kernel(15, 3.0, 0.5, 0.7),
    lambda: D.generalized_gaussian_kernel(21, 2.0, 1.0, 0.3, beta=0.5),
    lambda: D.generalized_gaussian_kernel(21, 2.0, beta=4.0),
    lambda: D.plateau_kernel(21, 1.5, 0.8, -1.0, beta=1.5),
    lambda: D.sinc_kernel(21, math.pi / 4),
    lambda: D.sinc_kernel(7, math.pi / 2),
])
def test_kernels_sum_to_one_and_are_point_symmetric(make) -> None:
    k = make()
    assert k.dtype == np.float32 and k.ndim == 2 and k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    assert abs(float(k.sum(dtype=np.float64)) - 1) < 1e-5
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-7)
    assert np.unravel_index(np.argmax(k), k.shape) == (k.shape[0] // 2,) * 2


def test_gaussian_shape_and_orientation() -> None:
    iso = D.gaussian_kernel(21, 2.0)
    vx, vy, cxy = _second_moments(iso)
    assert abs(vx - 4.0) < 0.05 and abs(vy - 4.0) < 0.05 and abs(cxy) < 1e-6
    np.testing.assert_allclose(iso, iso.T, atol=1e-8)
    horiz = D.gaussian_kernel(21, 3.0, 1.0, 0.0)  # theta 0: sigma_x along x (columns)
    vx, vy, _ = _second_moments(horiz)
    assert abs(vx - 9.0) < 0.3 and abs(vy - 1.0) < 0.05
    vert = D.gaussian_kernel(21, 3.0, 1.0, math.pi / 2)
    vx, vy, _ = _second_moments(vert)
    assert abs(vy - 9.0) < 0.3 and abs(vx - 1.0) < 0.05
    diag = D.gaussian_kernel(21, 3.0, 1.0, math.pi / 4)  # x and y grow together
    assert _second_moments(diag)[2] > 3.0
    with pytest.raises(ValueError):
        D.gaussian_kernel(20, 1.0)


def test_generalized_and_plateau_shapes() -> None:
    g = D.gaussian_kernel(21, 2.0)
    sharp = D.generalized_gaussian_kernel(21, 2.0, beta=0.5)
    flat = D.generalized_gaussian_kernel(21, 2.0, beta=4.0)
    c = 10
    assert sharp[c, 0] / sharp[c, c] > g[c, 0] / g[c, c]  # beta < 1: heavier tails (and a cusp)
    assert flat[c, c + 1] / flat[c, c] > g[c, c + 1] / g[c, c]  # beta > 1: a flatter top
    assert flat[c, 0] / flat[c, c] < g[c, 0] / g[c, c]  # ... and a faster decay
    np.testing.assert_allclose(D.generalized_gaussian_kernel(21, 2.0, beta=1.0), g, atol=1e-7)
    plateau = D.plateau_kernel(21, 2.0, beta=2.0)
    assert abs(plateau[c, c] - plateau[c, c + 1]) < 0.1 * plateau[c, c]  # flat top
    assert plateau[c, 0] > g[c, 0] * 10  # heavy tails
    assert (plateau > 0).all() and (sharp > 0).all()


def test_sinc_rings() -> None:
    k = D.sinc_kernel(21, math.pi / 4)
    assert k.min() < -1e-3 * k.max()  # negative lobes
    step = np.zeros((40, 40), np.float32)
    step[:, 20:] = 1.0
    out = D.convolve(step, k)
    assert out.max() > 1.02 and out.min() < -0.02  # overshoot and undershoot at the edge: ringing
    assert not (D.convolve(step, D.gaussian_kernel(21, 2.0)) > 1 + 1e-5).any()


def test_convolve_matches_direct(photo) -> None:
    from scipy import ndimage

    for k in (D.gaussian_kernel(13, 1.5, 0.7, 0.4), D.sinc_kernel(11, 1.0)):
        ref = ndimage.correlate(photo.astype(np.float64), k[:, :, None].astype(np.float64), mode="reflect")
        np.testing.assert_allclose(D.convolve(photo, k), ref, atol=2e-6)
        np.testing.assert_allclose(D.convolve(photo[..., 0], k), ref[..., 0], atol=2e-6)


def test_resize_modes(photo) -> None:
    # bicubic is imresize itself
    for f, size in ((0.5, None), (0.37, (40, 33)), (1.3, None)):
        out = D.resize(photo, f, "bicubic", size=size)
        ref = imresize(np.ascontiguousarray(photo.transpose(2, 0, 1)).astype(np.float64), f,
                       size=out.shape[:2]).transpose(1, 2, 0)
        np.testing.assert_allclose(out, ref, atol=1e-6)
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(photo.transpose(2, 0, 1)))[None]
    for mode in ("bilinear", "area"):
        ref = F.interpolate(t, scale_factor=0.5, mode=mode)[0].numpy().transpose(1, 2, 0)
        np.testing.assert_allclose(D.resize(photo, 0.5, mode), ref, atol=1e-6)
    ref = F.interpolate(t, scale_factor=2.0, mode="bilinear")[0].numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(D.resize(photo, 2.0, "bilinear"), ref, atol=1e-6)
    assert D.resize(photo, 0.3, "area").shape == (29, 29, 3)
    assert D.resize(photo[..., 0], 0.5, "area", size=(10, 12)).shape == (10, 12)
    with pytest.raises(ValueError):
        D.resize(photo, 0.5, "nearest")


def test_noise_colour_and_luma(photo) -> None:
    flat = np.full((64, 64, 3), 0.5, np.float32)
    for fn, amount in ((D.gaussian_noise, 0.05), (D.poisson_noise, 1.0)):
        colour = fn(flat, amount, np.random.default_rng(0)) - flat
        luma = fn(flat, amount, np.random.default_rng(0), gray=True) - flat
        assert np.abs(colour[..., 0] - colour[..., 1]).mean() > 0.01  # independent channels
        np.testing.assert_allclose(luma[..., 0], luma[..., 1], atol=1e-6)  # one plane for all
        np.testing.assert_allclose(luma[..., 0], luma[..., 2], atol=1e-6)
        np.testing.assert_array_equal(fn(flat, amount, np.random.default_rng(1)),
                                      fn(flat, amount, np.random.default_rng(1)))
        assert not np.array_equal(fn(flat, amount, np.random.default_rng(1)),
                                  fn(flat, amount, np.random.default_rng(2)))
    g = D.gaussian_noise(flat, 0.05, np.random.default_rng(0)) - flat
    assert abs(float(g.std()) - 0.05) < 0.003
    p = D.poisson_noise(flat, 1.0, np.random.default_rng(0)) - flat  # std sqrt(0.5 / 256)
    assert abs(float(p.std()) - math.sqrt(0.5 / 256)) < 0.003
    dark = np.full((64, 64), 0.02, np.float32)  # exact Poisson for low counts: mean kept
    assert abs(float(D.poisson_noise(dark, 1.0, np.random.default_rng(0)).mean()) - 0.02) < 0.002
    out = D.gaussian_noise(photo, 0.3, np.random.default_rng(0))
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    cov = (0.05**2 * np.array([[1, 0.9, 0], [0.9, 1, 0], [0, 0, 1]])).ravel()
    c = D.gaussian_noise(flat, 0.0, np.random.default_rng(0), cov=tuple(cov)) - flat
    assert np.corrcoef(c[..., 0].ravel(), c[..., 1].ravel())[0, 1] > 0.8


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
@pytest.mark.parametrize("order", D.ORDERS)
def test_sizes_range_determinism(order, scale) -> None:
    hr = smooth_image(24 * scale, 36 * scale, 3, seed=scale).astype(np.float32) / 255.0
    deg = D.RealisticDegradation(scale=scale, order=order)
    for seed in range(3):
        params = deg.sample(np.random.default_rng(seed))
        assert params == deg.sample(np.random.default_rng(seed))
        lr = deg.apply(hr, params)
        assert lr.shape == (24, 36, 3) and lr.dtype == np.float32
        assert lr.min() >= 0 and lr.max() <= 1
        np.testing.assert_array_equal(lr, deg.apply(hr, params))  # replay from params alone
        assert params.margin % scale == 0 and 0 < params.margin <= deg.margin
        assert D.Params.from_dict(params.to_dict()) == params
    gray = deg.apply(hr[..., 1], deg.sample(np.random.default_rng(0)))
    assert gray.shape == (24, 36)
    a, b = deg.sample(np.random.default_rng(0)), deg.sample(np.random.default_rng(1))
    assert a != b and not np.array_equal(deg.apply(hr, a), deg.apply(hr, b))
    with pytest.raises(ValueError):
        deg.apply(hr[: 24 * scale - 1] if scale > 1 else hr, a) if scale > 1 else D.RealisticDegradation(scale=5)


def test_ranges_respected() -> None:
    deg = D.RealisticDegradation(scale=4)
    qualities, sigmas, kinds = [], [], set()
    for seed in range(200):
        params = deg.sample(np.random.default_rng(seed))
        for st in params.steps:
            if isinstance(st, D.Jpeg):
                qualities.append(st.quality)
            elif isinstance(st, D.Blur):
                kinds.add(st.kind)
                assert st.size in deg.kernel_sizes
                if st.kind == "sinc":
                    assert math.pi / 5 <= st.cutoff <= math.pi
                else:
                    sigmas += [st.sigma_x, st.sigma_y]
            elif isinstance(st, D.Noise):
                assert (0 < st.amount <= 30 / 255) if st.kind == "gaussian" else (0.05 <= st.amount <= 3)
            elif isinstance(st, D.Resize):
                assert 0.15 / 4 <= st.scale <= 1.5 and st.mode in D.RESIZE_MODES
        assert isinstance(params.steps[0], D.Blur) and sum(isinstance(s, D.Jpeg) for s in params.steps) == 2
    assert 30 <= min(qualities) and max(qualities) <= 95 and max(qualities) - min(qualities) > 50
    assert 0.2 <= min(sigmas) and max(sigmas) <= 3.0
    assert kinds == set(D.BLUR_KINDS) | {"sinc"}
    narrow = D.RealisticDegradation(scale=2, jpeg_range=(40, 45), jpeg_range2=(70, 70))
    for seed in range(20):
        q = [s.quality for s in narrow.sample(np.random.default_rng(seed)).steps if isinstance(s, D.Jpeg)]
        assert 40 <= q[0] <= 45 and q[1] == 70


def test_jpeg_step_quality_matters(photo) -> None:
    gray = photo[..., 1]
    lo = D.apply_steps(gray, (D.Jpeg(10),), 1, np.random.default_rng(0))
    hi = D.apply_steps(gray, (D.Jpeg(95),), 1, np.random.default_rng(0))
    assert np.abs(lo - gray).mean() > 2 * np.abs(hi - gray).mean()
    np.testing.assert_allclose(lo, D.jpeg(gray, 10), atol=1e-7)


def test_second_order_differs_from_first_order(photo) -> None:
    first = D.RealisticDegradation(scale=2, order="first_order")
    second = D.RealisticDegradation(scale=2, order="second_order")
    p1, p2 = first.sample(np.random.default_rng(0)), second.sample(np.random.default_rng(0))
    assert len(p2.steps) > len(p1.steps)
    assert sum(isinstance(s, D.Resize) for s in p2.steps) > sum(isinstance(s, D.Resize) for s in p1.steps)
    assert not np.array_equal(first.apply(photo, p1), second.apply(photo, p2))


def test_shuffled_order_varies() -> None:
    deg = D.RealisticDegradation(scale=2, order="shuffled")
    orders = {tuple(type(s).__name__ for s in deg.sample(np.random.default_rng(i)).steps) for i in range(20)}
    assert len(orders) > 5


def test_margin_is_sufficient() -> None:
    """Degrading a crop with its margin, then cropping, equals degrading the whole image, then cropping."""
    scale = 2
    hr = smooth_image(192, 192, 3, seed=7).astype(np.float32) / 255.0
    steps = (D.Blur("aniso", 21, 3.0, 0.8, 0.6), D.Resize(0.5, "bicubic"), D.Blur("plateau_iso", 15, 1.5, 1.5,
             beta=1.0), D.Resize(0.25, "area"), D.Resize(0.5, "bilinear"), D.Blur("sinc", 13, cutoff=1.2))
    m = D.steps_margin(steps, scale)
    assert m % scale == 0 and m > 20
    m8 = -(-m // 8) * 8  # crop offsets that keep every intermediate grid aligned (scales 1/2, 1/4)
    whole = D.apply_steps(hr, steps, scale, np.random.default_rng(0))
    y, x, p = 72, 80, 40
    crop = hr[y - m8 : y + p + m8, x - m8 : x + p + m8]
    part = D.apply_steps(crop, steps, scale, np.random.default_rng(0))
    a = whole[y // 2 : (y + p) // 2, x // 2 : (x + p) // 2]
    b = part[m8 // 2 : (m8 + p) // 2, m8 // 2 : (m8 + p) // 2]
    assert np.abs(a - b).max() <= 1.01 / 255  # equal up to one 8-bit level (final rounding)
    assert np.abs(a - b).mean() < 0.05 / 255
    # without the margin the border effects reach the patch
    tight = D.apply_steps(hr[y : y + p, x : x + p], steps, scale, np.random.default_rng(0))
    assert np.abs(a - tight).max() > 4 / 255


def test_worst_case_margin_bounds_drawn() -> None:
    for order in D.ORDERS:
        deg = D.RealisticDegradation(scale=4, order=order)
        assert max(deg.sample(np.random.default_rng(i)).margin for i in range(30)) <= deg.margin


def test_seed_preset(photo) -> None:
    seed = D.preset("seed")
    assert isinstance(seed, D.SeedDegradation) and seed.size == 1024 and seed.quality == 20
    big = smooth_image(300, 200, 3, seed=1).astype(np.float32) / 255.0
    good, poor = seed.apply(big)
    assert good.shape == poor.shape == (1024, 1024) and good.dtype == np.float32
    from srcnn.prepare import PRESETS, degrade_photo, resize_photo, to_color

    u8 = np.round(big * 255).astype(np.uint8)
    g = resize_photo(u8, 1024)
    np.testing.assert_array_equal(np.round(good * 255).astype(np.uint8), to_color(g, "gray"))
    np.testing.assert_array_equal(np.round(poor * 255).astype(np.uint8),
                                  to_color(degrade_photo(g, PRESETS["seed"]), "gray"))
    assert isinstance(D.preset("bsrgan", 4), D.RealisticDegradation)
    assert D.preset("bsrgan", 4).order == "shuffled" and D.preset("realesrgan").order == "second_order"
    with pytest.raises(ValueError):
        D.preset("nope")


def test_existing_api_unchanged(photo) -> None:
    d = D.Degradation(scale=2, blur=0.5, noise=0.01, quality=50)
    p = d.sample(np.random.default_rng(0))
    assert set(p) == {"scale", "blur", "noise", "quality"}
    assert d.apply(photo, p, np.random.default_rng(0)).shape == photo.shape
    assert d.apply(photo, p, np.random.default_rng(0), upsample=False).shape == (48, 48, 3)
    assert D.bicubic_down_up(photo, 2).shape == photo.shape
