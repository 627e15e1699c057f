"""Choosing the compute device: one rule for training and inference."""

from __future__ import annotations

import torch

__all__ = ["DeviceError", "resolve_device"]


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
    if name not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"--device {name}: use auto, cpu, cuda or mps")
    return torch.device(name)
