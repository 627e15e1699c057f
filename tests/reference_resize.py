"""The oracle for srcnn.resize: the MATLAB bicubic ``imresize`` exactly as it was before it was made fast.

A verbatim copy of src/srcnn/resize.py at commit bc988fe (per-tap gather and weighted sum; dense matmul for
small numpy arrays), kept so tests and benchmarks/bicubic.py can compare the fast implementation against it.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

__all__ = ["imresize", "output_size"]


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic kernel with a = -0.5, as in MATLAB imresize."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * (
        (ax > 1) & (ax <= 2)
    )


@lru_cache(maxsize=1024)
def _contributions(in_len: int, out_len: int, scale: float, antialias: bool) -> tuple[np.ndarray, np.ndarray]:
    """Weights (out_len, P) float64 and 0-based source indices (out_len, P) int64 for one dimension."""
    kernel_width = 4.0
    shrink = scale < 1 and antialias
    if shrink:
        kernel_width = kernel_width / scale
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    idx = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    dist = u[:, None] - idx
    weights = scale * _cubic(dist * scale) if shrink else _cubic(dist)
    weights = weights / weights.sum(axis=1, keepdims=True)
    # Symmetric padding: 1-based index i maps into [1..n, n..1] periodically.
    aux = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    idx0 = aux[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    keep = np.any(weights != 0, axis=0)
    return np.ascontiguousarray(weights[:, keep]), np.ascontiguousarray(idx0[:, keep])


def output_size(size: int, scale: float) -> int:
    """MATLAB's output length for one dimension: ceil(size * scale)."""
    return int(math.ceil(size * scale - 1e-9))


@lru_cache(maxsize=512)
def _dense(in_len: int, out_len: int, scale: float, antialias: bool) -> np.ndarray:
    """The (out_len, in_len) float64 matrix of one dimension's resize (mirrored taps added up)."""
    w, idx = _contributions(in_len, out_len, scale, antialias)
    m = np.zeros((out_len, in_len))
    np.add.at(m, (np.repeat(np.arange(out_len), w.shape[1]), idx.ravel()), w.ravel())
    return m


_DENSE_MAX = 1 << 18  # matrix entries up to which one matmul beats the per-tap loop (small crops, patches)


def _resize_dim_numpy(x: np.ndarray, dim: int, out_len: int, scale: float, antialias: bool) -> np.ndarray:
    m = _dense(x.shape[dim], out_len, float(scale), antialias).astype(x.dtype, copy=False)
    # einsum's own loop, not BLAS: for these small sizes a multi-threaded BLAS only adds contention
    return np.moveaxis(np.einsum("...i,oi->...o", np.moveaxis(x, dim, -1), m), -1, dim)


def _resize_dim(x: torch.Tensor, dim: int, out_len: int, scale: float, antialias: bool) -> torch.Tensor:
    w, idx = _contributions(x.shape[dim], out_len, float(scale), antialias)
    wt = torch.from_numpy(w).to(dtype=x.dtype, device=x.device)
    it = torch.from_numpy(idx).to(device=x.device)
    shape = [1] * x.dim()
    shape[dim] = out_len
    out = None
    for p in range(w.shape[1]):  # one tap at a time keeps the transient memory at one output plane
        term = x.index_select(dim, it[:, p]) * wt[:, p].reshape(shape)
        out = term if out is None else out.add_(term)
    return out


def imresize(
    image: torch.Tensor | np.ndarray,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    antialias: bool = True,
) -> torch.Tensor | np.ndarray:
    """Bicubic resize of (..., H, W) float data by ``scale`` (or to ``size``=(H, W)); same type and dtype out.

    Values are not clipped or rounded (MATLAB on doubles). Integer input is refused: convert to float first.
    """
    is_numpy = isinstance(image, np.ndarray)
    x = torch.from_numpy(image) if is_numpy else image
    if not torch.is_floating_point(x):
        raise TypeError("imresize expects float data; convert integers to float first")
    h, w = x.shape[-2], x.shape[-1]
    if size is None:
        if scale is None:
            raise ValueError("give scale or size")
        size = (output_size(h, scale), output_size(w, scale))
        sh = sw = float(scale)
    else:
        sh, sw = (size[0] / h, size[1] / w) if scale is None else (float(scale), float(scale))
    dims = [(-2, size[0], sh), (-1, size[1], sw)]
    dims.sort(key=lambda d: d[2])  # MATLAB resizes the dimension with the smaller scale first
    out = x
    for dim, n, s in dims:
        if n == out.shape[dim] and s == 1:
            continue
        if is_numpy and out.shape[dim] * n <= _DENSE_MAX:  # small arrays (patches, crops): one matmul
            out = torch.from_numpy(np.ascontiguousarray(_resize_dim_numpy(out.numpy(), x.dim() + dim, n, s,
                                                                          antialias)))
        else:
            out = _resize_dim(out, x.dim() + dim, n, s, antialias)
    if out is x:
        out = x.clone()
    return out.numpy() if is_numpy else out
