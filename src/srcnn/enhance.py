"""The inference object: a typed wrapper around a trained SRCNN (or plain bicubic) with a written contract.

Data path: Picture (uint8/uint16 HxWxC) -> float [0, 1] -> YCbCr (BT.601, MATLAB) -> bicubic x scale on every
plane (the one MATLAB-compatible bicubic; a post-upsampling network takes Y at the source size instead and
upsamples it itself) -> the network on Y (or on RGB for 3-channel models), tile by tile ->
merge with the upscaled Cb, Cr -> RGB -> clip, round -> Picture at the source's bit depth. Alpha is upscaled with
the same bicubic and re-attached. Grayscale sources are treated as Y directly (as MATLAB's SRCNN code does).
The scale may be any finite number >= 1 (e.g. 1.5 for phone photos): each side n becomes
``resize.output_size(n, scale)`` = ceil(n * scale), which is n * scale for whole scales.

Speed (CPU): the network runs through a tile runner of :mod:`srcnn.backends` ("torch": valid channels_last
convolutions, the last layer as one GEMM; "onnxruntime": the same valid graph in ONNX Runtime), on near-equal tiles
of at most ``tile`` px with exact borders (:func:`srcnn.tiling.forward_tiled_valid`), one tile per torch thread at
a time. ``enhance_picture`` runs bicubic, colour, network and quantization band by band (runs of the network's tile
rows, about ``_bands.BAND_PIXELS`` each; :func:`srcnn._bands.net_bands`, :class:`srcnn.resize.RowResize`), with the
very same tiles and bicubic products as the whole picture, so the result is the same to the last bit and its memory
is a band's plus the source and result pictures (at x1 the merge adds the change of Y to R, G and B).
``enhance_bands`` gives those bands as they are made, and ``enhance_to_file`` (the CLI's path) writes them into the
output file as they come (PNG, TIFF; :class:`srcnn.bandfile.BandWriter`): memory is then the source's plus a band's,
whatever the output size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from ._bands import GRAY_TO_Y, Y_OFFSET, Y_TO_RGB, net_bands, one_heap, quantize_into, to_luma, to_planes
from .bandfile import BandWriter
from .checkpoint import WeightsError, load_weights
from .choices import check_scale
from .color import rgb_to_ycbcr, ycbcr_to_rgb
from .device import DeviceError, resolve_device, resolve_precision
from .images import Picture, max_value, quantize
from .resize import RowResize, imresize, output_size
from .tiling import DEFAULT_TILE, Tiles, split_even, tile_shape
from .zoo import card, default_name, default_scale

__all__ = ["Enhancer", "load_model", "DEFAULT_TILE"]



@dataclass
class Enhancer:
    """A loaded model. ``model`` None means plain bicubic. ``scale`` is the default upscale factor.

    ``model`` is a pre-upsampling network (SRCNN: it runs on the bicubic-upscaled picture) or a post-upsampling
    one (FSRCNN: it runs on the picture itself and is ``model.scale`` times larger at its end); see
    :mod:`srcnn.model`. A request for another factor than a post-upsampling network's own runs the network,
    then the one bicubic from its output to the requested size.
    """

    name: str
    model: nn.Module | None
    scale: int
    metadata: dict
    device: torch.device
    backend: str = "torch"
    runner: Any = field(default=None, repr=False, compare=False)
    precision: str = "fp32"  # "fp32" or "bf16" (bfloat16 convolutions; see srcnn.device.resolve_precision)

    def __post_init__(self) -> None:
        if self.precision not in ("fp32", "bf16"):
            raise WeightsError(f"precision {self.precision!r}: use fp32 or bf16 (or auto when loading)")
        if self.precision == "bf16" and self.backend != "torch":
            raise WeightsError(f"precision bf16 runs with the torch backend only (not {self.backend}); use fp32")
        if self.model is not None and self.runner is None and self.device.type == "cpu":
            from .backends import make_runner

            self.runner = make_runner(self.model, self.backend, bf16=self.precision == "bf16")
        elif self.backend != "torch" and self.device.type != "cpu":
            raise WeightsError(f"backend {self.backend!r} runs on the CPU only (use --device cpu)")

    @property
    def channels(self) -> int:
        """Image channels the network sees: 1 (Y) or 3 (RGB)."""
        return self.model.config.channels if self.model is not None else 1

    @property
    def receptive_radius(self) -> int:
        """Context pixels per side of the network's input that one of its pixels depends on (0 for bicubic)."""
        return self.model.receptive_radius if self.model is not None else 0

    @property
    def align(self) -> int:
        """Tile boundaries (network input px) fall on multiples of this (srcnn.model; 1 for most networks)."""
        return int(getattr(self.model, "align", 1))

    @property
    def upsampling(self) -> str:
        """"pre" (the network runs on the bicubic-upscaled picture; also plain bicubic) or "post"."""
        return getattr(self.model, "upsampling", "pre")

    @property
    def net_scale(self) -> int:
        """The network's own factor, output side / input side (1 for pre-upsampling networks and bicubic)."""
        return int(getattr(self.model, "scale", 1)) if self.upsampling == "post" else 1

    def tile_count(self, height: int, width: int, scale: float, tile: int | None = None) -> int:
        """Tiles the network runs for a ``height`` x ``width`` source at ``scale`` (the total of ``progress``).

        A pre-upsampling network tiles the output size, a post-upsampling one its input (the source itself).
        """

        if self.upsampling == "pre":
            height, width = output_size(height, scale), output_size(width, scale)
        a = self.align
        th, tw = tile_shape(width, tile or DEFAULT_TILE, self.net_scale, a)
        return len(split_even(height, th, a)) * len(split_even(width, tw, a))

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, tile: int | None = None,
                 progress: Callable[[int], None] | None = None) -> torch.Tensor:
        """Network pass: (N, C, H, W) float32 in [0, 1] -> (N, C, k H, k W), clipped [0, 1], k = ``net_scale``.

        C is ``self.channels``; a pre-upsampling network's input is already at the output size (k = 1). Runs in
        tiles of at most ``tile`` input px (default DEFAULT_TILE); exact for any tile size.
        """
        if self.model is None:
            return x.clamp(0, 1)
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"expected (N, {self.channels}, H, W), got {tuple(x.shape)}")
        tiles = self._tiles(x.shape[2], x.shape[3], tile, progress)
        assert tiles is not None
        return tiles.band(x.to("cpu", torch.float32), 0, 0, x.shape[2])

    def check_scale(self, scale: float | None) -> float:
        """The upscale factor to use: ``scale`` (any finite number >= 1, e.g. 1.5) or the model's default."""
        return check_scale(self.scale if scale is None else scale)

    def enhance_planes(self, planes: torch.Tensor, s: float, tile: int | None,
                     progress: Callable[[int], None] | None) -> torch.Tensor:
        """CxHxW float32 [0, 1] network planes at the source size -> Cx(ceil sH)x(ceil sW) network output, [0, 1].

        Pre-upsampling: the one bicubic to the output size, then the network. Post-upsampling: the network,
        then (only when ``s`` is not its own factor) the one bicubic from its output to the output size.
        """
        h, w = output_size(planes.shape[1], s), output_size(planes.shape[2], s)
        if self.upsampling == "pre":
            up = imresize(planes, s) if s != 1 else planes
            return self(up.unsqueeze(0).clamp_(0, 1), tile, progress)[0]
        out = self(planes.unsqueeze(0).clamp(0, 1), tile, progress)[0]
        if tuple(out.shape[1:]) != (h, w):
            out = imresize(out, size=(h, w)).clamp_(0, 1)
        return out

    @property
    def gray_as_luma(self) -> bool:
        """True when a gray picture enters a Y network as the Y of R = G = B, i.e. in [16, 235] / 255.

        A network trained on Y (``color`` "y" in its metadata, all shipped models) never saw a value below 16/255:
        a dark gray picture fed as it is (a 16-bit scan of values 291..694, a 12-bit image in 16) lies outside
        everything it learnt and comes out clipped, with a bright frame. Networks trained on gray ("gray": the
        seed's pairs) take gray as it is.
        """
        return self.model is not None and self.channels == 1 and self.metadata.get("color", "y") == "y"

    def enhance_picture(self, picture: Picture, scale: float | None = None, tile: int | None = None,
                        progress: Callable[[int], None] | None = None) -> Picture:
        """Picture in -> Picture ``scale`` times larger at the same bit depth, gray/RGB, alpha, ICC and EXIF kept.

        HxWxC uint8 or uint16 in -> H'xW'xC of the same dtype (full range, 0..255 or 0..65535) out, where
        H' = ``resize.output_size(H, s)`` = ceil(H * s) and W' likewise; the alpha plane (if any) gets the same
        H'xW' size. ``scale`` (default: the model's) may be any finite number >= 1, such as 1.5 (ValueError
        otherwise); whole scales give (sH)x(sW). The result is held whole; :meth:`enhance_to_file` writes it
        band by band instead, in a band's memory.
        """
        s = self.check_scale(scale)
        h, w = output_size(picture.height, s), output_size(picture.width, s)
        out = np.empty((h, w, picture.pixels.shape[2]), dtype=picture.pixels.dtype)
        alpha = picture.alpha
        if alpha is not None and s != 1:
            alpha = np.empty((h, w), dtype=alpha.dtype)
        for y0, y1, pixels, a in self.enhance_bands(picture, s, tile, progress):
            out[y0:y1] = pixels
            if alpha is not picture.alpha:
                alpha[y0:y1] = a  # type: ignore[index]
        return dataclasses.replace(picture, pixels=out, alpha=alpha)

    def enhance_to_file(self, picture: Picture, path: str | Path, scale: float | None = None, tile: int | None = None,
                        progress: Callable[[int], None] | None = None, quality: int = 95,
                        format: str | None = None) -> None:
        """:meth:`enhance_picture` written to ``path`` band by band as the bands are produced (the CLI's path).

        PNG and TIFF are encoded as the rows come (:class:`srcnn.bandfile.BandWriter`), so memory is the source's
        plus a band's, whatever the output size; JPEG, WebP and BMP hold the result whole (their encoders need
        it). The file appears only when complete (a temporary file renamed into place); on any failure, or an
        interrupt, ``path`` is left as it was. The pixels are those of ``images.write(path, enhance_picture(...))``.
        ImageError for what cannot be written (format, folder, disk), before the work where it can be known.
        """
        s = self.check_scale(scale)
        h, w = output_size(picture.height, s), output_size(picture.width, s)
        with BandWriter(path, h, w, picture.pixels.shape[2], picture.bits, alpha=picture.alpha is not None,
                        icc=picture.icc, exif=picture.exif, quality=quality, format=format) as out:
            for _y0, _y1, pixels, alpha in self.enhance_bands(picture, s, tile, progress):
                out.write(pixels, alpha)

    def enhance_bands(self, picture: Picture, scale: float | None = None, tile: int | None = None,
                      progress: Callable[[int], None] | None = None
                      ) -> Iterator[tuple[int, int, np.ndarray, np.ndarray | None]]:
        """:meth:`enhance_picture`'s result band by band: (y0, y1, pixels rows y0..y1, alpha rows y0..y1 or None).

        Bands come in order from the top and cover the H' rows of the result; pixels are (y1 - y0) x W' x C of the
        source's dtype, alpha (y1 - y0) x W' likewise (None when the source has none). Each band is its own array
        (about BAND_PIXELS, or one tile row of the network); together they are :meth:`enhance_picture`'s result
        to the last bit. The scale is checked here (ValueError), before the first band is asked for.
        """
        return self._picture_bands(picture, self.check_scale(scale), tile, progress)

    def _picture_bands(self, picture: Picture, s: float, tile: int | None,
                       progress: Callable[[int], None] | None
                       ) -> Iterator[tuple[int, int, np.ndarray, np.ndarray | None]]:
        one_heap()
        dtype = picture.pixels.dtype
        tdtype = torch.uint16 if dtype == np.uint16 else torch.uint8
        maxval = float(max_value(picture.bits))
        source = picture.pixels
        shared = torch.from_numpy(source) if source.flags.writeable else None  # a read-only source is copied by rows

        def src_rows(i0: int, i1: int) -> torch.Tensor:
            """Source rows i0..i1 as a uint tensor (the picture's own memory, or a copy of just these rows)."""
            return shared[i0:i1] if shared is not None else torch.from_numpy(source[i0:i1].copy())

        gray = source.shape[2] == 1
        w = output_size(source.shape[1], s)
        sh, sw = source.shape[0], source.shape[1]
        tiles = self._tiles(*self._net_size(sh, sw, s), tile, progress)
        alpha = picture.alpha
        alpha_plan = RowResize((sh, sw), scale=s) if alpha is not None and s != 1 else None

        def quantized(x: torch.Tensor) -> torch.Tensor:
            """CxRxW' float in [0, 1] -> a new R x W' x C band of the source's dtype."""
            out = torch.empty((x.shape[1], w, source.shape[2]), dtype=tdtype)
            quantize_into(out, x, maxval)
            return out

        def band(o0: int, o1: int, px: torch.Tensor) -> tuple[int, int, np.ndarray, np.ndarray | None]:
            """(o0, o1, the band's pixels, alpha rows o0..o1 through the same bicubic, or None)."""
            if alpha is None:
                return o0, o1, px.numpy(), None
            if alpha_plan is None:
                return o0, o1, px.numpy(), alpha[o0:o1]
            i0, i1 = alpha_plan.source_rows(o0, o1)
            a = alpha_plan.resize(torch.from_numpy(alpha[i0:i1].astype(np.float32) / maxval), i0, o0, o1)
            return o0, o1, px.numpy(), quantize(a.clamp_(0, 1).numpy(), picture.bits)

        if self.channels == 3:  # RGB network: its output is the result
            def rgb(i0: int, i1: int) -> torch.Tensor:
                p = to_planes(src_rows(i0, i1), maxval)
                return p.expand(3, -1, -1).clone() if gray else p

            for o0, o1, res, _ in self._bands(rgb, sh, sw, s, tiles):
                yield band(o0, o1, quantized(res.mean(0, keepdim=True) if gray else res))
        elif gray:
            as_luma = self.gray_as_luma

            def g(i0: int, i1: int) -> torch.Tensor:
                p = to_planes(src_rows(i0, i1), maxval)
                return p * GRAY_TO_Y + Y_OFFSET if as_luma else p

            for o0, o1, res, _ in self._bands(g, sh, sw, s, tiles):
                yield band(o0, o1, quantized(res.sub_(Y_OFFSET).div_(GRAY_TO_Y).clamp_(0, 1) if as_luma else res))
        elif s == 1 and self.upsampling == "pre":  # RGB at x1: the merge adds the change of Y to R, G, B
            def y(i0: int, i1: int) -> torch.Tensor:
                plane = torch.empty((1, i1 - i0, sw), dtype=torch.float32)
                to_luma(src_rows(i0, i1), maxval, plane[0])
                return plane

            for o0, o1, res, ys in self._bands(y, sh, sw, s, tiles, clamp=False):
                rgb = src_rows(o0, o1).to(torch.float32).div_(maxval)
                rgb.add_((res[0] - ys[0]).unsqueeze(-1) * Y_TO_RGB)
                px = torch.empty((o1 - o0, w, 3), dtype=tdtype)
                quantize_into(px, rgb.permute(2, 0, 1), maxval)
                yield band(o0, o1, px)
        else:  # RGB: the network on Y (upscaled first or not, by kind), Cb and Cr through the bicubic, merge
            def ycc(i0: int, i1: int) -> torch.Tensor:
                return rgb_to_ycbcr(to_planes(src_rows(i0, i1), maxval))

            chroma_plan = RowResize((sh, sw), scale=s) if s != 1 and self.upsampling == "post" else None
            for o0, o1, res, rest in self._bands(ycc, sh, sw, s, tiles, net_planes=1):
                if rest is None:  # post-upsampling: Cb, Cr of these rows from the source
                    if chroma_plan is None:
                        rest = ycc(o0, o1)[1:]
                    else:
                        i0, i1 = chroma_plan.source_rows(o0, o1)
                        rest = chroma_plan.resize(ycc(i0, i1)[1:], i0, o0, o1)
                yield band(o0, o1, quantized(ycbcr_to_rgb(torch.cat([res, rest], 0)).clamp_(0, 1)))

    def _net_size(self, height: int, width: int, s: float) -> tuple[int, int]:
        """The size of the network's input for a ``height`` x ``width`` source at scale ``s``."""
        if self.upsampling == "pre":
            return output_size(height, s), output_size(width, s)
        return height, width

    def _tiles(self, height: int, width: int, tile: int | None,
               progress: Callable[[int], None] | None) -> Tiles | None:
        """The tiles of ``__call__`` on a ``height`` x ``width`` network input, to run band by band (None: bicubic)."""
        if self.model is None:
            return None
        runner = self.runner
        t = tile or DEFAULT_TILE
        if runner is None:  # CUDA or MPS: the network itself on each crop, one tile at a time
            from .tiling import PaddedRunner

            runner = PaddedRunner(self.model, self.device, bf16=self.precision == "bf16")
            workers = 1
        else:
            # several tiles: one per core, each single-threaded (no per-op barriers); one tile: all cores on it
            workers = torch.get_num_threads() if max(height, width) > t else 1
        shape = tile_shape(width, t, self.net_scale, self.align)
        return Tiles(lambda crop, missing: runner(crop, missing, workers > 1).clamp_(0, 1), height, width, shape,
                      self.receptive_radius, self.net_scale, workers, progress, edge=True, align=self.align)

    def _bands(self, planes: Callable[[int, int], torch.Tensor], height: int, width: int, s: float,
               tiles: Tiles | None, net_planes: int | None = None, clamp: bool = True
               ) -> Iterator[tuple[int, int, torch.Tensor, torch.Tensor | None]]:
        """:meth:`enhance_planes` band by band (:func:`srcnn._bands.net_bands`, from this model's declaration)."""
        return net_bands(planes, height, width, s, tiles, self.upsampling, self.receptive_radius, self.net_scale,
                         net_planes, clamp)

    def enhance(self, image: Image.Image, *, scale: float | None = None, tile: int | None = None) -> Image.Image:
        """PIL image in (any mode) -> enhanced PIL image, ``scale`` times larger; gray stays gray, alpha kept.

        ``scale`` as in :meth:`enhance_picture` (e.g. 1.5); each side becomes ceil(side * scale).
        """
        from .images import from_pil, to_pil

        return to_pil(self.enhance_picture(from_pil(image), scale=scale, tile=tile))


def load_model(name_or_path: str | Path | None = None, device: str = "auto", scale: float | None = None,
               backend: str = "torch", precision: str = "fp32") -> Enhancer:
    """A shipped model by name, a weights file (.safetensors or a foreign .pth), or "bicubic" -> Enhancer.

    ``None``: the default model (``zoo.default_name()``: the "real" family where it ships). ``scale``: the
    Enhancer's default scale; for a family also which member runs (the trained scale nearest to it).
    ``backend``: "torch" (default) or "onnxruntime" (CPU only; needs the onnxruntime package).
    ``precision``: "fp32" (default: the same numbers on every machine), "bf16" (bfloat16 convolutions: about 2x
    faster on CPUs with AVX512-BF16, more with AMX; Y-PSNR within 0.01 dB) or "auto" (bf16 where the CPU or GPU
    has it, else fp32; what the command line uses).
    """
    from .backends import BACKENDS

    if backend not in BACKENDS:
        raise WeightsError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    if backend == "onnxruntime":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise WeightsError("backend onnxruntime: the onnxruntime package is not installed "
                               "(pip install 'srcnn[onnx]', or use --backend torch)") from None
        if device == "auto":
            device = "cpu"
    try:
        dev = resolve_device(device)
        prec = resolve_precision(precision, dev) if backend == "torch" else "fp32"
    except DeviceError as e:
        raise WeightsError(str(e)) from None
    name = str(name_or_path) if name_or_path is not None else default_name()
    if name == "bicubic":
        return Enhancer("bicubic", None, int(scale or default_scale(None)), {"task": "sr"}, dev, backend,
                        precision="fp32")
    c = card(name)
    if c is not None and c.members:  # a family: the member trained for the nearest scale (the bicubic does the rest)
        c = card(c.member(scale))
        name = c.name if c is not None else name
    if c is not None:
        model, meta = load_weights(c.path, expected_sha256=c.sha256)
    else:
        p = Path(name)
        if not p.exists():
            from .zoo import available

            names = ", ".join([m.name for m in available()] + ["bicubic"])
            raise WeightsError(f"unknown model {name!r}: give one of {names}, or a weights file path")
        model, meta = load_weights(p)
    # a shipped model's default scale is its card's (srcnn-photo: 2, usable at 1-4), a file's from its metadata
    meta_scale = c.scale if c is not None else default_scale(meta.get("scale", 1))
    model = model.to(dev).eval()
    return Enhancer(name, model, int(round(float(scale or meta_scale))) or 1, meta, dev, backend, precision=prec)
