"""Shipped models: names -> weights files in the package, each with a model card holding its sha256.

A card is ``weights/<name>.json``: {"name", "file", "sha256", "task", "scale", "summary", "metrics", ...}.
A family card ({"name", "family": {"1": "real-x1", "2": "real-x2", "4": "real-x4"}, "scale", "scales", "purpose",
...}) names one model per trained scale: asked for any other scale it gives the member whose scale is nearest on a
log scale (ties go up), and the Enhancer adds the one bicubic for the rest. It exists when every member ships.
Nothing is downloaded; a model exists only if its trained weights file ships with the package.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

__all__ = ["ModelCard", "Scales", "available", "card", "weights_dir", "default_name", "DEFAULT_MODEL",
           "FALLBACK_MODEL", "DEFAULT_SCALE", "default_scale"]

DEFAULT_MODEL = "real"  # the family real-x1 / real-x2 / real-x4 (blind models for real photos)
FALLBACK_MODEL = "srcnn-photo"  # the default of a version that does not ship DEFAULT_MODEL
DEFAULT_SCALE = 2  # a phone photo's usual enlargement: bicubic's default, and a blind model's when 2 is in its range


@dataclass(frozen=True)
class Scales:
    """The scales a model is made for: exact ``values`` (a card's ``"scales": [2]``) or ``lo`` to ``hi`` (min, max)."""

    values: tuple[float, ...] = ()
    lo: float | None = None
    hi: float | None = None

    @classmethod
    def parse(cls, raw: object, default: float) -> Scales:
        """A card's "scales" value (a list, or {"min", "max"}); anything else -> only ``default``."""
        if isinstance(raw, dict) and {"min", "max"} <= set(raw):
            return cls(lo=float(raw["min"]), hi=float(raw["max"]))
        if isinstance(raw, list) and raw and all(isinstance(v, (int, float)) for v in raw):
            return cls(values=tuple(float(v) for v in raw))
        return cls(values=(float(default),))

    def allows(self, scale: float) -> bool:
        """True when the model is made for ``scale``."""
        if self.lo is not None and self.hi is not None:
            return self.lo - 1e-9 <= scale <= self.hi + 1e-9
        return any(abs(scale - v) < 1e-9 for v in self.values)

    def text(self) -> str:
        """In words: "2x", "2x or 3x", "1x to 4x"."""
        def x(v: float) -> str:
            return f"{v:g}x"
        if self.lo is not None and self.hi is not None:
            return f"any scale from {x(self.lo)} to {x(self.hi)}"
        return " or ".join(x(v) for v in self.values)

    def as_json(self) -> list[float] | dict[str, float]:
        """The card form: a list of values or {"min", "max"}; whole numbers as ints."""
        def n(v: float) -> float:
            return int(v) if float(v).is_integer() else v
        if self.lo is not None and self.hi is not None:
            return {"min": n(self.lo), "max": n(self.hi)}
        return [n(v) for v in self.values]


@dataclass(frozen=True)
class ModelCard:
    """What a shipped model is: its file, checksum, task, scale and measured metrics."""

    name: str
    path: Path
    sha256: str
    task: str
    scale: int
    summary: str
    metrics: dict
    raw: dict
    members: dict[int, str] = field(default_factory=dict)  # a family: trained scale -> member model name

    @property
    def state(self) -> str:
        """Training state in a few words: "interim, 5,500 of 30,000 steps" or "39,500 steps"."""
        if self.members:
            return "family: " + ", ".join(self.members[k] for k in sorted(self.members))
        steps, planned = self.raw.get("steps"), self.raw.get("planned_steps")
        if self.raw.get("status") == "interim":
            return f"interim, {steps:,} of {planned:,} steps" if steps and planned else "interim"
        return f"{steps:,} steps" if steps else "final"

    @property
    def purpose(self) -> str:
        """What the model is for, in one plain sentence (the card's "purpose"; else its summary)."""
        return str(self.raw.get("purpose") or self.summary)

    def member(self, scale: float | None = None) -> str:
        """The model to run at ``scale`` (default: the card's scale): a family's member nearest on a log scale
        (ties go to the larger one), else this model itself."""
        if not self.members:
            return self.name
        want = math.log(float(scale or self.scale))
        best = min(self.members, key=lambda k: (abs(math.log(k) - want), -k))
        return self.members[best]

    @property
    def scales(self) -> Scales:
        """The scales the model is made for (the card's "scales"; else only its own scale)."""
        return Scales.parse(self.raw.get("scales"), self.scale)


def weights_dir() -> Path:
    """The package folder that holds shipped weights and their cards."""
    return Path(str(resources.files("srcnn") / "weights"))


def available() -> list[ModelCard]:
    """Cards of every shipped model whose weights file is present, sorted by name."""
    cards, families = [], []
    for f in sorted(weights_dir().glob("*.json")):
        try:  # a damaged card hides its model (it cannot be checked) instead of breaking every command
            raw = json.loads(f.read_text())
            if "family" in raw:
                families.append(raw)
                continue
            path = weights_dir() / raw["file"]
            if path.is_file():
                cards.append(ModelCard(str(raw["name"]), path, str(raw["sha256"]), raw.get("task", "sr"),
                                       int(raw.get("scale", 1)), raw.get("summary", ""), raw.get("metrics", {}), raw))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    by_name = {c.name: c for c in cards}
    for raw in families:
        try:
            members = {int(k): str(v) for k, v in raw["family"].items()}
            scale = int(raw.get("scale", 2))
            if not members or not all(v in by_name for v in members.values()) or scale not in members:
                continue  # a family exists only when every member ships
            home = by_name[members[scale]]  # the member at the family's default scale: its file and checksum
            cards.append(ModelCard(str(raw["name"]), home.path, home.sha256, raw.get("task", home.task), scale,
                                   raw.get("summary", ""), raw.get("metrics", {}), raw, members))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return sorted(cards, key=lambda c: c.name)


def default_scale(trained: float | list[float] | None) -> int:
    """A model's default scale from the scale it was trained for (its weights' metadata ``scale``): that number,
    rounded; for a range [lo, hi] (a blind model) DEFAULT_SCALE held within it; None (bicubic) DEFAULT_SCALE."""
    if trained is None:
        return DEFAULT_SCALE
    if isinstance(trained, list):
        return int(round(min(max(DEFAULT_SCALE, min(trained)), max(trained))))
    return int(round(float(trained))) or 1


def default_name() -> str:
    """The model used when none is named: DEFAULT_MODEL when it ships, else FALLBACK_MODEL, else "bicubic"."""
    names = {c.name for c in available()}
    return next((n for n in (DEFAULT_MODEL, FALLBACK_MODEL) if n in names), "bicubic")


def card(name: str) -> ModelCard | None:
    """The card of a shipped model by name, or None."""
    for c in available():
        if c.name == name:
            return c
    return None
