"""Shipped models: names -> weights files in the package, each with a model card holding its sha256.

A card is ``weights/<name>.json``: {"name", "file", "sha256", "task", "scale", "summary", "metrics", ...}.
Nothing is downloaded; a model exists only if its trained weights file ships with the package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["ModelCard", "available", "card", "weights_dir", "DEFAULT_MODEL"]

DEFAULT_MODEL = "srcnn-photo"


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
