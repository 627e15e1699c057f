"""The Python API: load_model -> Enhancer; PIL in/out keeps mode, alpha and bit depth; tiling is exact; colour safe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import srcnn
import srcnn.enhance
from srcnn.cli import main
from srcnn.color import rgb_to_ycbcr, ycbcr_to_rgb
from srcnn.images import Picture, from_pil, read
from srcnn.resize import imresize, output_size

from .conftest import make_weights, smooth_image
from .reference_enhance import enhance_array


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    make_weights(path)
    return path


@pytest.fixture(scope="module")
def model(weights) -> srcnn.Enhancer:
    return srcnn.load_model(weights, device="cpu")


def test_load_model_reads_scale_and_is_the_same_api(weights, model):
    assert srcnn.load_model is srcnn.enhance.load_model
    assert model.scale == 2 and model.channels == 1 and model.model is not None
    assert model.receptive_radius == 6


def test_rgb_image_doubles(model):
    img = Image.fromarray(smooth_image(21, 34))
    out = model.enhance(img, scale=2)
    assert out.mode == "RGB" and out.size == (68, 42)
    # the network did something beyond bicubic
    bic = srcnn.load_model("bicubic", device="cpu").enhance(img, scale=2)
    assert np.abs(np.asarray(out, dtype=int) - np.asarray(bic, dtype=int)).max() > 2


def test_default_scale_comes_from_the_weights(model):
    out = model.enhance(Image.fromarray(smooth_image(10, 12)))
    assert out.size == (24, 20)


def test_gray_stays_gray(model):
    img = Image.fromarray(smooth_image(19, 25, channels=1)[:, :, 0])
    assert img.mode == "L"
    out = model.enhance(img, scale=2)
    assert out.mode == "L" and out.size == (50, 38)


def test_rgba_keeps_alpha_upscaled(model):
    rgb = smooth_image(16, 20)
    alpha = np.zeros((16, 20), np.uint8)
    alpha[:, 10:] = 255  # left half transparent, right half opaque
    img = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    out = model.enhance(img, scale=2)
    assert out.mode == "RGBA" and out.size == (40, 32)
    a = np.asarray(out)[:, :, 3]
    assert (a[:, :16] == 0).all() and (a[:, 24:] == 255).all()
    expected = np.clip(np.round(imresize(alpha.astype(np.float64) / 255.0, 2) * 255), 0, 255)
    assert np.abs(a.astype(int) - expected.astype(int)).max() <= 1


@pytest.fixture(scope="module")
def trained() -> srcnn.Enhancer:
    """A shipped network: on a smooth ramp its output is the ramp, sharpened (the random ``model`` saturates)."""
    return srcnn.load_model("srcnn-x2", device="cpu")


def test_16bit_gray_pil_stays_16bit(trained):
    yy, xx = np.mgrid[0:24, 0:30]
    px = (xx * 2000 + yy * 37 + 1).astype(np.uint16)  # uses values between the 8-bit steps
    img = Image.fromarray(px.astype("<u2"))
    assert img.mode == "I;16"
    out = trained.enhance(img, scale=2)
    assert out.mode == "I;16" and out.size == (60, 48)
    arr = np.asarray(out)
    assert arr.max() > 255 and np.any(arr % 257 != 0)
    assert abs(float(arr.mean()) - float(px.mean())) < 1000  # the ramp, not a saturated net


def test_16bit_gray_png_through_cli_stays_16bit(tmp_path, capsys):
    yy, xx = np.mgrid[0:24, 0:30]
    src = tmp_path / "deep.png"
    Image.fromarray((xx * 2000 + yy * 37 + 1).astype("<u2")).save(src)
    assert read(src).pixels.dtype == np.uint16
    assert main(["enhance", str(src), "-m", "srcnn-x2", "--quiet"]) == 0
    pic = read(tmp_path / "deep_srcnn.png")
    assert pic.pixels.dtype == np.uint16 and pic.is_gray and pic.pixels.shape == (48, 60, 1)
    assert np.any(pic.pixels % 257 != 0)  # really 16 bits, not 8 bits stretched


def test_tensor_call_contract(model):
    x = torch.rand(2, 1, 13, 17, generator=torch.Generator().manual_seed(3))
    y = model(x)
    assert y.shape == x.shape and y.dtype == torch.float32
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    assert float((y - x).abs().max()) > 1e-3  # not the identity
    with pytest.raises(ValueError):
        model(torch.rand(1, 3, 8, 8))


@pytest.mark.parametrize("shape", [(1, 1, 23, 31), (2, 1, 17, 9), (1, 1, 29, 1), (1, 1, 1, 13), (1, 1, 1, 1)])
def test_tiled_equals_untiled_through_the_enhancer(model, shape):
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(sum(shape)))
    tiled = model(x, tile=7)
    whole = model(x, tile=10_000)
    assert tiled.shape == whole.shape == x.shape
    assert float((tiled - whole).abs().max()) <= 1e-5


def test_tiled_equals_untiled_for_pictures(model):
    img = Image.fromarray(smooth_image(23, 17))
    a = np.asarray(model.enhance(img, scale=2, tile=9))
    b = np.asarray(model.enhance(img, scale=2, tile=10_000))
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_neutral_gray_stays_neutral(model):
    g = smooth_image(20, 26, channels=1)
    img = Image.fromarray(np.repeat(g, 3, axis=2))
    out = np.asarray(model.enhance(img, scale=2)).astype(int)
    assert np.abs(out[:, :, 0] - out[:, :, 1]).max() <= 1
    assert np.abs(out[:, :, 0] - out[:, :, 2]).max() <= 1


def test_bicubic_model_is_imresize_of_each_ycbcr_plane():
    rgb8 = smooth_image(15, 22, seed=4)
    out = np.asarray(srcnn.load_model("bicubic", device="cpu").enhance(Image.fromarray(rgb8), scale=3)).astype(int)
    assert out.shape == (45, 66, 3)
    x = rgb8.astype(np.float64) / 255.0
    ycc = imresize(np.ascontiguousarray(rgb_to_ycbcr(x).transpose(2, 0, 1)), 3)
    ycc[0] = np.clip(ycc[0], 0, 1)
    expected = np.clip(np.round(ycbcr_to_rgb(ycc.transpose(1, 2, 0)) * 255), 0, 255)
    assert np.abs(out - expected).max() <= 1
    # bicubic is linear, so it also matches resizing R, G and B directly
    direct = np.clip(np.round(imresize(np.ascontiguousarray(x.transpose(2, 0, 1)), 3).transpose(1, 2, 0) * 255),
                     0, 255)
    assert np.abs(out - direct).max() <= 1


# --------------------------------------------------------------------------------------------------------------
# Fractional scales (e.g. 1.5): each side becomes resize.output_size(n, s) = ceil(n * s)


def _rgba_picture(h: int, w: int) -> Picture:
    alpha = np.zeros((h, w), np.uint8)
    alpha[:, w // 2:] = 255  # left half transparent, right half opaque
    return from_pil(Image.fromarray(np.dstack([smooth_image(h, w), alpha]), "RGBA"))


@pytest.mark.parametrize("s", [1, 2, 3])
@pytest.mark.parametrize("kind", ["rgb", "gray", "rgba", "gray16"])
def test_whole_scales_as_float_are_bit_identical(model, kind, s):
    """A whole scale given as a float (2.0) takes the integer path exactly: n * s sides, the very same pixels."""
    pic = {"rgb": lambda: from_pil(Image.fromarray(smooth_image(17, 23))),
           "gray": lambda: from_pil(Image.fromarray(smooth_image(17, 23, channels=1)[:, :, 0])),
           "rgba": lambda: _rgba_picture(17, 23),
           "gray16": lambda: from_pil(Image.fromarray((np.mgrid[0:17, 0:23][1] * 2000 + 7).astype("<u2")))}[kind]()
    a = model.enhance_picture(pic, scale=s)
    b = model.enhance_picture(pic, scale=float(s))
    assert a.pixels.shape[:2] == (17 * s, 23 * s)
    assert a.pixels.dtype == b.pixels.dtype and np.array_equal(a.pixels, b.pixels)
    assert (a.alpha is None) == (b.alpha is None) == (kind != "rgba")
    if a.alpha is not None:
        assert a.alpha.shape == (17 * s, 23 * s) and np.array_equal(a.alpha, b.alpha)
    x = smooth_image(17, 23).astype(np.float32) / 255.0
    assert np.array_equal(enhance_array(model, x, scale=s), enhance_array(model, x, scale=float(s)))


def test_scale_1_5_rgb_sizes_and_values(model):
    rgb8 = smooth_image(17, 23)
    h, w = output_size(17, 1.5), output_size(23, 1.5)
    assert (h, w) == (26, 35)  # ceil(25.5), ceil(34.5): MATLAB's rule
    x = rgb8.astype(np.float32) / 255.0
    arr = enhance_array(model, x, scale=1.5)
    assert arr.shape == (h, w, 3) and arr.dtype == np.float32
    assert float(arr.min()) >= 0.0 and float(arr.max()) <= 1.0
    pic = model.enhance_picture(from_pil(Image.fromarray(rgb8)), scale=1.5)
    assert pic.pixels.shape == (h, w, 3) and pic.pixels.dtype == np.uint8 and pic.alpha is None
    assert np.abs(pic.pixels.astype(int) - np.round(arr * 255).astype(int)).max() <= 1  # same result, quantized
    out = model.enhance(Image.fromarray(rgb8), scale=1.5)  # the PIL API agrees
    assert out.mode == "RGB" and out.size == (w, h) and np.array_equal(np.asarray(out), pic.pixels)
    # the network ran on Y of the 1.5x bicubic, merged with the 1.5x bicubic Cb, Cr (not a truncated scale of 1)
    ycc = imresize(rgb_to_ycbcr(torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))), 1.5)
    y = model(ycc[:1].unsqueeze(0).clamp(0, 1))[0]
    expected = ycbcr_to_rgb(torch.cat([y, ycc[1:]], 0)).clamp(0, 1).permute(1, 2, 0).numpy()
    assert float(np.abs(arr - expected).max()) <= 1e-4
    assert float(np.abs(y[0].numpy() - ycc[0].clamp(0, 1).numpy()).max()) > 1e-2  # the network changed Y


def test_scale_1_5_bicubic_model_is_imresize_of_rgb():
    """Bicubic is linear: at 1.5 the bicubic model equals MATLAB imresize(x, 1.5) of R, G and B (26 x 35)."""
    rgb8 = smooth_image(17, 23, seed=2)
    out = np.asarray(srcnn.load_model("bicubic", device="cpu").enhance(Image.fromarray(rgb8), scale=1.5)).astype(int)
    x = rgb8.astype(np.float64) / 255.0
    direct = imresize(np.ascontiguousarray(x.transpose(2, 0, 1)), 1.5).transpose(1, 2, 0)
    assert out.shape == direct.shape == (26, 35, 3)
    assert np.abs(out - np.clip(np.round(direct * 255), 0, 255)).max() <= 1


def test_scale_1_5_alpha_is_upscaled_to_the_same_size(model):
    pic = _rgba_picture(17, 23)
    out = model.enhance_picture(pic, scale=1.5)
    assert out.pixels.shape == (26, 35, 3) and out.alpha is not None and out.alpha.shape == (26, 35)
    expected = np.clip(np.round(imresize(pic.alpha.astype(np.float64) / 255.0, 1.5) * 255), 0, 255)
    assert expected.shape == (26, 35)
    assert np.abs(out.alpha.astype(int) - expected.astype(int)).max() <= 1
    assert (out.alpha[:, :15] == 0).all() and (out.alpha[:, 20:] == 255).all()
    pil = model.enhance(Image.fromarray(np.dstack([pic.pixels, pic.alpha]), "RGBA"), scale=1.5)
    assert pil.mode == "RGBA" and pil.size == (35, 26)


@pytest.mark.parametrize("channels", [1, 3])
def test_scale_1_5_keeps_16_bits(trained, channels):
    yy, xx = np.mgrid[0:17, 0:23]
    plane = (xx * 2000 + yy * 37 + 1).astype(np.uint16)  # values between the 8-bit steps
    px = np.dstack([plane + 100 * c for c in range(channels)]).astype(np.uint16)
    out = trained.enhance_picture(Picture(px), scale=1.5)
    assert out.pixels.dtype == np.uint16 and out.pixels.shape == (26, 35, channels)
    assert out.pixels.max() > 255 and np.any(out.pixels % 257 != 0)  # really 16 bits


def test_scale_1_5_tiled_equals_untiled(model):
    x = smooth_image(17, 23).astype(np.float32) / 255.0
    tiled = enhance_array(model, x, scale=1.5, tile=9)
    whole = enhance_array(model, x, scale=1.5, tile=10_000)
    assert tiled.shape == whole.shape == (26, 35, 3)
    assert float(np.abs(tiled - whole).max()) <= 1e-5


@pytest.mark.parametrize("bad", [0, 0.5, 0.999, -2, float("nan"), float("inf")])
def test_scale_below_1_or_not_finite_is_refused(model, bad):
    x = smooth_image(5, 6).astype(np.float32) / 255.0
    with pytest.raises(ValueError, match="scale"):
        enhance_array(model, x, scale=bad)
    with pytest.raises(ValueError, match="scale"):
        model.enhance_picture(Picture(smooth_image(5, 6)), scale=bad)
