"""Helpers shared by the benchmark scripts: process memory from /proc and a synthetic photo."""

from __future__ import annotations

import sys


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
