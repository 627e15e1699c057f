"""Exact tiled forward pass: the output equals the untiled one, memory is bounded by the tile.

Each output tile is computed from an input crop that carries ``radius`` (the model's receptive radius) pixels
of real neighbours on every side where the image has them, and only the tile's own pixels are kept. At the
image border the crop border is the image border, so the layers' zero padding is the same as untiled.

One tiler, :class:`Tiles` (:func:`forward_tiled_valid` runs all of its bands): it hands a runner the crop
zero-filled to exactly ``radius`` px on every side plus how many of those px lie outside the image. The SRCNN
runner uses unpadded ("valid") convolutions that consume the context layer by layer and zeroes the activations
outside the image, which is what per-layer zero padding does untiled (srcnn.backends); :class:`PaddedRunner`
cuts the outside px off and lets any zero-padded network pad at the true border (:func:`forward_tiled`). Tiles
split the image into near-equal parts, so no sliver tiles, and with
``workers`` > 1 several tiles run at once, one per thread, each thread with one torch (OpenMP) thread: on a
2-core CPU that beats two threads on one tile (no barrier after each of the ~40 ops of a tile).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["split_even", "even_boxes", "forward_tiled", "forward_tiled_valid", "forward_whole", "Tiles",
           "PaddedRunner", "DEFAULT_TILE", "ROW_PIXELS", "tile_shape"]

DEFAULT_TILE = 256  # the tile side (input px) of enhancement when none is given
ROW_PIXELS = 1 << 21  # a row of tiles gives at most this many network-output px (wider pictures: lower tiles)
MIN_TILE_ROWS = 32  # tiles are never lower than this (the context rows would cost more than the tile)

Missing = tuple[int, int, int, int]


def split_even(length: int, tile: int, align: int = 1) -> list[tuple[int, int]]:
    """[(start, stop)] covering range(length) with ceil(length / tile) parts of near-equal size <= tile; with
    ``align`` > 1 every start is a multiple of it (parts of whole cells, at most max(align, tile) long)."""
    if tile <= 0:
        raise ValueError("tile must be positive")
    if align > 1:
        return [(a * align, min(length, b * align)) for a, b in split_even(-(-length // align), max(1, tile // align))]
    n = max(1, -(-length // tile))
    return [(length * i // n, length * (i + 1) // n) for i in range(n)]


def tile_shape(width: int, tile: int, scale: int = 1, align: int = 1) -> tuple[int, int]:
    """(rows, cols) of the enhancement tiles of a network input ``width`` px wide: ``tile`` x ``tile``, lowered
    so that one row of tiles makes at most ROW_PIXELS px at the network's output (``scale`` x its input), but not
    below MIN_TILE_ROWS (nor below ``align``): memory is a row of tiles', whatever the width of the picture."""
    rows = max(MIN_TILE_ROWS, min(tile, ROW_PIXELS // max(1, width * scale * scale)))
    if align > 1:
        rows = max(align, rows // align * align)
    return min(rows, tile), tile


def even_boxes(height: int, width: int, tile_h: int, tile_w: int) -> Iterator[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) boxes of near-equal size (<= tile_h x tile_w) covering an HxW image, row-major."""
    cols = split_even(width, tile_w)
    for y0, y1 in split_even(height, tile_h):
        for x0, x1 in cols:
            yield y0, y1, x0, x1


def forward_tiled(
    model: torch.nn.Module,
    x: torch.Tensor,
    tile: int,
    radius: int,
    out: torch.Tensor | None = None,
    progress: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Any zero-padded network on (N, C, H, W) ``x`` through the one tiler (:class:`Tiles`, :class:`PaddedRunner`).

    Each crop carries ``radius`` px of context (the model's receptive radius makes it exact); returns the model's
    output (N, C', kH, kW), k = ``model.scale`` (1 when it has none), or fills ``out``.
    """
    runner = PaddedRunner(model, x.device, radius=radius)
    return forward_tiled_valid(runner, x, tile, radius, out=out, progress=progress, scale=runner.scale,
                               align=int(getattr(model, "align", 1)))


@torch.no_grad()
def forward_whole(model: torch.nn.Module, x: torch.Tensor, radius: int) -> torch.Tensor:
    """What the Enhancer's tiles (``edge``) add up to: the network once on (N, C, H, W) ``x`` extended by ``radius``
    edge px on every side, cropped back -> (N, C', kH, kW), k = ``model.scale`` (1 when it has none)."""
    k = int(getattr(model, "scale", 1))
    y = model(F.pad(x, (radius,) * 4, mode="replicate"))
    return y[:, :, radius * k : y.shape[2] - radius * k, radius * k : y.shape[3] - radius * k]


def forward_tiled_valid(
    run: Callable[[torch.Tensor, Missing], torch.Tensor],
    x: torch.Tensor,
    tile: int | tuple[int, int],
    radius: int,
    out: torch.Tensor | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
    scale: int = 1,
    align: int = 1,
) -> torch.Tensor:
    """Every tile of (N, C, H, W) ``x`` (see :class:`Tiles`) -> (N, C', scale H, scale W), or fills ``out``.

    ``run(crop, missing)`` gets the crop (N, C, h + 2 radius, w + 2 radius): real neighbours where the image has
    them, zeros elsewhere, ``missing`` = (top, bottom, left, right) px of it outside the image, and must return
    (N, C', scale h, scale w) float32 for the box (``scale``: the network's own factor, 1 for a network that keeps
    the size). ``progress(n)`` after each tile; an exception raised by ``progress`` stops the run (tiles not
    started are cancelled) and propagates. ``workers`` > 1: that many threads run one tile each, with one torch
    thread apiece (``run`` must be thread-safe); the first tile runs first, in the caller's thread.
    """
    h = x.shape[2]
    y = Tiles(run, h, x.shape[3], tile, radius, scale, workers, progress, align=align).band(x, 0, 0, h)
    if out is None:
        return y
    out.copy_(y)
    return out


class Tiles:
    """THE tiler: the near-equal tiles (at most ``tile`` or (tile_h, tile_w) px) of a ``height`` x ``width`` input.

    Each tile's crop carries ``radius`` px of real neighbours (zeros outside the input, with ``missing`` saying how
    many); ``run(crop, missing)`` returns its (N, C', scale h, scale w) output. ``edge``: outside the input the
    crop repeats the input's edge px instead, with nothing ``missing``, so the output is the network's on the whole
    input extended by its edge px (no dark frame on a dark picture: a zero-padded net sees zeros only past the
    extension, which is ``radius`` away from every output px). ``band`` runs the tile rows of one
    horizontal band (the Enhancer goes band by band, so memory is bounded by the band), ``forward_tiled_valid``
    all of them. The first tile runs in the caller's thread, the others one per pool thread when ``workers`` > 1,
    so a tile's output is the same to the last bit whichever band it is in. ``progress(n)``: tiles done so far,
    over all bands; an exception it raises stops the run (tiles not started are cancelled). ``align``: the
    model's (srcnn.model): every tile starts on a multiple of it, so a network on cells sees the same cells as
    on the whole input (its ``radius`` is a multiple of ``align`` too).
    """

    def __init__(self, run: Callable[[torch.Tensor, Missing], torch.Tensor], height: int, width: int,
                 tile: int | tuple[int, int], radius: int, scale: int = 1, workers: int = 1,
                 progress: Callable[[int], None] | None = None, edge: bool = False, align: int = 1) -> None:
        th, tw = (tile, tile) if isinstance(tile, int) else tile
        if th <= 0 or tw <= 0:
            raise ValueError("tile must be positive")
        self.run, self.height, self.width, self.tile = run, height, width, th
        self.radius, self.scale, self.workers, self.progress = radius, int(scale), workers, progress
        if align > 1 and radius % align:
            raise ValueError(f"radius {radius} is not a multiple of align {align}")
        self.rows, self.cols = split_even(height, th, align), split_even(width, tw, align)
        self.edge, self.done = edge, 0

    def band(self, x: torch.Tensor, base: int, y0: int, y1: int) -> torch.Tensor:
        """Output of the tile rows inside [y0, y1) (on the row grid): (N, C', s (y1 - y0), s W) float32.

        ``x`` (N, C, rows, W) holds input rows base.., at least the band's rows and their context.
        """
        r, s, h, w = self.radius, self.scale, self.height, self.width
        boxes = [(a, b, c, d) for a, b in self.rows if y0 <= a and b <= y1 for c, d in self.cols]
        out: list[torch.Tensor] = []
        lock = threading.Lock()

        def one(box: tuple[int, int, int, int]) -> None:
            b0, b1, x0, x1 = box
            cy0, cy1 = max(0, b0 - r), min(h, b1 + r)
            cx0, cx1 = max(0, x0 - r), min(w, x1 + r)
            missing = (r - (b0 - cy0), r - (cy1 - b1), r - (x0 - cx0), r - (cx1 - x1))
            crop = x[:, :, cy0 - base : cy1 - base, cx0:cx1]
            if any(missing):
                pad = (missing[2], missing[3], missing[0], missing[1])
                if self.edge:  # the picture's edge px continue outward: the network sees no border at all
                    crop, missing = F.pad(crop, pad, mode="replicate"), (0, 0, 0, 0)
                else:
                    crop = F.pad(crop, pad)
            piece = self.run(crop, missing)
            with lock:
                if not out:
                    out.append(torch.empty((x.shape[0], piece.shape[1], (y1 - y0) * s, w * s), dtype=piece.dtype,
                                           device=piece.device))
            out[0][:, :, (b0 - y0) * s : (b1 - y0) * s, x0 * s : x1 * s] = piece

        def tick() -> None:
            self.done += 1
            if self.progress is not None:
                self.progress(self.done)

        if self.done == 0:  # the very first tile runs in the caller's thread, as in forward_tiled_valid
            one(boxes[0])
            tick()
            boxes = boxes[1:]
        if self.workers > 1 and boxes:
            from concurrent.futures import as_completed

            futures = [_pool(self.workers).submit(one, b) for b in boxes]
            try:
                for fut in as_completed(futures):
                    fut.result()
                    tick()
            except BaseException:
                for f in futures:  # stop: the tiles not yet started never run
                    f.cancel()
                raise
        else:
            for box in boxes:
                one(box)
                tick()
        return out[0]


_POOLS: dict[tuple[int, int], Any] = {}  # (pid, workers) -> pool: a forked child makes its own
_POOLS_LOCK = threading.Lock()


def _pool(workers: int) -> Any:
    """A process-wide thread pool of ``workers`` threads, each with one torch (OpenMP) thread."""
    key = (os.getpid(), workers)
    with _POOLS_LOCK:
        if key not in _POOLS:
            from concurrent.futures import ThreadPoolExecutor, wait

            # torch.set_num_threads sets the calling thread's OpenMP/MKL count and a process-wide default that
            # threads started later inherit: set 1 in every pool thread, then give the default back.
            before = torch.get_num_threads()
            started = threading.Barrier(workers)
            pool = ThreadPoolExecutor(workers, thread_name_prefix="srcnn-tile", initializer=torch.set_num_threads,
                                      initargs=(1,))
            wait([pool.submit(started.wait) for _ in range(workers)])
            torch.set_num_threads(before)
            _POOLS[key] = pool
        return _POOLS[key]


class PaddedRunner:
    """Any zero-padded network (pre- or post-upsampling) as a tile runner for :func:`forward_tiled_valid`.

    The crop's outside px are cut off, so the network pads at the image border exactly as it does untiled, and
    only the box's own ``scale`` h x ``scale`` w output px are kept. ``bf16``: bfloat16 autocast (CPU or CUDA).
    """

    def __init__(self, model: torch.nn.Module, device: torch.device, bf16: bool = False,
                 radius: int | None = None) -> None:
        self.model, self.device, self.bf16 = model, device, bf16
        self.radius = int(model.receptive_radius if radius is None else radius)
        self.scale = int(getattr(model, "scale", 1))
        self.memory_format = torch.channels_last if device.type == "cpu" else torch.contiguous_format

    @torch.no_grad()
    def __call__(self, crop: torch.Tensor, missing: Missing = (0, 0, 0, 0), single: bool = False) -> torch.Tensor:
        """(N, C, h + 2r, w + 2r) float32 crop, ``missing`` px outside the image -> (N, C, s h, s w) float32."""
        r, s = self.radius, self.scale
        top, bottom, left, right = missing
        h, w = crop.shape[2] - 2 * r, crop.shape[3] - 2 * r
        x = crop[:, :, top : crop.shape[2] - bottom, left : crop.shape[3] - right]
        x = x.to(self.device, torch.float32).contiguous(memory_format=self.memory_format)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            y = self.model(x)
        y0, x0 = (r - top) * s, (r - left) * s
        return y[:, :, y0 : y0 + h * s, x0 : x0 + w * s].float().to("cpu").contiguous()
