"""Machinery of srcnn.degrade: modcrop, bicubic down/up, blur kernels and their filter, resizes, noise and JPEG."""

from __future__ import annotations

import io
import math
from functools import lru_cache

import numpy as np
from PIL import Image

from .images import quantize
from .resize import imresize
from .resize import weight_matrix as _bicubic_dense

__all__ = [
    "modcrop",
    "downscale",
    "upscale",
    "bicubic_down_up",
    "sr_pair",
    "gaussian_blur",
    "jpeg",
    "add_noise",
    "gaussian_kernel",
    "generalized_gaussian_kernel",
    "plateau_kernel",
    "sinc_kernel",
    "trim",
    "convolve",
    "RESIZE_MODES",
    "resize",
    "POISSON_LEVELS",
    "gaussian_noise",
    "poisson_noise",
    "to_levels",
]


def to_levels(x: np.ndarray) -> np.ndarray:
    """Float in [0, 1] -> the same dtype, each value moved to the nearest of the 256 8-bit levels (as a photo's
    pixels lie): rint(x * 255) / 255, where ``images.quantize`` would make the uint8 itself."""
    return np.rint(x * 255) / 255


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop H and W down to multiples of ``scale`` (top-left kept), as the SRCNN MATLAB code does."""
    h, w = image.shape[:2]
    return image[: h - h % scale, : w - w % scale, ...]


def _hw_last(image: np.ndarray) -> np.ndarray:
    return np.moveaxis(image, -1, 0) if image.ndim == 3 else image


def _hw_back(image: np.ndarray, ndim: int) -> np.ndarray:
    return np.moveaxis(image, 0, -1) if ndim == 3 else image


def downscale(image: np.ndarray, scale: float, size: tuple[int, int] | None = None) -> np.ndarray:
    """MATLAB bicubic shrink by 1/scale (antialiased); (H, W[, 3]) -> (ceil(H/s), ceil(W/s)[, 3]).

    ``size`` = (h, w): that output size instead, with the kernel and sample positions of 1/``scale``.
    """
    return _hw_back(imresize(np.ascontiguousarray(_hw_last(image)), 1.0 / scale, size=size), image.ndim)


def upscale(image: np.ndarray, scale: float, size: tuple[int, int] | None = None) -> np.ndarray:
    """MATLAB bicubic enlargement by ``scale`` (or to ``size`` = (H, W)); values not clipped."""
    planes = np.ascontiguousarray(_hw_last(image))
    out = imresize(planes, size=size) if size is not None else imresize(planes, scale)
    return _hw_back(out, image.ndim)


def sr_pair(image: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The SR degradation, its one home: (low, input) of an (H, W[, 3]) float picture: low = bicubic down by
    ``scale``, input = low bicubic back up to H x W; neither clipped (the papers' evaluation protocol)."""
    h, w = image.shape[:2]
    low = downscale(image, scale)
    return low, upscale(low, scale, size=(h, w))


def bicubic_down_up(image: np.ndarray, scale: float) -> np.ndarray:
    """:func:`sr_pair`'s input clipped to [0, 1], in the picture's dtype (training, prepare); scale 1 is a copy."""
    if scale == 1:
        return image.copy()
    return np.clip(sr_pair(image, scale)[1], 0.0, 1.0).astype(image.dtype)


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with std ``sigma`` px (kernel radius ceil(3σ), symmetric borders); sigma 0 is identity."""
    if sigma <= 0:
        return image.copy()
    r = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k = (k / k.sum()).astype(image.dtype)
    out = image
    for axis in (0, 1):
        pad = [(0, 0)] * image.ndim
        pad[axis] = (r, r)
        p = np.pad(out, pad, mode="symmetric")
        acc = np.zeros_like(out)
        n = out.shape[axis]
        for i, kv in enumerate(k):
            acc += kv * np.take(p, np.arange(i, i + n), axis=axis)
        out = acc
    return out


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode with Pillow (IJG tables, 4:2:0 for RGB) at ``quality`` in memory and decode; same shape/dtype."""
    u8 = quantize(image, 8)
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    dec = np.asarray(Image.open(buf), dtype=np.float32 if image.dtype == np.float32 else np.float64)
    return (dec / 255.0).astype(image.dtype)


def add_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Add Gaussian noise of std ``sigma`` (in [0, 1] units) and clip to [0, 1]."""
    if sigma <= 0:
        return image.copy()
    noise = rng.standard_normal(image.shape, dtype=np.float32 if image.dtype == np.float32 else np.float64)
    return np.clip(image + sigma * noise, 0.0, 1.0).astype(image.dtype, copy=False)


# ----------------------------------------------------------------------------------------------------- kernels
#
# Coordinates: x is the column (to the right), y the row (down); a kernel of odd ``size`` is centred on pixel
# ((size - 1) / 2, (size - 1) / 2). ``theta`` (radians) turns the axis of ``sigma_x`` from +x towards +y, so
# theta = 0 spreads sigma_x along the rows' direction (horizontal) and theta = pi/2 along the columns
# (vertical). Every kernel is float32 and sums to 1.


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be odd and positive (got {size})")
    ax = np.arange(size, dtype=np.float64) - (size - 1) / 2
    yy, xx = np.meshgrid(ax, ax, indexing="ij")
    return xx, yy


def _quadratic(size: int, sigma_x: float, sigma_y: float | None, theta: float) -> np.ndarray:
    """d^T Sigma^-1 d on the kernel grid, Sigma = R diag(sx^2, sy^2) R^T, R the rotation by theta."""
    sy = sigma_x if sigma_y is None else sigma_y
    if sigma_x <= 0 or sy <= 0:
        raise ValueError(f"sigmas must be positive (got {sigma_x}, {sy})")
    xx, yy = _grid(size)
    c, s = math.cos(theta), math.sin(theta)
    u = c * xx + s * yy  # coordinate along the sigma_x axis
    v = -s * xx + c * yy  # along the sigma_y axis
    return (u / sigma_x) ** 2 + (v / sy) ** 2


def _normalized(k: np.ndarray) -> np.ndarray:
    return (k / k.sum()).astype(np.float32)


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0) -> np.ndarray:
    """(size, size) float32 Gaussian summing to 1; isotropic when sigma_y is None, else anisotropic, rotated.

    Real-ESRGAN ranges: size odd in 7..21, sigma in [0.2, 3] (first blur) or [0.2, 1.5] (second), theta in
    [-pi, pi]. BSRGAN: size odd in 7..25, isotropic sigma in [0, 2 + 0.2 s], anisotropic variances in
    [0, 4 + s] (s the scale factor), theta in [0, pi].
    """
    return _normalized(np.exp(-0.5 * _quadratic(size, sigma_x, sigma_y, theta)))


def generalized_gaussian_kernel(size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0,
                                beta: float = 1.0) -> np.ndarray:
    """(size, size) float32 exp(-0.5 q^beta), q = d^T Sigma^-1 d, summing to 1; beta = 1 is the Gaussian.

    beta < 1: a cusp at the centre and heavier tails; beta > 1: a flatter top, faster decay. Real-ESRGAN draws beta
    in [0.5, 4] (half the time in [0.5, 1], half in [1, 4]), sigmas and theta as for the Gaussian.
    """
    if beta <= 0:
        raise ValueError(f"beta must be positive (got {beta})")
    return _normalized(np.exp(-0.5 * _quadratic(size, sigma_x, sigma_y, theta) ** beta))


def plateau_kernel(size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0,
                   beta: float = 1.0) -> np.ndarray:
    """(size, size) float32 1 / (1 + q^beta), q = d^T Sigma^-1 d, summing to 1: a flat top with slow tails.

    Real-ESRGAN draws beta in [1, 2] (half the time in [1, 1], i.e. 1, half in [1, 2]); sigmas and theta as
    for the Gaussian.
    """
    if beta <= 0:
        raise ValueError(f"beta must be positive (got {beta})")
    return _normalized(1.0 / (1.0 + _quadratic(size, sigma_x, sigma_y, theta) ** beta))


def sinc_kernel(size: int, cutoff: float) -> np.ndarray:
    """(size, size) float32 ideal circular low-pass (2-D sinc, Bessel J1) of cutoff ``cutoff`` rad/px; sum 1.

    The truncated sinc has negative lobes: it makes the ringing and overshoot of sharpened or over-compressed
    photos. Real-ESRGAN: cutoff in [pi/3, pi] for size < 13, [pi/5, pi] otherwise (blur steps), [pi/3, pi]
    for the final sinc; size odd in 7..21. cutoff = pi leaves an image almost untouched.
    """
    from scipy.special import j1

    if not 0 < cutoff <= math.pi:
        raise ValueError(f"cutoff must be in (0, pi] (got {cutoff})")
    xx, yy = _grid(size)
    r = np.hypot(xx, yy)
    with np.errstate(invalid="ignore", divide="ignore"):
        k = cutoff * j1(cutoff * r) / (2 * math.pi * r)
    k[r == 0] = cutoff**2 / (4 * math.pi)
    return _normalized(k)


def trim(kernel: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """Drop outer rings of the kernel while their absolute weight is below ``tol`` of the total (speed)."""
    total = float(np.abs(kernel).sum())
    k = kernel
    while k.shape[0] > 1 and k.shape[0] == k.shape[1]:
        ring = float(np.abs(k).sum() - np.abs(k[1:-1, 1:-1]).sum())
        if ring >= tol * total:
            break
        k = k[1:-1, 1:-1]
    return k


def _apply_axes(x: np.ndarray, mh: np.ndarray, mw: np.ndarray) -> np.ndarray:
    """mh @ x @ mw.T on each channel of (H, W[, C]) float32 -> (h', w'[, C]).

    The products run in torch, which follows torch.set_num_threads (1 in a DataLoader worker): numpy's BLAS
    starts a thread per core of its own, and in a training worker beside the training threads those fought
    over the cores (9 ms a 64 px patch instead of 1.7 ms here).
    """
    import torch

    t_mh, t_mw = torch.from_numpy(mh), torch.from_numpy(mw)
    t = torch.from_numpy(np.ascontiguousarray(x))
    if x.ndim == 2:
        return (t_mh @ t @ t_mw.T).numpy()
    h, w, c = x.shape
    y = (t_mh @ t.reshape(h, w * c)).reshape(-1, w, c)  # (h', W, C)
    y = y.transpose(1, 2).reshape(-1, w) @ t_mw.T  # (h' C, w')
    return np.ascontiguousarray(y.reshape(mh.shape[0], c, -1).transpose(1, 2).numpy())  # (h', w', C)


def convolve(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Filter (H, W[, C]) with a point-symmetric (k, k) kernel, symmetric borders; same shape/dtype, not clipped.

    Outer kernel rings holding less than 1e-6 of the weight are dropped, then the product runs by FFT (float32;
    on a 200x200 RGB patch this beats 1-D passes even for separable kernels).
    """
    import scipy.fft as sfft

    k = trim(np.asarray(kernel, dtype=np.float64))
    r = k.shape[0] // 2
    if r == 0:
        return (image * float(k[0, 0])).astype(image.dtype, copy=False)
    x = np.asarray(image, dtype=np.float32)
    h, w = x.shape[:2]
    planes = x[None] if x.ndim == 2 else np.moveaxis(x, -1, 0)
    p = np.pad(planes, ((0, 0), (r, r), (r, r)), mode="symmetric")
    shape = (sfft.next_fast_len(p.shape[1], real=True), sfft.next_fast_len(p.shape[2], real=True))
    f = sfft.rfft2(p, s=shape, workers=1)
    f *= sfft.rfft2(k.astype(np.float32), s=shape, workers=1)
    full = sfft.irfft2(f, s=shape, workers=1)
    out = full[:, 2 * r : 2 * r + h, 2 * r : 2 * r + w]  # the kernel is point-symmetric: correlation = convolution
    out = out[0] if x.ndim == 2 else np.moveaxis(out, 0, -1)
    return np.ascontiguousarray(out, dtype=image.dtype)


# ----------------------------------------------------------------------------------------------------- resizes

RESIZE_MODES = ("area", "bilinear", "bicubic")


@lru_cache(maxsize=1024)
def _resize_matrix(in_len: int, out_len: int, factor: float, mode: str) -> np.ndarray:
    """(out_len, in_len) float32 weights of one axis: output j samples input (j + 0.5) / factor - 0.5."""
    if mode == "bicubic":  # the weights of srcnn.resize.imresize itself (MATLAB bicubic, antialiased)
        return _bicubic_dense(in_len, out_len, factor, True).astype(np.float32)
    j = np.arange(out_len, dtype=np.float64)
    m = np.zeros((out_len, in_len))
    if mode == "bilinear":  # torch's bilinear, align_corners=False, no antialiasing
        src = np.clip((j + 0.5) / factor - 0.5, 0, in_len - 1)
        i0 = np.floor(src).astype(np.int64)
        i1 = np.minimum(i0 + 1, in_len - 1)
        w1 = src - i0
        np.add.at(m, (np.arange(out_len), i0), 1 - w1)
        np.add.at(m, (np.arange(out_len), i1), w1)
    elif mode == "area":  # each output pixel averages the input area it covers (pixel-area relation)
        lo = np.clip(j / factor, 0, in_len)
        hi = np.clip((j + 1) / factor, 0, in_len)
        i = np.arange(in_len, dtype=np.float64)
        m = np.clip(np.minimum(hi[:, None], i[None, :] + 1) - np.maximum(lo[:, None], i[None, :]), 0, None)
        empty = m.sum(axis=1) == 0  # beyond the input (an output larger than factor x input): edge pixel
        m[empty, -1] = 1.0
        m = m / m.sum(axis=1, keepdims=True)
    else:
        raise ValueError(f"unknown resize mode {mode!r}")
    return m.astype(np.float32)


def resize(image: np.ndarray, factor: float, mode: str = "bicubic", size: tuple[int, int] | None = None
           ) -> np.ndarray:
    """Resize (H, W[, C]) by ``factor`` (> 1 enlarges) to ``size`` = (h, w) or (ceil(H f), ceil(W f)); not clipped.

    Output pixel j samples input position (j + 0.5) / factor - 0.5 on both axes (pixel centres), whatever the
    output size, so chained resizes stay aligned with the original grid. ``bicubic`` is the project's one
    bicubic (srcnn.resize.imresize, MATLAB semantics, antialiased when shrinking: its own weight matrices,
    applied as float32 matrix products, equal to imresize within float32 rounding); ``bilinear`` is torch's
    (align_corners=False, not antialiased: shrinking aliases, as cheap resizers do); ``area`` averages the
    covered input area (OpenCV INTER_AREA / Pillow BOX). Same dtype out.
    """
    h, w = image.shape[:2]
    if size is None:
        size = (math.ceil(h * factor - 1e-9), math.ceil(w * factor - 1e-9))
    mh = _resize_matrix(h, int(size[0]), float(factor), mode)
    mw = _resize_matrix(w, int(size[1]), float(factor), mode)
    return _apply_axes(np.asarray(image, dtype=np.float32), mh, mw).astype(image.dtype, copy=False)


# ------------------------------------------------------------------------------------------------------- noise

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # BT.601 weights (cv2 RGB2GRAY, as BasicSR)
POISSON_LEVELS = 256.0  # photon counts per unit of intensity (BasicSR's value for any 8-bit photo)


def gaussian_noise(image: np.ndarray, sigma: float, rng: np.random.Generator, gray: bool = False,
                   cov: tuple[float, ...] | None = None) -> np.ndarray:
    """Add zero-mean Gaussian noise of std ``sigma`` ([0, 1] units), clipped to [0, 1]; same shape and dtype.

    ``gray``: one noise plane added to every channel (luma noise); else independent per channel (colour).
    ``cov`` (9 floats, row-major 3x3 channel covariance) replaces sigma for RGB with channel-correlated noise
    (BSRGAN's third kind). Real-ESRGAN: sigma in [1, 30]/255 (first), [1, 25]/255 (second), gray 40 %.
    BSRGAN: sigma in {2..25}/255, 40 % colour, 40 % gray, 20 % correlated (covariance (25/255)^2 U^T D U).
    """
    if sigma <= 0 and cov is None:
        return image.copy()
    x = np.asarray(image, dtype=np.float32)
    if x.ndim == 3 and cov is not None and not gray:
        a = np.linalg.cholesky(np.asarray(cov, dtype=np.float64).reshape(3, 3) + 1e-12 * np.eye(3))
        noise = rng.standard_normal(x.shape, dtype=np.float32) @ a.T.astype(np.float32)
    elif x.ndim == 3 and gray:
        noise = sigma * rng.standard_normal(x.shape[:2], dtype=np.float32)[:, :, None]
    else:
        noise = sigma * rng.standard_normal(x.shape, dtype=np.float32)
    return np.clip(x + noise, 0.0, 1.0).astype(image.dtype, copy=False)


def _poisson(lam: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poisson counts of mean ``lam``: exact below 64, rounded normal N(lam, lam) above (the same to ~1e-2)."""
    small = lam < 64
    out = np.rint(lam + np.sqrt(lam) * rng.standard_normal(lam.shape, dtype=np.float32))
    if small.any():
        out[small] = rng.poisson(lam[small])
    return out


def poisson_noise(image: np.ndarray, scale: float, rng: np.random.Generator, gray: bool = False) -> np.ndarray:
    """Add shot noise (Poisson of 256 counts per unit, times ``scale``), clipped to [0, 1]; same shape/dtype.

    As BasicSR: noise = (Poisson(256 x) / 256 - x) * scale on the image rounded to 8-bit levels; ``gray``:
    computed on the BT.601 luma and added to every channel. Real-ESRGAN: scale in [0.05, 3] (first) and
    [0.05, 2.5] (second), gray 40 %. Counts of 64 and more use the normal approximation (for speed).
    """
    if scale <= 0:
        return image.copy()
    x = np.asarray(image, dtype=np.float32)
    base = x @ _LUMA if (x.ndim == 3 and gray) else x
    base = to_levels(np.clip(base, 0, 1))
    lam = base * POISSON_LEVELS
    noise = (_poisson(lam, rng) / POISSON_LEVELS - base) * scale
    if x.ndim == 3 and gray:
        noise = noise[:, :, None]
    return np.clip(x + noise, 0.0, 1.0).astype(image.dtype, copy=False)
