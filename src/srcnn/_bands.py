"""Machinery of srcnn.enhance: the band-by-band driver (runs of tile rows with their context rows) and pixel planes."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import torch

from .color import RGB_TO_YCBCR, YCBCR_OFFSET, YCBCR_TO_RGB
from .resize import RowResize, output_size
from .tiling import DEFAULT_TILE, Tiles, split_even, tile_shape

__all__ = ["BAND_PIXELS", "net_bands", "band_groups", "one_heap", "to_planes", "to_luma", "quantize_into",
           "RGB_TO_Y", "Y_OFFSET", "Y_TO_RGB", "GRAY_TO_Y"]

BAND_PIXELS = 1 << 21  # enhance_picture works in row bands of at most this many pixels, or one tile row
RGB_TO_Y = torch.tensor(RGB_TO_YCBCR[0], dtype=torch.float32)  # Y = rgb @ RGB_TO_Y + Y_OFFSET (BT.601, MATLAB)
Y_OFFSET = float(YCBCR_OFFSET[0])
Y_TO_RGB = torch.tensor(YCBCR_TO_RGB[:, 0], dtype=torch.float32)  # d(R, G, B) / dY at fixed Cb, Cr
GRAY_TO_Y = float(RGB_TO_YCBCR[0].sum())  # Y of R = G = B = g is Y_OFFSET + g * 219/255


def net_bands(planes: Callable[[int, int], torch.Tensor], height: int, width: int, s: float, tiles: Tiles | None,
              upsampling: str, radius: int, net_scale: int, net_planes: int | None = None, clamp: bool = True
              ) -> Iterator[tuple[int, int, torch.Tensor, torch.Tensor | None]]:
    """Enhancer.enhance_planes band by band: (o0, o1, network output rows o0..o1, the other planes' rows).

    ``planes(i0, i1)`` gives source rows i0..i1 as PxRxW float32 planes; the first ``net_planes`` (all when
    None) go through the network. Pre-upsampling: each band is a run of the network's tile rows at the output
    size; just its rows, plus the network's context rows, are upscaled (:class:`srcnn.resize.RowResize`), and
    the other planes' rows come upscaled too (all planes when ``net_planes`` is None). Post-upsampling: the bands
    are runs of tile rows of the source, the network's output goes through the one bicubic to the output
    size where needed, band by band, and the other planes are left to the caller (None). Every tile, every
    bicubic product and every elementwise step is the one the whole-picture computation makes, so the result
    is the same to the last bit; memory is a band's.
    """
    r = radius
    if upsampling == "pre":
        big_h, big_w = output_size(height, s), output_size(width, s)
        plan = RowResize((height, width), scale=s) if s != 1 else None
        rows = tiles.rows if tiles is not None else split_even(big_h, tile_shape(big_w, DEFAULT_TILE)[0])
        for y0, y1 in band_groups(rows, big_w):
            c0, c1 = max(0, y0 - r), min(big_h, y1 + r)
            if plan is None:
                up = planes(c0, c1)
            else:
                i0, i1 = plan.source_rows(c0, c1)
                up = plan.resize(planes(i0, i1), i0, c0, c1)
            x = up[:net_planes].unsqueeze(0)
            if clamp:
                x = x.clamp_(0, 1)
            res = tiles.band(x, c0, y0, y1)[0] if tiles is not None else x[0, :, y0 - c0 : y1 - c0].clamp(0, 1)
            yield y0, y1, res, up[net_planes or 0 :, y0 - c0 : y1 - c0]
        return
    assert tiles is not None
    k = net_scale

    def net_rows() -> Iterator[tuple[int, int, torch.Tensor]]:
        for y0, y1 in band_groups(tiles.rows, width * k * k):
            c0, c1 = max(0, y0 - r), min(height, y1 + r)
            x = planes(c0, c1)[:net_planes].unsqueeze(0).clamp(0, 1)
            yield k * y0, k * y1, tiles.band(x, c0, y0, y1)[0]

    big_h, big_w = output_size(height, s), output_size(width, s)
    if (k * height, k * width) == (big_h, big_w):
        for n0, n1, res in net_rows():
            yield n0, n1, res, None
        return
    plan = RowResize((k * height, k * width), size=(big_h, big_w))
    rows = net_rows()
    buf, buf0 = None, 0  # the network's output rows buf0.. still needed
    step = max(1, BAND_PIXELS // max(1, big_w))
    for o0 in range(0, big_h, step):
        o1 = min(big_h, o0 + step)
        n0, n1 = plan.source_rows(o0, o1)
        while buf is None or buf0 + buf.shape[1] < n1:
            a, _, res = next(rows)
            if buf is None:
                buf, buf0 = res, a
            else:
                keep = buf[:, max(0, n0 - buf0) :]
                buf0 = max(buf0, n0)
                buf = torch.cat([keep, res], 1)
        if n0 > buf0:
            buf, buf0 = buf[:, n0 - buf0 :], n0
        yield o0, o1, plan.resize(buf, buf0, o0, o1).clamp_(0, 1), None


@functools.cache
def one_heap() -> None:
    """Ask glibc's malloc for one heap arena for the rest of the process (once; a no-op elsewhere).

    Bands are allocated and freed by several threads (the tile workers); glibc then keeps freed band buffers in
    one arena per thread, so peak memory grows with the picture (the real model, a 25-MP PNG output at x2:
    630-652 -> 553 MiB at the same speed, AMD EPYC; benchmarks/memory.py)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-8, 1)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def band_groups(rows: list[tuple[int, int]], width: int) -> list[tuple[int, int]]:
    """Consecutive runs [(y0, y1)] of the tile rows ``rows``, each of at most BAND_PIXELS (or one tile row)."""
    groups: list[tuple[int, int]] = []
    for y0, y1 in rows:
        if groups and (y1 - groups[-1][0]) * width <= BAND_PIXELS:
            groups[-1] = (groups[-1][0], y1)
        else:
            groups.append((y0, y1))
    return groups


def to_planes(pixels: torch.Tensor, maxval: float) -> torch.Tensor:
    """HxWxC uint8/uint16 -> CxHxW float32 in [0, 1] (the same rounding as numpy's astype(float32) / maxval)."""
    return pixels.permute(2, 0, 1).to(torch.float32).div_(maxval)


def to_luma(pixels: torch.Tensor, maxval: float, out: torch.Tensor) -> None:
    """HxWx3 uint8/uint16 -> ``out`` HxW float32: Y of BT.601 in [16, 235] / 255 (rgb2ycbcr's first plane)."""
    rgb = pixels.to(torch.float32).div_(maxval)
    torch.mv(rgb.view(-1, 3), RGB_TO_Y, out=out.view(-1)).add_(Y_OFFSET)


def quantize_into(dst: torch.Tensor, x: torch.Tensor, maxval: float) -> None:
    """CxHxW float in [0, 1] -> HxWxC ``dst`` (uint8/uint16): round half to even of x * maxval, clipped."""
    dst.copy_((x * maxval).round_().clamp_(0, maxval).permute(1, 2, 0))
