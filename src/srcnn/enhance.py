"""The inference object: a typed wrapper around a trained SRCNN (or plain bicubic) with a written contract.

Data path: Picture (uint8/uint16 HxWxC) -> float [0, 1] -> YCbCr (BT.601, MATLAB) -> bicubic x scale on every
plane (the one MATLAB-compatible bicubic) -> the network on Y (or on RGB for 3-channel models), tile by tile ->
merge with the upscaled Cb, Cr -> RGB -> clip, round -> Picture at the source's bit depth. Alpha is upscaled with
the same bicubic and re-attached. Grayscale sources are treated as Y directly (as MATLAB's SRCNN code does).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .checkpoint import WeightsError, load_weights
from .color import rgb_to_ycbcr, ycbcr_to_rgb
from .images import Picture
from .model import SRCNN
from .resize import imresize
from .tiling import forward_tiled
from .zoo import card

__all__ = ["Enhancer", "load_model", "DEFAULT_TILE"]

DEFAULT_TILE = 256


def _device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise WeightsError("--device cuda: no CUDA device here (use --device cpu or auto)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise WeightsError("--device mps: no Apple GPU here (use --device cpu or auto)")
    return torch.device(name)


@dataclass
class Enhancer:
    """A loaded model. ``model`` None means plain bicubic. ``scale`` is the default upscale factor."""

    name: str
    model: SRCNN | None
    scale: int
    metadata: dict
    device: torch.device

    @property
    def channels(self) -> int:
        """Image channels the network sees: 1 (Y) or 3 (RGB)."""
        return self.model.config.channels if self.model is not None else 1

    @property
    def receptive_radius(self) -> int:
        """Context pixels per side one output pixel depends on (0 for bicubic)."""
        return self.model.receptive_radius if self.model is not None else 0

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, tile: int | None = None,
                 progress: Callable[[int], None] | None = None) -> torch.Tensor:
        """Network pass: (N, C, H, W) float32 in [0, 1], already at the output size -> same shape, clipped [0, 1].

        C is ``self.channels``. Runs in tiles of ``tile`` px (default DEFAULT_TILE); exact for any tile size.
        """
        if self.model is None:
            return x.clamp(0, 1)
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"expected (N, {self.channels}, H, W), got {tuple(x.shape)}")
        dev = self.device

        def run(piece: torch.Tensor) -> torch.Tensor:
            p = piece.to(dev, torch.float32)
            if dev.type == "cpu":
                p = p.contiguous(memory_format=torch.channels_last)
            return self.model(p).clamp_(0, 1).to("cpu").contiguous()

        return forward_tiled(run, x, tile or DEFAULT_TILE, self.receptive_radius, progress=progress)

    def enhance_array(self, pixels: np.ndarray, scale: int | None = None, tile: int | None = None,
                      progress: Callable[[int], None] | None = None) -> np.ndarray:
        """HxWxC (C=1 or 3) float32 in [0, 1] -> (sH)x(sW)xC float32 in [0, 1]."""
        s = int(scale or self.scale)
        if s < 1:
            raise ValueError("scale must be >= 1")
        planes = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1), dtype=np.float32))
        gray = planes.shape[0] == 1
        if self.channels == 3:
            rgb = planes.expand(3, -1, -1) if gray else planes
            up = imresize(rgb, s) if s != 1 else rgb.clone()
            out = self(up.unsqueeze(0).clamp_(0, 1), tile, progress)[0]
            if gray:
                out = out.mean(0, keepdim=True)
            return out.permute(1, 2, 0).numpy()
        ycc = planes if gray else rgb_to_ycbcr(planes)
        up = imresize(ycc, s) if s != 1 else ycc
        y = self(up[:1].unsqueeze(0).clamp(0, 1), tile, progress)[0]
        if gray:
            return y.permute(1, 2, 0).numpy()
        merged = torch.cat([y, up[1:]], 0)
        return ycbcr_to_rgb(merged).clamp_(0, 1).permute(1, 2, 0).numpy()

    def enhance_picture(self, picture: Picture, scale: int | None = None, tile: int | None = None,
                        progress: Callable[[int], None] | None = None) -> Picture:
        """Picture in -> Picture ``scale`` times larger at the same bit depth, gray/RGB, alpha, ICC and EXIF kept."""
        s = int(scale or self.scale)
        maxval = 65535.0 if picture.pixels.dtype == np.uint16 else 255.0
        out = self.enhance_array(picture.pixels.astype(np.float32) / maxval, s, tile, progress)
        alpha = picture.alpha
        if alpha is not None and s != 1:
            a = imresize(torch.from_numpy(alpha.astype(np.float32) / maxval), s).clamp_(0, 1).numpy()
            alpha = _quantize(a, picture.pixels.dtype)
        return dataclasses.replace(picture, pixels=_quantize(out, picture.pixels.dtype), alpha=alpha)

    def enhance(self, image: Image.Image, *, scale: int | None = None, tile: int | None = None) -> Image.Image:
        """PIL image in (any mode) -> enhanced PIL image, ``scale`` times larger; gray stays gray, alpha kept."""
        from .images import from_pil, to_pil

        return to_pil(self.enhance_picture(from_pil(image), scale=scale, tile=tile))


def _quantize(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    maxval = 65535.0 if dtype == np.uint16 else 255.0
    return np.clip(np.round(x * maxval), 0, maxval).astype(dtype)


def load_model(name_or_path: str | Path = "srcnn-photo", device: str = "auto", scale: int | None = None
               ) -> Enhancer:
    """A shipped model by name, a weights file (.safetensors or a foreign .pth), or "bicubic" -> Enhancer."""
    dev = _device(device)
    name = str(name_or_path)
    if name == "bicubic":
        return Enhancer("bicubic", None, int(scale or 2), {"task": "sr"}, dev)
    c = card(name)
    if c is not None:
        model, meta = load_weights(c.path, expected_sha256=c.sha256)
    else:
        p = Path(name)
        if not p.exists():
            from .zoo import available

            names = ", ".join([m.name for m in available()] + ["bicubic"])
            raise WeightsError(f"unknown model {name!r}: give one of {names}, or a weights file path")
        model, meta = load_weights(p)
    meta_scale = meta.get("scale", 1)
    if isinstance(meta_scale, list):  # a blind model trained on a range: default to its upper end
        meta_scale = max(meta_scale)
    model = model.to(dev).eval()
    if dev.type == "cpu":
        model = model.to(memory_format=torch.channels_last)
    return Enhancer(name, model, int(scale or round(float(meta_scale)) or 1), meta, dev)
