"""Degradations as pure functions on float images in [0, 1].

Data convention: numpy float32/float64 arrays, shape (H, W) for Y/gray or (H, W, 3) for RGB, values in [0, 1].
Every function returns a new array of the same shape (except ``modcrop``/``downscale``/``resize``) and dtype.

Two families live here. The simple one (``Degradation``: blur -> bicubic -> Gaussian noise -> JPEG, one draw) is
what the shipped models were trained on. The realistic one (``RealisticDegradation``) composes blur kernels
(isotropic/anisotropic Gaussian, generalized Gaussian, plateau, 2-D sinc), area/bilinear/bicubic resizes,
Gaussian/Poisson noise in colour or luma, and JPEG, in Real-ESRGAN's second-order chain (Wang et al. 2021) or
BSRGAN's shuffled order (Zhang et al. 2021), with their parameter ranges; see docs/degradations.md. Every random
draw is made in ``sample`` and kept in a frozen ``Params``, so a degradation can be logged and replayed.
"""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

from .images import quantize
from .resize import imresize
from .resize import weight_matrix as _bicubic_dense

__all__ = [
    "modcrop",
    "bicubic_down_up",
    "downscale",
    "upscale",
    "gaussian_blur",
    "jpeg",
    "add_noise",
    "Degradation",
    "gaussian_kernel",
    "generalized_gaussian_kernel",
    "plateau_kernel",
    "sinc_kernel",
    "convolve",
    "resize",
    "gaussian_noise",
    "poisson_noise",
    "Blur",
    "Resize",
    "Noise",
    "Jpeg",
    "Params",
    "apply_steps",
    "steps_margin",
    "RealisticDegradation",
    "SeedDegradation",
    "PRESETS",
    "preset",
]


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


def bicubic_down_up(image: np.ndarray, scale: float) -> np.ndarray:
    """The SR degradation: bicubic down by ``scale`` then back up to the input size, clipped to [0, 1]."""
    if scale == 1:
        return image.copy()
    h, w = image.shape[:2]
    return np.clip(upscale(downscale(image, scale), scale, size=(h, w)), 0.0, 1.0).astype(image.dtype)


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


def _draw(value: float | tuple[float, float] | list[float], rng: np.random.Generator) -> float:
    if isinstance(value, (tuple, list)):
        lo, hi = value
        return float(rng.uniform(lo, hi)) if lo != hi else float(lo)
    return float(value)


@dataclass(frozen=True)
class Degradation:
    """A composed degradation: blur σ -> bicubic x s down/up -> Gaussian noise -> JPEG q.

    Each field is a fixed value or a (low, high) range drawn uniformly per sample (a ``scale`` range of two
    ints draws integer factors, of floats any factor in steps of 1/20; ``quality`` draws integers; quality 0
    means no JPEG step).
    """

    scale: float | tuple[float, float] = 1
    blur: float | tuple[float, float] = 0.0
    noise: float | tuple[float, float] = 0.0
    quality: int | tuple[int, int] = 0

    def sample(self, rng: np.random.Generator) -> dict:
        """Draw the parameters of one sample: {'scale', 'blur', 'noise', 'quality'}."""
        if isinstance(self.scale, (tuple, list)):
            lo, hi = self.scale
            if isinstance(lo, int) and isinstance(hi, int):  # [2, 4]: integer factors
                scale = float(rng.integers(lo, hi + 1))
            else:  # [1.0, 4.0]: any factor in the range, in steps of 1/20 (so resize weights can be cached)
                scale = float(np.clip(np.round(rng.uniform(lo, hi) * 20) / 20, lo, hi))
        else:
            scale = float(self.scale)
        if isinstance(self.quality, (tuple, list)):
            quality = int(rng.integers(int(self.quality[0]), int(self.quality[1]) + 1))
        else:
            quality = int(self.quality)
        return {"scale": scale, "blur": _draw(self.blur, rng), "noise": _draw(self.noise, rng), "quality": quality}

    def apply(self, image: np.ndarray, params: dict, rng: np.random.Generator, upsample: bool = True) -> np.ndarray:
        """Degrade one float image with the drawn ``params``; values in [0, 1], same dtype.

        ``upsample`` True: the same shape out (bicubic down and back up, the input of a pre-upsampling network).
        False: the low-resolution image itself, (ceil(H / s), ceil(W / s)[, 3]), the input of a network that
        upsamples at its end (noise and JPEG then act on the small image, as on a real camera's output).
        """
        out = gaussian_blur(image, params["blur"]) if params["blur"] > 0 else image
        if params["scale"] != 1:
            if upsample:
                out = bicubic_down_up(out, params["scale"])
            else:
                out = np.clip(downscale(out, params["scale"]), 0.0, 1.0).astype(image.dtype, copy=False)
        if params["noise"] > 0:
            out = add_noise(out, params["noise"], rng)
        if params["quality"] > 0:
            out = jpeg(out, params["quality"])
        return out.astype(image.dtype, copy=False)

    @property
    def margin(self) -> int:
        """Context pixels a crop needs on each side so that the degradation's border effects stay outside."""
        s = max(self.scale) if isinstance(self.scale, (tuple, list)) else self.scale
        b = max(self.blur) if isinstance(self.blur, (tuple, list)) else self.blur
        return int(np.ceil(2 * s + 2)) + int(np.ceil(3 * b))


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


def _trim(kernel: np.ndarray, tol: float = 1e-6) -> np.ndarray:
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

    k = _trim(np.asarray(kernel, dtype=np.float64))
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
    base = np.rint(np.clip(base, 0, 1) * 255) / 255
    lam = base * POISSON_LEVELS
    noise = (_poisson(lam, rng) / POISSON_LEVELS - base) * scale
    if x.ndim == 3 and gray:
        noise = noise[:, :, None]
    return np.clip(x + noise, 0.0, 1.0).astype(image.dtype, copy=False)


# ------------------------------------------------------------------------------------------------------- steps

BLUR_KINDS = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")


@dataclass(frozen=True)
class Blur:
    """One filter step: ``kind`` in BLUR_KINDS or "sinc"; odd ``size``; sigmas (px), theta (rad), beta, cutoff."""

    kind: str
    size: int
    sigma_x: float = 1.0
    sigma_y: float = 1.0
    theta: float = 0.0
    beta: float = 1.0
    cutoff: float = math.pi

    def kernel(self) -> np.ndarray:
        """The (size, size) float32 kernel, summing to 1."""
        iso = self.kind.endswith("iso") and not self.kind.endswith("aniso")
        sy = None if iso else self.sigma_y
        th = 0.0 if iso else self.theta
        if self.kind == "sinc":
            return sinc_kernel(self.size, self.cutoff)
        if self.kind in ("iso", "aniso"):
            return gaussian_kernel(self.size, self.sigma_x, sy, th)
        if self.kind.startswith("generalized"):
            return generalized_gaussian_kernel(self.size, self.sigma_x, sy, th, self.beta)
        if self.kind.startswith("plateau"):
            return plateau_kernel(self.size, self.sigma_x, sy, th, self.beta)
        raise ValueError(f"unknown blur kind {self.kind!r}")


@dataclass(frozen=True)
class Resize:
    """One resize step: the image becomes ``scale`` times the high-resolution input (1/s: the target LR)."""

    scale: float
    mode: str


@dataclass(frozen=True)
class Noise:
    """One noise step: ``kind`` "gaussian" (amount = sigma, [0, 1] units) or "poisson" (amount = scale)."""

    kind: str
    amount: float
    gray: bool = False
    cov: tuple[float, ...] | None = None  # 3x3 row-major channel covariance for BSRGAN's correlated noise


@dataclass(frozen=True)
class Jpeg:
    """One JPEG step (Pillow, 4:2:0 for RGB) at integer ``quality``."""

    quality: int


Step = Blur | Resize | Noise | Jpeg
_STEP_TYPES = {"blur": Blur, "resize": Resize, "noise": Noise, "jpeg": Jpeg}


def apply_steps(hr: np.ndarray, steps: tuple[Step, ...], scale: int, rng: np.random.Generator) -> np.ndarray:
    """Run ``steps`` on (H, W[, 3]) float in [0, 1] (H, W multiples of scale) -> (H/s, W/s[, 3]) float32 [0, 1].

    Each step's output is clipped to [0, 1]; a final resize to the target size is added when the steps do not
    end there; the result is rounded to 8-bit levels (as Real-ESRGAN rounds its LR).
    """
    h, w = hr.shape[:2]
    if h % scale or w % scale:
        raise ValueError(f"image size {h}x{w} is not a multiple of the scale {scale}")
    x = np.asarray(hr, dtype=np.float32)
    g = 1.0
    for st in steps:
        if isinstance(st, Blur):
            x = convolve(x, st.kernel())
        elif isinstance(st, Resize):
            size = (math.ceil(h * st.scale - 1e-9), math.ceil(w * st.scale - 1e-9))
            if abs(st.scale * scale - 1) < 1e-12:
                size = (h // scale, w // scale)
            x = resize(x, st.scale / g, st.mode, size=size)
            g = st.scale
        elif isinstance(st, Noise):
            if st.kind == "gaussian":
                x = gaussian_noise(x, st.amount, rng, gray=st.gray, cov=st.cov)
            elif st.kind == "poisson":
                x = poisson_noise(x, st.amount, rng, gray=st.gray)
            else:
                raise ValueError(f"unknown noise kind {st.kind!r}")
        elif isinstance(st, Jpeg):
            x = jpeg(np.clip(x, 0, 1), st.quality)
        else:
            raise TypeError(f"not a degradation step: {st!r}")
        x = np.clip(x, 0.0, 1.0)
    if x.shape[:2] != (h // scale, w // scale):
        x = np.clip(resize(x, 1.0 / (scale * g), "bicubic", size=(h // scale, w // scale)), 0, 1)
    return (np.rint(x * 255) / 255).astype(np.float32)


def _resize_reach(ratio: float, mode: str) -> float:
    """Half-width in input px of one resize's footprint (plus one px for the grid's rounding)."""
    shrink = min(ratio, 1.0)
    if mode == "bicubic":
        return 2.0 / shrink + 1
    if mode == "area":
        return 0.5 / shrink + 1.5
    return 2.0  # bilinear, not antialiased


def steps_margin(steps: tuple[Step, ...], scale: int) -> int:
    """Context (HR px, a multiple of ``scale``) a crop needs on each side for these steps' border effects.

    Adds, in HR px, every kernel's radius (the rings holding all but 1e-3 of its weight, so what lies beyond
    changes a pixel by less than 1e-3) and every resize's footprint, each divided by the resolution it acts
    at. Noise is pointwise; JPEG is block-local with its grid tied to the crop (a crop's partial edge blocks
    are coded as any photo's edge), so neither adds context.
    """
    g, reach = 1.0, 0.0
    for st in steps:
        if isinstance(st, Blur):
            reach += (_trim(st.kernel().astype(np.float64), 1e-3).shape[0] // 2) / g
        elif isinstance(st, Resize):
            reach += _resize_reach(st.scale / g, st.mode) / g
            g = st.scale
    if abs(g * scale - 1) > 1e-12:
        reach += _resize_reach(1.0 / (scale * g), "bicubic") / g
    return int(math.ceil(reach / scale - 1e-9)) * scale


@dataclass(frozen=True)
class Params:
    """Every value one realistic degradation drew: the steps in order, the scale, the noise stream's seed."""

    scale: int
    order: str
    steps: tuple[Step, ...]
    noise_seed: int

    @property
    def margin(self) -> int:
        """Context (HR px, a multiple of scale) a crop needs on each side for exactly these steps."""
        return steps_margin(self.steps, self.scale)

    def to_dict(self) -> dict:
        """JSON-safe dict ({"op": ...} per step); ``Params.from_dict`` inverts it."""
        steps = []
        for st in self.steps:
            op = next(k for k, t in _STEP_TYPES.items() if isinstance(st, t))
            d = asdict(st)
            if isinstance(st, Noise) and st.cov is not None:
                d["cov"] = list(st.cov)
            steps.append({"op": op, **d})
        return {"scale": self.scale, "order": self.order, "noise_seed": self.noise_seed, "steps": steps}

    @classmethod
    def from_dict(cls, d: dict) -> Params:
        """The Params that ``to_dict`` wrote."""
        steps = []
        for s in d["steps"]:
            s = dict(s)
            t = _STEP_TYPES[s.pop("op")]
            if t is Noise and s.get("cov") is not None:
                s["cov"] = tuple(float(v) for v in s["cov"])
            steps.append(t(**s))
        return cls(int(d["scale"]), str(d["order"]), tuple(steps), int(d["noise_seed"]))


# ------------------------------------------------------------------------------------------- realistic chains

ORDERS = ("second_order", "first_order", "shuffled")


def _odd_sizes(lo: int, hi: int) -> tuple[int, ...]:
    return tuple(range(lo, hi + 1, 2))


@dataclass(frozen=True)
class RealisticDegradation:
    """A random realistic degradation of a clean HR image to its LR image at integer ``scale`` (1, 2, 3 or 4).

    ``order`` "second_order" (default, Real-ESRGAN, Wang et al. 2021): [blur -> resize -> noise -> JPEG], then
    [blur (80 %) -> resize -> noise], then [resize to the target + final sinc (80 %)] and JPEG in random order;
    "first_order": the first bracket then the last; "shuffled" (BSRGAN, Zhang et al. 2021): two blurs, a
    random downscale, the downscale to the target, noise and JPEG (90 %) in a random order (the random
    downscale before the final one; at x4 a first 1/2 resize 25 % of the time), then JPEG; the shuffled order
    uses BSRGAN's own ranges (see ``_sample_shuffled`` and docs/degradations.md), the fields below are
    Real-ESRGAN's defaults (x4 config, also used for its x2 model). Ranges are (low, high), drawn uniformly.
    Resize factors are relative to the HR image in the first stage and to the target LR in the second.
    """

    scale: int = 2
    order: str = "second_order"
    kernel_sizes: tuple[int, ...] = _odd_sizes(7, 21)
    kernel_kinds: tuple[str, ...] = BLUR_KINDS
    kernel_probs: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    blur_sigma2: tuple[float, float] = (0.2, 1.5)
    betag: tuple[float, float] = (0.5, 4.0)  # generalized Gaussian shape
    betap: tuple[float, float] = (1.0, 2.0)  # plateau shape
    sinc_prob: float = 0.1  # a blur step is a sinc instead
    sinc_prob2: float = 0.1
    second_blur_prob: float = 0.8
    final_sinc_prob: float = 0.8
    resize_probs: tuple[float, float, float] = (0.2, 0.7, 0.1)  # up, down, keep
    resize_range: tuple[float, float] = (0.15, 1.5)
    resize_probs2: tuple[float, float, float] = (0.3, 0.4, 0.3)
    resize_range2: tuple[float, float] = (0.3, 1.2)
    resize_modes: tuple[str, ...] = RESIZE_MODES
    gaussian_noise_prob: float = 0.5  # else Poisson
    noise_sigma: tuple[float, float] = (1 / 255, 30 / 255)
    noise_sigma2: tuple[float, float] = (1 / 255, 25 / 255)
    poisson_scale: tuple[float, float] = (0.05, 3.0)
    poisson_scale2: tuple[float, float] = (0.05, 2.5)
    gray_noise_prob: float = 0.4
    jpeg_range: tuple[int, int] = (30, 95)
    jpeg_range2: tuple[int, int] = (30, 95)

    def __post_init__(self) -> None:
        if self.scale not in (1, 2, 3, 4):
            raise ValueError(f"scale must be 1, 2, 3 or 4 (got {self.scale})")
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS} (got {self.order!r})")

    # -- draws
    def _blur(self, rng: np.random.Generator, sigma: tuple[float, float], sinc_prob: float) -> Blur:
        size = int(rng.choice(self.kernel_sizes))
        if rng.random() < sinc_prob:
            lo = math.pi / 3 if size < 13 else math.pi / 5
            return Blur("sinc", size, cutoff=float(rng.uniform(lo, math.pi)))
        kind = str(rng.choice(self.kernel_kinds, p=np.asarray(self.kernel_probs) / sum(self.kernel_probs)))
        sx = float(rng.uniform(*sigma))
        iso = not kind.endswith("aniso")
        sy = sx if iso else float(rng.uniform(*sigma))
        theta = 0.0 if iso else float(rng.uniform(-math.pi, math.pi))
        beta = 1.0
        if kind.startswith("generalized"):
            beta = float(rng.uniform(self.betag[0], 1) if rng.random() < 0.5 else rng.uniform(1, self.betag[1]))
        elif kind.startswith("plateau"):
            beta = float(rng.uniform(self.betap[0], 1) if rng.random() < 0.5 else rng.uniform(1, self.betap[1]))
        return Blur(kind, size, sx, sy, theta, beta)

    def _factor(self, rng: np.random.Generator, probs: tuple[float, float, float],
                rng_range: tuple[float, float]) -> float:
        updown = int(rng.choice(3, p=np.asarray(probs) / sum(probs)))
        if updown == 0:
            return float(rng.uniform(1, rng_range[1]))
        if updown == 1:
            return float(rng.uniform(rng_range[0], 1))
        return 1.0

    def _noise(self, rng: np.random.Generator, sigma: tuple[float, float], pscale: tuple[float, float]) -> Noise:
        gray = bool(rng.random() < self.gray_noise_prob)
        if rng.random() < self.gaussian_noise_prob:
            return Noise("gaussian", float(rng.uniform(*sigma)), gray)
        return Noise("poisson", float(rng.uniform(*pscale)), gray)

    def _mode(self, rng: np.random.Generator) -> str:
        return str(rng.choice(self.resize_modes))

    def _final(self, rng: np.random.Generator, jpeg_range: tuple[int, int]) -> list[Step]:
        s = self.scale
        tail: list[Step] = [Resize(1.0 / s, self._mode(rng))]
        if rng.random() < self.final_sinc_prob:
            size = int(rng.choice(self.kernel_sizes))
            tail.append(Blur("sinc", size, cutoff=float(rng.uniform(math.pi / 3, math.pi))))
        q = Jpeg(int(rng.integers(jpeg_range[0], jpeg_range[1] + 1)))
        return [*tail, q] if rng.random() < 0.5 else [q, *tail]

    def _sample_chain(self, rng: np.random.Generator, second: bool) -> list[Step]:
        s = self.scale
        steps: list[Step] = [self._blur(rng, self.blur_sigma, self.sinc_prob)]
        f = self._factor(rng, self.resize_probs, self.resize_range)
        if f != 1.0:
            steps.append(Resize(f, self._mode(rng)))
        steps.append(self._noise(rng, self.noise_sigma, self.poisson_scale))
        steps.append(Jpeg(int(rng.integers(self.jpeg_range[0], self.jpeg_range[1] + 1))))
        if second:
            if rng.random() < self.second_blur_prob:
                steps.append(self._blur(rng, self.blur_sigma2, self.sinc_prob2))
            f2 = self._factor(rng, self.resize_probs2, self.resize_range2)
            steps.append(Resize(f2 / s, self._mode(rng)))
            steps.append(self._noise(rng, self.noise_sigma2, self.poisson_scale2))
        return steps + self._final(rng, self.jpeg_range2)

    def _sample_shuffled(self, rng: np.random.Generator) -> list[Step]:
        """BSRGAN's order and ranges (cszn/BSRGAN utils_blindsr.degradation_bsrgan, camera ISP noise left out)."""
        s = self.scale
        steps: list[Step] = []
        g, sf = 1.0, s
        if s == 4 and rng.random() < 0.25:  # "downsample1"
            steps.append(Resize(0.5, self._mode(rng)))
            g, sf = 0.5, 2
        order = list(rng.permutation(6))  # 0, 1 blur; 2 random downscale; 3 to the target; 4 noise; 5 JPEG
        i2, i3 = order.index(2), order.index(3)
        if i2 > i3:
            order[i2], order[i3] = order[i3], order[i2]
        for op in order:
            if op in (0, 1):
                size = 2 * int(rng.integers(2, 12)) + 3
                if rng.random() < 0.5:
                    v1, v2 = rng.random(2) * (4.0 + sf)  # variances along the two axes
                    steps.append(Blur("aniso", size, max(math.sqrt(v1), 0.1), max(math.sqrt(v2), 0.1),
                                      float(rng.random() * math.pi)))
                else:
                    sig = max(float(rng.random() * (2.0 + 0.2 * sf)), 0.1)
                    steps.append(Blur("iso", size, sig, sig))
            elif op == 2:
                if rng.random() < 0.75:
                    g = g / float(rng.uniform(1, 2 * sf))
                    steps.append(Resize(g, self._mode(rng)))
                else:  # Gaussian blur then nearest-style subsampling by sf
                    sig = float(rng.uniform(0.1, 0.6 * sf))
                    steps.append(Blur("iso", 25, sig, sig))
                    g = g / sf
                    steps.append(Resize(g, "bilinear"))
            elif op == 3:
                g = 1.0 / s
                steps.append(Resize(g, self._mode(rng)))
            elif op == 4:
                level = int(rng.integers(2, 26)) / 255
                r = rng.random()
                if r > 0.6:
                    steps.append(Noise("gaussian", level, False))
                elif r < 0.4:
                    steps.append(Noise("gaussian", level, True))
                else:
                    d = np.diag(rng.random(3))
                    u = np.linalg.qr(rng.random((3, 3)))[0]
                    cov = (25 / 255) ** 2 * (u.T @ d @ u)
                    steps.append(Noise("gaussian", level, False, tuple(float(v) for v in cov.ravel())))
            elif op == 5 and rng.random() < 0.9:
                steps.append(Jpeg(int(rng.integers(30, 96))))
        steps.append(Jpeg(int(rng.integers(30, 96))))
        return steps

    # -- public API
    def sample(self, rng: np.random.Generator) -> Params:
        """Draw every value of one degradation (kernels, factors, modes, noise, qualities, the order)."""
        if self.order == "shuffled":
            steps = self._sample_shuffled(rng)
        else:
            steps = self._sample_chain(rng, second=self.order == "second_order")
        return Params(self.scale, self.order, tuple(steps), int(rng.integers(2**63 - 1)))

    def apply(self, hr: np.ndarray, params: Params, rng: np.random.Generator | None = None) -> np.ndarray:
        """(H, W[, 3]) float in [0, 1], H and W multiples of scale -> (H/s, W/s[, 3]) float32 in [0, 1].

        Noise comes from ``rng`` when given, else from ``params.noise_seed`` (then params alone replay it).
        """
        if params.scale != self.scale:
            raise ValueError(f"params are for scale {params.scale}, this degradation is x{self.scale}")
        r = rng if rng is not None else np.random.default_rng(params.noise_seed)
        return apply_steps(hr, params.steps, self.scale, r)

    @property
    def margin(self) -> int:
        """Worst-case context (HR px, a multiple of scale) over the ranges; ``Params.margin`` is the drawn one."""
        s = self.scale
        big = Blur("iso", max(self.kernel_sizes), 50.0, 50.0)  # a flat kernel keeps every ring
        mode = "bicubic"
        if self.order == "shuffled":
            sf = 2 if s == 4 else s
            lo = 1.0 / (2 * sf) if s != 4 else 1.0 / 8
            bsr = Blur("iso", 25, 50.0, 50.0)
            steps: list[Step] = [Resize(lo, mode), bsr, bsr, Jpeg(50), Resize(1 / s, mode), Jpeg(50)]
            steps = [Resize(0.5, mode), *steps] if s == 4 else steps
            return steps_margin(tuple(steps), s)
        f1 = self.resize_range[0]
        steps = [big, Resize(f1, mode), Jpeg(50)]
        if self.order == "second_order":
            steps += [big, Resize(self.resize_range2[0] / s, mode)]
        steps += [Resize(1.0 / s, mode), big, Jpeg(50)]
        return steps_margin(tuple(steps), s)


# ------------------------------------------------------------------------------------------------ the seed's


@dataclass(frozen=True)
class SeedDegradation:
    """The seed project's dataset: photo resized to ``size`` x ``size`` (MATLAB bicubic, aspect not kept,
    8-bit), JPEG at ``quality`` on the RGB image, both converted to gray (Pillow "L"), as ``srcnn prepare``."""

    size: int = 1024
    quality: int = 20
    color: str = "gray"

    def apply(self, photo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(H, W[, 3]) float in [0, 1] (rounded to 8-bit levels first) -> (good, poor), (size, size) float32 [0, 1].

        Gray (size, size) for color "gray", else (size, size, 3) RGB.
        """
        from .color import rgb_to_gray_uint8

        x = quantize(photo, 8).astype(np.float64) / 255.0  # a photo's 8-bit levels, as prepare reads them
        if x.ndim == 2:
            x = np.repeat(x[:, :, None], 3, axis=2)
        planes = np.ascontiguousarray(x.transpose(2, 0, 1))
        good = quantize(np.asarray(imresize(planes, size=(self.size, self.size))), 8).transpose(1, 2, 0)
        poor = quantize(jpeg(good.astype(np.float64) / 255.0, self.quality), 8) if self.quality > 0 else good
        if self.color == "gray":
            good, poor = rgb_to_gray_uint8(good), rgb_to_gray_uint8(poor)
        return good.astype(np.float32) / 255.0, poor.astype(np.float32) / 255.0


def mild(scale: int = 2) -> RealisticDegradation:
    """A decent phone photo (ours, not from a paper): the first order with a light lens blur (Gaussian, sigma
    0.2-1.2, no sinc), a resize near 1, faint noise (Gaussian sigma 0.5-6 /255 or Poisson scale 0.05-0.5), a
    JPEG of quality 60-95, then the last bracket's JPEG at 30-95 (Real-ESRGAN's) and a final sinc 10 % of the
    time. Trained beside the heavy chains, it teaches a blind model to leave a clean photo's detail alone
    instead of sharpening and smoothing it like a ruined one."""
    return RealisticDegradation(
        scale=scale, order="first_order", kernel_kinds=("iso", "aniso"), kernel_probs=(0.7, 0.3),
        kernel_sizes=_odd_sizes(7, 11), blur_sigma=(0.2, 1.2), sinc_prob=0.0, final_sinc_prob=0.1,
        resize_probs=(0.2, 0.3, 0.5), resize_range=(0.8, 1.2), noise_sigma=(0.5 / 255, 6 / 255),
        poisson_scale=(0.05, 0.5), gray_noise_prob=0.4, jpeg_range=(60, 95))


def light(scale: int = 2) -> RealisticDegradation:
    """A good photo (ours): the first order with an almost-identity blur (Gaussian, sigma 0.1-0.6), no resize
    before the final one, no sinc, noise below 2/255 (Poisson scale below 0.2) and JPEG quality 80-95: close to
    the plain bicubic downscale of the SR test sets. With ``mild`` it keeps a blind model from over-sharpening
    and smoothing a photo that needs neither."""
    return RealisticDegradation(
        scale=scale, order="first_order", kernel_kinds=("iso",), kernel_probs=(1.0,), kernel_sizes=(7,),
        blur_sigma=(0.1, 0.6), sinc_prob=0.0, final_sinc_prob=0.0, resize_probs=(0.0, 0.0, 1.0),
        noise_sigma=(0.0, 2 / 255), poisson_scale=(0.0, 0.2), gray_noise_prob=0.4, jpeg_range=(80, 95),
        jpeg_range2=(80, 95))


def preset(name: str, scale: int = 2) -> RealisticDegradation | SeedDegradation:
    """A named degradation: "realesrgan" (second order), "realesrgan-first-order", "bsrgan" (shuffled), "mild"
    (a decent phone photo), "light" (a good one), "seed"."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    if name == "seed":
        return SeedDegradation()
    if name == "mild":
        return mild(scale)
    if name == "light":
        return light(scale)
    return RealisticDegradation(scale=scale, order=PRESETS[name])


PRESETS: dict[str, str] = {
    "realesrgan": "second_order",
    "realesrgan-first-order": "first_order",
    "bsrgan": "shuffled",
    "mild": "first_order",
    "light": "first_order",
    "seed": "seed",
}
