"""Degradations do what they say; on-the-fly datasets give the documented shapes, dtypes and ranges."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from srcnn.data import PhotoPatches, make_val_images, rescale_photos, split_photos
from srcnn.degrade import Degradation, add_noise, bicubic_down_up, downscale, gaussian_blur, jpeg, modcrop
from srcnn.metrics import psnr

from .conftest import smooth_image


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return smooth_image(96, 120, 1, seed=3)[:, :, 0].astype(np.float32) / 255.0


def test_jpeg_quality_lowers_psnr_monotonically(photo):
    scores = [psnr(photo, jpeg(photo, q)) for q in (10, 20, 40, 70, 95)]
    assert scores == sorted(scores) and scores[0] < scores[-1] - 5


def test_jpeg_keeps_shape_dtype_and_range(photo):
    out = jpeg(photo, 20)
    assert out.shape == photo.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    rgb = np.stack([photo] * 3, -1)
    assert jpeg(rgb, 50).shape == rgb.shape


def test_blur_smooths_more_with_larger_sigma(photo):
    def roughness(a):
        return float(np.abs(np.diff(a, axis=1)).mean())

    r = [roughness(gaussian_blur(photo, s)) for s in (0, 0.5, 1.0, 2.0)]
    assert r == sorted(r, reverse=True)
    assert np.array_equal(gaussian_blur(photo, 0), photo)
    flat = np.full((20, 20), 0.4, np.float32)
    np.testing.assert_allclose(gaussian_blur(flat, 1.5), 0.4, atol=1e-6)  # mean kept, borders too


def test_bicubic_sizes_and_loss(photo):
    assert downscale(modcrop(photo, 3), 3).shape == (32, 40)
    assert modcrop(np.zeros((100, 101)), 4).shape == (100, 100)
    scores = [psnr(photo, bicubic_down_up(photo, s)) for s in (2, 3, 4)]
    assert all(bicubic_down_up(photo, s).shape == photo.shape for s in (2, 3, 4, 2.5))
    assert scores == sorted(scores, reverse=True)


def test_noise_has_the_requested_strength(photo):
    rng = np.random.default_rng(0)
    noisy = add_noise(np.full((200, 200), 0.5, np.float32), 0.05, rng)
    assert abs(float(noisy.std()) - 0.05) < 0.005


def test_ranges_are_sampled_within_bounds():
    d = Degradation(scale=(2, 4), blur=(0.0, 1.0), noise=(0.0, 0.01), quality=(30, 95))
    rng = np.random.default_rng(0)
    draws = [d.sample(rng) for _ in range(200)]
    assert {x["scale"] for x in draws} == {2.0, 3.0, 4.0}
    assert all(30 <= x["quality"] <= 95 and 0 <= x["blur"] <= 1 for x in draws)
    cont = Degradation(scale=(1.0, 4.0))
    scales = {cont.sample(rng)["scale"] for _ in range(50)}
    assert len(scales) > 10 and all(1 <= s <= 4 and round(s * 20) == s * 20 for s in scales)


@pytest.mark.parametrize("deg", [Degradation(scale=3), Degradation(quality=(10, 40)),
                                 Degradation(scale=(1.0, 4.0), blur=(0.0, 1.0), noise=(0.0, 0.01), quality=(30, 95))])
def test_photo_patches_contract(deg):
    photos = [smooth_image(90, 110, 1, seed=i)[:, :, 0].astype(np.float32) / 255 for i in range(3)]
    ds = PhotoPatches(photos, patch=32, degradation=deg, seed=7)
    inp, tgt = ds[5]
    assert inp.shape == tgt.shape == (1, 32, 32)
    assert inp.dtype == tgt.dtype == torch.float32
    assert 0 <= float(inp.min()) and float(inp.max()) <= 1 and 0 <= float(tgt.min()) and float(tgt.max()) <= 1
    assert not torch.equal(inp, tgt)  # the input really is degraded
    again, _ = PhotoPatches(photos, patch=32, degradation=deg, seed=7)[5]
    assert torch.equal(inp, again)  # item i depends only on (seed, i)
    other, _ = ds[6]
    assert not torch.equal(inp, other)


def test_rgb_patches_have_three_channels():
    photos = [smooth_image(64, 64, 3).astype(np.float32) / 255]
    inp, tgt = PhotoPatches(photos, patch=24, degradation=Degradation(scale=2))[0]
    assert inp.shape == tgt.shape == (3, 24, 24)


def test_cached_patches_equal_whole_image_degradation():
    photo = smooth_image(60, 60, 1)[:, :, 0].astype(np.float32) / 255
    ds = PhotoPatches([photo], patch=60, degradation=Degradation(scale=3), augment=False)
    inp, tgt = ds[0]
    np.testing.assert_allclose(inp[0].numpy(), bicubic_down_up(photo, 3), atol=1e-6)
    np.testing.assert_array_equal(tgt[0].numpy(), photo)


def test_split_is_by_name_and_stable(tmp_path):
    from pathlib import Path

    paths = [Path(f"/x/{i}.png") for i in range(20)]
    train, val = split_photos(paths, 4)
    assert len(val) == 4 and not set(train) & set(val)
    train2, val2 = split_photos(list(reversed(paths)) + [Path("/x/new.png")], 4)
    assert len(set(val) & set(val2)) >= 3  # adding a photo moves at most one


def test_val_images_are_deterministic():
    photo = smooth_image(48, 48, 1)[:, :, 0].astype(np.float32) / 255
    a = make_val_images([("p", photo)], Degradation(scale=(2, 4), quality=(20, 40)), seed=1)
    b = make_val_images([("p", photo)], Degradation(scale=(2, 4), quality=(20, 40)), seed=1)
    assert torch.equal(a[0].input, b[0].input) and a[0].target_y.dtype == np.uint8


def test_rescale_gives_each_photo_at_each_size_with_the_one_bicubic():
    rng = np.random.default_rng(3)
    photo = (rng.integers(0, 256, (90, 60)) / 255.0).astype(np.float32)
    flat = np.full((40, 41), 128 / 255, dtype=np.float32)
    out = rescale_photos([photo, flat], [1.0, 0.5])
    assert [o.shape for o in out] == [(90, 60), (40, 41), (45, 30), (20, 20)]
    assert out[0] is photo and out[2].dtype == np.float32
    assert np.all(out[3] == np.float32(128 / 255))  # a flat photo stays flat (the kernel sums to 1)
    ref = np.clip(np.rint(downscale(photo.astype(np.float64), 2) * 255), 0, 255) / 255  # the degradations' bicubic
    assert np.abs(out[2] - ref).max() < 1e-6
    ds = PhotoPatches(out, 16, Degradation(scale=3))
    assert len(ds.photos) == 4  # the training stream draws from all four


def test_flat_pictures_take_their_share_of_the_area_are_flat_and_mostly_dark():
    """data.flat: a share of the training area in flat one-colour pictures, so a net learns flat in, flat out
    (a flat near-black 16-bit picture must come out flat: tests/test_depth.py)."""
    from srcnn.data import flat_photos

    rng = np.random.default_rng(0)
    photos = [rng.random((300, 400, 3)).astype(np.float32) for _ in range(10)]
    flats = flat_photos(photos, 0.05, 48, seed=1)
    area = sum(p.shape[0] * p.shape[1] for p in photos)
    flat_area = sum(p.shape[0] * p.shape[1] for p in flats)
    assert abs(flat_area / (area + flat_area) - 0.05) < 0.01
    assert all(p.shape[2] == 3 and p.dtype == np.float32 and np.ptp(p, axis=(0, 1)).max() == 0 for p in flats)
    assert np.median([p.mean() for p in flats]) < 0.25  # dark-biased
    assert flat_photos(photos, 0.0, 48) == []
    assert min(p.shape[0] for p in flat_photos(photos, 0.001, 96)) == 96  # never smaller than a patch
    assert flat_photos(photos, 0.05, 48, seed=1)[3].mean() == flats[3].mean()  # seeded
    with pytest.raises(ValueError, match="data.flat"):
        flat_photos(photos, 1.0, 48)
