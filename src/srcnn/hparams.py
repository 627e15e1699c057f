"""The hyperparameters of each architecture, one frozen dataclass a network, and nothing else (no torch).

They are the one home of every network's shape and of what makes a shape valid (ValueError on construction):
``srcnn.model`` builds networks from them, checkpoints store them beside the weights, and a training config's
``[model]`` table takes their fields and rules (``srcnn.config``; the scale there comes from ``data.scale``). The
comments below are the documentation of those keys.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["ModelConfig", "FSRCNNConfig", "CompactConfig", "CONFIGS"]


class _Fields:
    """The one ``to_dict`` of the hyperparameter dataclasses below."""

    def to_dict(self) -> dict:
        """Plain dict of the fields (JSON-safe)."""
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class ModelConfig(_Fields):
    """Hyperparameters of one SRCNN: filter sizes f1-f2-f3, widths n1, n2, image channels, residual output."""

    channels: int = 1  # image channels: 1 (Y or gray) or 3 (RGB), every architecture
    f1: int = 9  # srcnn: filter sizes f1-f2-f3 (the paper's 9-5-5; 9-1-5 is its fast variant)
    f2: int = 5
    f3: int = 5
    n1: int = 64  # srcnn: filters of the first and second layer
    n2: int = 32
    residual: bool = False  # srcnn: predict a correction added to the bicubic input (trains faster)

    def __post_init__(self) -> None:
        if any(f < 1 or f % 2 == 0 for f in (self.f1, self.f2, self.f3)):
            raise ValueError(f"filter sizes must be odd and positive, got {self.f1}-{self.f2}-{self.f3}")
        if self.n1 < 1 or self.n2 < 1:
            raise ValueError(f"n1 and n2 must be positive, got {self.n1}, {self.n2}")


@dataclass(frozen=True)
class FSRCNNConfig(_Fields):
    """Hyperparameters of one FSRCNN: widths d (features) and s (shrunk), m mapping layers, channels, scale."""

    channels: int = 1
    d: int = 56  # fsrcnn: feature width (the paper's FSRCNN: 56; FSRCNN-s: 32)
    s: int = 12  # fsrcnn: shrunk width (12; FSRCNN-s: 5)
    m: int = 4  # fsrcnn: mapping layers (4; FSRCNN-s: 1)
    scale: int = 3

    def __post_init__(self) -> None:
        if self.scale < 1 or self.d < 1 or self.s < 1 or self.m < 0 or self.channels not in (1, 3):
            raise ValueError(f"bad FSRCNN shape: channels={self.channels}, d={self.d}, s={self.s}, m={self.m}, "
                             f"scale={self.scale}")


@dataclass(frozen=True)
class CompactConfig(_Fields):
    """Hyperparameters of one CompactSR: head kernel, width, depth of 3x3 layers, channels, scale, anchor, and
    the cell side it works on (``unshuffle``; 1 = every input px)."""

    channels: int = 1
    head: int = 3  # compact: kernel of the first layer
    width: int = 48  # compact: channels of every layer
    depth: int = 6  # compact: 3x3 layers between the first and the last
    scale: int = 2
    anchor: bool = True  # compact: learn the difference from the nearest-neighbour enlargement
    unshuffle: int = 1  # compact: work on u x u cells of the input (pixel unshuffle first; 1 = every px)

    def __post_init__(self) -> None:
        if self.channels not in (1, 3) or self.head < 1 or self.head % 2 == 0 or self.width < 1 or self.depth < 0 \
                or self.scale < 1 or self.unshuffle < 1:
            raise ValueError(f"bad CompactSR shape: channels={self.channels}, head={self.head}, width={self.width}, "
                             f"depth={self.depth}, scale={self.scale}, unshuffle={self.unshuffle}")


CONFIGS: dict[str, type] = {"srcnn": ModelConfig, "fsrcnn": FSRCNNConfig, "compact": CompactConfig}
