"""BT.601 YCbCr exactly as MATLAB's ``rgb2ycbcr`` / ``ycbcr2rgb`` on doubles (Y in 16-235, Cb/Cr in 16-240).

All functions take float data in [0, 1] with channels on ``axis`` (default: first of CHW for tensors, last of
HWC for arrays) and return float data of the same type and dtype, not clipped.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["RGB_TO_YCBCR", "YCBCR_TO_RGB", "YCBCR_OFFSET", "rgb_to_ycbcr", "ycbcr_to_rgb", "rgb_to_y",
           "y_uint8", "rgb_to_gray_uint8"]

RGB_TO_YCBCR = np.array(
    [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]], dtype=np.float64
) / 255.0  # ycbcr = RGB_TO_YCBCR @ rgb + YCBCR_OFFSET, all in [0, 1] units (float64)
YCBCR_OFFSET = np.array([16.0, 128.0, 128.0], dtype=np.float64) / 255.0
YCBCR_TO_RGB = np.linalg.inv(RGB_TO_YCBCR)  # rgb = YCBCR_TO_RGB @ (ycbcr - YCBCR_OFFSET)


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
    return _apply(rgb, RGB_TO_YCBCR, np.zeros(3), YCBCR_OFFSET, axis)


def ycbcr_to_rgb(ycbcr: torch.Tensor | np.ndarray, axis: int | None = None):
    """YCbCr float (MATLAB double semantics) -> RGB float, not clipped; channel axis as in rgb_to_ycbcr."""
    axis = _default_axis(ycbcr) if axis is None else axis
    return _apply(ycbcr, YCBCR_TO_RGB, YCBCR_OFFSET, np.zeros(3), axis)


def rgb_to_y(rgb: torch.Tensor | np.ndarray, axis: int | None = None):
    """Y of BT.601 (16/255..235/255) from RGB float [0, 1]; the channel axis is dropped."""
    axis = _default_axis(rgb) if axis is None else axis
    if isinstance(rgb, np.ndarray):
        xm = np.moveaxis(rgb, axis, -1)
        return xm @ RGB_TO_YCBCR[0].astype(rgb.dtype) + YCBCR_OFFSET[0]
    xm = rgb.movedim(axis, -1)
    return xm @ torch.as_tensor(RGB_TO_YCBCR[0], dtype=rgb.dtype, device=rgb.device) + float(YCBCR_OFFSET[0])


def y_uint8(image: np.ndarray, gray: bool = False) -> np.ndarray:
    """HxW gray or HxWx3 RGB uint8 -> HxW uint8 Y; gray values are Y as they are (MATLAB SRCNN code).

    ``gray``: the picture is a gray one carried as R = G = B (a gray image fed to an RGB method), so its Y is its
    value: the rounded mean of the three channels (equal up to the method's rounding), not BT.601's 16-235 Y.
    """
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if gray:
        return np.round(image[:, :, :3].astype(np.float64).mean(2)).astype(np.uint8)
    y = rgb_to_y(image[:, :, :3].astype(np.float64) / 255.0)
    return np.clip(np.round(y * 255.0), 0, 255).astype(np.uint8)


def rgb_to_gray_uint8(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) uint8 gray as Pillow's convert("L") (the seed's grayscale, full range)."""
    from PIL import Image

    return np.asarray(Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).convert("L"), dtype=np.uint8)


COLORS = ("y", "gray", "rgb")  # what a network takes: BT.601 Y, Pillow's "L" gray, or RGB


def to_channels(pixels: np.ndarray, color: str) -> np.ndarray:
    """HxWx1 or HxWx3 uint8 -> the channels a network of ``color`` takes, uint8: HxWx3 for "rgb" (gray repeated),
    HxWx1 otherwise: Pillow's "L" gray of a colour picture for "gray", its BT.601 Y for "y" (``y_uint8``); a gray
    picture is its own gray and Y (MATLAB SRCNN code). The one colour policy of training, prepare and the pairs."""
    if color not in COLORS:
        raise ValueError(f"unknown color {color!r} (known: {', '.join(COLORS)})")
    if color == "rgb":
        return pixels if pixels.shape[2] == 3 else np.repeat(pixels, 3, axis=2)
    if pixels.shape[2] == 1:
        return pixels
    return (rgb_to_gray_uint8(pixels) if color == "gray" else y_uint8(pixels))[:, :, None]
