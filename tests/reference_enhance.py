"""The whole-picture enhance path, the tests' oracle for the band-by-band Enhancer.enhance_picture.

Every plane at once: bicubic on all of them, the network on Y (or RGB), the merge; float32 in, float32 out.
It was ``Enhancer.enhance_array``; it lives here because only tests compare against it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from srcnn._bands import GRAY_TO_Y, Y_OFFSET
from srcnn.color import rgb_to_ycbcr, ycbcr_to_rgb
from srcnn.enhance import Enhancer
from srcnn.resize import imresize


def enhance_gray(enh: Enhancer, g: torch.Tensor, s: float, tile: int | None,
                 progress: Callable[[int], None] | None = None) -> torch.Tensor:
    """1xHxW gray float32 in [0, 1] -> 1xH'xW' float32 in [0, 1], through Y's range for Y networks."""
    if not enh.gray_as_luma:
        return enh.enhance_planes(g, s, tile, progress)
    y = enh.enhance_planes(g * GRAY_TO_Y + Y_OFFSET, s, tile, progress)
    return y.sub_(Y_OFFSET).div_(GRAY_TO_Y).clamp_(0, 1)


def enhance_array(enh: Enhancer, pixels: np.ndarray, scale: float | None = None, tile: int | None = None,
                  progress: Callable[[int], None] | None = None) -> np.ndarray:
    """HxWxC (C=1 or 3) float32 in [0, 1] -> H'xW'xC float32 in [0, 1] at scale ``s`` (default: the model's).

    H' = ``resize.output_size(H, s)`` = ceil(H * s), W' likewise; ``s`` any finite number >= 1 (ValueError else).
    """
    s = enh.check_scale(scale)
    planes = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1), dtype=np.float32))
    gray = planes.shape[0] == 1
    if enh.channels == 3:
        rgb = planes.expand(3, -1, -1) if gray else planes
        out = enh.enhance_planes(rgb.clone(), s, tile, progress)
        if gray:
            out = out.mean(0, keepdim=True)
        return out.permute(1, 2, 0).numpy()
    if gray:
        return enhance_gray(enh, planes, s, tile, progress).permute(1, 2, 0).numpy()
    ycc = rgb_to_ycbcr(planes)
    y = enh.enhance_planes(ycc[:1], s, tile, progress)
    chroma = imresize(ycc[1:], s) if s != 1 else ycc[1:]
    return ycbcr_to_rgb(torch.cat([y, chroma], 0)).clamp_(0, 1).permute(1, 2, 0).numpy()
