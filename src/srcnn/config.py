"""Typed training configuration: dataclasses read from TOML, ``key=value`` overrides checked against types.

A config file has four tables, ``[model]``, ``[data]``, ``[optim]`` and ``[train]``, whose keys are the fields
below. Unknown tables or keys, and values of the wrong type, raise ``ConfigError`` with a one-line message.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from .hparams import CONFIGS

__all__ = ["ConfigError", "ModelSection", "DataSection", "OptimSection", "TrainSection", "Config",
           "load_config", "to_toml", "from_dict"]


class ConfigError(Exception):
    """A bad config file, key or value; the message says which and how to fix it."""


def _model_section() -> type:
    """[model]: ``arch``, then every architecture's hyperparameters as ``srcnn.hparams`` declares them (less the
    scale, which ``data.scale`` gives), then ``init`` and ``init_from``; only ``residual`` has its own default here."""
    # arch: "srcnn" (bicubic first), "fsrcnn" or "compact" (upsample at their end, by data.scale)
    keys: dict[str, tuple[Any, Any]] = {"arch": ("str", "srcnn")}
    for hp in CONFIGS.values():
        for f in dataclasses.fields(hp):
            if f.name != "scale":
                keys.setdefault(f.name, (f.type, f.default))
    keys["residual"] = ("bool", True)  # a correction to the bicubic image: on unless a config says otherwise
    keys["init"] = ("str", "default")  # "default" (PyTorch) or "paper" (Gaussian std 1e-3, zero bias)
    keys["init_from"] = ("str", "")  # start from these weights (.safetensors), e.g. fine-tune x2/x4 from x3
    section = dataclasses.make_dataclass("ModelSection", [(k, tp, field(default=v)) for k, (tp, v) in keys.items()])
    section.__module__ = __name__
    section.__doc__ = "Network shape: the architecture and its hyperparameters (srcnn.hparams), init scheme."
    return section


ModelSection = _model_section()


@dataclass
class DataSection:
    """Where the photos are and how samples are made (see srcnn.data and srcnn.degrade)."""

    kind: str = "photos"  # "photos" (on-the-fly degradation) or "pairs" (the seed's 256x128 good|poor PNGs)
    root: str = "../shared/data"  # relative entries of `train` are resolved against it
    train: list[str] = field(default_factory=lambda: ["T91", "BSDS200"])
    val_count: int = 12  # photos held out of `train` for validation (never a test set)
    val_dir: str = ""  # kind = "pairs": folder of validation pairs
    color: str = "y"  # "y", "gray" or "rgb"
    patch: int = 48
    batch: int = 32  # the global batch (all processes together)
    workers: int = 0
    augment: bool = True
    scale: float | list[float] = 3.0  # a number or [low, high]
    blur: float | list[float] = 0.0
    noise: float | list[float] = 0.0
    quality: int | list[int] = 0  # JPEG quality, 0 = none; a number or [low, high]
    realistic: str = ""  # "" = the chain above; else an order of srcnn.degrade, "mixed" or "all" (data.py)
    rescale: list[float] = field(default_factory=list)  # e.g. [1.0, 0.8, 0.6]: train on each photo at each size
    flat: float = 0.0  # share of the training area in flat pictures of one (mostly dark) colour: flat stays flat
    reuse: int = 1  # realistic chains: groups of patches each degraded window serves (1: one; data.py REUSE_SPAN)


@dataclass
class OptimSection:
    """Optimiser and learning-rate schedule."""

    name: str = "adam"  # "adam" or "sgd"
    lr: float = 1e-3  # for the whole global batch
    momentum: float = 0.9
    weight_decay: float = 0.0
    last_layer_lr_mult: float = 1.0  # the paper: 0.1 on the last layer
    schedule: str = "cosine"  # "cosine", "step" or "constant"
    warmup: int = 0
    min_lr_ratio: float = 0.01
    step_size: int = 100000
    gamma: float = 0.1
    grad_clip: float = 0.0
    ema: float = 0.999  # 0 disables the weight average


@dataclass
class TrainSection:
    """Run length, checkpoints, logs and where they go."""

    name: str = "run"
    task: str = "sr"  # "sr", "jpeg" or "photo"; recorded in the weights' metadata
    steps: int = 1000
    val_every: int = 500
    log_every: int = 50
    ckpt_every_s: float = 120.0
    seed: int = 0
    device: str = "auto"
    amp: bool = False  # bf16 autocast for the forward pass (CUDA, or a CPU with AVX512-BF16/AMX: ~2x faster)
    loss_border: int = 0  # pixels left out of the loss on each side; -1 = the receptive radius (paper)
    threads: int = 0  # torch threads; 0 = leave torch's default
    out: str = ""  # run folder; default runs/<name>


@dataclass
class Config:
    """A whole training config."""

    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    optim: OptimSection = field(default_factory=OptimSection)
    train: TrainSection = field(default_factory=TrainSection)


def _type_ok(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(tp))
    if origin is list:
        (inner,) = typing.get_args(tp)
        return isinstance(value, list) and all(_type_ok(v, inner) for v in value)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, tp)


def _coerce(value: Any, tp: Any) -> Any:
    if tp is float and isinstance(value, int):
        return float(value)
    return value


def from_dict(raw: dict, source: str = "config") -> Config:
    """Build a Config from nested dicts, checking every table, key and value type."""
    cfg = Config()
    hints = {f.name: f.type for f in dataclasses.fields(Config)}
    for table, values in raw.items():
        if table == "resolved":  # written by to_toml for the record
            continue
        if table not in hints:
            raise ConfigError(f"{source}: unknown table [{table}] (known: {', '.join(hints)})")
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: [{table}] must be a table")
        section = getattr(cfg, table)
        types_ = typing.get_type_hints(type(section))
        for key, value in values.items():
            if key not in types_:
                raise ConfigError(
                    f"{source}: unknown key {table}.{key} (known: {', '.join(sorted(types_))})"
                )
            if not _type_ok(value, types_[key]):
                raise ConfigError(
                    f"{source}: {table}.{key} = {value!r} has the wrong type (expected {_type_name(types_[key])})"
                )
            setattr(section, key, _coerce(value, types_[key]))
    _validate(cfg, source)
    return cfg


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _validate(cfg: Config, source: str) -> None:
    checks = [
        (cfg.data.kind in ("photos", "pairs"), "data.kind must be 'photos' or 'pairs'"),
        (cfg.data.color in ("y", "gray", "rgb"), "data.color must be 'y', 'gray' or 'rgb'"),
        (cfg.optim.name in ("adam", "sgd"), "optim.name must be 'adam' or 'sgd'"),
        (cfg.optim.schedule in ("cosine", "step", "constant"), "optim.schedule must be cosine, step or constant"),
        (cfg.model.init in ("default", "paper"), "model.init must be 'default' or 'paper'"),
        (cfg.data.realistic in ("", "second_order", "first_order", "shuffled", "mixed", "all", "broad",
                                "wide"),
         "data.realistic must be '', 'second_order', 'first_order', 'shuffled', 'mixed', 'all', 'broad' or 'wide'"),
        (not cfg.data.realistic or cfg.model.arch != "srcnn", "data.realistic needs a post-upsampling model.arch"),
        (cfg.model.arch in CONFIGS, f"model.arch must be one of {', '.join(map(repr, CONFIGS))}"),
        (cfg.model.arch == "srcnn" or (not isinstance(cfg.data.scale, list) and float(cfg.data.scale).is_integer()
                                       and cfg.data.patch % int(cfg.data.scale) == 0),
         f"model.arch = {cfg.model.arch!r} upsamples at its end: it needs one whole data.scale and a data.patch "
         "that is a multiple of it"),
        (cfg.train.steps > 0 and cfg.data.batch > 0 and cfg.data.patch > 0, "steps, batch and patch must be > 0"),
        (0 <= cfg.optim.ema < 1, "optim.ema must be in [0, 1)"),
        (cfg.model.channels == (3 if cfg.data.color == "rgb" else 1), "model.channels must be 3 for rgb, else 1"),
    ]
    m, d = cfg.model, cfg.data
    hp = CONFIGS.get(m.arch)
    if hp is not None:  # the architecture's own shape rules (srcnn.hparams); its scale is data.scale's, checked below
        try:
            hp(**{f.name: getattr(m, f.name) for f in dataclasses.fields(hp) if f.name != "scale"})
        except ValueError as e:
            raise ConfigError(f"{source}: [model] {e}") from None
    for key in ("scale", "blur", "noise", "quality"):
        v = getattr(d, key)
        if isinstance(v, list) and (len(v) != 2 or v[0] > v[1]):
            raise ConfigError(f"{source}: data.{key} must be a number or a [low, high] pair, got {v}")
    lo = min(d.scale) if isinstance(d.scale, list) else d.scale
    checks += [
        (lo >= 1, "data.scale must be >= 1"),
        (all(0 <= q <= 100 for q in (d.quality if isinstance(d.quality, list) else [d.quality])),
         "data.quality must be in 0..100 (0 = no JPEG)"),
        (all(0 < f <= 1 for f in d.rescale), "data.rescale factors must be in (0, 1], e.g. [1.0, 0.8, 0.6]"),
        (d.reuse >= 1 and (d.reuse == 1 or bool(cfg.data.realistic)),
         "data.reuse must be 1, or a larger whole number with data.realistic (each degraded window serves that many)"),
    ]
    for ok, msg in checks:
        if not ok:
            raise ConfigError(f"{source}: {msg}")


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare string


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Read a TOML config (or the defaults when path is None) and apply ``table.key=value`` overrides."""
    raw: dict = {}
    source = str(path) if path else "defaults"
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML ({e})") from None
    for item in overrides or []:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ConfigError(f"override {item!r} must look like table.key=value (e.g. optim.lr=5e-4)")
        key, text = item.split("=", 1)
        table, name = key.strip().split(".", 1)
        raw.setdefault(table, {})[name] = _parse_value(text.strip())
    return from_dict(raw, source)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def to_toml(cfg: Config, extra: dict[str, Any] | None = None) -> str:
    """The resolved config as TOML text (with an optional [resolved] table of derived values)."""
    lines = []
    for f in dataclasses.fields(cfg):
        lines.append(f"[{f.name}]")
        for k, v in dataclasses.asdict(getattr(cfg, f.name)).items():
            lines.append(f"{k} = {_toml_value(v)}")
        lines.append("")
    if extra:
        lines.append("[resolved]  # derived at run time, for the record; ignored when read back")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in extra.items())
        lines.append("")
    return "\n".join(lines)
