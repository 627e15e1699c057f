"""Degradations as pure functions on float images in [0, 1].

Data convention: numpy float32/float64 arrays, shape (H, W) for Y/gray or (H, W, 3) for RGB, values in [0, 1].
Every function returns a new array of the same shape (except ``modcrop``/``downscale``) and dtype.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .images import quantize
from .resize import imresize

__all__ = [
    "modcrop",
    "bicubic_down_up",
    "downscale",
    "upscale",
    "gaussian_blur",
    "jpeg",
    "add_noise",
    "Degradation",
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
