"""Machinery of srcnn.images: format tables, Pillow decoding details, the PNG/TIFF encoders."""

from __future__ import annotations

import contextlib
import io
import os
import struct
import sys
import tempfile
import threading
import warnings
import zlib
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageCms, ImageFile

OUTPUT_EXTENSIONS: dict[str, str] = {
    ".bmp": "BMP",
    ".jpeg": "JPEG",
    ".jpg": "JPEG",
    ".png": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}
FORMAT_ALIASES = {e[1:].upper(): f for e, f in OUTPUT_EXTENSIONS.items()}  # JPG -> JPEG, TIF -> TIFF, PNG -> PNG
EXTENSION_OF = {f: min((e for e, g in OUTPUT_EXTENSIONS.items() if g == f), key=len)  # JPEG -> .jpg, TIFF -> .tif
                for f in OUTPUT_EXTENSIONS.values()}

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
DECODE_ERRORS = (
    OSError, ValueError, SyntaxError, struct.error, EOFError, IndexError, KeyError, TypeError,
    ZeroDivisionError, OverflowError, MemoryError, Image.DecompressionBombError, Image.DecompressionBombWarning,
)  # fmt: skip

# Pillow's own decompression-bomb limit is a process global; read() replaces it by max_pixels under this lock.
_PILLOW_LIMIT_LOCK = threading.Lock()


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def max_value(bits: int) -> int:
    return 65535 if bits == 16 else 255


def open_image(source: object) -> ImageFile.ImageFile:
    fp = io.BytesIO(source) if isinstance(source, bytes) else source
    Image.init()  # registers all plugins (once); formats Pillow was built without are skipped
    return Image.open(fp, formats=[f for f in _INPUT_FORMATS if f in Image.OPEN])  # type: ignore[arg-type]


@contextlib.contextmanager
def no_pillow_limit() -> Iterator[None]:
    """Turn Pillow's global bomb limit off while we decode (our max_pixels check replaces it)."""
    with _PILLOW_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def load(img: Image.Image) -> None:
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


def with_rawmode(tile: Any, rawmode: str) -> Any:
    args = rawmode if isinstance(tile[3], str) else (rawmode, *tile[3][1:])
    return tile._replace(args=args) if hasattr(tile, "_replace") else (*tile[:3], args)


def unpremultiply(pixels: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
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


def tile_rawmode(tile: tuple) -> str | None:
    args = tile[3]
    if isinstance(args, str):
        return args
    if isinstance(args, tuple) and args and isinstance(args[0], str):
        return args[0]
    return None


def split16_plan(img: ImageFile.ImageFile) -> list[tuple] | None:
    """For 16-bit colour PNG/TIFF (which Pillow decodes to 8 bits), tiles that decode the missing bytes."""
    if img.format not in ("PNG", "TIFF") or not img.tile:
        return None
    plan = []
    for tile in img.tile:
        rawmode = tile_rawmode(tile)
        if rawmode not in _SPLIT16 or tile[0] not in ("zip", "raw", "libtiff"):
            return None
        # LA;16B: the 4-byte "RGBA" unpacker yields L-high, L-low, A-high, A-low in one pass.
        other = "RGBA" if rawmode == "LA;16B" else _swap_endian(rawmode.replace("RGBa", "RGBA"))
        plan.append(with_rawmode(tile, other))
    return plan


STRIP_PIXELS = 1 << 20  # pixels of one strip when a large decoded image becomes an array


def as_array(img: Image.Image, dtype: type | None = None,
             merge: Callable[[np.ndarray, int, int], None] | None = None) -> np.ndarray:
    """``np.asarray(img)`` strip by strip: Pillow's whole-image ``tobytes`` joins its chunks into one bytes object,
    so at its peak it holds the array twice beside the image (about 10 bytes a pixel for RGB, 7 this way); the
    array is also writeable, so the Enhancer reads its rows in place. ``dtype``: the array's (the strips are cast
    into it); ``merge(rows, y0, y1)``, when given, finishes each strip of the array in place."""
    w, h = img.size
    rows = max(1, STRIP_PIXELS // max(w, 1)) if w * h > STRIP_PIXELS else max(h, 1)
    out: np.ndarray | None = None
    for y in range(0, h, rows):
        y1 = min(h, y + rows)
        strip = np.asarray(img.crop((0, y, w, y1)) if rows < h else img)
        if out is None:
            if rows >= h and dtype is None and merge is None:
                return strip
            out = np.empty((h, *strip.shape[1:]), dtype=dtype or strip.dtype)
        out[y:y1] = strip
        if merge is not None:
            merge(out[y:y1], y, y1)
    assert out is not None
    return out


def decode16(img: ImageFile.ImageFile, source: object, plan: list[tuple]) -> tuple[np.ndarray, np.ndarray | None]:
    """Full-depth (pixels HxWxC, alpha HxW) uint16 of a 16-bit colour image already loaded at 8 bits."""
    with open_image(source) as other:
        other.tile = plan
        load(other)
        if tile_rawmode(plan[0]) == "RGBA":  # gray+alpha PNG: one pass gave all four bytes
            b = as_array(other).astype(np.uint16)
            gray = (b[:, :, 0] << 8) | b[:, :, 1]
            return gray[:, :, None], (b[:, :, 2] << 8) | b[:, :, 3]
        w = other.size[0]

        def add_low(rows: np.ndarray, y0: int, y1: int) -> None:  # high bytes in place: 2 bytes a sample, no copy
            rows <<= 8
            rows |= np.asarray(other.crop((0, y0, w, y1)))

        full = as_array(img, np.uint16, add_low)
    if full.shape[2] == 4:
        return np.ascontiguousarray(full[:, :, :3]), np.ascontiguousarray(full[:, :, 3])
    pixels = full
    key = img.info.get("transparency")
    alpha = key_alpha(pixels, key, 16)
    return pixels, alpha


def key_alpha(pixels: np.ndarray, key: object, bits: int) -> np.ndarray | None:
    """Alpha plane from a transparency key (tRNS colour or gray value), or None."""
    if key is None or isinstance(key, bytes):
        return None
    key_arr = np.atleast_1d(np.asarray(key))
    if key_arr.size != pixels.shape[2]:
        return None
    transparent = np.all(pixels == key_arr.astype(pixels.dtype), axis=2)
    return np.where(transparent, 0, max_value(bits)).astype(pixels.dtype)


def cmyk_to_rgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            out = ImageCms.profileToProfile(img, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
            if out is not None:
                return out
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass
    return img.convert("RGB")


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def read_exif(img: Image.Image) -> tuple[bytes | None, int]:
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


def orient(array: np.ndarray, orientation: int) -> np.ndarray:
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


# Largest width or height each format can store (libjpeg and libwebp fail with cryptic errors beyond).
MAX_SIDE = {"JPEG": 65500, "WEBP": 16383}


def icc_for(icc: bytes | None, channels: int) -> bytes | None:
    """The ICC profile if its colour space matches gray (1) or RGB (3) pixels, else None."""
    if not icc or len(icc) < 128:
        return None
    space = icc[16:20]
    return icc if space == (b"GRAY" if channels == 1 else b"RGB ") else None


def exif_for(exif: bytes | None) -> bytes | None:
    if not exif:
        return None
    return exif if exif.startswith(b"Exif\x00\x00") else b"Exif\x00\x00" + exif


def has_sub_ifds(exif: bytes | None) -> bool:
    if not exif:
        return False
    parsed = Image.Exif()
    with contextlib.suppress(Exception):
        parsed.load(exif)
    return _EXIF_IFD in parsed or _GPS_IFD in parsed


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


def png16(pixels: np.ndarray, alpha: np.ndarray | None, icc: bytes | None, exif: bytes | None) -> bytes:
    """16-bit PNG (gray, gray+alpha, RGB or RGBA), which Pillow cannot write in colour."""
    h, w, c = pixels.shape
    buf = io.BytesIO()
    png = PngStream(buf, h, w, c + (alpha is not None), 16, icc, exif)
    png.rows(pixels if alpha is None else np.concatenate([pixels, alpha[:, :, None]], axis=2))
    png.close()
    return buf.getvalue()


class PngStream:
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


# TIFF tags that describe a file's own layout: an EXIF block never sets them in a written TIFF.
_TIFF_LAYOUT_TAGS = frozenset({254, 255, 256, 257, 258, 259, 262, 263, 264, 265, 266, 273, 277, 278, 279, 280, 281,
                               284, 292, 293, 317, 320, 322, 323, 324, 325, 330, 338, 339, 340, 341, 347, 530, 531,
                               532, 34675})


class TiffStream:
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
            warnings.warn(f"EXIF cannot be stored in TIFF ({one_line(e) or type(e).__name__}); not written",
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
