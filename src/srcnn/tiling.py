"""Exact tiled forward pass: the output equals the untiled one, memory is bounded by the tile.

Each output tile is computed from an input crop that carries ``radius`` (the model's receptive radius) pixels
of real neighbours on every side where the image has them, and only the tile's own pixels are kept. At the
image border the crop border is the image border, so the layers' zero padding is the same as untiled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

__all__ = ["tile_boxes", "forward_tiled"]


def tile_boxes(height: int, width: int, tile: int) -> Iterator[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) output boxes covering an HxW image with tiles of at most tile x tile, row-major."""
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            yield y0, min(y0 + tile, height), x0, min(x0 + tile, width)


def forward_tiled(
    model: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    tile: int,
    radius: int,
    out: torch.Tensor | None = None,
    progress: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Run ``model`` on (N, C, H, W) ``x`` tile by tile (tile x tile output pixels, ``radius`` px context).

    ``model`` must map (N, C, h, w) to (N, C', h, w) with each output pixel depending on inputs within
    ``radius`` (same size, zero padding per layer). Returns (N, C', H, W) float32, or fills ``out``.
    ``progress(n)`` is called with the number of tiles done after each tile.
    """
    if tile <= 0:
        raise ValueError("tile must be positive")
    n, _, h, w = x.shape
    if h <= tile and w <= tile:
        y = model(x)
        if out is None:
            return y
        out.copy_(y)
        return out
    done = 0
    for y0, y1, x0, x1 in tile_boxes(h, w, tile):
        cy0, cy1 = max(0, y0 - radius), min(h, y1 + radius)
        cx0, cx1 = max(0, x0 - radius), min(w, x1 + radius)
        piece = model(x[:, :, cy0:cy1, cx0:cx1])
        if out is None:
            out = torch.empty((n, piece.shape[1], h, w), dtype=piece.dtype, device=piece.device)
        out[:, :, y0:y1, x0:x1] = piece[:, :, y0 - cy0 : y0 - cy0 + (y1 - y0), x0 - cx0 : x0 - cx0 + (x1 - x0)]
        done += 1
        if progress is not None:
            progress(done)
    assert out is not None
    return out
