"""Shared fixtures: where the data sets are, tiny generated images and the tests' one tiny model."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from srcnn.checkpoint import save_weights
from srcnn.model import SRCNN


def data_root() -> Path:
    """SRCNN_DATA, or ../shared/data beside the repo."""
    default = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return Path(os.environ.get("SRCNN_DATA", str(default)))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared data folder; skips when absent, unless SRCNN_REQUIRE_DATA=1 (CI), where it fails."""
    root = data_root()
    if not (root / "Set5").is_dir():
        if os.environ.get("SRCNN_REQUIRE_DATA") == "1":
            pytest.fail(f"SRCNN_REQUIRE_DATA=1 but {root}/Set5 is missing (set SRCNN_DATA)")
        pytest.skip(f"data sets not found at {root} (set SRCNN_DATA to run this test)")
    return root


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def smooth_image(h: int, w: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A photo-like uint8 test image: gradients, a circle and some texture."""
    r = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = 0.5 + 0.25 * np.sin(xx / 7.0) * np.cos(yy / 11.0) + 0.2 * ((xx - w / 2) ** 2 + (yy - h / 2) ** 2 <
                                                                      (min(h, w) / 3) ** 2)
    planes = [np.clip(base + 0.05 * r.standard_normal((h, w)) + 0.1 * c, 0, 1) for c in range(channels)]
    img = np.stack(planes, -1)
    return np.round(img * 255).astype(np.uint8)


def make_weights(path: Path, residual: bool = True, seed: int = 0, channels: int = 1, f2: int = 1, scale: int = 2,
                 **meta: str) -> SRCNN:
    """A small random but deterministic SRCNN 9-f2-5 (16, 8), its weights doubled so that it visibly changes the
    image, saved as .safetensors with ``scale`` (and ``meta``) in its metadata; the tests' one tiny model."""
    torch.manual_seed(seed)
    m = SRCNN(channels=channels, f2=f2, n1=16, n2=8, residual=residual).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(2)
    save_weights(path, m, {"scale": scale, "task": "sr", **meta})
    return m
