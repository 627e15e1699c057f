"""What a user may choose among, one list each, for the command line, the web server and the library alike.

Standard library only: ``srcnn --help`` shows these without importing torch (srcnn.device and srcnn.backends,
which act on them, import them from here).
"""

from __future__ import annotations

import math

__all__ = ["DEVICES", "BACKENDS", "PRECISIONS", "PRECISION_HELP", "check_scale"]

DEVICES = ("auto", "cpu", "cuda", "mps")  # auto: cuda, then mps, then cpu
BACKENDS = ("torch", "onnxruntime")  # onnxruntime: CPU only, the onnx extra
PRECISIONS = ("auto", "fp32", "bf16")  # auto: bf16 where the CPU has AMX or AVX512-BF16 (or a CUDA GPU), else fp32
PRECISION_HELP = ("auto (default): bfloat16 where the CPU has AMX or AVX512-BF16 (about 2x faster, Y-PSNR within "
                  "0.01 dB), else fp32; fp32: the same numbers on every machine")


def check_scale(value: float, high: float | None = None, shown: str | None = None) -> float:
    """The one rule for an upscale factor: a finite number from 1 (to ``high``, the face's own limit: the CLI's 8,
    the server's 4), whole or not, such as 1.5; ValueError naming the range, with ``shown`` (the text given)."""
    if math.isfinite(value) and 1 <= value and (high is None or value <= high):
        return value
    got = shown if shown is not None else repr(value)
    if high is None:
        raise ValueError(f"scale must be a finite number >= 1, got {got}")
    raise ValueError(f"scale must be a number from 1 to {high:g}, such as 1.5 or 2, got {got}")
