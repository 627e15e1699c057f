"""The models the app offers (:class:`ModelInfo`): the shipped ones, extra weights files and bicubic."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import zoo
from ..enhance import Enhancer, load_model
from .settings import MAX_SCALE, ServeSettings

__all__ = ["ModelInfo", "model_table"]


@dataclass(frozen=True)
class ModelInfo:
    """A model the app offers: the name users pick, what it does, its default and allowed scales, its weights."""

    name: str
    task: str
    scale: int
    summary: str
    source: str  # "bicubic", a shipped model name, or a weights file path
    purpose: str = ""  # one plain sentence: what it is for
    scales: zoo.Scales = zoo.Scales(lo=1, hi=MAX_SCALE)  # the scales it is made for
    state: str = ""  # training state in a few words
    metrics: dict[str, Any] = field(default_factory=dict)
    family: zoo.ModelCard | None = None  # a family (one model per trained scale): picks the member per job


def model_table(settings: ServeSettings, load: Callable[..., Enhancer] = load_model
                ) -> tuple[dict[str, ModelInfo], str, dict[str, Enhancer]]:
    """({name: info} in display order, the default name, {name: enhancer} of the extra weights files).

    Extra weights files are loaded here once (by ``load``), on the serving device, and kept: the server reuses them.
    """
    table: dict[str, ModelInfo] = {}
    loaded: dict[str, Enhancer] = {}
    cards = zoo.available()
    members = {m for c in cards for m in c.members.values()}
    for c in cards:
        if c.name in members:
            continue  # reached through its family, which the page shows by purpose
        table[c.name] = ModelInfo(c.name, c.task, max(1, min(MAX_SCALE, c.scale)), c.summary, c.name, c.purpose,
                                  c.scales, c.state, dict(c.metrics), c if c.members else None)
    extra_names = []
    for path in settings.extra_models:
        enh = load(path, device=settings.device, precision=settings.precision)
        name = Path(path).stem
        while name in table or name == "bicubic":
            name += "+"
        loaded[name] = enh
        meta = enh.metadata
        summary = str(meta.get("summary") or f"local weights file {Path(path).name}")
        scale = max(1, min(MAX_SCALE, enh.scale))
        table[name] = ModelInfo(name, str(meta.get("task", "sr")), scale, summary, str(path),
                                str(meta.get("purpose") or summary), zoo.Scales.parse(meta.get("scales"), scale))
        extra_names.append(name)
    table["bicubic"] = ModelInfo("bicubic", "sr", 2, "plain bicubic upscaling (MATLAB imresize), the baseline",
                                 "bicubic", "Plain enlargement without a model, to compare with",
                                 zoo.Scales(lo=1, hi=MAX_SCALE))
    if settings.default_model is not None:
        if settings.default_model not in table:
            raise ValueError(f"default model {settings.default_model!r} is not one of {', '.join(table)}")
        default = settings.default_model
    elif (shipped := zoo.default_name()) != "bicubic" and shipped in table:
        default = shipped
    elif extra_names:
        default = extra_names[0]
    else:
        default = "bicubic"
    return table, default, loaded
