"""Machinery of srcnn.degrade: BSRGAN's shuffled order, its draws and its worst case, as a chain of steps."""

from __future__ import annotations

import math

import numpy as np

from ._steps import Blur, Jpeg, Noise, Resize, Step

__all__ = ["sample_shuffled", "worst_shuffled"]


def _mode(rng: np.random.Generator, modes: tuple[str, ...]) -> str:
    """One resize mode, drawn uniformly (as RealisticDegradation draws its modes)."""
    return str(rng.choice(modes))


def sample_shuffled(rng: np.random.Generator, scale: int, modes: tuple[str, ...]) -> list[Step]:
    """BSRGAN's order and ranges (cszn/BSRGAN utils_blindsr.degradation_bsrgan, camera ISP noise left out).

    ``modes``: the resize modes drawn from (RealisticDegradation.resize_modes); ``scale``: 1, 2, 3 or 4.
    """
    s = scale
    steps: list[Step] = []
    g, sf = 1.0, s
    if s == 4 and rng.random() < 0.25:  # "downsample1"
        steps.append(Resize(0.5, _mode(rng, modes)))
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
                steps.append(Resize(g, _mode(rng, modes)))
            else:  # Gaussian blur then nearest-style subsampling by sf
                sig = float(rng.uniform(0.1, 0.6 * sf))
                steps.append(Blur("iso", 25, sig, sig))
                g = g / sf
                steps.append(Resize(g, "bilinear"))
        elif op == 3:
            g = 1.0 / s
            steps.append(Resize(g, _mode(rng, modes)))
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


def worst_shuffled(scale: int) -> tuple[Step, ...]:
    """The steps of the shuffled order's worst-case context over its ranges (for RealisticDegradation.margin)."""
    s, mode = scale, "bicubic"
    sf = 2 if s == 4 else s
    lo = 1.0 / (2 * sf) if s != 4 else 1.0 / 8
    bsr = Blur("iso", 25, 50.0, 50.0)
    steps: list[Step] = [Resize(lo, mode), bsr, bsr, Jpeg(50), Resize(1 / s, mode), Jpeg(50)]
    steps = [Resize(0.5, mode), *steps] if s == 4 else steps
    return tuple(steps)
