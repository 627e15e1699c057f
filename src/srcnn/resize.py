"""The one bicubic of the project: MATLAB ``imresize(..., 'bicubic')`` semantics.

Cubic convolution kernel with a = -0.5, antialiased when shrinking (the kernel is stretched by 1/scale),
symmetric ("mirror with edge repeated") padding at the borders, separable. Works on float tensors or arrays of
shape (..., H, W); dtype is kept (use float64 for the protocol).

Fast and equal to the plain per-tap sum within rounding (tests/reference_resize.py is that sum, the oracle):
whole upscales are polyphase filters (s phases of fixed weights, each a weighted sum of shifted slices written
to a strided view), other scales banded matrix products (per block of outputs, its weights times its source
window; the last dimension is transposed first). The two passes commute, so the cheaper order is taken.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

__all__ = ["imresize", "output_size", "weight_matrix"]


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
def weight_matrix(in_len: int, out_len: int, scale: float, antialias: bool) -> np.ndarray:
    """The (out_len, in_len) float64 matrix of one dimension's resize (mirrored taps added up); cached."""
    w, idx = _contributions(in_len, out_len, scale, antialias)
    m = np.zeros((out_len, in_len))
    np.add.at(m, (np.repeat(np.arange(out_len), w.shape[1]), idx.ravel()), w.ravel())
    return m


_dense = weight_matrix  # the old private name


_NUMPY_FLOATS = (torch.float32, torch.float64)
_DENSE_MAX = 1 << 18  # matrix entries up to which one matmul beats the per-tap loop (small crops, patches)


def _resize_dim_numpy(x: np.ndarray, dim: int, out_len: int, scale: float, antialias: bool) -> np.ndarray:
    m = weight_matrix(x.shape[dim], out_len, float(scale), antialias).astype(x.dtype, copy=False)
    # einsum's own loop, not BLAS: for these small sizes a multi-threaded BLAS only adds contention
    return np.moveaxis(np.einsum("...i,oi->...o", np.moveaxis(x, dim, -1), m), -1, dim)


@lru_cache(maxsize=1024)
def _taps(in_len: int, out_len: int, scale: float, antialias: bool) -> tuple[np.ndarray, np.ndarray]:
    """Weights (out_len, P) float64 of ``_contributions`` and each output's first raw 0-based source index.

    Output j reads raw (unmirrored) indices start[j] .. start[j] + P - 1, contiguous; mirror them with ``_mirror``.
    """
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
    keep = np.flatnonzero(np.any(weights != 0, axis=0))
    k0, k1 = int(keep[0]), int(keep[-1]) + 1  # only all-zero end columns are dropped: the rest stay contiguous
    return np.ascontiguousarray(weights[:, k0:k1]), left.astype(np.int64) - 1 + k0


def _mirror(raw: np.ndarray, in_len: int) -> np.ndarray:
    """Symmetric padding: raw 0-based indices (any int64 shape) -> indices into [0, in_len)."""
    aux = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    return aux[np.mod(raw, 2 * in_len)]


@lru_cache(maxsize=256)
def _phases(in_len: int, out_len: int, scale: float, antialias: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """For a whole upscale s: the s phases' weights (s, P) float64 and first raw indices (s,), else None.

    Output s * m + p is sum_k w[p, k] * x[start[p] + m + k] (raw index, mirrored) for every m: a polyphase filter.
    """
    s = int(round(scale))
    if s < 2 or scale != s or out_len != in_len * s:
        return None
    w, start = _taps(in_len, out_len, scale, antialias)
    m = np.arange(out_len) // s
    same_w = np.abs(w - np.tile(w[:s], (in_len, 1))).max() <= 1e-12
    if not (same_w and np.array_equal(start, np.tile(start[:s], in_len) + m)):
        return None
    return w[:s].copy(), start[:s].copy()


@lru_cache(maxsize=256)
def _blocks(in_len: int, out_len: int, scale: float, antialias: bool
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Banded blocks: first outputs (nb,), weights (nb, bo, L) float64, raw window starts (nb,), windows (nb, L).

    Block b computes outputs first[b] .. first[b] + bo - 1 as weights[b] @ x[windows[b]] (mirrored indices of
    raw starts[b] .. starts[b] + L - 1); the last block is moved back to end at out_len (it may recompute
    outputs of the one before it, with the same weights).
    """
    w, start = _taps(in_len, out_len, scale, antialias)
    taps = w.shape[1]
    bo = min(out_len, max(4, min(32, int(round(2 * taps * scale)))))  # a window of about 3 x taps
    first = np.arange(0, out_len - bo + 1, bo)
    if first[-1] + bo < out_len:
        first = np.append(first, out_len - bo)
    j = first[:, None] + np.arange(bo)[None, :]  # (nb, bo) output indices
    lo = start[first]
    off = start[j] - lo[:, None]  # (nb, bo) offset of each output's first tap in its window
    length = int(off.max()) + taps
    weights = np.zeros((len(first), bo, length))
    bi, oi = np.meshgrid(np.arange(len(first)), np.arange(bo), indexing="ij")
    for k in range(taps):
        weights[bi, oi, off + k] = w[j, k]
    return first, weights, lo, _mirror(lo[:, None] + np.arange(length)[None, :], in_len)


def _resize_dim(x: torch.Tensor, dim: int, out_len: int, scale: float, antialias: bool) -> torch.Tensor:
    """Resize one dimension (0-based ``dim``) of float ``x`` to ``out_len``; same dtype and device, contiguous."""
    shape = list(x.shape)
    n = shape[dim]
    a, b = math.prod(shape[:dim]), math.prod(shape[dim + 1 :])
    x3 = x.reshape(a, n, b)
    if x.requires_grad:  # autograd: the plain per-tap sum (the fast paths write into preallocated outputs)
        w, start = _taps(n, out_len, float(scale), antialias)
        idx = torch.from_numpy(_mirror(start[:, None] + np.arange(w.shape[1]), n)).to(x.device)
        wt = torch.from_numpy(w).to(dtype=x.dtype, device=x.device)
        out = sum(x3.index_select(1, idx[:, k].contiguous()) * wt[:, k, None] for k in range(w.shape[1]))
        return out.reshape(shape[:dim] + [out_len] + shape[dim + 1 :])
    ph = _phases(n, out_len, float(scale), antialias)
    out = _polyphase(x3, *ph) if ph is not None else _banded(x3, out_len, float(scale), antialias)
    shape[dim] = out_len
    return out.view(shape)


def _polyphase(x: torch.Tensor, w: np.ndarray, start: np.ndarray) -> torch.Tensor:
    """(A, n, B) -> (A, n * s, B): output s * m + p = sum_k w[p, k] x[start[p] + m + k], strided weighted sums."""
    a, n, b = x.shape
    s, taps = w.shape
    lo = int(start.min())
    src = torch.from_numpy(_mirror(np.arange(lo, int(start.max()) + n + taps - 1), n)).to(x.device)
    if b == 1:  # the last dimension: pad it, write each phase to a stride-s view of the output
        xp = x.view(a, n).index_select(1, src)
        out = torch.empty((a, n, s), dtype=x.dtype, device=x.device)
        for p in range(s):
            o, r = out[:, :, p], int(start[p]) - lo
            torch.mul(xp[:, r : r + n], float(w[p, 0]), out=o)
            for k in range(1, taps):
                o.add_(xp[:, r + k : r + k + n], alpha=float(w[p, k]))
        return out.view(a, n * s, 1)
    xp = x.index_select(1, src)  # rows: every term is a run of whole contiguous rows
    out = torch.empty((a, n, s, b), dtype=x.dtype, device=x.device)
    for p in range(s):
        o, r = out[:, :, p], int(start[p]) - lo
        torch.mul(xp[:, r : r + n], float(w[p, 0]), out=o)
        for k in range(1, taps):
            o.add_(xp[:, r + k : r + k + n], alpha=float(w[p, k]))
    return out.view(a, n * s, b)


def _banded(x: torch.Tensor, out_len: int, scale: float, antialias: bool) -> torch.Tensor:
    """(A, n, B) -> (A, out_len, B), any scale: per block of output rows, a (bo, L) @ (L, B) matrix product."""
    a, n, b = x.shape
    if b == 1 and a > 1:  # the last dimension: as rows of the transposed data, keeping every product contiguous
        xt = x.view(1, a, n).transpose(1, 2).contiguous()  # (1, n, A)
        return _banded(xt, out_len, scale, antialias).view(out_len, a).t().contiguous().view(a, out_len, 1)
    x = x.contiguous()  # the strided windows below assume it
    first, w, lo, windows = _blocks(n, out_len, scale, antialias)
    nb, bo, length = w.shape
    wt = torch.from_numpy(w).to(dtype=x.dtype, device=x.device)
    full = nb - 1 if first[-1] % bo else nb  # blocks on the regular grid; the last one may be moved back
    b0, b1, step = _strided_run(lo[:full], length, n)  # blocks whose windows are plain strided slices of x
    rest = [(0, b0), (b1, full)] + ([(full, nb)] if full < nb else [])
    src = torch.from_numpy(np.concatenate([windows[r0:r1] for r0, r1 in rest]).ravel()).to(x.device)
    out = torch.empty((a, out_len, b), dtype=x.dtype, device=x.device)
    for i in range(a):  # few large products: many small ones stall on a busy machine
        xi, oi = x[i], out[i]
        if b1 > b0:
            view = xi.as_strided((b1 - b0, length, b), (step * b, b, 1), xi.storage_offset() + int(lo[b0]) * b)
            torch.bmm(wt[b0:b1], view, out=oi[b0 * bo : b1 * bo].view(b1 - b0, bo, b))
        g = xi.index_select(0, src).view(-1, length, b)  # the other blocks' windows, mirrored
        k = 0
        for r0, r1 in rest:
            if r1 > r0:
                f = int(first[r0])
                torch.bmm(wt[r0:r1], g[k : k + r1 - r0], out=oi[f : f + (r1 - r0) * bo].view(r1 - r0, bo, b))
                k += r1 - r0
    return out


def _strided_run(lo: np.ndarray, length: int, n: int) -> tuple[int, int, int]:
    """The longest run [b0, b1) of block starts ``lo`` inside [0, n - length] with one common step, and the step."""
    inside = np.flatnonzero((lo >= 0) & (lo + length <= n))
    if len(inside) < 2:
        return 0, 0, 0
    b0, b1 = int(inside[0]), int(inside[-1]) + 1  # inside blocks are consecutive: starts only grow
    steps = np.diff(lo[b0:b1])
    if np.all(steps == steps[0]) and steps[0] > 0:
        return b0, b1, int(steps[0])
    return 0, 0, 0


def _pass_cost(h: int, w: int, dims: list[tuple[int, int, float]], antialias: bool) -> float:
    """Relative cost of resizing an h x w plane in this order of (dim, out_len, scale) passes."""
    shape, cost = {-2: h, -1: w}, 0.0
    for dim, n, s in dims:
        if n == shape[dim] and s == 1:
            continue
        taps = _taps(shape[dim], n, float(s), antialias)[0].shape[1]
        shape[dim] = n
        cost += shape[-2] * shape[-1] * taps * (3.0 if dim == -1 else 1.0)  # the last dimension costs more
    return cost


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
    dims.sort(key=lambda d: d[2])  # MATLAB resizes the dimension with the smaller scale first ...
    if _pass_cost(h, w, dims[::-1], antialias) < _pass_cost(h, w, dims, antialias):
        dims.reverse()  # ... but the two passes commute (up to rounding): take the cheaper order
    out = x
    for dim, n, s in dims:
        if n == out.shape[dim] and s == 1:
            continue
        small = out.shape[dim] * n <= _DENSE_MAX and out.device.type == "cpu" and out.dtype in _NUMPY_FLOATS
        if small and not out.requires_grad:  # patches, crops: one einsum, no thread pool to wait on
            out = torch.from_numpy(np.ascontiguousarray(_resize_dim_numpy(out.numpy(), x.dim() + dim, n, s,
                                                                          antialias)))
        else:
            out = _resize_dim(out, x.dim() + dim, n, s, antialias)
    if out is x:
        out = x.clone()
    return out.numpy() if is_numpy else out
