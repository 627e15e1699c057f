"""SRCNN (Dong, Loy, He, Tang, TPAMI 2016): three convolutions, ReLU after the first two.

Tensor contract: input and output (N, C, H, W) float32 in [0, 1] (output not clipped); same H and W out, since
every layer zero-pads by f // 2. With ``residual=True`` the network predicts a correction that is added to its
input (the bicubic image), which trains faster; the layer shapes, parameter count and FLOP count are the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = ["SRCNN", "ModelConfig", "config_from_state_dict"]


@dataclass(frozen=True)
class ModelConfig:
    """Hyperparameters of one SRCNN: filter sizes f1-f2-f3, widths n1, n2, image channels, residual output."""

    channels: int = 1
    f1: int = 9
    f2: int = 5
    f3: int = 5
    n1: int = 64
    n2: int = 32
    residual: bool = False

    def to_dict(self) -> dict:
        """Plain dict of the fields (JSON-safe)."""
        return asdict(self)


class SRCNN(nn.Module):
    """SRCNN f1-f2-f3 with n1, n2 filters; see the module docstring for the tensor contract."""

    def __init__(
        self,
        channels: int = 1,
        f1: int = 9,
        f2: int = 5,
        f3: int = 5,
        n1: int = 64,
        n2: int = 32,
        residual: bool = False,
    ) -> None:
        super().__init__()
        for f in (f1, f2, f3):
            if f < 1 or f % 2 == 0:
                raise ValueError(f"filter sizes must be odd and positive, got {f1}-{f2}-{f3}")
        self.config = ModelConfig(channels, f1, f2, f3, n1, n2, residual)
        self.conv1 = nn.Conv2d(channels, n1, f1, padding=f1 // 2)
        self.conv2 = nn.Conv2d(n1, n2, f2, padding=f2 // 2)
        self.conv3 = nn.Conv2d(n2, channels, f3, padding=f3 // 2)
        self.relu = nn.ReLU(inplace=True)

    @property
    def receptive_radius(self) -> int:
        """Pixels of context on each side that one output pixel depends on: (f1 + f2 + f3 - 3) / 2."""
        c = self.config
        return (c.f1 + c.f2 + c.f3 - 3) // 2

    @property
    def flops_per_pixel(self) -> int:
        """Multiply-adds x 2 per output pixel by the direct-convolution count (biases excluded)."""
        c = self.config
        macs = c.channels * c.n1 * c.f1**2 + c.n1 * c.n2 * c.f2**2 + c.n2 * c.channels * c.f3**2
        return 2 * macs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) float32 in [0, 1] -> (N, C, H, W) float32, roughly [0, 1], not clipped."""
        y = self.relu(self.conv1(x))
        y = self.relu(self.conv2(y))
        y = self.conv3(y)
        return x + y if self.config.residual else y


def config_from_state_dict(state: Mapping[str, torch.Tensor], residual: bool = False) -> ModelConfig:
    """Infer channels, f1-f2-f3, n1, n2 from the conv weight shapes of an SRCNN state dict."""
    try:
        w1, w2, w3 = state["conv1.weight"], state["conv2.weight"], state["conv3.weight"]
    except KeyError as e:
        raise ValueError(f"not an SRCNN state dict (missing {e.args[0]})") from None
    if w1.dim() != 4 or w2.dim() != 4 or w3.dim() != 4:
        raise ValueError("not an SRCNN state dict (conv weights must be 4-D)")
    n1, channels, f1, _ = w1.shape
    n2, _, f2, _ = w2.shape
    _, _, f3, _ = w3.shape
    return ModelConfig(int(channels), int(f1), int(f2), int(f3), int(n1), int(n2), residual)
