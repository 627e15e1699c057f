"""Image files in and out: the only module that touches pixels on disk (Pillow + numpy, nothing else).

Data convention: a :class:`Picture` holds ``pixels`` HxWxC (C = 1 gray or 3 RGB) as uint8 or uint16 (16-bit
sources stay 16-bit), ``alpha`` HxW of the same dtype or None, and the source's ICC profile and EXIF (with the
Orientation tag already applied to the pixels and reset to 1). ``to_float``/``quantize`` convert to and from
float32 in [0, 1].

Reading (:func:`read`, :func:`from_pil`):

- EXIF orientation is applied (all 8 values, ``PIL.ImageOps.exif_transpose`` semantics).
- Animated GIF/APNG/WebP and multi-page TIFF: the first frame/page only.
- Modes: 1 -> 8-bit gray; L, LA -> gray (+alpha); P, PA -> RGB (+alpha), or gray when the palette is all gray;
  RGB, RGBA, RGBX, RGBa, La -> RGB/gray (+alpha); transparency keys (tRNS, also on 1-bit) become an alpha plane;
  CMYK -> RGB through its ICC profile when it has one (the output then carries sRGB), else Pillow's naive
  formula; YCbCr, HSV -> RGB; LAB -> sRGB; I;16* -> 16-bit gray; I (32-bit int) -> 16-bit gray with negatives
  clipped to 0 and, only when the maximum exceeds 65535, scaled down linearly so the maximum becomes 65535;
  F (float) -> 16-bit gray with NaN -> 0, negatives -> 0 and the range taken as [0, 1], [0, 255], [0, 65535]
  or [0, max], the first that holds the largest finite value.
- 16-bit RGB/RGBA/gray+alpha PNG and 16-bit RGB/RGBA TIFF (premultiplied alpha divided out) are read at full
  depth (Pillow alone would reduce them to 8 bits; each is decoded twice by Pillow, once per byte, which relies
  on Pillow's tile rawmodes; if that ever fails the image is read at 8 bits with a warning). 16-bit gray+alpha
  TIFF is not readable.
- Only common raster formats are opened (no EPS/PDF/fonts); decompression bombs are refused by ``max_pixels``
  (None: no limit), checked on the header before any pixel is decoded; truncated or corrupt files raise.
  FIFOs and devices are refused unopened. What C decoders (libtiff) print on stderr while decoding is kept off
  it; the first such line goes into the error of a file that fails.
  Pillow's global ``Image.MAX_IMAGE_PIXELS`` is set to None only while read() decodes, under a lock.
- Every failure is an :class:`ImageError` whose one-line message names the file and the reason.

Writing (:func:`write`, :func:`encode`): the format comes from the extension (:func:`format_for_path`).

- PNG: 8-bit L/LA/RGB/RGBA, 16-bit gray/gray+alpha/RGB/RGBA; ICC and EXIF kept.
- TIFF: 8-bit L/LA/RGB/RGBA and 16-bit gray with ICC and EXIF, deflate-compressed, or uncompressed when the
  EXIF has Exif/GPS sub-IFDs (Pillow's libtiff writer cannot store those); 16-bit RGB/RGBA with ICC only, no
  EXIF (own writer, deflate); 16-bit gray+alpha is written as 16-bit RGBA (Pillow cannot read it back as such).
- JPEG: 8-bit gray or RGB, alpha dropped (not composited), ICC and EXIF kept; ``quality`` (default 95) and
  4:4:4 chroma at quality >= 90, 4:2:0 below.
- WebP: 8-bit RGB/RGBA (gray is written as RGB); lossy at ``quality``, lossless at quality 100; ICC, EXIF kept.
- BMP: 8-bit gray or RGB, alpha dropped, no ICC or EXIF.
- 16-bit pictures are rounded to 8 bits for JPEG, WebP and BMP. An ICC profile whose colour space does not
  match the written pixels (e.g. a gray profile on RGB WebP data) is left out.
- Writing is atomic (:class:`srcnn.files.AtomicFile`): a temporary ``.<name>.tmp-<random>`` in the same folder,
  fsync, then ``os.replace``.
- :class:`BandWriter` writes a file band by band as the rows are produced (the same temporary file and rename):
  PNG and TIFF are encoded as the rows come, in a band's memory (TIFF: deflate with the horizontal predictor,
  EXIF kept at 16 bits too); JPEG, WebP and BMP keep the rows and are encoded whole at the end.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from ._codecs import (
    DECODE_ERRORS,
    EXTENSION_OF,
    FORMAT_ALIASES,
    INPUT_EXTENSIONS,
    INPUT_FORMAT_NAMES,
    MAX_SIDE,
    OUTPUT_EXTENSIONS,
    encode_tiff16,
    exif_for,
    has_sub_ifds,
    icc_for,
    max_value,
    one_line,
    png16,
)
from ._decoding import decode, find_source, planes_of
from .errors import ImageError
from .files import atomic_open

__all__ = [
    "ImageError",
    "DEFAULT_MAX_PIXELS",
    "Picture",
    "quantize",
    "max_value",
    "read",
    "write",
    "encode",
    "to_pil",
    "from_pil",
    "format_for_path",
    "check_output",
    "check_destination",
    "at_path",
    "store",
    "save_image",
    "normalize_format",
    "OUTPUT_EXTENSIONS",
    "EXTENSION_OF",
    "INPUT_EXTENSIONS",
    "INPUT_FORMAT_NAMES",
]

DEFAULT_MAX_PIXELS = 100_000_000


# --------------------------------------------------------------------------------------------------------------
# Picture


@dataclass
class Picture:
    """Decoded image: pixels HxWxC (C 1 or 3) uint8/uint16, alpha HxW same dtype or None, plus metadata."""

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    icc: bytes | None = None
    exif: bytes | None = None
    format: str = ""

    def __post_init__(self) -> None:
        pixels = np.asarray(self.pixels)
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        if pixels.ndim != 3 or pixels.shape[2] not in (1, 3):
            raise ValueError(f"pixels must be HxW, HxWx1 or HxWx3, got shape {pixels.shape}")
        if pixels.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"pixels must be uint8 or uint16, got {pixels.dtype}")
        self.pixels = pixels
        if self.alpha is not None:
            alpha = np.asarray(self.alpha)
            if alpha.ndim == 3 and alpha.shape[2] == 1:
                alpha = alpha[:, :, 0]
            if alpha.shape != pixels.shape[:2] or alpha.dtype != pixels.dtype:
                raise ValueError(f"alpha must be {pixels.shape[:2]} {pixels.dtype}, got {alpha.shape} {alpha.dtype}")
            self.alpha = alpha

    @property
    def bits(self) -> int:
        """Bits per sample: 8 or 16."""
        return 16 if self.pixels.dtype == np.uint16 else 8

    @property
    def height(self) -> int:
        """Height in pixels."""
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        """Width in pixels."""
        return int(self.pixels.shape[1])

    @property
    def is_gray(self) -> bool:
        """True for one-channel (grayscale) pixels."""
        return self.pixels.shape[2] == 1

    def to_float(self) -> np.ndarray:
        """Pixels as HxWxC float32 in [0, 1]."""
        return self.pixels.astype(np.float32) / np.float32(max_value(self.bits))

    @staticmethod
    def from_float(
        pixels: np.ndarray,
        bits: int = 8,
        alpha: np.ndarray | None = None,
        icc: bytes | None = None,
        exif: bytes | None = None,
        format: str = "",
    ) -> Picture:
        """Picture from HxW/HxWxC float pixels (and HxW float alpha) in [0, 1], rounded to ``bits`` (8/16)."""
        return Picture(
            quantize(pixels, bits),
            None if alpha is None else quantize(alpha, bits),
            icc=icc,
            exif=exif,
            format=format,
        )


def quantize(array: np.ndarray, bits: int) -> np.ndarray:
    """Float data in [0, 1] (clipped; NaN -> 0) -> uint8 (bits=8) or uint16 (bits=16), rounded; same shape."""
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    top = max_value(bits)
    scaled = np.nan_to_num(np.asarray(array, dtype=np.float64), nan=0.0) * top
    return np.clip(np.rint(scaled), 0, top).astype(np.uint16 if bits == 16 else np.uint8)


def to_8bit(array: np.ndarray) -> np.ndarray:
    """uint8 or uint16 array (any shape) -> uint8 of the same shape, 16-bit values rounded to 8 bits."""
    if array.dtype == np.uint8:
        return array
    return ((array.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


# --------------------------------------------------------------------------------------------------------------
# Reading


def read(
    path: str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> Picture:
    """Decode the first frame of an image file (path, bytes-like data or binary file object) into a Picture."""
    name, source = find_source(path)
    try:
        return _picture(*decode(source, name, max_pixels))
    except ImageError:
        raise
    except FileNotFoundError as e:
        raise ImageError(f"{name}: no such file") from e
    except IsADirectoryError as e:
        raise ImageError(f"{name}: is a directory, not an image file") from e
    except PermissionError as e:
        raise ImageError(f"{name}: permission denied") from e
    except UnidentifiedImageError as e:
        raise ImageError(f"{name}: not a recognised image file (unknown or unsupported format)") from e
    except MemoryError as e:
        raise ImageError(f"{name}: not enough memory to decode the image") from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"{name}: image too large to decode safely ({one_line(e)})") from e
    except DECODE_ERRORS as e:
        reason = "; ".join(one_line(t) for t in [str(e) or type(e).__name__, *getattr(e, "__notes__", [])])
        if "truncated" in reason:
            raise ImageError(f"{name}: file is truncated (incomplete download or copy?)") from e
        raise ImageError(f"{name}: cannot decode the image, the file is corrupt or unsupported ({reason})") from e


def _picture(pixels: np.ndarray, alpha: np.ndarray | None, icc: bytes | None, exif: bytes | None,
             fmt: str) -> Picture:
    """The Picture of decoded planes (float planes of a floating-point source become 16-bit)."""
    if pixels.dtype.kind == "f":
        pixels = quantize(pixels, 16)
    return Picture(pixels, alpha, icc=icc, exif=exif, format=fmt)


def from_pil(img: Image.Image) -> Picture:
    """Picture from a loaded or lazy Pillow image (any mode), EXIF orientation applied; 16-bit colour is 8-bit."""
    name = getattr(img, "filename", "") or "<image>"
    try:
        img.load()
        return _picture(*planes_of(img, str(name)))
    except ImageError:
        raise
    except DECODE_ERRORS as e:
        raise ImageError(f"{name}: cannot convert the image ({one_line(e)})") from e


def to_pil(picture: Picture) -> Image.Image:
    """Pillow image of a Picture: I;16 for 16-bit gray without alpha, else L/LA/RGB/RGBA (16-bit rounded to 8)."""
    img = _pil_image(picture, allow16=True)
    if picture.icc:
        img.info["icc_profile"] = picture.icc
    if picture.exif:
        img.info["exif"] = picture.exif
    return img


def _pil_image(picture: Picture, allow16: bool, alpha: bool = True) -> Image.Image:
    """Pillow image of the pixels (+alpha); 16-bit kept only for gray without alpha when allow16."""
    keep_alpha = alpha and picture.alpha is not None
    if allow16 and picture.bits == 16 and picture.is_gray and not keep_alpha:
        return Image.fromarray(np.ascontiguousarray(picture.pixels[:, :, 0], dtype="<u2"))  # I;16
    pixels = to_8bit(picture.pixels)
    if keep_alpha:
        pixels = np.concatenate([pixels, to_8bit(picture.alpha)[:, :, None]], axis=2)  # type: ignore[arg-type]
    if pixels.shape[2] == 1:
        return Image.fromarray(np.ascontiguousarray(pixels[:, :, 0]))  # L
    return Image.fromarray(np.ascontiguousarray(pixels))  # LA, RGB or RGBA


# --------------------------------------------------------------------------------------------------------------
# Writing


def format_for_path(path: str | os.PathLike[str]) -> str:
    """Output format (Pillow name) from the file extension; unknown extension -> ImageError."""
    ext = Path(path).suffix.lower()
    if ext in OUTPUT_EXTENSIONS:
        return OUTPUT_EXTENSIONS[ext]
    what = f"unknown output extension '{ext}'" if ext else "no file extension to choose the format from"
    raise ImageError(f"{path}: {what} (supported: {' '.join(sorted(OUTPUT_EXTENSIONS))})")


def check_output(format: str, quality: int, width: int, height: int) -> str:
    """The Pillow format name of ``format`` (aliases jpg, tif), checked with ``quality`` and the size; ImageError."""
    fmt = normalize_format(format)
    if not 1 <= int(quality) <= 100:
        raise ImageError(f"JPEG/WebP quality must be between 1 and 100, got {quality}")
    side = MAX_SIDE.get(fmt)
    if side is not None and max(width, height) > side:
        raise ImageError(f"{width} x {height} is too large for {fmt} (at most {side} pixels a side); "
                         "write PNG or TIFF instead")
    return fmt


def normalize_format(format: str) -> str:
    """Pillow format name of an output format or its alias (``jpg`` -> JPEG, ``.tif`` -> TIFF); ImageError."""
    key = format.strip().lstrip(".").upper()
    if key not in FORMAT_ALIASES:
        raise ImageError(
            f"unknown output format '{format}' (supported: {', '.join(sorted(set(FORMAT_ALIASES.values())))})"
        )
    return FORMAT_ALIASES[key]


def encode(picture: Picture, format: str, quality: int = 95) -> bytes:
    """Encode a Picture in memory as PNG/JPEG/TIFF/WEBP/BMP (aliases jpg, tif accepted); -> file bytes."""
    fmt = check_output(format, quality, picture.width, picture.height)
    try:
        return _encode(picture, fmt, int(quality))
    except ImageError:
        raise
    except (OSError, ValueError, TypeError, KeyError, MemoryError, struct.error) as e:
        raise ImageError(f"cannot encode as {fmt}: {one_line(e) or type(e).__name__}") from e


def _encode(picture: Picture, fmt: str, quality: int) -> bytes:
    if picture.bits == 16 and fmt == "PNG":
        channels = picture.pixels.shape[2]
        return png16(picture.pixels, picture.alpha, icc_for(picture.icc, channels), exif_for(picture.exif))
    if picture.bits == 16 and fmt == "TIFF" and not (picture.is_gray and picture.alpha is None):
        pixels = np.repeat(picture.pixels, 3, axis=2) if picture.is_gray else picture.pixels
        return encode_tiff16(pixels, picture.alpha, icc_for(picture.icc, 3))

    if fmt == "TIFF":
        img = _pil_image(picture, allow16=True)
    else:
        img = _pil_image(picture, allow16=False, alpha=fmt not in ("JPEG", "BMP"))
    return save_image(img, fmt, quality, picture.icc, picture.exif)


def save_image(img: Image.Image, fmt: str, quality: int, icc: bytes | None, exif: bytes | None) -> bytes:
    """Encode an 8-bit Pillow image (L, LA, RGB, RGBA; I;16 for TIFF) as ``fmt`` with the options of :func:`encode`.

    WebP gets gray as RGB(A); JPEG and BMP take L or RGB (alpha already dropped); ICC kept where its colour space
    matches, EXIF where the format holds it (not BMP; JPEG only up to 64 KiB).
    """
    exif = exif_for(exif)
    options: dict[str, object] = {}
    if fmt == "JPEG":
        options = {"quality": quality, "subsampling": 0 if quality >= 90 else 2}
        if exif is not None and len(exif) > 65533:
            warnings.warn("EXIF too large for JPEG; not written", stacklevel=3)
            exif = None
    elif fmt == "WEBP":
        img = img.convert("RGBA" if img.mode == "LA" else "RGB") if img.mode in ("L", "LA") else img
        options = {"quality": quality, "lossless": quality == 100}
    elif fmt == "BMP":
        exif = None
    elif fmt == "TIFF":
        # Pillow's libtiff (deflate) writer fails on EXIF sub-IFDs; its own uncompressed writer keeps them.
        options = {"compression": None if has_sub_ifds(exif) else "tiff_adobe_deflate"}
    channels = 1 if img.mode in ("L", "LA", "I;16") else 3
    icc = icc_for(icc, channels) if fmt != "BMP" else None
    if icc:
        options["icc_profile"] = icc
    if exif:
        options["exif"] = exif
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def write(path: str | os.PathLike[str], picture: Picture, quality: int = 95, format: str | None = None) -> None:
    """Encode ``picture`` (format from the extension unless given) and replace ``path`` atomically."""
    path = Path(path)
    try:
        fmt = normalize_format(format) if format else format_for_path(path)
        data = encode(picture, fmt, quality)
    except ImageError as e:
        raise at_path(path, e) from e
    check_destination(path)
    store(path, data)


def at_path(path: Path, e: ImageError) -> ImageError:
    """``e`` with its message starting with ``path:`` (as every image error names its file)."""
    message = str(e)
    return ImageError(message if message.startswith(f"{path}:") else f"{path}: {message}")


def check_destination(path: Path) -> None:
    """ImageError unless ``path`` can be written: its folder exists and it is not a folder itself."""
    if not path.parent.is_dir():
        raise ImageError(f"{path}: cannot write, folder {path.parent} does not exist")
    if path.is_dir():
        raise ImageError(f"{path}: is a directory")


def store(path: Path, data: bytes) -> None:
    """Replace ``path`` with the encoded ``data`` atomically; a write error is a one-line ImageError."""
    try:
        with atomic_open(path) as f:
            f.write(data)
    except OSError as e:
        raise ImageError(f"{path}: cannot write ({one_line(e.strerror or e)})") from e
