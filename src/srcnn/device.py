"""Choosing the compute device: one rule for training and inference."""

from __future__ import annotations

import torch

from .choices import DEVICES, PRECISIONS

__all__ = ["DeviceError", "resolve_device", "PRECISIONS", "cpu_bf16", "resolve_precision"]


class DeviceError(ValueError):
    """The requested device is not available here; the message names the fix."""


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda, then mps, then cpu; 'cpu', 'cuda' or 'mps' -> that device if present, else DeviceError."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError("--device cuda: no CUDA device here (use --device cpu or auto)")
    if name == "mps" and not _mps_available():
        raise DeviceError("--device mps: no Apple GPU here (use --device cpu or auto)")
    if name not in DEVICES:
        raise DeviceError(f"--device {name}: use auto, cpu, cuda or mps")
    return torch.device(name)


def cpu_bf16() -> str:
    """The CPU's bf16 matrix units, read at run time: "amx", "avx512_bf16", or "" (none: bf16 would be emulated)."""
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    if "amx_bf16" in flags:
        return "amx"
    if "avx512_bf16" in flags:
        return "avx512_bf16"
    return ""


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' -> "bf16" on a CPU with AMX or AVX512-BF16 (or a CUDA GPU with bf16), else "fp32"; others as given.

    bf16 means bfloat16 autocast: weights stay float32, convolutions and matrix products run in bfloat16.
    """
    if precision not in PRECISIONS:
        raise DeviceError(f"precision {precision!r}: use auto, fp32 or bf16")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_bf16() else "fp32"
    return "fp32"
