"""BT.601 YCbCr exactly as MATLAB's ``rgb2ycbcr`` / ``ycbcr2rgb`` on doubles (Y in 16-235, Cb/Cr in 16-240).

All functions take float data in [0, 1] with channels on ``axis`` (default: first of CHW for tensors, last of
HWC for arrays) and return float data of the same type and dtype, not clipped.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["rgb_to_ycbcr", "ycbcr_to_rgb", "rgb_to_y", "rgb_to_gray_uint8"]

_M = np.array(
    [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]], dtype=np.float64
) / 255.0
_OFFSET = np.array([16.0, 128.0, 128.0], dtype=np.float64) / 255.0
_MINV = np.linalg.inv(_M)


def _apply(x: torch.Tensor | np.ndarray, m: np.ndarray, pre: np.ndarray, post: np.ndarray, axis: int):
    if isinstance(x, np.ndarray):
        xm = np.moveaxis(x, axis, -1)
        out = (xm - pre.astype(x.dtype)) @ m.T.astype(x.dtype) + post.astype(x.dtype)
        return np.moveaxis(out, -1, axis)
    mt = torch.as_tensor(m, dtype=x.dtype, device=x.device)
    pre_t = torch.as_tensor(pre, dtype=x.dtype, device=x.device)
    post_t = torch.as_tensor(post, dtype=x.dtype, device=x.device)
    xm = x.movedim(axis, -1)
    return ((xm - pre_t) @ mt.T + post_t).movedim(-1, axis)


def _default_axis(x) -> int:
    return -1 if isinstance(x, np.ndarray) else -3


def rgb_to_ycbcr(rgb: torch.Tensor | np.ndarray, axis: int | None = None):
    """RGB float [0, 1] -> YCbCr float (MATLAB double semantics); channel axis -1 for arrays, -3 for tensors."""
    axis = _default_axis(rgb) if axis is None else axis
    return _apply(rgb, _M, np.zeros(3), _OFFSET, axis)


def ycbcr_to_rgb(ycbcr: torch.Tensor | np.ndarray, axis: int | None = None):
    """YCbCr float (MATLAB double semantics) -> RGB float, not clipped; channel axis as in rgb_to_ycbcr."""
    axis = _default_axis(ycbcr) if axis is None else axis
    return _apply(ycbcr, _MINV, _OFFSET, np.zeros(3), axis)


def rgb_to_y(rgb: torch.Tensor | np.ndarray, axis: int | None = None):
    """Y of BT.601 (16/255..235/255) from RGB float [0, 1]; the channel axis is dropped."""
    axis = _default_axis(rgb) if axis is None else axis
    if isinstance(rgb, np.ndarray):
        xm = np.moveaxis(rgb, axis, -1)
        return xm @ _M[0].astype(rgb.dtype) + _OFFSET[0]
    xm = rgb.movedim(axis, -1)
    return xm @ torch.as_tensor(_M[0], dtype=rgb.dtype, device=rgb.device) + float(_OFFSET[0])


def rgb_to_gray_uint8(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) uint8 gray as Pillow's convert("L") (the seed's grayscale, full range)."""
    from PIL import Image

    return np.asarray(Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).convert("L"), dtype=np.uint8)
