"""Every fast path equals the reference forward pass (untiled eager PyTorch) within 1e-5, at small sizes."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from srcnn.backends import TorchRunner, make_runner
from srcnn.checkpoint import WeightsError, save_weights
from srcnn.color import rgb_to_ycbcr, ycbcr_to_rgb
from srcnn.enhance import Enhancer, load_model
from srcnn.export import build_onnx
from srcnn.images import Picture
from srcnn.model import SRCNN
from srcnn.resize import imresize
from srcnn.tiling import even_boxes, forward_tiled_valid, forward_whole, split_even

from .conftest import smooth_image
from .reference_enhance import enhance_array

HAS_ORT = importlib.util.find_spec("onnxruntime") is not None
needs_ort = pytest.mark.skipif(not HAS_ORT, reason="onnxruntime not installed")

# (channels, f1, f2, f3, residual): 9-5-5, 9-1-5, an RGB model, and one with a 1x1 last layer
CONFIGS = [(1, 9, 5, 5, False), (1, 9, 1, 5, True), (3, 9, 3, 5, True), (1, 5, 3, 1, False)]


def make_model(channels: int, f1: int, f2: int, f3: int, residual: bool) -> SRCNN:
    torch.manual_seed(f1 * 100 + f2 * 10 + f3 + channels)
    m = SRCNN(channels=channels, f1=f1, f2=f2, f3=f3, n1=16, n2=8, residual=residual).eval()
    with torch.no_grad():  # bigger than the default init so that border mistakes show
        for p in m.parameters():
            p.mul_(3)
    return m


class Unfused(TorchRunner):
    """The torch runner without oneDNN's fused convolution + ReLU (the fallback path)."""

    def __init__(self, model: SRCNN) -> None:
        super().__init__(model, fused=False)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tiles: one thread is faster (and these tests check numbers, not speed)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


RUNNERS = [
    pytest.param(lambda m: make_runner(m, "torch"), id="torch"),
    pytest.param(Unfused, id="torch-unfused"),
    pytest.param(lambda m: TorchRunner(m, channels_last=False), id="torch-nchw"),
    pytest.param(lambda m: TorchRunner(m, sub_tile=4), id="torch-subtiles"),  # crops split into 4-px sub-crops
    pytest.param(lambda m: make_runner(m, "onnxruntime"), id="onnxruntime", marks=needs_ort),
]


@pytest.mark.parametrize("runner_factory", RUNNERS)
@pytest.mark.parametrize("config", CONFIGS, ids=["9-5-5", "9-1-5-res", "rgb-9-3-5", "5-3-1"])
def test_valid_tiles_equal_the_reference(runner_factory, config):
    model = make_model(*config)
    run = runner_factory(model)
    gen = torch.Generator().manual_seed(7)
    for h, w in [(37, 53), (1, 40), (40, 1), (17, 17), (64, 9), (1, 1)]:
        x = torch.rand(2, config[0], h, w, generator=gen)
        with torch.no_grad():
            ref = model(x)
        for tile in (1, 5, 23, (7, 30), 500):
            if tile == 1 and h * w > 40:
                continue  # hundreds of 1-px tiles: slow, and 5-px tiles already have partial context everywhere
            out = forward_tiled_valid(run, x, tile, model.receptive_radius)
            assert out.shape == ref.shape
            err = float((out - ref).abs().max())
            assert err <= 1e-5, (h, w, tile, err)


@pytest.mark.parametrize("backend", ["torch", pytest.param("onnxruntime", marks=needs_ort)])
def test_enhancer_call_and_pictures_match_the_reference(tmp_path, backend):
    model = make_model(1, 9, 5, 5, True)
    save_weights(tmp_path / "m.safetensors", model, {"scale": 1})
    enh = load_model(tmp_path / "m.safetensors", device="cpu", backend=backend)
    assert enh.backend == backend
    x = torch.rand(1, 1, 45, 70, generator=torch.Generator().manual_seed(3))
    ref = forward_whole(model, x, model.receptive_radius).clamp(0, 1)  # the Enhancer extends the picture's edges
    for tile in (8, 32, None):
        assert float((enh(x, tile=tile) - ref).abs().max()) <= 1e-5
    # the whole picture path at x1 (banded colour conversion, delta merge) against float64 colour maths
    rgb8 = smooth_image(45, 70, seed=5)
    got = enh.enhance_picture(Picture(rgb8), scale=1, tile=16).pixels.astype(int)
    ycc = rgb_to_ycbcr(rgb8.astype(np.float64) / 255.0)
    with torch.no_grad():
        y = forward_whole(model, torch.from_numpy(ycc[:, :, 0].astype(np.float32))[None, None],
                          model.receptive_radius).clamp(0, 1)[0, 0].double().numpy()
    ycc[:, :, 0] = y
    want = np.clip(np.round(ycbcr_to_rgb(ycc) * 255), 0, 255)
    assert np.abs(got - want).max() <= 1 and np.mean(got != want) < 0.01


def test_picture_paths_gray_16bit_upscaled_and_rgb_models(tmp_path):
    """The other picture branches (gray, 16-bit, x2, RGB network) against enhance_array + rounding."""
    for channels, residual in ((1, True), (3, False)):
        model = make_model(channels, 9, 1, 5, residual)
        enh = Enhancer("m", model, 2, {}, torch.device("cpu"))
        for pixels, maxval in ((smooth_image(19, 23), 255.0), (smooth_image(16, 21, channels=1), 255.0),
                               ((smooth_image(15, 18).astype(np.uint16) * 257 + 3), 65535.0)):
            for scale in (1, 2):
                got = enh.enhance_picture(Picture(pixels), scale=scale, tile=11).pixels
                assert got.dtype == pixels.dtype and got.shape[2] == pixels.shape[2]
                ref = enhance_array(enh, pixels.astype(np.float32) / maxval, scale, tile=10_000)
                want = np.clip(np.round(ref * maxval), 0, maxval)
                assert np.abs(got.astype(np.int64) - want).max() <= 1, (channels, pixels.shape, scale)


def test_split_even_and_boxes():
    for length in (1, 5, 17, 256, 257, 4032):
        for tile in (1, 7, 256):
            parts = split_even(length, tile)
            assert len(parts) == -(-length // tile)
            assert parts[0][0] == 0 and parts[-1][1] == length
            assert all(a1 == b0 for (_, a1), (b0, _) in zip(parts, parts[1:], strict=False))
            sizes = [b - a for a, b in parts]
            assert max(sizes) <= tile and max(sizes) - min(sizes) <= 1
    seen = torch.zeros(23, 31, dtype=torch.int32)
    for y0, y1, x0, x1 in even_boxes(23, 31, 7, 9):
        seen[y0:y1, x0:x1] += 1
    assert bool((seen == 1).all())


def test_progress_counts_tiles_like_the_cli():
    model = make_model(1, 9, 1, 5, False)
    calls: list[int] = []
    forward_tiled_valid(TorchRunner(model), torch.rand(1, 1, 20, 30), 10, model.receptive_radius,
                        progress=calls.append)
    assert calls == [1, 2, 3, 4, 5, 6]


@needs_ort
def test_onnx_variants_match_torch():
    import onnxruntime as ort

    model = make_model(3, 9, 5, 5, True)
    x = torch.rand(2, 3, 30, 26)
    r = model.receptive_radius
    with torch.no_grad():
        ref = model(x)
    for kwargs in ({}, {"valid": True}, {"valid": True, "split_last": True}):
        sess = ort.InferenceSession(build_onnx(model, **kwargs).SerializeToString(), providers=["CPUExecutionProvider"])
        out = torch.from_numpy(sess.run(None, {"input": x.numpy()})[0])
        want = ref[:, :, r:-r, r:-r] if kwargs else ref
        assert out.shape == want.shape and float((out - want).abs().max()) <= 1e-5


def test_unknown_backend_is_a_weights_error(tmp_path):
    with pytest.raises(WeightsError, match="backend"):
        load_model("bicubic", device="cpu", backend="tensorrt")


def test_bicubic_enhancer_at_x1_returns_the_picture():
    rgb8 = smooth_image(13, 17)
    out = load_model("bicubic", device="cpu").enhance_picture(Picture(rgb8), scale=1).pixels
    assert np.array_equal(out, rgb8)
    up = load_model("bicubic", device="cpu").enhance_picture(Picture(rgb8), scale=2).pixels
    want = np.clip(np.round(imresize(rgb8.astype(np.float64).transpose(2, 0, 1) / 255, 2) * 255), 0, 255)
    assert np.abs(up.astype(int) - want.transpose(1, 2, 0)).max() <= 1


@pytest.mark.parametrize("backend", ["torch", pytest.param("onnxruntime", marks=needs_ort)])
def test_parallel_tiles_equal_the_reference_and_keep_the_thread_count(backend):
    model = make_model(1, 9, 5, 5, True)
    run = make_runner(model, backend)
    x = torch.rand(2, 1, 41, 67, generator=torch.Generator().manual_seed(11))
    with torch.no_grad():
        ref = model(x)
    torch.set_num_threads(2)
    calls: list[int] = []
    out = forward_tiled_valid(lambda c, m: run(c, m, True), x, 9, model.receptive_radius, progress=calls.append,
                              workers=2)
    assert torch.get_num_threads() == 2  # the pool's one-thread setting stays in the pool
    assert calls == list(range(1, 5 * 8 + 1))
    assert float((out - ref).abs().max()) <= 1e-5
    enh = Enhancer("m", model, 1, {}, torch.device("cpu"), backend)
    edged = forward_whole(model, x, model.receptive_radius).clamp(0, 1)  # the Enhancer extends the picture's edges
    assert float((enh(x, tile=16) - edged).abs().max()) <= 1e-5


def test_sub_tile_defaults_only_split_models_with_a_1x1_middle_layer():
    assert TorchRunner(make_model(1, 9, 1, 5, True)).sub_tile == 128
    assert TorchRunner(make_model(1, 9, 5, 5, False)).sub_tile == 0
