"""Weights files and training state, written atomically and loaded without unpickling untrusted data.

- Weights: ``.safetensors`` holding the network's tensors, with metadata ``{"srcnn": <JSON>}`` describing the
  architecture (``arch``: "srcnn" or "fsrcnn", and ``config``: its config fields), scale, task, degradation,
  training data and metrics. A file without ``arch`` is an SRCNN (the files of the first round).
- Foreign ``.pth``/``.pt`` state dicts: ``torch.load(weights_only=True)``; ``params``, ``params_ema``,
  ``state_dict`` and ``model`` wrappers and ``module.`` prefixes are accepted; hyperparameters come from shapes.
- Training state (``last.pt``): a dict of tensors and plain values, loaded with ``weights_only=True``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .files import atomic_write, sha256_file
from .model import ARCHS, SRCNN, ModelConfig, build_model, config_from_state_dict

__all__ = [
    "WeightsError",
    "save_weights",
    "load_weights",
    "read_metadata",
    "save_state",
    "load_state",
]


class WeightsError(Exception):
    """A weights file that cannot be used; the message names the file, the reason and the fix."""


def save_weights(path: str | Path, model: nn.Module, metadata: dict | None = None) -> None:
    """Write the model's float32 weights and JSON metadata (architecture added) to a .safetensors file."""
    meta = dict(metadata or {})
    meta["arch"] = model.arch
    meta["config"] = model.config.to_dict()
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"srcnn": json.dumps(meta, sort_keys=True)}))


def read_metadata(path: str | Path) -> dict:
    """The ``srcnn`` metadata dict of a .safetensors weights file ({} if it has none)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("srcnn")
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{path}: not a readable .safetensors file ({e})") from None
    return json.loads(raw) if raw else {}


def _unwrap(obj: object, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for key in ("params_ema", "params", "state_dict", "model", "ema"):
            if key in obj and isinstance(obj[key], dict):
                return _unwrap(obj[key], path)
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise WeightsError(f"{path}: no state dict found (expected tensors, or params/params_ema/state_dict/model)")


def _normalise_keys(state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """Strip ``module.`` prefixes and map any three 4-D conv weights (in file order) to conv1..conv3."""
    state = {k.removeprefix("module."): v for k, v in state.items()}
    if all(f"conv{i}.weight" in state for i in (1, 2, 3)):
        return {k: v for k, v in state.items() if k.split(".")[0] in ("conv1", "conv2", "conv3")}
    weights = [k for k, v in state.items() if k.endswith("weight") and v.dim() == 4]
    if len(weights) != 3:
        raise WeightsError(f"{path}: expected 3 convolution layers (SRCNN), found {len(weights)}")
    out = {}
    for i, k in enumerate(weights, start=1):
        out[f"conv{i}.weight"] = state[k]
        bias = k[: -len("weight")] + "bias"
        if bias not in state:
            raise WeightsError(f"{path}: layer {k} has no bias")
        out[f"conv{i}.bias"] = state[bias]
    return out


def load_weights(path: str | Path, expected_sha256: str | None = None) -> tuple[nn.Module, dict]:
    """Load a network from .safetensors (with metadata) or a foreign .pth SRCNN state dict -> (model, metadata)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found (give a model name from `srcnn models` or a path)")
    if expected_sha256 is not None and sha256_file(path) != expected_sha256:
        raise WeightsError(f"{path}: sha256 does not match the model card (file damaged or tampered; reinstall)")
    meta: dict = {}
    if path.suffix == ".safetensors":
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError, RuntimeError) as e:
            raise WeightsError(f"{path}: not a readable .safetensors file ({e}); re-download or re-export it") from None
        meta = read_metadata(path)
    else:
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises many types for bad or unsafe pickles
            reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
            raise WeightsError(f"{path}: cannot load as a plain state dict ({reason})") from None
        state = _unwrap(obj, path)
    arch = meta.get("arch", "srcnn")
    if arch != "srcnn":
        return _load_arch(path, arch, state, meta), meta
    state = _normalise_keys(state, path)
    try:
        inferred = config_from_state_dict(state)
    except ValueError as e:
        raise WeightsError(f"{path}: {e}") from None
    cfg = meta.get("config", {})
    config = ModelConfig(**{**inferred.to_dict(), "residual": bool(cfg.get("residual", False))})
    try:
        model = SRCNN(**config.to_dict())
    except ValueError as e:
        raise WeightsError(f"{path}: not a usable SRCNN ({e})") from None
    try:
        model.load_state_dict({k: v.float() for k, v in state.items()})
    except RuntimeError as e:
        raise WeightsError(f"{path}: tensors do not fit SRCNN ({str(e).splitlines()[0]})") from None
    model.eval()
    return model, meta


def _load_arch(path: Path, arch: str, state: dict[str, torch.Tensor], meta: dict) -> nn.Module:
    """A network of a non-SRCNN ``arch`` from its stored config and tensors (every tensor must fit exactly)."""
    if arch not in ARCHS:
        raise WeightsError(f"{path}: architecture {arch!r} is not known to this srcnn (known: {', '.join(ARCHS)}); "
                           "upgrade srcnn")
    try:
        model = build_model(arch, meta.get("config", {}))
    except (ValueError, TypeError) as e:
        raise WeightsError(f"{path}: not a usable {arch} ({e})") from None
    try:
        model.load_state_dict({k: v.float() for k, v in state.items()})
    except RuntimeError as e:
        raise WeightsError(f"{path}: tensors do not fit {arch} ({str(e).splitlines()[0]})") from None
    return model.eval()


def save_state(path: str | Path, state: dict) -> None:
    """Atomically write a training-state dict (tensors and plain Python values only)."""
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_state(path: str | Path) -> dict:
    """Read a training-state dict written by save_state, without unpickling arbitrary objects."""
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsError(f"{path}: training state unreadable ({str(e).splitlines()[0][:200]})") from None
