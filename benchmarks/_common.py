"""Helpers shared by the benchmark scripts: process memory from /proc, a synthetic photo, and what the quality
benchmarks (peers.py, realistic.py) share: the compared method, the test image, the OpenCV dnn_superres runner, our
Enhancer as a runner, and the protocol's Y-PSNR/SSIM of a runner on a list of images."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PEERS_DIR = ROOT.parent / "shared" / "peers" / "opencv-dnn-superres"  # the OpenCV dnn_superres .pb graphs

Runner = Callable[["np.ndarray"], "np.ndarray"]  # LR uint8 HxWxC -> uint8 at the HR size


def png_fingerprint(blob: bytes) -> dict:
    """A PNG's pixels in three numbers that float rounding cannot move: shape, mean and standard deviation (uint8).

    The realistic benchmark's degradation runs in float32 (FFT blurs, matrix resizes, noise); another CPU or BLAS
    build rounds a few pixels the other way, so its PNG bytes differ while its pixels agree to a fraction of a level.
    """
    import io

    import numpy as np
    from PIL import Image

    x = np.asarray(Image.open(io.BytesIO(blob)), dtype=np.float64)
    return {"shape": list(x.shape), "mean": round(float(x.mean()), 3), "std": round(float(x.std()), 3)}


def same_fingerprint(a: dict, b: dict, tol: float = 0.05) -> bool:
    """Whether two png_fingerprint()s are the same picture up to rounding: same shape, mean and std within tol."""
    return (a["shape"] == b["shape"] and abs(a["mean"] - b["mean"]) <= tol and abs(a["std"] - b["std"]) <= tol)


def machine() -> dict[str, str]:
    """What decides float rounding in the degradation besides library versions: torch's CPU kernel level and the
    bf16 matrix units (srcnn.device.cpu_bf16: "amx", "avx512_bf16" or "none")."""
    import torch

    from srcnn.device import cpu_bf16

    return {"cpu_capability": torch.backends.cpu.get_cpu_capability(), "bf16_units": cpu_bf16() or "none"}


def status_mib(field: str) -> float | None:
    """A ``VmXXX:`` field of /proc/self/status in MiB (Linux), or None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_mib() -> float:
    """Peak resident memory of this process in MiB (VmHWM, else ru_maxrss)."""
    v = status_mib("VmHWM")
    if v is not None:
        return v
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


def photo(height: int, width: int, seed: int = 0):
    """A photo-like HxWx3 uint8 array (smooth gradients plus noise), built row block by row block."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = np.empty((height, width, 3), np.uint8)
    xx = np.arange(width, dtype=np.float32)[None, :]
    for y0 in range(0, height, 256):
        yy = np.arange(y0, min(y0 + 256, height), dtype=np.float32)[:, None]
        base = 0.5 + 0.3 * np.sin(xx / 37.0) * np.cos(yy / 53.0)
        for c in range(3):
            plane = base + 0.08 * rng.standard_normal(base.shape, dtype=np.float32) + 0.05 * (c - 1)
            out[y0 : y0 + len(yy), :, c] = np.clip(plane * 255 + 0.5, 0, 255).astype(np.uint8)
    return out


@dataclass(frozen=True)
class Method:
    """One compared method at one scale: kind "input" (the LR itself), "bicubic", "ours" (spec = model name or path)
    or "opencv" (spec = the .pb graph, algo = its dnn_superres name)."""

    name: str
    kind: str
    scale: int
    spec: str = ""
    algo: str = ""


@dataclass
class Sample:
    """One test image: its name, Y of the HR (uint8 HxW), the LR input (uint8 HxWxC), and whether it is gray."""

    name: str
    hr_y: np.ndarray
    lr: np.ndarray
    gray: bool = False


def has_cv2() -> bool:
    """Whether OpenCV with the contrib dnn_superres module is importable."""
    try:
        import cv2
    except ImportError:
        return False
    return hasattr(cv2, "dnn_superres")


def opencv_methods(graphs: list[tuple[str, str, str]], peers: Path, scale: int, make: type = Method) -> list:
    """``make(label, "opencv", scale, pb, algo)`` for each (label, file stem, algo) whose ``<stem>_x<scale>.pb``
    is in ``peers``."""
    methods = []
    for label, stem, algo in graphs:
        pb = peers / f"{stem}_x{scale}.pb"
        if pb.is_file():
            methods.append(make(label, "opencv", scale, str(pb), algo))
    return methods


def opencv_runner(pb: str, algo: str, scale: int) -> Runner:
    """OpenCV's dnn_superres graph as a runner: RGB uint8 -> RGB uint8, the colour order converted both ways (it
    works in BGR); a gray LR (HxWx1) goes in as R = G = B and comes out as the rounded mean of R, G, B."""
    import cv2
    import numpy as np

    sr = cv2.dnn_superres.DnnSuperResImpl_create()
    sr.readModel(pb)
    sr.setModel(algo, scale)

    def run_cv(lr: np.ndarray) -> np.ndarray:
        gray = lr.shape[2] == 1
        rgb = np.ascontiguousarray(np.repeat(lr, 3, axis=2) if gray else lr)
        out = cv2.cvtColor(sr.upsample(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)), cv2.COLOR_BGR2RGB)
        return np.round(out.mean(axis=2, keepdims=True)).astype(np.uint8) if gray else out

    return run_cv


def enhancer_runner(enhancer, scale: float) -> Runner:
    """Our whole path as a runner: a Picture of the LR, ``enhancer.enhance_picture`` at ``scale``, its pixels."""
    from srcnn.images import Picture

    def run_ours(lr: np.ndarray) -> np.ndarray:
        return enhancer.enhance_picture(Picture(lr), scale=scale).pixels

    return run_ours


def score(run: Runner, samples: list[Sample], border: int, with_ssim: bool = True, channels: tuple[int, ...] = (1, 3)
          ) -> dict:
    """Protocol Y-PSNR (and SSIM) of ``run`` on ``samples``, ``border`` px shaved: {"psnr", "ssim", "per_image"}.

    ``run`` returns uint8 HxWxC at the HR size, C in ``channels``; its Y is ``srcnn.color.y_uint8`` (a gray
    sample's: the rounded mean of R, G, B). "psnr" and "ssim" are the means over the samples.
    """
    import numpy as np

    from srcnn.color import y_uint8
    from srcnn.metrics import psnr_y, ssim_y

    rows = []
    for s in samples:
        out = run(s.lr)
        if out.dtype != np.uint8 or out.ndim != 3 or out.shape[:2] != s.hr_y.shape or out.shape[2] not in channels:
            want = " or ".join(map(str, channels))
            raise ValueError(f"{s.name}: expected {s.hr_y.shape} x {want} uint8, got {out.shape} {out.dtype}")
        y = y_uint8(out, gray=s.gray)
        rows.append({"name": s.name, "psnr": psnr_y(s.hr_y, y, border),
                     "ssim": ssim_y(s.hr_y, y, border) if with_ssim else None})
    return {"psnr": float(np.mean([r["psnr"] for r in rows])),
            "ssim": float(np.mean([r["ssim"] for r in rows])) if with_ssim else None, "per_image": rows}
