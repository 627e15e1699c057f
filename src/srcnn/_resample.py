"""Machinery of srcnn.resize: the fast passes of one dimension (polyphase, banded matrix products) and their cost."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch

__all__ = ["Kernel", "taps", "mirror", "phases", "blocks", "resize_dim", "COLUMN_ROWS", "groups", "group_product",
           "polyphase_rows", "banded_rows", "pass_cost"]

Kernel = Callable[[int, float, bool], tuple[np.ndarray, np.ndarray]]
# srcnn.resize's kernel weights: (out_len, scale, antialias) -> weights (out_len, P), 1-based raw indices (out_len, P)


@lru_cache(maxsize=1024)
def taps(kernel: Kernel, in_len: int, out_len: int, scale: float, antialias: bool) -> tuple[np.ndarray, np.ndarray]:
    """Weights (out_len, P) float64 of srcnn.resize's contributions and each output's first raw 0-based source index.

    Output j reads raw (unmirrored) indices start[j] .. start[j] + P - 1, contiguous; mirror them with ``mirror``.
    """
    weights, idx = kernel(out_len, scale, antialias)
    left = idx[:, 0]
    keep = np.flatnonzero(np.any(weights != 0, axis=0))
    k0, k1 = int(keep[0]), int(keep[-1]) + 1  # only all-zero end columns are dropped: the rest stay contiguous
    return np.ascontiguousarray(weights[:, k0:k1]), left.astype(np.int64) - 1 + k0


def mirror(raw: np.ndarray, in_len: int) -> np.ndarray:
    """Symmetric padding: raw 0-based indices (any int64 shape) -> indices into [0, in_len)."""
    aux = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    return aux[np.mod(raw, 2 * in_len)]


@lru_cache(maxsize=256)
def phases(kernel: Kernel, in_len: int, out_len: int, scale: float, antialias: bool
           ) -> tuple[np.ndarray, np.ndarray] | None:
    """For a whole upscale s: the s phases' weights (s, P) float64 and first raw indices (s,), else None.

    Output s * m + p is sum_k w[p, k] * x[start[p] + m + k] (raw index, mirrored) for every m: a polyphase filter.
    """
    s = int(round(scale))
    if s < 2 or scale != s or out_len != in_len * s:
        return None
    w, start = taps(kernel, in_len, out_len, scale, antialias)
    m = np.arange(out_len) // s
    same_w = np.abs(w - np.tile(w[:s], (in_len, 1))).max() <= 1e-12
    if not (same_w and np.array_equal(start, np.tile(start[:s], in_len) + m)):
        return None
    return w[:s].copy(), start[:s].copy()


@lru_cache(maxsize=256)
def blocks(kernel: Kernel, in_len: int, out_len: int, scale: float, antialias: bool
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Banded blocks: first outputs (nb,), weights (nb, bo, L) float64, raw window starts (nb,), windows (nb, L).

    Block b computes outputs first[b] .. first[b] + bo - 1 as weights[b] @ x[windows[b]] (mirrored indices of
    raw starts[b] .. starts[b] + L - 1); the last block is moved back to end at out_len (it may recompute
    outputs of the one before it, with the same weights).
    """
    w, start = taps(kernel, in_len, out_len, scale, antialias)
    n_taps = w.shape[1]
    bo = min(out_len, max(4, min(32, int(round(2 * n_taps * scale)))))  # a window of about 3 x taps
    first = np.arange(0, out_len - bo + 1, bo)
    if first[-1] + bo < out_len:
        first = np.append(first, out_len - bo)
    j = first[:, None] + np.arange(bo)[None, :]  # (nb, bo) output indices
    lo = start[first]
    off = start[j] - lo[:, None]  # (nb, bo) offset of each output's first tap in its window
    length = int(off.max()) + n_taps
    weights = np.zeros((len(first), bo, length))
    bi, oi = np.meshgrid(np.arange(len(first)), np.arange(bo), indexing="ij")
    for k in range(n_taps):
        weights[bi, oi, off + k] = w[j, k]
    return first, weights, lo, mirror(lo[:, None] + np.arange(length)[None, :], in_len)


def resize_dim(kernel: Kernel, x: torch.Tensor, dim: int, out_len: int, scale: float, antialias: bool, row0: int = 0
               ) -> torch.Tensor:
    """Resize one dimension (0-based ``dim``) of float ``x`` to ``out_len``; same dtype and device, contiguous.

    ``row0``: the absolute index of ``x``'s first row (dimension -2) when ``x`` is a band of a larger image (the
    last dimension's products are cut on a grid of absolute rows, :func:`_banded_last`).
    """
    shape = list(x.shape)
    n = shape[dim]
    a, b = math.prod(shape[:dim]), math.prod(shape[dim + 1 :])
    x3 = x.reshape(a, n, b)
    if x.requires_grad:  # autograd: the plain per-tap sum (the fast paths write into preallocated outputs)
        w, start = taps(kernel, n, out_len, float(scale), antialias)
        idx = torch.from_numpy(mirror(start[:, None] + np.arange(w.shape[1]), n)).to(x.device)
        wt = torch.from_numpy(w).to(dtype=x.dtype, device=x.device)
        out = sum(x3.index_select(1, idx[:, k].contiguous()) * wt[:, k, None] for k in range(w.shape[1]))
        return out.reshape(shape[:dim] + [out_len] + shape[dim + 1 :])
    ph = phases(kernel, n, out_len, float(scale), antialias)
    if ph is not None:
        out = _polyphase(x3, *ph)
    elif dim == len(shape) - 1 and a > 1:  # the last dimension: products on a fixed grid of rows (see _banded_last)
        out = _banded_last(kernel, x, out_len, float(scale), antialias, row0)
    else:
        out = _banded(kernel, x3, out_len, float(scale), antialias)
    shape[dim] = out_len
    return out.view(shape)


def _polyphase(x: torch.Tensor, w: np.ndarray, start: np.ndarray) -> torch.Tensor:
    """(A, n, B) -> (A, n * s, B): output s * m + p = sum_k w[p, k] x[start[p] + m + k], strided weighted sums."""
    a, n, b = x.shape
    s, n_taps = w.shape
    lo = int(start.min())
    src = torch.from_numpy(mirror(np.arange(lo, int(start.max()) + n + n_taps - 1), n)).to(x.device)
    if b == 1:  # the last dimension: pad it, write each phase to a stride-s view of the output
        xp = x.view(a, n).index_select(1, src)
        out = torch.empty((a, n, s), dtype=x.dtype, device=x.device)
        for p in range(s):
            o, r = out[:, :, p], int(start[p]) - lo
            torch.mul(xp[:, r : r + n], float(w[p, 0]), out=o)
            for k in range(1, n_taps):
                o.add_(xp[:, r + k : r + k + n], alpha=float(w[p, k]))
        return out.view(a, n * s, 1)
    xp = x.index_select(1, src)  # rows: every term is a run of whole contiguous rows
    out = torch.empty((a, n, s, b), dtype=x.dtype, device=x.device)
    for p in range(s):
        o, r = out[:, :, p], int(start[p]) - lo
        torch.mul(xp[:, r : r + n], float(w[p, 0]), out=o)
        for k in range(1, n_taps):
            o.add_(xp[:, r + k : r + k + n], alpha=float(w[p, k]))
    return out.view(a, n * s, b)


def _banded(kernel: Kernel, x: torch.Tensor, out_len: int, scale: float, antialias: bool) -> torch.Tensor:
    """(A, n, B) -> (A, out_len, B), any scale: per block of output rows, a (bo, L) @ (L, B) matrix product.

    The blocks are multiplied in fixed groups of _BLOCK_GROUP (:func:`groups`): a product's rounding depends on its
    shape (MKL), so a band of rows (srcnn.resize.RowResize) makes the very same products as the whole image.
    """
    a, n, b = x.shape
    if b == 1 and a > 1:  # the last dimension: as rows of the transposed data, keeping every product contiguous
        xt = x.view(1, a, n).transpose(1, 2).contiguous()  # (1, n, A)
        return _banded(kernel, xt, out_len, scale, antialias).view(out_len, a).t().contiguous().view(a, out_len, 1)
    x = x.contiguous()  # the strided windows below assume it
    first, w, lo, windows = blocks(kernel, n, out_len, scale, antialias)
    wt = torch.from_numpy(w).to(dtype=x.dtype, device=x.device)
    out = torch.empty((a, out_len, b), dtype=x.dtype, device=x.device)
    for r0, r1 in groups(first, w.shape[1]):
        group_product(x, 0, n, wt, first, lo, windows, r0, r1, out, 0)
    return out


_BLOCK_GROUP = 16  # blocks per matrix product of _banded, on a fixed grid of block numbers
COLUMN_ROWS = 64  # rows per product of the last dimension's banded pass, on a fixed grid of absolute rows


def groups(first: np.ndarray, bo: int) -> list[tuple[int, int]]:
    """The block groups [(r0, r1)] of one banded pass, in write order: the regular grid in runs of _BLOCK_GROUP,
    then the last block alone when it was moved back (it overwrites the outputs it shares with the one before)."""
    nb = len(first)
    full = nb - 1 if first[-1] % bo else nb
    out = [(r, min(r + _BLOCK_GROUP, full)) for r in range(0, full, _BLOCK_GROUP)]
    return out + ([(full, nb)] if full < nb else [])


def group_product(x: torch.Tensor, base: int, n: int, wt: torch.Tensor, first: np.ndarray, lo: np.ndarray,
                  windows: np.ndarray, r0: int, r1: int, out: torch.Tensor, obase: int) -> None:
    """Blocks r0..r1 of a banded pass: x (A, rows, B) holds source rows base.. (of n), out (A, ., B) outputs obase..

    A group whose windows lie inside the source at one common step reads them as a strided view of x; any other
    is gathered (mirrored indices). Either way its product is (k, bo, L) @ (k, L, B), the same in a band as whole.
    """
    a, _, b = x.shape
    k, bo, length = r1 - r0, wt.shape[1], wt.shape[2]
    f = int(first[r0]) - obase
    starts = lo[r0:r1]
    steps = np.diff(starts)
    inside = starts[0] >= 0 and starts[-1] + length <= n
    step = int(steps[0]) if k > 1 else 1
    if inside and step > 0 and np.all(steps == step):
        for i in range(a):
            xi = x[i]
            view = xi.as_strided((k, length, b), (step * b, b, 1), xi.storage_offset() + (int(starts[0]) - base) * b)
            torch.bmm(wt[r0:r1], view, out=out[i, f : f + k * bo].view(k, bo, b))
        return
    src = torch.from_numpy(np.ascontiguousarray(windows[r0:r1] - base).ravel()).to(x.device)
    for i in range(a):
        g = x[i].index_select(0, src).view(k, length, b)
        torch.bmm(wt[r0:r1], g, out=out[i, f : f + k * bo].view(k, bo, b))


def _banded_last(kernel: Kernel, x: torch.Tensor, out_len: int, scale: float, antialias: bool, row0: int
                 ) -> torch.Tensor:
    """The last dimension of (..., rows, n) ``x`` (rows row0.. of an image) by _banded, COLUMN_ROWS rows at a time.

    The rows are cut on a grid of absolute rows, every plane of a piece in one product: a band whose first row
    is on the grid (and whose last is on it or the image's last) makes the same products as the whole image.
    """
    shape = list(x.shape)
    n, rows = shape[-1], shape[-2] if len(shape) > 1 else 1
    planes = math.prod(shape[:-2])
    xr = x.reshape(planes, rows, n)
    out = torch.empty((planes, rows, out_len), dtype=x.dtype, device=x.device)
    r = 0
    while r < rows:
        end = min(rows, ((row0 + r) // COLUMN_ROWS + 1) * COLUMN_ROWS - row0)
        piece = xr[:, r:end].reshape(planes * (end - r), n, 1)
        out[:, r:end] = _banded(kernel, piece, out_len, scale, antialias).view(planes, end - r, out_len)
        r = end
    return out


def polyphase_rows(x3: torch.Tensor, w: np.ndarray, start: np.ndarray, n: int, base: int, o0: int, o1: int
                   ) -> torch.Tensor:
    """Outputs o0..o1 of a polyphase rows pass (:func:`phases`) from x3 (A, rows, B) holding source rows base.. of n."""
    a, _, b = x3.shape
    k, n_taps = w.shape
    m0, m1 = o0 // k, -(-o1 // k)
    lo = int(start.min())
    src = mirror(np.arange(lo + m0, int(start.max()) + m1 + n_taps - 1), n) - base
    xp = x3.index_select(1, torch.from_numpy(src).to(x3.device))
    res = torch.empty((a, m1 - m0, k, b), dtype=x3.dtype, device=x3.device)
    for p in range(k):
        o, r = res[:, :, p], int(start[p]) - lo
        torch.mul(xp[:, r : r + m1 - m0], float(w[p, 0]), out=o)
        for t in range(1, n_taps):
            o.add_(xp[:, r + t : r + t + m1 - m0], alpha=float(w[p, t]))
    return res.view(a, (m1 - m0) * k, b)[:, o0 - m0 * k : o1 - m0 * k]


def banded_rows(x3: torch.Tensor, bands: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], n: int, base: int,
                o0: int, o1: int) -> torch.Tensor:
    """Outputs o0..o1 of a banded rows pass (``bands`` from :func:`blocks`) from x3 (A, rows, B), source rows base.."""
    a, _, b = x3.shape
    first, wts, lo, windows = bands
    bo = wts.shape[1]
    sel = [g for g in groups(first, bo) if first[g[0]] < o1 and first[g[1] - 1] + bo > o0]
    f0 = int(first[sel[0][0]])
    f1 = max(int(first[r1 - 1]) + bo for _, r1 in sel)
    wt = torch.from_numpy(wts).to(dtype=x3.dtype, device=x3.device)
    res = torch.empty((a, f1 - f0, b), dtype=x3.dtype, device=x3.device)
    x3 = x3.contiguous()
    for r0, r1 in sel:
        group_product(x3, base, n, wt, first, lo, windows, r0, r1, res, f0)
    return res[:, o0 - f0 : o1 - f0]


def pass_cost(kernel: Kernel, h: int, w: int, dims: list[tuple[int, int, float]], antialias: bool) -> float:
    """Relative cost of resizing an h x w plane in this order of (dim, out_len, scale) passes."""
    shape, cost = {-2: h, -1: w}, 0.0
    for dim, n, s in dims:
        if n == shape[dim] and s == 1:
            continue
        n_taps = taps(kernel, shape[dim], n, float(s), antialias)[0].shape[1]
        shape[dim] = n
        cost += shape[-2] * shape[-1] * n_taps * (3.0 if dim == -1 else 1.0)  # the last dimension costs more
    return cost
