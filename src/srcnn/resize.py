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


def _kernel_weights(out_len: int, scale: float, antialias: bool) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB's contributions for one dimension: weights (out_len, P) float64 and 1-based raw indices (out_len, P)."""
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
    return weights / weights.sum(axis=1, keepdims=True), idx


@lru_cache(maxsize=1024)
def _contributions(in_len: int, out_len: int, scale: float, antialias: bool) -> tuple[np.ndarray, np.ndarray]:
    """Weights (out_len, P) float64 and 0-based source indices (out_len, P) int64 for one dimension."""
    weights, idx = _kernel_weights(out_len, scale, antialias)
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
    weights, idx = _kernel_weights(out_len, scale, antialias)
    left = idx[:, 0]
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


def _resize_dim(x: torch.Tensor, dim: int, out_len: int, scale: float, antialias: bool, row0: int = 0
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
        w, start = _taps(n, out_len, float(scale), antialias)
        idx = torch.from_numpy(_mirror(start[:, None] + np.arange(w.shape[1]), n)).to(x.device)
        wt = torch.from_numpy(w).to(dtype=x.dtype, device=x.device)
        out = sum(x3.index_select(1, idx[:, k].contiguous()) * wt[:, k, None] for k in range(w.shape[1]))
        return out.reshape(shape[:dim] + [out_len] + shape[dim + 1 :])
    ph = _phases(n, out_len, float(scale), antialias)
    if ph is not None:
        out = _polyphase(x3, *ph)
    elif dim == len(shape) - 1 and a > 1:  # the last dimension: products on a fixed grid of rows (see _banded_last)
        out = _banded_last(x, out_len, float(scale), antialias, row0)
    else:
        out = _banded(x3, out_len, float(scale), antialias)
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
    """(A, n, B) -> (A, out_len, B), any scale: per block of output rows, a (bo, L) @ (L, B) matrix product.

    The blocks are multiplied in fixed groups of _BLOCK_GROUP (:func:`_groups`): a product's rounding depends on its
    shape (MKL), so a band of rows (:class:`RowResize`) makes the very same products as the whole image.
    """
    a, n, b = x.shape
    if b == 1 and a > 1:  # the last dimension: as rows of the transposed data, keeping every product contiguous
        xt = x.view(1, a, n).transpose(1, 2).contiguous()  # (1, n, A)
        return _banded(xt, out_len, scale, antialias).view(out_len, a).t().contiguous().view(a, out_len, 1)
    x = x.contiguous()  # the strided windows below assume it
    first, w, lo, windows = _blocks(n, out_len, scale, antialias)
    wt = torch.from_numpy(w).to(dtype=x.dtype, device=x.device)
    out = torch.empty((a, out_len, b), dtype=x.dtype, device=x.device)
    for r0, r1 in _groups(first, w.shape[1]):
        _group_product(x, 0, n, wt, first, lo, windows, r0, r1, out, 0)
    return out


_BLOCK_GROUP = 16  # blocks per matrix product of _banded, on a fixed grid of block numbers
_COLUMN_ROWS = 64  # rows per product of the last dimension's banded pass, on a fixed grid of absolute rows


def _groups(first: np.ndarray, bo: int) -> list[tuple[int, int]]:
    """The block groups [(r0, r1)] of one banded pass, in write order: the regular grid in runs of _BLOCK_GROUP,
    then the last block alone when it was moved back (it overwrites the outputs it shares with the one before)."""
    nb = len(first)
    full = nb - 1 if first[-1] % bo else nb
    groups = [(r, min(r + _BLOCK_GROUP, full)) for r in range(0, full, _BLOCK_GROUP)]
    return groups + ([(full, nb)] if full < nb else [])


def _group_product(x: torch.Tensor, base: int, n: int, wt: torch.Tensor, first: np.ndarray, lo: np.ndarray,
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


def _banded_last(x: torch.Tensor, out_len: int, scale: float, antialias: bool, row0: int) -> torch.Tensor:
    """The last dimension of (..., rows, n) ``x`` (rows row0.. of an image) by _banded, _COLUMN_ROWS rows at a time.

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
        end = min(rows, ((row0 + r) // _COLUMN_ROWS + 1) * _COLUMN_ROWS - row0)
        piece = xr[:, r:end].reshape(planes * (end - r), n, 1)
        out[:, r:end] = _banded(piece, out_len, scale, antialias).view(planes, end - r, out_len)
        r = end
    return out


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


def _plan(h: int, w: int, scale: float | None, size: tuple[int, int] | None, antialias: bool
          ) -> list[tuple[int, int, float]]:
    """imresize's two passes in order: [(dim, out_len, scale)] for dims -2 (rows) and -1 (columns)."""
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
    return dims


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
    dims = _plan(h, w, scale, size, antialias)
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


class RowResize:
    """:func:`imresize` of an H x W image (any leading dimensions) computed band by band, bit for bit.

    ``RowResize((H, W), scale=s)`` (or ``size=``) plans the same two passes as ``imresize`` on the whole image;
    ``source_rows(o0, o1)`` says which source rows [i0, i1) output rows o0..o1 need (the kernel's support, mirrored
    only at the true image border, and whatever the chosen products read), and ``resize(slab, i0, o0, o1)`` computes
    those output rows from a slab holding source rows i0.. (at least ``source_rows``), equal to
    ``imresize(whole)[..., o0:o1, :]`` to the last bit: every product and every elementwise sum is the one the
    whole-image call makes. Memory is the slab's, not the image's, except where the rows pass is one small dense
    product over all the source rows (H x H' <= 2**18, images a few hundred rows high).
    """

    def __init__(self, in_size: tuple[int, int], scale: float | None = None, size: tuple[int, int] | None = None,
                 antialias: bool = True, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"):
        self.h, self.w = int(in_size[0]), int(in_size[1])
        self.antialias = antialias
        self.passes = []  # (dim, out_len, scale) of the passes that run, in order
        for dim, n, s in _plan(self.h, self.w, scale, size, antialias):
            if not (n == (self.h if dim == -2 else self.w) and s == 1):
                self.passes.append((dim, n, float(s)))
        out = {dim: n for dim, n, _ in _plan(self.h, self.w, scale, size, antialias)}
        self.out_size = (out[-2], out[-1])
        numpy_ok = torch.device(device).type == "cpu" and dtype in _NUMPY_FLOATS
        self.rows_kind = self.cols_kind = "skip"
        self.rows_scale = 1.0
        for dim, n, s in self.passes:
            length = self.h if dim == -2 else self.w
            if length * n <= _DENSE_MAX and numpy_ok:
                kind = "dense"
            elif _phases(length, n, s, antialias) is not None:
                kind = "polyphase"
            else:
                kind = "banded"
            if dim == -2:
                self.rows_kind, self.rows_scale = kind, s
            else:
                self.cols_kind = kind
        self.rows_first = bool(self.passes) and self.passes[0][0] == -2

    def _align(self, r0: int, r1: int, length: int) -> tuple[int, int]:
        """Rows r0..r1 widened to the last dimension's product grid when that pass is banded (see _banded_last)."""
        if self.cols_kind != "banded":
            return r0, r1
        c = _COLUMN_ROWS
        return r0 // c * c, min(length, -(-r1 // c) * c)

    def _rows_needed(self, o0: int, o1: int) -> tuple[int, int]:
        """Source rows the rows pass reads for its outputs o0..o1."""
        n, out_len, s = self.h, self.out_size[0], self.rows_scale
        if self.rows_kind == "skip":
            return o0, o1
        if self.rows_kind == "dense":
            return 0, n
        if self.rows_kind == "polyphase":
            w, start = _phases(n, out_len, s, self.antialias)
            k = int(round(s))
            m0, m1 = o0 // k, -(-o1 // k)
            raw = np.arange(int(start.min()) + m0, int(start.max()) + m1 + w.shape[1] - 1)
        else:
            first, wts, _, windows = _blocks(n, out_len, s, self.antialias)
            sel = [g for g in _groups(first, wts.shape[1]) if first[g[0]] < o1 and first[g[1] - 1] + wts.shape[1] > o0]
            raw = np.concatenate([windows[r0:r1].ravel() for r0, r1 in sel])
            return int(raw.min()), int(raw.max()) + 1
        idx = _mirror(raw, n)
        return int(idx.min()), int(idx.max()) + 1

    def source_rows(self, o0: int, o1: int) -> tuple[int, int]:
        """The source rows [i0, i1) that output rows [o0, o1) are computed from."""
        if not 0 <= o0 < o1 <= self.out_size[0]:
            raise ValueError(f"rows {o0}..{o1} outside 0..{self.out_size[0]}")
        if self.rows_first:
            o0, o1 = self._align(o0, o1, self.out_size[0])
            return self._rows_needed(o0, o1)
        i0, i1 = self._rows_needed(o0, o1)
        return self._align(i0, i1, self.h)

    def resize(self, slab: torch.Tensor, i0: int, o0: int, o1: int) -> torch.Tensor:
        """Output rows o0..o1 (..., o1 - o0, W') from ``slab`` (..., rows, W), source rows i0.. of the image."""
        if slab.shape[-1] != self.w:
            raise ValueError(f"slab width {slab.shape[-1]} != image width {self.w}")
        n0, n1 = self.source_rows(o0, o1)
        if n0 < i0 or n1 > i0 + slab.shape[-2]:
            raise ValueError(f"slab rows {i0}..{i0 + slab.shape[-2]} do not hold rows {n0}..{n1}")
        x = slab[..., n0 - i0 : n1 - i0, :]
        if self.rows_first:
            e0, e1 = self._align(o0, o1, self.out_size[0])
            x = self._cols(self._rows(x, n0, e0, e1), e0)
            out = x[..., o0 - e0 : o1 - e0, :]
        else:
            out = self._rows(self._cols(x, n0), n0, o0, o1)
        return out.contiguous() if out.data_ptr() != slab.data_ptr() else out.clone()

    def _cols(self, x: torch.Tensor, row0: int) -> torch.Tensor:
        if self.cols_kind == "skip":
            return x
        n = self.out_size[1]
        s = next(p[2] for p in self.passes if p[0] == -1)
        if self.cols_kind == "dense":
            return torch.from_numpy(np.ascontiguousarray(_resize_dim_numpy(x.numpy(), x.dim() - 1, n, s,
                                                                           self.antialias)))
        return _resize_dim(x, x.dim() - 1, n, s, self.antialias, row0=row0)

    def _rows(self, x: torch.Tensor, base: int, o0: int, o1: int) -> torch.Tensor:
        """Outputs o0..o1 of the rows pass from x (..., rows, B) holding source rows base.."""
        if self.rows_kind == "skip":
            return x[..., o0 - base : o1 - base, :]
        n, out_len, s = self.h, self.out_size[0], self.rows_scale
        shape = list(x.shape)
        a, rows, b = math.prod(shape[:-2]), shape[-2], shape[-1]
        x3 = x.reshape(a, rows, b)
        if self.rows_kind == "dense":
            m = _dense(n, out_len, s, self.antialias).astype(x3.numpy().dtype, copy=False)[o0:o1]
            res = np.einsum("...i,oi->...o", np.moveaxis(x3.numpy(), 1, -1), m)
            out = torch.from_numpy(np.ascontiguousarray(np.moveaxis(res, -1, 1)))
        elif self.rows_kind == "polyphase":
            w, start = _phases(n, out_len, s, self.antialias)
            k, taps = w.shape
            m0, m1 = o0 // k, -(-o1 // k)
            lo = int(start.min())
            src = _mirror(np.arange(lo + m0, int(start.max()) + m1 + taps - 1), n) - base
            xp = x3.index_select(1, torch.from_numpy(src).to(x3.device))
            res = torch.empty((a, m1 - m0, k, b), dtype=x3.dtype, device=x3.device)
            for p in range(k):
                o, r = res[:, :, p], int(start[p]) - lo
                torch.mul(xp[:, r : r + m1 - m0], float(w[p, 0]), out=o)
                for t in range(1, taps):
                    o.add_(xp[:, r + t : r + t + m1 - m0], alpha=float(w[p, t]))
            out = res.view(a, (m1 - m0) * k, b)[:, o0 - m0 * k : o1 - m0 * k]
        else:
            first, wts, lo, windows = _blocks(n, out_len, s, self.antialias)
            bo = wts.shape[1]
            sel = [g for g in _groups(first, bo) if first[g[0]] < o1 and first[g[1] - 1] + bo > o0]
            f0 = int(first[sel[0][0]])
            f1 = max(int(first[r1 - 1]) + bo for _, r1 in sel)
            wt = torch.from_numpy(wts).to(dtype=x3.dtype, device=x3.device)
            res = torch.empty((a, f1 - f0, b), dtype=x3.dtype, device=x3.device)
            x3 = x3.contiguous()
            for r0, r1 in sel:
                _group_product(x3, base, n, wt, first, lo, windows, r0, r1, res, f0)
            out = res[:, o0 - f0 : o1 - f0]
        return out.reshape(shape[:-2] + [o1 - o0, b])
