"""The one bicubic of the project: MATLAB ``imresize(..., 'bicubic')`` semantics.

Cubic convolution kernel with a = -0.5, antialiased when shrinking (the kernel is stretched by 1/scale),
symmetric ("mirror with edge repeated") padding at the borders, separable. Works on float tensors or arrays of
shape (..., H, W); dtype is kept (use float64 for the protocol).

Fast and equal to the plain per-tap sum within rounding (tests/reference_resize.py is that sum, the oracle):
whole upscales are polyphase filters (s phases of fixed weights, each a weighted sum of shifted slices written
to a strided view), other scales banded matrix products (per block of outputs, its weights times its source
window; the last dimension is transposed first). The two passes commute, so the cheaper order is taken.
Those passes are machinery (srcnn._resample), handed this module's kernel weights; the definition is here.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from ._resample import COLUMN_ROWS, banded_rows, blocks, groups, mirror, pass_cost, phases, polyphase_rows, resize_dim

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
    if pass_cost(_kernel_weights, h, w, dims[::-1], antialias) < pass_cost(_kernel_weights, h, w, dims, antialias):
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
            out = resize_dim(_kernel_weights, out, x.dim() + dim, n, s, antialias)
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
            elif phases(_kernel_weights, length, n, s, antialias) is not None:
                kind = "polyphase"
            else:
                kind = "banded"
            if dim == -2:
                self.rows_kind, self.rows_scale = kind, s
            else:
                self.cols_kind = kind
        self.rows_first = bool(self.passes) and self.passes[0][0] == -2

    def _align(self, r0: int, r1: int, length: int) -> tuple[int, int]:
        """Rows r0..r1 widened to the last dimension's product grid when that pass is banded (COLUMN_ROWS)."""
        if self.cols_kind != "banded":
            return r0, r1
        c = COLUMN_ROWS
        return r0 // c * c, min(length, -(-r1 // c) * c)

    def _rows_needed(self, o0: int, o1: int) -> tuple[int, int]:
        """Source rows the rows pass reads for its outputs o0..o1."""
        n, out_len, s = self.h, self.out_size[0], self.rows_scale
        if self.rows_kind == "skip":
            return o0, o1
        if self.rows_kind == "dense":
            return 0, n
        if self.rows_kind == "polyphase":
            w, start = phases(_kernel_weights, n, out_len, s, self.antialias)
            k = int(round(s))
            m0, m1 = o0 // k, -(-o1 // k)
            raw = np.arange(int(start.min()) + m0, int(start.max()) + m1 + w.shape[1] - 1)
        else:
            first, wts, _, windows = blocks(_kernel_weights, n, out_len, s, self.antialias)
            sel = [g for g in groups(first, wts.shape[1]) if first[g[0]] < o1 and first[g[1] - 1] + wts.shape[1] > o0]
            raw = np.concatenate([windows[r0:r1].ravel() for r0, r1 in sel])
            return int(raw.min()), int(raw.max()) + 1
        idx = mirror(raw, n)
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
        return resize_dim(_kernel_weights, x, x.dim() - 1, n, s, self.antialias, row0=row0)

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
            w, start = phases(_kernel_weights, n, out_len, s, self.antialias)
            out = polyphase_rows(x3, w, start, n, base, o0, o1)
        else:
            out = banded_rows(x3, blocks(_kernel_weights, n, out_len, s, self.antialias), n, base, o0, o1)
        return out.reshape(shape[:-2] + [o1 - o0, b])
