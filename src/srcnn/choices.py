"""What a user may choose among, one list each, for the command line, the web server and the library alike.

Standard library only: ``srcnn --help`` shows these without importing torch (srcnn.device and srcnn.backends,
which act on them, import them from here).
"""

from __future__ import annotations

__all__ = ["DEVICES", "BACKENDS", "PRECISIONS", "PRECISION_HELP"]

DEVICES = ("auto", "cpu", "cuda", "mps")  # auto: cuda, then mps, then cpu
BACKENDS = ("torch", "onnxruntime")  # onnxruntime: CPU only, the onnx extra
PRECISIONS = ("auto", "fp32", "bf16")  # auto: bf16 where the CPU has AMX or AVX512-BF16 (or a CUDA GPU), else fp32
PRECISION_HELP = ("auto (default): bfloat16 where the CPU has AMX or AVX512-BF16 (about 2x faster, Y-PSNR within "
                  "0.01 dB), else fp32; fp32: the same numbers on every machine")
