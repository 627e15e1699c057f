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
- Writing is atomic: a temporary ``.<name>.tmp-<random>`` in the same folder (name cut to fit 255 bytes), fsync,
  then ``os.replace``.
- :class:`BandWriter` writes a file band by band as the rows are produced (the same temporary file and rename):
  PNG and TIFF are encoded as the rows come, in a band's memory (TIFF: deflate with the horizontal predictor,
  EXIF kept at 16 bits too); JPEG, WebP and BMP keep the rows and are encoded whole at the end.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import shutil
import stat
import struct
import sys
import tempfile
import threading
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageCms, ImageFile, UnidentifiedImageError

__all__ = [
    "is_temp_name",
    "ImageError",
    "BandWriter",
    "STREAMED_FORMATS",
    "DEFAULT_MAX_PIXELS",
    "Picture",
    "quantize",
    "read",
    "write",
    "encode",
    "to_pil",
    "from_pil",
    "format_for_path",
    "OUTPUT_EXTENSIONS",
    "INPUT_EXTENSIONS",
    "INPUT_FORMAT_NAMES",
]

DEFAULT_MAX_PIXELS = 100_000_000

OUTPUT_EXTENSIONS: dict[str, str] = {
    ".bmp": "BMP",
    ".jpeg": "JPEG",
    ".jpg": "JPEG",
    ".png": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}
_FORMAT_ALIASES = {
    "BMP": "BMP",
    "JPEG": "JPEG",
    "JPG": "JPEG",
    "PNG": "PNG",
    "TIF": "TIFF",
    "TIFF": "TIFF",
    "WEBP": "WEBP",
}

# The one list of what read() opens: Pillow format name -> the file extensions a folder scan picks up (the CLI's
# folder mode, data.list_images, prepare). Deliberately excludes EPS/PDF (Ghostscript) and exotica. Order matters:
# Image.open tries them in turn, and TGA has no signature, so it comes last (it would claim some ICO files).
_READABLE: dict[str, tuple[str, ...]] = {
    "PNG": (".png", ".apng"),
    "JPEG": (".jpg", ".jpeg", ".jpe", ".jfif", ".mpo"),  # JPEG covers MPO
    "WEBP": (".webp",),
    "TIFF": (".tif", ".tiff"),
    "BMP": (".bmp",),
    "DIB": (".dib",),
    "GIF": (".gif",),
    "PPM": (".ppm", ".pgm", ".pbm", ".pnm", ".pfm"),
    "ICO": (".ico",),
    "JPEG2000": (".jp2", ".j2k", ".jpc", ".jpf", ".jpx", ".j2c"),
    "AVIF": (".avif", ".avifs"),
    "QOI": (".qoi",),
    "PCX": (".pcx",),
    "SGI": (".sgi", ".rgb", ".rgba", ".bw"),
    "PSD": (".psd",),
    "TGA": (".tga", ".icb", ".vda", ".vst"),
}
# Formats that need an optional part of Pillow (Pillow's feature name); without it they are not offered.
_FEATURE = {"WEBP": "webp", "AVIF": "avif", "JPEG2000": "jpg_2000"}


def _pillow_has(feature: str) -> bool:
    from PIL import features

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an older Pillow warns about a feature it does not know (e.g. avif)
        try:
            return bool(features.check(feature))
        except (ValueError, ImportError, OSError):
            return False


_INPUT_FORMATS: tuple[str, ...] = tuple(f for f in _READABLE if f not in _FEATURE or _pillow_has(_FEATURE[f]))
# Every extension read() takes in this installation, sorted (lower case, with the dot).
INPUT_EXTENSIONS: tuple[str, ...] = tuple(sorted(e for f in _INPUT_FORMATS for e in _READABLE[f]))
# The formats in words, for messages ("supported: ...").
INPUT_FORMAT_NAMES = ", ".join(
    {"JPEG2000": "JPEG 2000", "WEBP": "WebP"}.get(f, f) for f in _INPUT_FORMATS if f != "DIB"
)

_ORIENTATION = 0x0112
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
# TIFF tags that are descriptive metadata (kept as EXIF when the source is a TIFF); the rest describe the
# source's own pixel layout and must not travel to another file.
_TIFF_METADATA_TAGS = {269, 270, 271, 272, 282, 283, 296, 305, 306, 315, 316, 33432, _EXIF_IFD, _GPS_IFD}

# Decoding errors Pillow raises on bad files; all become ImageError.
_DECODE_ERRORS = (
    OSError, ValueError, SyntaxError, struct.error, EOFError, IndexError, KeyError, TypeError,
    ZeroDivisionError, OverflowError, MemoryError, Image.DecompressionBombError, Image.DecompressionBombWarning,
)  # fmt: skip

# Pillow's own decompression-bomb limit is a process global; read() replaces it by max_pixels under this lock.
_PILLOW_LIMIT_LOCK = threading.Lock()


class ImageError(Exception):
    """One-line user-facing error: str(e) names the file and the reason."""


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


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
        return self.pixels.astype(np.float32) / np.float32(_max_value(self.bits))

    def alpha_to_float(self) -> np.ndarray | None:
        """Alpha as HxW float32 in [0, 1] (1 = opaque), or None."""
        if self.alpha is None:
            return None
        return self.alpha.astype(np.float32) / np.float32(_max_value(self.bits))

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


def _max_value(bits: int) -> int:
    return 65535 if bits == 16 else 255


def quantize(array: np.ndarray, bits: int) -> np.ndarray:
    """Float data in [0, 1] (clipped; NaN -> 0) -> uint8 (bits=8) or uint16 (bits=16), rounded; same shape."""
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    top = _max_value(bits)
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
    name, source = _source(path)
    try:
        return _decode(source, name, max_pixels)
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
        raise ImageError(f"{name}: image too large to decode safely ({_one_line(e)})") from e
    except _DECODE_ERRORS as e:
        reason = "; ".join(_one_line(t) for t in [str(e) or type(e).__name__, *getattr(e, "__notes__", [])])
        if "truncated" in reason:
            raise ImageError(f"{name}: file is truncated (incomplete download or copy?)") from e
        raise ImageError(f"{name}: cannot decode the image, the file is corrupt or unsupported ({reason})") from e


def _source(path: object) -> tuple[str, object]:
    """(name for messages, something Image.open accepts and that can be opened again)."""
    if isinstance(path, (bytes, bytearray, memoryview)):
        data = bytes(path)
        if not data:
            raise ImageError("<bytes>: empty data (0 bytes)")
        return "<bytes>", data
    if hasattr(path, "read"):
        name = getattr(path, "name", None)
        name = name if isinstance(name, str) and name else "<stream>"
        try:
            data = path.read()  # type: ignore[attr-defined]
        except OSError as e:
            raise ImageError(f"{name}: cannot read ({_one_line(e.strerror or e)})") from e
        if not isinstance(data, (bytes, bytearray)):
            raise ImageError(f"{name}: not a binary stream")
        if not data:
            raise ImageError(f"{name}: empty file (0 bytes)")
        return name, bytes(data)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"read() takes a path, bytes or a binary file object, not {type(path).__name__}")
    p = Path(path)
    name = str(p)
    try:
        st = p.stat()
    except FileNotFoundError as e:
        raise ImageError(f"{name}: no such file") from e
    except OSError as e:
        raise ImageError(f"{name}: cannot read ({_one_line(e.strerror or e)})") from e
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(f"{name}: is a directory, not an image file")
    if not stat.S_ISREG(st.st_mode):  # never opened: a FIFO would block, a device would stream forever
        what = ("a named pipe (FIFO)" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "not a regular file")
        raise ImageError(f"{name}: is {what}, not an image file (give a saved image file)")
    if st.st_size == 0:
        raise ImageError(f"{name}: empty file (0 bytes)")
    return name, p


def _open(source: object) -> ImageFile.ImageFile:
    fp = io.BytesIO(source) if isinstance(source, bytes) else source
    Image.init()  # registers all plugins (once); formats Pillow was built without are skipped
    return Image.open(fp, formats=[f for f in _INPUT_FORMATS if f in Image.OPEN])  # type: ignore[arg-type]


@contextlib.contextmanager
def _no_pillow_limit() -> Iterator[None]:
    """Turn Pillow's global bomb limit off while we decode (our max_pixels check replaces it)."""
    with _PILLOW_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _decode(source: object, name: str, max_pixels: int | None) -> Picture:
    with _no_pillow_limit(), _open(source) as img:
        w, h = img.size
        if max_pixels is not None and w * h > max_pixels:
            raise ImageError(
                f"{name}: image is {w} x {h} = {w * h} pixels, over the limit of {max_pixels} "
                "(use --max-pixels to raise it)"
            )
        split = _split16_plan(img)
        premultiplied = split is not None and _tile_rawmode(img.tile[0]).startswith("RGBa")  # type: ignore[union-attr]
        if premultiplied:  # decode the stored (premultiplied) 16-bit values as they are; divided out below
            img.tile = [_with_rawmode(t, "RGBA" + _tile_rawmode(t)[4:]) for t in img.tile]  # type: ignore[operator]
        _load(img)
        deep = None
        if split is not None:
            try:
                deep = _decode16(img, source, split)
            except _DECODE_ERRORS as e:  # pragma: no cover - depends on Pillow internals
                warnings.warn(f"{name}: 16-bit colour read as 8 bits ({_one_line(e)})", stacklevel=3)
                if premultiplied:
                    with _open(source) as again:
                        _load(again)
                        return _picture(again, name)
            if deep is not None and premultiplied:
                deep = (_unpremultiply(*deep), deep[1])
        return _picture(img, name, deep)


def _load(img: Image.Image) -> None:
    """img.load(), with what C decoders (libtiff) print on file descriptor 2 kept off the terminal and the log.

    Their lines become a note on the exception when decoding fails (the reason in the one-line ImageError) and
    are dropped when it succeeds, as Pillow's own warnings are. Runs under _PILLOW_LIMIT_LOCK (one at a time).
    """
    with _fd2_captured() as failures:
        try:
            img.load()
        except BaseException as e:
            failures.append(e)  # gets the C decoder's first line as a note on the way out
            raise


_FD2_FILE: list[Any] = []


@contextlib.contextmanager
def _fd2_captured() -> Iterator[list[BaseException]]:
    """Send file descriptor 2 to a temporary file meanwhile; on exit, restore it and note or drop the lines."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no fd 2 (pythonw), or a closed stderr: nothing to keep quiet
        yield []
        return
    if not _FD2_FILE:
        _FD2_FILE.append(tempfile.TemporaryFile())
    f = _FD2_FILE[0]
    f.seek(0)
    f.truncate()
    failures: list[BaseException] = []
    os.dup2(f.fileno(), 2)
    try:
        yield failures
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        f.seek(0)
        text = f.read(1 << 20).decode("utf-8", "replace")
        c_lines = [line.strip() for line in text.splitlines() if line.strip()]
        # libtiff's handlers end each message with "."; anything else written meanwhile (another thread) goes on
        passing = [line for line in c_lines if not line.endswith(".")]
        if passing:
            with contextlib.suppress(OSError):
                os.write(2, ("\n".join(passing) + "\n").encode())
        quiet = [line for line in c_lines if line.endswith(".")]
        if failures and quiet:
            more = f" (+{len(quiet) - 1} more)" if len(quiet) > 1 else ""
            failures[0].add_note(f"{quiet[0].rstrip('.')[:200]}{more}")


def _with_rawmode(tile: Any, rawmode: str) -> Any:
    args = rawmode if isinstance(tile[3], str) else (rawmode, *tile[3][1:])
    return tile._replace(args=args) if hasattr(tile, "_replace") else (*tile[:3], args)


def _unpremultiply(pixels: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """16-bit colour stored multiplied by alpha (TIFF associated alpha) -> straight colour (0 where alpha is 0)."""
    if alpha is None:
        return pixels
    a = alpha.astype(np.float64)[:, :, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        straight = np.where(a > 0, pixels * 65535.0 / np.maximum(a, 1), 0)
    return np.clip(np.rint(straight), 0, 65535).astype(np.uint16)


def _swap_endian(rawmode: str) -> str:
    if rawmode.endswith("16N"):
        rawmode = rawmode[:-1] + ("L" if sys.byteorder == "little" else "B")
    return rawmode[:-1] + ("B" if rawmode.endswith("L") else "L")


# Rawmodes with which Pillow reduces 16-bit colour PNG/TIFF to 8 bits (it has no 16-bit colour mode).
_SPLIT16 = frozenset({"RGB;16B", "RGB;16L", "RGB;16N", "RGBA;16B", "RGBA;16L", "RGBA;16N", "LA;16B",
                      "RGBa;16B", "RGBa;16L", "RGBa;16N"})  # RGBa: premultiplied (TIFF associated alpha)


def _tile_rawmode(tile: tuple) -> str | None:
    args = tile[3]
    if isinstance(args, str):
        return args
    if isinstance(args, tuple) and args and isinstance(args[0], str):
        return args[0]
    return None


def _split16_plan(img: ImageFile.ImageFile) -> list[tuple] | None:
    """For 16-bit colour PNG/TIFF (which Pillow decodes to 8 bits), tiles that decode the missing bytes."""
    if img.format not in ("PNG", "TIFF") or not img.tile:
        return None
    plan = []
    for tile in img.tile:
        rawmode = _tile_rawmode(tile)
        if rawmode not in _SPLIT16 or tile[0] not in ("zip", "raw", "libtiff"):
            return None
        # LA;16B: the 4-byte "RGBA" unpacker yields L-high, L-low, A-high, A-low in one pass.
        other = "RGBA" if rawmode == "LA;16B" else _swap_endian(rawmode.replace("RGBa", "RGBA"))
        plan.append(_with_rawmode(tile, other))
    return plan


def _decode16(img: ImageFile.ImageFile, source: object, plan: list[tuple]) -> tuple[np.ndarray, np.ndarray | None]:
    """Full-depth (pixels HxWxC, alpha HxW) uint16 of a 16-bit colour image already loaded at 8 bits."""
    with _open(source) as other:
        other.tile = plan
        _load(other)
        low = np.asarray(other)
    high = np.asarray(img)
    if _tile_rawmode(plan[0]) == "RGBA":  # gray+alpha PNG: one pass gave all four bytes
        b = low.astype(np.uint16)
        gray = (b[:, :, 0] << 8) | b[:, :, 1]
        return gray[:, :, None], (b[:, :, 2] << 8) | b[:, :, 3]
    full = (high.astype(np.uint16) << 8) | low.astype(np.uint16)
    if full.shape[2] == 4:
        return np.ascontiguousarray(full[:, :, :3]), np.ascontiguousarray(full[:, :, 3])
    pixels = np.ascontiguousarray(full)
    key = img.info.get("transparency")
    alpha = _key_alpha(pixels, key, 16)
    return pixels, alpha


def _key_alpha(pixels: np.ndarray, key: object, bits: int) -> np.ndarray | None:
    """Alpha plane from a transparency key (tRNS colour or gray value), or None."""
    if key is None or isinstance(key, bytes):
        return None
    key_arr = np.atleast_1d(np.asarray(key))
    if key_arr.size != pixels.shape[2]:
        return None
    transparent = np.all(pixels == key_arr.astype(pixels.dtype), axis=2)
    return np.where(transparent, 0, _max_value(bits)).astype(pixels.dtype)


def _picture(img: Image.Image, name: str, deep: tuple[np.ndarray, np.ndarray | None] | None = None) -> Picture:
    """Picture from a loaded Pillow image (first frame), applying EXIF orientation."""
    icc = img.info.get("icc_profile") or None
    if deep is not None:
        pixels, alpha = deep
    else:
        pixels, alpha, icc = _arrays(img, name, icc)
    exif, orientation = _exif(img)
    pixels = _orient(pixels, orientation)
    alpha = None if alpha is None else _orient(alpha, orientation)
    fmt = img.format or ""
    return Picture(pixels, alpha, icc=icc, exif=exif, format="JPEG" if fmt == "MPO" else fmt)


def _arrays(img: Image.Image, name: str, icc: bytes | None) -> tuple[np.ndarray, np.ndarray | None, bytes | None]:
    """(pixels HxWxC, alpha HxW or None, ICC) of a loaded image in any Pillow mode."""
    mode = img.mode
    key = img.info.get("transparency")
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or key is not None or (img.palette is not None and img.palette.mode == "RGBA")
        rgb = np.asarray(img.convert("RGBA" if has_alpha else "RGB"))
        gray = np.array_equal(rgb[:, :, 0], rgb[:, :, 1]) and np.array_equal(rgb[:, :, 0], rgb[:, :, 2])
        pixels = rgb[:, :, :1] if gray else rgb[:, :, :3]
        return np.ascontiguousarray(pixels), (np.ascontiguousarray(rgb[:, :, 3]) if has_alpha else None), icc
    if mode == "1":
        pixels = np.asarray(img.convert("L"))[:, :, None]
        return pixels, _key_alpha(pixels, key, 8), icc  # Pillow gives a 1-bit key as 0 or 255
    if mode in ("L", "RGB", "RGBX"):
        pixels = np.asarray(img.convert("RGB") if mode == "RGBX" else img)
        pixels = pixels[:, :, None] if pixels.ndim == 2 else pixels
        return pixels, _key_alpha(pixels, key, 8), icc
    if mode in ("LA", "La", "RGBA", "RGBa"):
        arr = np.asarray(img.convert("LA" if mode.startswith("L") else "RGBA"))
        return np.ascontiguousarray(arr[:, :, :-1]), np.ascontiguousarray(arr[:, :, -1]), icc
    if mode.startswith("I;16"):
        pixels = np.asarray(img).astype(np.uint16)[:, :, None]
        return pixels, _key_alpha(pixels, key, 16), icc
    if mode == "I":
        values = np.clip(np.asarray(img, dtype=np.int64), 0, None)
        top = int(values.max(initial=0))
        if top > 65535:
            values = np.rint(values * (65535.0 / top))
        return values.astype(np.uint16)[:, :, None], None, icc
    if mode == "F":
        values = np.asarray(img, dtype=np.float64)
        finite = values[np.isfinite(values)]
        top = float(finite.max()) if finite.size else 0.0
        scale = next((s for s in (1.0, 255.0, 65535.0) if top <= s), top)
        return quantize(np.nan_to_num(values, nan=0.0) / scale, 16)[:, :, None], None, icc
    if mode == "CMYK":
        return np.asarray(_cmyk_to_rgb(img, icc)), None, _srgb_profile() if icc else None
    if mode == "LAB":
        lab, srgb = ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB")
        rgb = ImageCms.profileToProfile(img, lab, srgb, outputMode="RGB")
        return np.asarray(rgb), None, None
    try:
        rgb = img.convert("RGB")
    except ValueError as e:
        raise ImageError(f"{name}: unsupported image mode {mode}") from e
    return np.asarray(rgb), None, icc


def _cmyk_to_rgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            out = ImageCms.profileToProfile(img, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
            if out is not None:
                return out
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass
    return img.convert("RGB")


def _srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _exif(img: Image.Image) -> tuple[bytes | None, int]:
    """(EXIF bytes with Orientation reset to 1 or None, the orientation to apply); bad EXIF is dropped."""
    try:
        exif = img.getexif()
        if not len(exif):
            return None, 1
        orientation = exif.get(_ORIENTATION, 1)
        clean = Image.Exif()
        for tag, value in exif.items():
            if img.format == "TIFF" and tag not in _TIFF_METADATA_TAGS:
                continue
            clean[tag] = exif.get_ifd(tag) if tag in (_EXIF_IFD, _GPS_IFD) else value
        if not len(clean):
            return None, orientation if isinstance(orientation, int) else 1
        clean[_ORIENTATION] = 1
        data = clean.tobytes()
    except Exception:  # noqa: BLE001 - metadata is optional; a broken EXIF block must not stop the read
        return None, 1
    return data, orientation if isinstance(orientation, int) else 1


def _orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF orientation (1-8) to an HxW or HxWxC array, as PIL.ImageOps.exif_transpose does."""
    swap = (1, 0, *range(2, array.ndim))
    if orientation == 2:
        out = array[:, ::-1]
    elif orientation == 3:
        out = array[::-1, ::-1]
    elif orientation == 4:
        out = array[::-1]
    elif orientation == 5:
        out = array.transpose(swap)
    elif orientation == 6:
        out = np.rot90(array, -1)
    elif orientation == 7:
        out = array[::-1, ::-1].transpose(swap)
    elif orientation == 8:
        out = np.rot90(array, 1)
    else:
        return array
    return out.copy(order="C")  # not ascontiguousarray: it keeps a negative stride on a length-1 axis


def from_pil(img: Image.Image) -> Picture:
    """Picture from a loaded or lazy Pillow image (any mode), EXIF orientation applied; 16-bit colour is 8-bit."""
    name = getattr(img, "filename", "") or "<image>"
    try:
        img.load()
        return _picture(img, str(name))
    except ImageError:
        raise
    except _DECODE_ERRORS as e:
        raise ImageError(f"{name}: cannot convert the image ({_one_line(e)})") from e


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


def _normalize_format(format: str) -> str:
    key = format.strip().lstrip(".").upper()
    if key not in _FORMAT_ALIASES:
        raise ImageError(
            f"unknown output format '{format}' (supported: {', '.join(sorted(set(_FORMAT_ALIASES.values())))})"
        )
    return _FORMAT_ALIASES[key]


# Largest width or height each format can store (libjpeg and libwebp fail with cryptic errors beyond).
_MAX_SIDE = {"JPEG": 65500, "WEBP": 16383}


def encode(picture: Picture, format: str, quality: int = 95) -> bytes:
    """Encode a Picture in memory as PNG/JPEG/TIFF/WEBP/BMP (aliases jpg, tif accepted); -> file bytes."""
    fmt = _normalize_format(format)
    if not 1 <= int(quality) <= 100:
        raise ImageError(f"JPEG/WebP quality must be between 1 and 100, got {quality}")
    side = _MAX_SIDE.get(fmt)
    if side is not None and max(picture.width, picture.height) > side:
        raise ImageError(f"{picture.width} x {picture.height} is too large for {fmt} (at most {side} pixels a side); "
                         "write PNG or TIFF instead")
    try:
        return _encode(picture, fmt, int(quality))
    except ImageError:
        raise
    except (OSError, ValueError, TypeError, KeyError, MemoryError, struct.error) as e:
        raise ImageError(f"cannot encode as {fmt}: {_one_line(e) or type(e).__name__}") from e


def _icc_for(icc: bytes | None, channels: int) -> bytes | None:
    """The ICC profile if its colour space matches gray (1) or RGB (3) pixels, else None."""
    if not icc or len(icc) < 128:
        return None
    space = icc[16:20]
    return icc if space == (b"GRAY" if channels == 1 else b"RGB ") else None


def _exif_for(exif: bytes | None) -> bytes | None:
    if not exif:
        return None
    return exif if exif.startswith(b"Exif\x00\x00") else b"Exif\x00\x00" + exif


def _has_sub_ifds(exif: bytes | None) -> bool:
    if not exif:
        return False
    parsed = Image.Exif()
    with contextlib.suppress(Exception):
        parsed.load(exif)
    return _EXIF_IFD in parsed or _GPS_IFD in parsed


def _encode(picture: Picture, fmt: str, quality: int) -> bytes:
    exif = _exif_for(picture.exif)
    if picture.bits == 16 and fmt == "PNG":
        channels = picture.pixels.shape[2]
        return _png16(picture.pixels, picture.alpha, _icc_for(picture.icc, channels), exif)
    if picture.bits == 16 and fmt == "TIFF" and not (picture.is_gray and picture.alpha is None):
        pixels = np.repeat(picture.pixels, 3, axis=2) if picture.is_gray else picture.pixels
        return encode_tiff16(pixels, picture.alpha, _icc_for(picture.icc, 3))

    options: dict[str, object] = {}
    if fmt == "JPEG":
        img = _pil_image(picture, allow16=False, alpha=False)
        options = {"quality": quality, "subsampling": 0 if quality >= 90 else 2}
        if exif is not None and len(exif) > 65533:
            warnings.warn("EXIF too large for JPEG; not written", stacklevel=3)
            exif = None
    elif fmt == "WEBP":
        img = _pil_image(picture, allow16=False)
        img = img.convert("RGBA" if img.mode == "LA" else "RGB") if img.mode in ("L", "LA") else img
        options = {"quality": quality, "lossless": quality == 100}
    elif fmt == "BMP":
        img = _pil_image(picture, allow16=False, alpha=False)
        exif = None
    elif fmt == "TIFF":
        img = _pil_image(picture, allow16=True)
        # Pillow's libtiff (deflate) writer fails on EXIF sub-IFDs; its own uncompressed writer keeps them.
        options = {"compression": None if _has_sub_ifds(exif) else "tiff_adobe_deflate"}
    else:  # PNG 8-bit
        img = _pil_image(picture, allow16=False)
    channels = 1 if img.mode in ("L", "LA", "I;16") else 3
    icc = _icc_for(picture.icc, channels) if fmt != "BMP" else None
    if icc:
        options["icc_profile"] = icc
    if exif:
        options["exif"] = exif
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_filtered_rows(raw: np.ndarray, bpp: int, prev: np.ndarray | None = None) -> Iterator[bytes]:
    """PNG-filter rows of an (H, stride) uint8 array, choosing per row the filter with least sum |byte|.

    ``prev`` is the row above the first (the last row of the previous band; None: the image's first row).
    """
    h, stride = raw.shape
    block = max(1, (1 << 20) // max(stride, 1))
    prev = np.zeros(stride, dtype=np.uint8) if prev is None else prev
    for start in range(0, h, block):
        rows = raw[start : start + block]
        x = rows.astype(np.int16)
        b = np.concatenate([prev[None], rows[:-1]]).astype(np.int16)
        a = np.zeros_like(x)
        a[:, bpp:] = x[:, :-bpp]
        c = np.zeros_like(x)
        c[:, bpp:] = b[:, :-bpp]
        pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
        paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        candidates = np.stack([x, x - a, x - b, x - ((a + b) >> 1), x - paeth]).astype(np.uint8)
        score = np.abs(candidates.view(np.int8).astype(np.int32)).sum(axis=2)
        best = score.argmin(axis=0)
        chosen = candidates[best, np.arange(len(rows))]
        yield np.concatenate([best.astype(np.uint8)[:, None], chosen], axis=1).tobytes()
        prev = rows[-1]


def _png16(pixels: np.ndarray, alpha: np.ndarray | None, icc: bytes | None, exif: bytes | None) -> bytes:
    """16-bit PNG (gray, gray+alpha, RGB or RGBA), which Pillow cannot write in colour."""
    h, w, c = pixels.shape
    buf = io.BytesIO()
    png = _PngStream(buf, h, w, c + (alpha is not None), 16, icc, exif)
    png.rows(pixels if alpha is None else np.concatenate([pixels, alpha[:, :, None]], axis=2))
    png.close()
    return buf.getvalue()


class _PngStream:
    """A PNG written row band by row band to a binary file: IHDR (+ iCCP, eXIf), IDAT chunks of about 1 MiB, IEND.

    Rows are filtered as :func:`_png_filtered_rows` does (per row, the filter with the least sum of |byte|) and
    deflated at level 6, as Pillow does; ``rows`` takes R x W x S uint8/uint16 samples (S 1-4: gray, gray+alpha,
    RGB, RGBA), in order from the top.
    """

    def __init__(self, fp: BinaryIO, height: int, width: int, samples: int, bits: int,
                 icc: bytes | None, exif: bytes | None) -> None:
        self._fp, self._samples, self._bits, self._width = fp, samples, bits, width
        self._left = height
        color_type = {1: 0, 2: 4, 3: 2, 4: 6}[samples]
        head = [b"\x89PNG\r\n\x1a\n",
                _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bits, color_type, 0, 0, 0))]
        if icc:
            head.append(_png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc)))
        if exif:
            head.append(_png_chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif))
        fp.write(b"".join(head))
        self._compressor = zlib.compressobj(6)
        self._pending = bytearray()
        self._prev: np.ndarray | None = None

    def rows(self, samples: np.ndarray) -> None:
        r = samples.shape[0]
        if samples.shape[1:] != (self._width, self._samples) or r > self._left:
            raise ValueError(f"PNG rows of shape {samples.shape} do not fit the image")
        if not r:
            return
        dtype = ">u2" if self._bits == 16 else np.uint8
        raw = np.ascontiguousarray(samples, dtype=dtype).view(np.uint8).reshape(r, -1)
        for filtered in _png_filtered_rows(raw, self._samples * self._bits // 8, self._prev):
            self._pending += self._compressor.compress(filtered)
            if len(self._pending) >= 1 << 20:
                self._fp.write(_png_chunk(b"IDAT", bytes(self._pending)))
                self._pending.clear()
        self._prev = raw[-1].copy()
        self._left -= r

    def close(self) -> None:
        if self._left:
            raise ValueError(f"PNG: {self._left} rows were never given")
        self._pending += self._compressor.flush()
        self._fp.write(_png_chunk(b"IDAT", bytes(self._pending)) + _png_chunk(b"IEND", b""))


def encode_tiff16(pixels: np.ndarray, alpha: np.ndarray | None, icc: bytes | None) -> bytes:
    """16-bit little-endian TIFF (RGB/RGBA; deflate + horizontal predictor), which Pillow cannot write."""
    planes = pixels if alpha is None else np.concatenate([pixels, alpha[:, :, None]], axis=2)
    h, w, c = planes.shape
    diff = planes.astype(np.uint16)  # copy
    diff[:, 1:] -= planes[:, :-1]  # predictor 2: horizontal differences, modulo 2**16
    rows_per_strip = max(1, (1 << 18) // (w * c * 2))
    strips = [
        zlib.compress(diff[r : r + rows_per_strip].astype("<u2").tobytes(), 6) for r in range(0, h, rows_per_strip)
    ]
    short, long_, undefined = 3, 4, 7
    entries: list[tuple[int, int, list[int] | bytes]] = [
        (256, long_, [w]),
        (257, long_, [h]),
        (258, short, [16] * c),
        (259, short, [8]),  # Adobe deflate
        (262, short, [2]),  # RGB
        (273, long_, [0] * len(strips)),  # strip offsets, filled in below
        (277, short, [c]),
        (278, long_, [rows_per_strip]),
        (279, long_, [len(s) for s in strips]),
        (284, short, [1]),
        (317, short, [2]),
    ]
    if alpha is not None:
        entries.append((338, short, [2]))  # unassociated alpha
    entries.append((339, short, [1] * c))
    if icc:
        entries.append((34675, undefined, icc))

    def encoded(kind: int, values: list[int] | bytes) -> bytes:
        if kind == undefined:
            return bytes(values)
        return struct.pack(f"<{len(values)}{'H' if kind == short else 'I'}", *values)

    ifd_size = 2 + 12 * len(entries) + 4
    extra_at = 8 + ifd_size
    extra_len = sum((len(encoded(k, v)) + 1) & ~1 for _, k, v in entries if len(encoded(k, v)) > 4)
    offsets, at = [], extra_at + extra_len
    for s in strips:
        offsets.append(at)
        at += len(s)
    entries[5] = (273, long_, offsets)

    head = bytearray(b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(entries)))
    extra = bytearray()
    for tag, kind, values in entries:
        data = encoded(kind, values)
        count = len(values)
        if len(data) <= 4:
            head += struct.pack("<HHI", tag, kind, count) + data.ljust(4, b"\x00")
        else:
            head += struct.pack("<HHII", tag, kind, count, extra_at + len(extra))
            extra += data + (b"\x00" if len(data) % 2 else b"")
    head += struct.pack("<I", 0)
    return bytes(head) + bytes(extra) + b"".join(strips)


def write(path: str | os.PathLike[str], picture: Picture, quality: int = 95, format: str | None = None) -> None:
    """Encode ``picture`` (format from the extension unless given) and replace ``path`` atomically."""
    path = Path(path)
    try:
        fmt = _normalize_format(format) if format else format_for_path(path)
        data = encode(picture, fmt, quality)
    except ImageError as e:
        message = str(e)
        raise ImageError(message if message.startswith(f"{path}:") else f"{path}: {message}") from e
    parent = path.parent
    if not parent.is_dir():
        raise ImageError(f"{path}: cannot write, folder {parent} does not exist")
    if path.is_dir():
        raise ImageError(f"{path}: is a directory")
    tmp = parent / _temp_name(path.name)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            with contextlib.suppress(OSError):
                shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise ImageError(f"{path}: cannot write ({_one_line(e.strerror or e)})") from e
        raise
    _fsync_dir(parent)


# --------------------------------------------------------------------------------------------------------------
# Writing band by band

# Formats that BandWriter writes as the rows come (the others are held whole and encoded at the end).
STREAMED_FORMATS = ("PNG", "TIFF")

# TIFF tags that describe a file's own layout: an EXIF block never sets them in a written TIFF.
_TIFF_LAYOUT_TAGS = frozenset({254, 255, 256, 257, 258, 259, 262, 263, 264, 265, 266, 273, 277, 278, 279, 280, 281,
                               284, 292, 293, 317, 320, 322, 323, 324, 325, 330, 338, 339, 340, 341, 347, 530, 531,
                               532, 34675})


class _TiffStream:
    """A little-endian TIFF written strip by strip to a seekable binary file (deflate, horizontal predictor).

    Layout: header, the IFD (with ICC and EXIF; space reserved up front, filled in by ``close``), then the strips
    as they come. ``rows`` takes R x W x S uint8/uint16 samples (S 1-4: gray, gray+alpha, RGB, RGBA; alpha is
    unassociated), in order from the top. EXIF tags (and its Exif/GPS sub-IFDs) go into the IFD as Pillow's own
    TIFF writer puts them, through Pillow's IFD serialiser; an EXIF block it cannot serialise is left out with a
    warning. Files over 4 GiB (no BigTIFF) raise ValueError.
    """

    def __init__(self, fp: BinaryIO, height: int, width: int, samples: int, bits: int,
                 icc: bytes | None, exif: bytes | None) -> None:
        from PIL import TiffImagePlugin, TiffTags

        self._fp, self._height, self._width, self._samples, self._bits = fp, height, width, samples, bits
        row_bytes = width * samples * bits // 8
        self.rows_per_strip = max(1, min(height, (1 << 18) // max(1, row_bytes)))
        self._strips = -(-height // self.rows_per_strip)
        self._block = np.empty((self.rows_per_strip, width, samples), np.uint16 if bits == 16 else np.uint8)
        self._filled = 0
        self._offsets: list[int] = []
        self._counts: list[int] = []

        def ifd_for(exif: bytes | None) -> Any:
            ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=b"II")
            if exif:
                parsed = Image.Exif()
                parsed.load(exif)
                for key in parsed:
                    if key in _TIFF_LAYOUT_TAGS:
                        continue
                    ifd[key] = parsed.get_ifd(key) if key in TiffTags.TAGS_V2_GROUPS else parsed.get(key)
                    with contextlib.suppress(KeyError, AttributeError):
                        ifd.tagtype[key] = parsed.tagtype[key]
            gray = samples <= 2
            ifd[256], ifd[257] = width, height
            ifd[258] = (bits,) * samples
            ifd[259] = 8  # Adobe deflate
            ifd[262] = 1 if gray else 2  # BlackIsZero or RGB
            ifd[277] = samples
            ifd[278] = self.rows_per_strip
            ifd[284] = 1  # contiguous
            ifd[317] = 2  # horizontal differencing
            if samples in (2, 4):
                ifd[338] = 2  # unassociated alpha
            if bits == 16:
                ifd[339] = (1,) * samples
            if icc:
                ifd[34675] = icc
            for tag in (273, 279):
                ifd.tagtype[tag] = TiffTags.LONG
                ifd[tag] = (0,) * self._strips
            ifd.tobytes(8)  # raises here, before any work, on what cannot be serialised
            return ifd

        try:
            self._ifd = ifd_for(exif)
        except (ValueError, TypeError, KeyError, struct.error, OverflowError) as e:
            if not exif:
                raise
            warnings.warn(f"EXIF cannot be stored in TIFF ({_one_line(e) or type(e).__name__}); not written",
                          stacklevel=3)
            self._ifd = ifd_for(None)
        self._ifd_size = len(self._ifd.tobytes(8))
        fp.write(b"II*\x00" + struct.pack("<I", 8) + b"\x00" * self._ifd_size)
        self._at = 0  # bytes of strip data written, from the end of the IFD

    def rows(self, samples: np.ndarray) -> None:
        r = samples.shape[0]
        done = len(self._offsets) * self.rows_per_strip + self._filled
        if samples.shape[1:] != (self._width, self._samples) or done + r > self._height:
            raise ValueError(f"TIFF rows of shape {samples.shape} do not fit the image")
        i = 0
        while i < r:
            n = min(r - i, self.rows_per_strip - self._filled)
            self._block[self._filled : self._filled + n] = samples[i : i + n]
            self._filled += n
            i += n
            if self._filled == self.rows_per_strip:
                self._strip()

    def _strip(self) -> None:
        block = self._block[: self._filled]
        diff = block.copy()
        diff[:, 1:] -= block[:, :-1]  # predictor 2: horizontal differences, modulo 2**bits
        data = zlib.compress(diff.astype("<u2").tobytes() if self._bits == 16 else diff.tobytes(), 6)
        if 8 + self._ifd_size + self._at + len(data) > 0xFFFFFFFF:
            raise ValueError("the TIFF would be over 4 GiB (BigTIFF is not written); write PNG instead")
        self._fp.write(data)
        self._offsets.append(self._at)
        self._counts.append(len(data))
        self._at += len(data)
        self._filled = 0

    def close(self) -> None:
        if self._filled:
            self._strip()
        if len(self._offsets) != self._strips:
            raise ValueError(f"TIFF: {self._strips - len(self._offsets)} strips were never given")
        self._ifd[273] = tuple(self._offsets)  # Pillow's serialiser adds the end of the IFD to them
        self._ifd[279] = tuple(self._counts)
        data = self._ifd.tobytes(8)
        assert len(data) == self._ifd_size, (len(data), self._ifd_size)
        self._fp.seek(8)
        self._fp.write(data)
        self._fp.seek(0, os.SEEK_END)


class BandWriter:
    """An image file written band by band, as the rows are produced; atomically, like :func:`write`.

    ``BandWriter(path, height, width, channels, bits, alpha=..., icc=..., exif=..., quality=..., format=...)``
    opens a temporary ``.<name>.tmp-<random>`` beside ``path`` (the one :func:`write` uses; :func:`is_temp_name`
    knows it); :meth:`write` takes the next rows, pixels R x W x C (C = ``channels``, 1 or 3) and alpha R x W when
    ``alpha``, of the dtype of ``bits`` (uint8 or uint16), top to bottom; :meth:`close` checks that every row came,
    finishes the file, fsyncs it and renames it over ``path``. Any failure, or leaving a ``with`` block on an
    exception (KeyboardInterrupt too), removes the temporary file: ``path`` is never half-written.

    PNG and TIFF (:data:`STREAMED_FORMATS`) are encoded as the rows come, so memory is a band's whatever the
    size. The file holds the same pixels (and alpha, ICC, EXIF) as :func:`write` of the whole Picture, not the
    same bytes: PNG as :func:`write` (8 and 16 bits, gray/gray+alpha/RGB/RGBA, ICC and EXIF); TIFF always with
    deflate and the horizontal predictor, EXIF kept at every depth (its sub-IFDs too), 16-bit gray+alpha as
    16-bit RGBA as :func:`write` does. JPEG, WebP and BMP need the whole picture (Pillow's encoders): their rows
    are kept, and encoded by :func:`write` at :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike[str], height: int, width: int, channels: int, bits: int, *,
                 alpha: bool = False, icc: bytes | None = None, exif: bytes | None = None, quality: int = 95,
                 format: str | None = None) -> None:
        self.path = path = Path(path)
        if channels not in (1, 3) or bits not in (8, 16) or height < 1 or width < 1:
            raise ValueError(f"cannot write {height} x {width} x {channels} at {bits} bits")
        self.height, self.width, self.channels, self.bits, self.alpha = height, width, channels, bits, alpha
        self._dtype = np.dtype(np.uint16 if bits == 16 else np.uint8)
        self._done = 0
        self._file: BinaryIO | None = None
        self._tmp: Path | None = None
        try:
            self.format = _normalize_format(format) if format else format_for_path(path)
            if not 1 <= int(quality) <= 100:
                raise ImageError(f"JPEG/WebP quality must be between 1 and 100, got {quality}")
            side = _MAX_SIDE.get(self.format)
            if side is not None and max(width, height) > side:
                raise ImageError(f"{width} x {height} is too large for {self.format} (at most {side} pixels a side); "
                                 "write PNG or TIFF instead")
        except ImageError as e:
            message = str(e)
            raise ImageError(message if message.startswith(f"{path}:") else f"{path}: {message}") from e
        self.quality = int(quality)
        self.streaming = self.format in STREAMED_FORMATS
        parent = path.parent  # checked before any work, whatever the format
        if not parent.is_dir():
            raise ImageError(f"{path}: cannot write, folder {parent} does not exist")
        if path.is_dir():
            raise ImageError(f"{path}: is a directory")
        if not self.streaming:  # held whole; write() encodes it at close()
            self._picture = Picture(np.empty((height, width, channels), self._dtype),
                                    np.empty((height, width), self._dtype) if alpha else None, icc=icc, exif=exif)
            return
        exif = _exif_for(exif)
        samples = channels + alpha
        if self.format == "TIFF" and bits == 16 and samples == 2:  # 16-bit gray+alpha: as RGBA (see write)
            samples = 4
        self._samples = samples
        tmp = parent / _temp_name(path.name)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            self._tmp = tmp
            self._file = os.fdopen(fd, "w+b", buffering=1 << 20)
            icc_kept = _icc_for(icc, 1 if samples <= 2 else 3)
            stream = _PngStream if self.format == "PNG" else _TiffStream
            self._stream: _PngStream | _TiffStream = stream(self._file, height, width, samples, bits, icc_kept, exif)
        except BaseException as e:
            self._fail(e)

    def write(self, pixels: np.ndarray, alpha: np.ndarray | None = None) -> None:
        """The next rows: pixels R x W x C (or R x W when C is 1) and, when the file has alpha, alpha R x W."""
        pixels = np.asarray(pixels)
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        r = pixels.shape[0]
        if pixels.shape[1:] != (self.width, self.channels) or pixels.dtype != self._dtype:
            raise ValueError(f"rows must be R x {self.width} x {self.channels} {self._dtype}, got "
                             f"{pixels.shape} {pixels.dtype}")
        if (alpha is not None) != self.alpha or (alpha is not None and alpha.shape != (r, self.width)):
            raise ValueError(f"alpha must be {'R x W' if self.alpha else 'None'}, got "
                             f"{None if alpha is None else alpha.shape}")
        if self._done + r > self.height:
            raise ValueError(f"{self._done + r} rows given for an image of {self.height}")
        if not self.streaming:
            self._picture.pixels[self._done : self._done + r] = pixels
            if alpha is not None:
                self._picture.alpha[self._done : self._done + r] = alpha  # type: ignore[index]
            self._done += r
            return
        try:
            if self._samples == 4 and self.channels == 1:
                pixels = np.repeat(pixels, 3, axis=2)
            samples = pixels if alpha is None else np.concatenate([pixels, alpha[:, :, None].astype(self._dtype)], 2)
            self._stream.rows(samples)
            self._done += r
        except BaseException as e:
            self._fail(e)

    def close(self) -> None:
        """Finish the file and move it into place (ValueError, and no file, when rows are missing)."""
        if self._done != self.height:
            self.abort()
            raise ValueError(f"{self.path}: {self.height - self._done} of {self.height} rows were never written")
        if not self.streaming:
            write(self.path, self._picture, quality=self.quality, format=self.format)
            return
        if self._file is None:
            raise ValueError(f"{self.path}: already closed")
        try:
            self._stream.close()
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
            if self.path.exists():
                with contextlib.suppress(OSError):
                    shutil.copymode(self.path, self._tmp)  # type: ignore[arg-type]
            os.replace(self._tmp, self.path)  # type: ignore[arg-type]
            self._tmp = None
        except BaseException as e:
            self._fail(e)
        _fsync_dir(self.path.parent)

    def abort(self) -> None:
        """Drop the file being written (the temporary file); ``path`` is left as it was."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
            self._tmp = None
        self._picture = None  # type: ignore[assignment]

    def _fail(self, e: BaseException) -> None:
        self.abort()
        if isinstance(e, OSError):
            raise ImageError(f"{self.path}: cannot write ({_one_line(e.strerror or e)})") from e
        if isinstance(e, (ValueError, MemoryError, struct.error)):
            raise ImageError(f"{self.path}: cannot encode as {self.format}: {_one_line(e) or type(e).__name__}") from e
        raise e

    def __enter__(self) -> BandWriter:
        return self

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


_NAME_MAX = 255  # bytes in one file name on Linux, macOS and Windows file systems alike


def is_temp_name(name: str) -> bool:
    """True for the name of a temporary file that :func:`write` makes (``.<name>.tmp-<12 hex digits>``)."""
    head, sep, tail = name.rpartition(".tmp-")
    return bool(sep) and name.startswith(".") and len(tail) == 12 and all(c in "0123456789abcdef" for c in tail)


def _temp_name(name: str) -> str:
    """``.<name>.tmp-<random>``, the name cut short so that the whole stays within a file name's 255 bytes."""
    tail = f".tmp-{secrets.token_hex(6)}"
    room = _NAME_MAX - 1 - len(tail)
    while len(os.fsencode(name)) > room:
        name = name[: -max(1, (len(os.fsencode(name)) - room) // 4)]
    return f".{name}{tail}"


def _fsync_dir(folder: Path) -> None:
    """Best effort: make the rename durable (POSIX only)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
