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

import math
from dataclasses import dataclass

import numpy as np

from ._kernels import (
    POISSON_LEVELS,  # noqa: F401 - srcnn.degrade.POISSON_LEVELS, as before
    RESIZE_MODES,
    add_noise,
    bicubic_down_up,
    convolve,
    downscale,
    gaussian_blur,
    gaussian_kernel,
    gaussian_noise,
    generalized_gaussian_kernel,
    jpeg,
    modcrop,
    plateau_kernel,
    poisson_noise,
    resize,
    sinc_kernel,
    sr_pair,
)
from ._shuffled import sample_shuffled, worst_shuffled
from ._steps import BLUR_KINDS, Blur, Jpeg, Noise, Params, Resize, Step, apply_steps, steps_margin
from .images import quantize
from .resize import imresize

__all__ = [
    "modcrop",
    "bicubic_down_up",
    "sr_pair",
    "downscale",
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
    "chain",
    "mild",
    "light",
    "preset",
]


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
    uses BSRGAN's own ranges (see srcnn._shuffled and docs/degradations.md), the fields below are
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

    # -- public API
    def sample(self, rng: np.random.Generator) -> Params:
        """Draw every value of one degradation (kernels, factors, modes, noise, qualities, the order)."""
        if self.order == "shuffled":
            steps = sample_shuffled(rng, self.scale, self.resize_modes)
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
            return steps_margin(worst_shuffled(s), s)
        f1 = self.resize_range[0]
        steps: list[Step] = [big, Resize(f1, mode), Jpeg(50)]
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


def chain(name: str, scale: int = 2) -> RealisticDegradation:
    """One realistic chain by name: an order of RealisticDegradation ("second_order", "first_order",
    "shuffled"), "mild" (a decent phone photo) or "light" (a good one)."""
    if name == "mild":
        return mild(scale)
    if name == "light":
        return light(scale)
    return RealisticDegradation(scale=scale, order=name)


def preset(name: str, scale: int = 2) -> RealisticDegradation | SeedDegradation:
    """A named degradation: "realesrgan" (second order), "realesrgan-first-order", "bsrgan" (shuffled), "mild"
    (a decent phone photo), "light" (a good one), "seed"."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    if name == "seed":
        return SeedDegradation()
    return chain(PRESETS[name], scale)


PRESETS: dict[str, str] = {  # preset name -> chain name (or "seed")
    "realesrgan": "second_order",
    "realesrgan-first-order": "first_order",
    "bsrgan": "shuffled",
    "mild": "mild",
    "light": "light",
    "seed": "seed",
}
