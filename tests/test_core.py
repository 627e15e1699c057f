"""Model shapes and counts, the MATLAB bicubic, BT.601 colour and the metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from srcnn.color import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from srcnn.metrics import psnr, psnr_y, ssim_y, to_y_uint8
from srcnn.model import SRCNN, config_from_state_dict
from srcnn.resize import imresize


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_parameter_counts_match_the_paper():
    assert n_params(SRCNN()) == 57_281
    assert n_params(SRCNN(f2=1)) == 8_129
    assert n_params(SRCNN(f2=3)) == 8_129 - 64 * 32 + 64 * 32 * 9
    assert SRCNN().receptive_radius == 8 and SRCNN(f2=1).receptive_radius == 6
    assert SRCNN().flops_per_pixel == 114_368 and SRCNN(f2=1).flops_per_pixel == 16_064


@pytest.mark.parametrize("channels", [1, 3])
def test_output_has_input_size(channels):
    m = SRCNN(channels=channels, f2=3)
    x = torch.rand(2, channels, 17, 23)
    assert m(x).shape == x.shape


def test_hyperparameters_come_back_from_a_state_dict():
    m = SRCNN(channels=3, f1=9, f2=1, f3=5, n1=32, n2=16)
    assert config_from_state_dict(m.state_dict()) == m.config


def test_even_filter_is_refused():
    with pytest.raises(ValueError):
        SRCNN(f2=4)


def test_imresize_matches_matlab_reference_values():
    # imresize([1 2; 3 4], 2, 'bicubic'), pixel (1, 1), by hand: u = 0.75, taps at -1..2 with weights
    # -0.0234375, 0.2265625, 0.8671875, -0.0703125; symmetric padding maps -1 -> 2 and 0 -> 1, so each row
    # gives 0.90625 (row [1 2]) and 2.90625 (row [3 4]), and the column pass gives 0.71875.
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    up = imresize(x, 2)
    assert up.shape == (4, 4)
    assert up[0, 0] == pytest.approx(0.71875, abs=1e-12)
    np.testing.assert_allclose(up, up[::-1, ::-1].max() + up.min() - up[::-1, ::-1], atol=1e-12)  # point-symmetric
    # a constant image stays constant, both directions, any scale
    c = np.full((13, 7), 0.3)
    for s in (1 / 3, 0.5, 2, 3, 4):
        np.testing.assert_allclose(imresize(c, s), 0.3, atol=1e-12)


def test_imresize_sizes_and_dtype():
    x = np.random.default_rng(0).random((30, 21)).astype(np.float32)
    assert imresize(x, 1 / 3).shape == (10, 7)
    assert imresize(x, 3).shape == (90, 63)
    assert imresize(x, 3).dtype == np.float32
    assert imresize(torch.from_numpy(x), size=(40, 50)).shape == (40, 50)
    with pytest.raises(TypeError):
        imresize(np.zeros((4, 4), np.uint8), 2)


def test_ycbcr_round_trip_and_matlab_values():
    rgb = np.random.default_rng(0).random((5, 6, 3))
    back = ycbcr_to_rgb(rgb_to_ycbcr(rgb))
    np.testing.assert_allclose(back, rgb, atol=1e-12)
    white = rgb_to_ycbcr(np.ones((1, 1, 3)))[0, 0] * 255
    black = rgb_to_ycbcr(np.zeros((1, 1, 3)))[0, 0] * 255
    np.testing.assert_allclose(white, [235, 128, 128], atol=1e-3)
    np.testing.assert_allclose(black, [16, 128, 128], atol=1e-3)
    t = torch.rand(2, 3, 4, 5, dtype=torch.float64)
    np.testing.assert_allclose(rgb_to_y(t).numpy(), rgb_to_ycbcr(t)[:, 0].numpy(), atol=1e-12)


def test_gray_values_are_y_as_they_are():
    g = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert np.array_equal(to_y_uint8(g), g)
    assert np.array_equal(to_y_uint8(g[:, :, None]), g)
    # a gray picture carried as R = G = B (an RGB method's output): Y is the rounded mean, not BT.601's Y
    rgb = np.repeat(g[:, :, None], 3, axis=2)
    assert np.array_equal(to_y_uint8(rgb, gray=True), g)
    assert not np.array_equal(to_y_uint8(rgb), g)
    rgb[:, :, 0] = np.minimum(rgb[:, :, 0].astype(int) + 2, 255)
    assert np.array_equal(to_y_uint8(rgb, gray=True), np.round(rgb.astype(np.float64).mean(2)).astype(np.uint8))


def test_seed_psnr_semantics():
    a = torch.zeros(4, 4)
    assert psnr(a, a) == 100.0
    b = a + 0.1
    assert psnr(a, b) == pytest.approx(20.0, abs=1e-5)
    assert psnr(a * 255, b * 255, max_val=255.0) == pytest.approx(20.0, abs=1e-5)


def test_protocol_psnr_and_ssim():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (40, 40), dtype=np.uint8)
    b = np.clip(a.astype(int) + 5, 0, 255).astype(np.uint8)
    assert psnr_y(a, a) == float("inf")
    mse = np.mean((a[3:-3, 3:-3].astype(float) - b[3:-3, 3:-3]) ** 2)
    assert psnr_y(a, b, 3) == pytest.approx(10 * np.log10(255**2 / mse))
    assert ssim_y(a, a) == pytest.approx(1.0)
    assert ssim_y(a, b) < 1.0
