"""The fast srcnn.resize.imresize equals the previous per-tap implementation (tests/reference_resize.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from srcnn.resize import imresize

from . import reference_resize as ref

SCALES = (2, 3, 4, 1.5, 0.5, 1 / 3, 0.37)
SHAPES = ((3, 37, 53), (2, 64, 21), (40, 41), (1, 1), (1, 9), (7, 1), (2, 3, 17, 19))


def _check(x: np.ndarray | torch.Tensor, **kw: object) -> None:
    """imresize(x, **kw) has the reference's type, shape and dtype, and its values within 1e-6."""
    want = ref.imresize(x, **kw)
    got = imresize(x, **kw)
    assert type(got) is type(want)
    assert tuple(got.shape) == tuple(want.shape) and got.dtype == want.dtype
    diff = np.abs(np.asarray(got, dtype=np.float64) - np.asarray(want, dtype=np.float64)).max()
    assert diff <= 1e-6, (tuple(x.shape), x.dtype, kw, diff)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("as_torch", [False, True])
def test_scales_match_reference(dtype: type, as_torch: bool) -> None:
    rng = np.random.default_rng(0)
    for shape in SHAPES:
        x = rng.random(shape).astype(dtype)
        inp = torch.from_numpy(x) if as_torch else x
        for s in SCALES:
            _check(inp, scale=s)
        _check(inp, scale=2, antialias=False)
        _check(inp, scale=0.5, antialias=False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("as_torch", [False, True])
def test_sizes_match_reference(dtype: type, as_torch: bool) -> None:
    rng = np.random.default_rng(1)
    for shape in ((3, 37, 53), (30, 21), (1, 1), (5, 1)):
        x = rng.random(shape).astype(dtype)
        inp = torch.from_numpy(x) if as_torch else x
        h, w = shape[-2:]
        for size in ((2 * h, 3 * w), (40, 50), (9, 30), (1, 1), (h, 2 * w + 1), (3 * h, w)):
            _check(inp, size=size)
        _check(inp, scale=2, size=(2 * h, 2 * w))


def test_large_planes_match_reference() -> None:
    """Big enough for the torch paths on numpy input and many blocks (odd sizes, float32 and float64)."""
    rng = np.random.default_rng(2)
    x = rng.random((3, 301, 203)).astype(np.float32)
    for s in (2, 3, 1.5, 1 / 3):
        _check(x, scale=s)
        _check(torch.from_numpy(x), scale=s)
    _check(x.astype(np.float64), scale=0.37)
    _check(torch.from_numpy(x[0]).double(), size=(500, 299))


def test_input_untouched_and_noncontiguous() -> None:
    x = torch.rand(3, 20, 30)
    keep = x.clone()
    _check(x.transpose(1, 2), scale=2)
    _check(x[:, ::2, 1:], scale=1.5)
    _check(x[:1].expand(3, -1, -1), scale=3)
    assert torch.equal(x, keep)
    same = imresize(x, size=(20, 30))
    assert torch.equal(same, x) and same.data_ptr() != x.data_ptr()


def test_gradients_flow() -> None:
    x = torch.rand(2, 40, 700, dtype=torch.float64, requires_grad=True)
    out = imresize(x, 2)
    want = ref.imresize(x.detach(), 2)
    assert float((out.detach() - want).abs().max()) <= 1e-12
    out.sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_paths_on_small_planes(monkeypatch: pytest.MonkeyPatch, dtype: type) -> None:
    """Small data normally takes the dense einsum: switch it off so polyphase and banded paths run on every case."""
    import srcnn.resize as resize

    monkeypatch.setattr(resize, "_DENSE_MAX", 0)
    rng = np.random.default_rng(3)
    for shape in SHAPES:
        x = rng.random(shape).astype(dtype)
        for inp in (x, torch.from_numpy(x)):
            for s in SCALES:
                _check(inp, scale=s)
            h, w = shape[-2:]
            for size in ((2 * h, 3 * w), (40, 50), (1, 1), (h, 2 * w + 1)):
                _check(inp, size=size)
