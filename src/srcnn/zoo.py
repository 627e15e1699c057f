"""Shipped models: names -> weights files in the package, each with a model card holding its sha256.

A card is ``weights/<name>.json``: {"name", "file", "sha256", "task", "scale", "summary", "metrics", ...}.
Nothing is downloaded; a model exists only if its trained weights file ships with the package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["ModelCard", "Scales", "available", "card", "weights_dir", "DEFAULT_MODEL"]

DEFAULT_MODEL = "srcnn-photo"


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

    @property
    def state(self) -> str:
        """Training state in a few words: "interim, 5,500 of 30,000 steps" or "39,500 steps"."""
        steps, planned = self.raw.get("steps"), self.raw.get("planned_steps")
        if self.raw.get("status") == "interim":
            return f"interim, {steps:,} of {planned:,} steps" if steps and planned else "interim"
        return f"{steps:,} steps" if steps else "final"

    @property
    def purpose(self) -> str:
        """What the model is for, in one plain sentence (the card's "purpose"; else its summary)."""
        return str(self.raw.get("purpose") or self.summary)

    @property
    def scales(self) -> Scales:
        """The scales the model is made for (the card's "scales"; else only its own scale)."""
        return Scales.parse(self.raw.get("scales"), self.scale)


def weights_dir() -> Path:
    """The package folder that holds shipped weights and their cards."""
    return Path(str(resources.files("srcnn") / "weights"))


def available() -> list[ModelCard]:
    """Cards of every shipped model whose weights file is present, sorted by name."""
    cards = []
    for f in sorted(weights_dir().glob("*.json")):
        try:  # a damaged card hides its model (it cannot be checked) instead of breaking every command
            raw = json.loads(f.read_text())
            path = weights_dir() / raw["file"]
            if path.is_file():
                cards.append(ModelCard(str(raw["name"]), path, str(raw["sha256"]), raw.get("task", "sr"),
                                       int(raw.get("scale", 1)), raw.get("summary", ""), raw.get("metrics", {}), raw))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    return cards


def card(name: str) -> ModelCard | None:
    """The card of a shipped model by name, or None."""
    for c in available():
        if c.name == name:
            return c
    return None
