"""Tiled inference equals untiled inference, for any tile size."""

from __future__ import annotations

import pytest
import torch

from srcnn.model import SRCNN
from srcnn.tiling import even_boxes, forward_tiled


@pytest.fixture(scope="module")
def model() -> SRCNN:
    torch.manual_seed(0)
    m = SRCNN(f2=5).eval()
    with torch.no_grad():  # bigger weights than the default init so the border effects are visible
        for p in m.parameters():
            p.mul_(3)
    return m


@pytest.mark.parametrize("h,w", [(37, 53), (1, 40), (40, 1), (17, 17), (64, 9)])
@pytest.mark.parametrize("tile", [1, 5, 16, 23, 64, 500])
def test_tiled_equals_untiled(model, h, w, tile):
    x = torch.rand(1, 1, h, w, generator=torch.Generator().manual_seed(h * 100 + w))
    with torch.no_grad():
        ref = model(x)
        out = forward_tiled(model, x, tile, model.receptive_radius)
    assert out.shape == ref.shape
    assert (out - ref).abs().max().item() <= 1e-5


def test_too_little_context_is_not_exact(model):
    x = torch.rand(1, 1, 40, 40)
    with torch.no_grad():
        ref = model(x)
        out = forward_tiled(model, x, 10, model.receptive_radius - 3)
    assert (out - ref).abs().max().item() > 1e-4  # the test above can fail: overlap matters


def test_boxes_cover_every_pixel_once():
    seen = torch.zeros(23, 31, dtype=torch.int32)
    for y0, y1, x0, x1 in even_boxes(23, 31, 7, 7):
        seen[y0:y1, x0:x1] += 1
    assert bool((seen == 1).all())


def test_progress_counts_tiles(model):
    calls = []
    with torch.no_grad():
        forward_tiled(model, torch.rand(1, 1, 20, 30), 10, 8, progress=calls.append)
    assert calls == [1, 2, 3, 4, 5, 6]
