"""Machinery of srcnn.degrade: the steps a realistic chain is made of, how they run, their margin, and Params."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ._kernels import (
    convolve,
    gaussian_kernel,
    gaussian_noise,
    generalized_gaussian_kernel,
    jpeg,
    plateau_kernel,
    poisson_noise,
    resize,
    sinc_kernel,
    to_levels,
    trim,
)

__all__ = ["BLUR_KINDS", "Blur", "Resize", "Noise", "Jpeg", "Step", "apply_steps", "steps_margin", "Params"]


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
    return to_levels(x).astype(np.float32)


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
            reach += (trim(st.kernel().astype(np.float64), 1e-3).shape[0] // 2) / g
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
