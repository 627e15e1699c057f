"""argparse value types shared by the ``srcnn`` command and ``srcnn serve`` (Face layer; imports nothing of srcnn)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

__all__ = ["int_in", "float_in", "positive_float"]


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high] (no upper bound when high is None)."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if v < low or (high is not None and v > high):
            raise argparse.ArgumentTypeError(f"must be in {low}..{high}" if high is not None else f"must be >= {low}")
        return v

    return parse


def float_in(low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a finite number in [low, high], whole or not (e.g. 1.5 or 2); nan and inf are refused."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number (give one from {low:g} to {high:g})") from None
        if not math.isfinite(v) or v < low or v > high:
            raise argparse.ArgumentTypeError(f"must be a number from {low:g} to {high:g}, got {text!r}")
        return v

    return parse


def positive_float(text: str) -> float:
    """An argparse type: a number > 0 (inf allowed: no limit)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not v > 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return v
