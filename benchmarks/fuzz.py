"""Fuzz the image paths with malformed files: ``images.read``, ``srcnn enhance``, ``srcnn prepare`` and the web API.

Inputs are valid small files of every readable format and mode (generated here), the crafted files in
``tests/corpus/`` and seeded mutations of both: bit flips, truncation, structure-aware edits (PNG chunk lengths,
CRCs and IHDR fields with a fixed CRC, JPEG SOF sizes and segment lengths, GIF/BMP/TIFF/WebP header sizes),
splices, random bytes and text, under right or wrong file extensions. Input ``i`` of a path depends only on
``--seed``, the path and ``i``, so a failure is reproduced with ``--only PATH:I``.

The oracle, per input: no exception other than ImageError out of ``read`` (the CLI: exit 0 or 1, the refusal
one line on stderr that names the file, never "Traceback"; the API: 200 or a 4xx with a one-line JSON error);
no input over ``--timeout`` CPU seconds (or 3x that in wall time); no partial output: every file left in the
output folder decodes fully, nothing is written for a refused input and no temporary file is left behind; the
input file is never changed.

    python benchmarks/fuzz.py                      # 10,000 inputs per path (several minutes)
    python benchmarks/fuzz.py -n 300 --paths read  # a quick look
    python benchmarks/fuzz.py --write-corpus tests/corpus   # regenerate the crafted corpus
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import shutil
import signal
import struct
import sys
import tempfile
import threading
import time
import traceback
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "corpus"
PATHS = ("read", "enhance", "prepare", "web", "folder")
# What the CLI picks up in a folder (the one list in srcnn.images), and what it writes
CLI_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".gif", ".tga", ".ppm", ".pgm", ".ico",
                  ".psd", ".jp2", ".qoi", ".pcx", ".sgi")
OUTPUT_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")
# An input is a hang when it needs more than the limit in CPU seconds (other processes on a busy machine do not
# count), or more than WALL_FACTOR times the limit in wall seconds (a deadlock; an alarm stops Python code there).
WALL_FACTOR = 3
FUZZ_MAX_PIXELS = 1_000_000  # --max-pixels of enhance/prepare and the API's limit here (bounds the work per input)

# --------------------------------------------------------------------------------------------------------------
# Valid seed files


@dataclass(frozen=True)
class Sample:
    """One fuzz input: a file name (its extension is what the CLI sees), the bytes, and how it was made."""

    name: str
    data: bytes
    how: str


def _pattern(h: int, w: int, c: int, seed: int = 0) -> np.ndarray:
    """A small uint8 image with structure (gradients + noise), HxW or HxWxC."""
    r = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    planes = [(xx * 37 + yy * 23 + k * 80 + r.integers(0, 30, (h, w))) % 256 for k in range(c)]
    arr = np.stack(planes, -1).astype(np.uint8)
    return arr[:, :, 0] if c == 1 else arr


def _save(img: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def _exif_with(orientation: int | None = None, extra: dict[int, object] | None = None) -> bytes:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    exif[0x010F] = "srcnn-fuzz"  # Make
    for k, v in (extra or {}).items():
        exif[k] = v
    return exif.tobytes()


def seed_files() -> list[Sample]:
    """Valid small files of every readable format and mode (deterministic)."""
    from srcnn.images import Picture, encode

    out: list[Sample] = []

    def add(name: str, data: bytes) -> None:
        out.append(Sample(name, data, f"seed {name}"))

    rgb, gray = Image.fromarray(_pattern(6, 8, 3)), Image.fromarray(_pattern(6, 8, 1))
    rgba = Image.fromarray(np.dstack([_pattern(6, 8, 3), _pattern(6, 8, 1, 1)]))
    la = Image.fromarray(np.dstack([_pattern(6, 8, 1), _pattern(6, 8, 1, 2)]))
    pal = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    i16 = Image.fromarray(_pattern(6, 8, 1).astype(np.uint16) * 257)
    i32 = Image.fromarray(_pattern(6, 8, 1).astype(np.int32) * 1000 - 5000)
    f32 = Image.fromarray(_pattern(6, 8, 1).astype(np.float32) / 255.0)
    cmyk = rgb.convert("CMYK")
    bw = gray.convert("1")
    frames = [Image.fromarray(_pattern(6, 8, 3, s)) for s in range(3)]
    deep = _pattern(6, 8, 3).astype(np.uint16) * 257 + 3

    add("rgb.png", _save(rgb, "PNG"))
    add("rgba.png", _save(rgba, "PNG"))
    add("gray.png", _save(gray, "PNG"))
    add("la.png", _save(la, "PNG"))
    add("p.png", _save(pal, "PNG"))
    add("p_trns.png", _save(pal, "PNG", transparency=0))
    add("rgb_trns.png", _save(rgb, "PNG", transparency=(0, 0, 0)))
    add("bw.png", _save(bw, "PNG"))
    add("i16.png", _save(i16, "PNG"))
    add("rgb16.png", encode(Picture(deep), "PNG"))
    add("rgba16.png", encode(Picture(deep, deep[:, :, 0]), "PNG"))
    add("la16.png", encode(Picture(deep[:, :, :1], deep[:, :, 1]), "PNG"))
    add("exif6.png", _save(rgb, "PNG", exif=_exif_with(6)))
    add("apng.png", _save(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=50, loop=0))
    add("1x1.png", _save(Image.new("RGB", (1, 1), (200, 10, 30)), "PNG"))
    add("1x9.png", _save(Image.fromarray(_pattern(9, 1, 3)), "PNG"))
    add("9x1.png", _save(Image.fromarray(_pattern(1, 9, 3)), "PNG"))
    add("rgb.jpg", _save(rgb, "JPEG", quality=90))
    add("gray.jpg", _save(gray, "JPEG", quality=90))
    add("cmyk.jpg", _save(cmyk, "JPEG", quality=90))
    add("progressive.jpg", _save(rgb, "JPEG", quality=80, progressive=True))
    for o in range(1, 9):
        add(f"exif{o}.jpg", _save(rgb, "JPEG", quality=90, exif=_exif_with(o)))
    add("rgb.tif", _save(rgb, "TIFF"))
    add("rgb_lzw.tif", _save(rgb, "TIFF", compression="tiff_lzw"))
    add("rgb_deflate.tif", _save(rgb, "TIFF", compression="tiff_adobe_deflate"))
    add("rgb_packbits.tif", _save(rgb, "TIFF", compression="packbits"))
    add("rgba.tif", _save(rgba, "TIFF"))
    add("cmyk.tif", _save(cmyk, "TIFF"))
    add("i16.tif", _save(i16, "TIFF"))
    add("i32.tif", _save(i32, "TIFF"))
    add("f32.tif", _save(f32, "TIFF"))
    add("bw.tif", _save(bw, "TIFF"))
    add("p.tif", _save(pal, "TIFF"))
    add("la.tif", _save(la, "TIFF"))
    add("rgb16.tif", encode(Picture(deep), "TIFF"))
    add("pages.tif", _save(frames[0], "TIFF", save_all=True, append_images=frames[1:]))
    add("exif3.tif", _save(rgb, "TIFF", exif=_exif_with(3)))
    add("rgb.webp", _save(rgb, "WEBP", quality=80))
    add("rgba_lossless.webp", _save(rgba, "WEBP", lossless=True))
    add("anim.webp", _save(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=50, lossless=True))
    add("exif8.webp", _save(rgb, "WEBP", quality=80, exif=_exif_with(8)))
    add("p.gif", _save(pal, "GIF"))
    add("p_trns.gif", _save(pal, "GIF", transparency=0))
    add("anim.gif", _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0))
    add("rgb.bmp", _save(rgb, "BMP"))
    add("p.bmp", _save(pal, "BMP"))
    add("bw.bmp", _save(bw, "BMP"))
    add("rgba.bmp", _save(rgba, "BMP"))
    add("rgb.ppm", _save(rgb, "PPM"))
    add("rgb.tga", _save(rgb, "TGA"))
    add("rgb_rle.tga", _save(rgb, "TGA", compression="tga_rle"))
    add("rgb.pcx", _save(rgb, "PCX"))
    add("rgb.sgi", _save(rgb, "SGI"))
    add("rgba.ico", _save(rgba.resize((8, 8)), "ICO", sizes=[(8, 8)]))
    # a valid ICO whose directory looks like a TGA header (read once tried TGA first and refused it)
    add("rgba128_bmp.ico", _save(Image.fromarray(np.dstack([_pattern(128, 128, 3), _pattern(128, 128, 1, 3)])),
                                 "ICO", sizes=[(128, 128)], bitmap_format="bmp"))
    add("bw_trns.png", _save(bw, "PNG", transparency=0))  # 1-bit with a transparency key
    add("rgba16_assoc.tif", _tiff_associated(encode(Picture(deep, deep[:, :, 0]), "TIFF")))  # premultiplied
    add("gray.pgm", _save(gray, "PPM"))
    add("rgb.psd", _psd(_pattern(6, 8, 3)))
    with contextlib.suppress(KeyError, OSError):  # Pillow built without OpenJPEG
        add("rgb.jp2", _save(rgb, "JPEG2000"))
    with contextlib.suppress(KeyError, OSError):  # QOI writing needs Pillow >= 11.3
        add("rgb.qoi", _save(rgb, "QOI"))
    return out


def _tiff_associated(data: bytes) -> bytes:
    """The same TIFF with its alpha marked associated (premultiplied; ExtraSamples 2 -> 1), values scaled to match."""
    from srcnn.images import read

    pic = read(data)
    from srcnn.images import encode_tiff16

    stored = np.rint(pic.pixels.astype(np.float64) * pic.alpha[:, :, None] / 65535).astype(np.uint16)
    out = encode_tiff16(stored, pic.alpha, None)
    at = out.index(struct.pack("<HHI", 338, 3, 1))
    return out[: at + 8] + struct.pack("<H", 1) + out[at + 10 :]


def _psd(rgb: np.ndarray) -> bytes:
    """A minimal 8-bit RGB Photoshop file (no layers, raw planes), which Pillow reads but cannot write."""
    h, w, c = rgb.shape
    head = b"8BPS" + struct.pack(">H6xHIIHH", 1, c, h, w, 8, 3) + struct.pack(">III", 0, 0, 0)
    return head + struct.pack(">H", 0) + np.ascontiguousarray(rgb.transpose(2, 0, 1)).tobytes()


def _tiff_short_strip(data: bytes) -> bytes:
    """A deflate TIFF whose StripByteCounts claims 1000 bytes more than the file holds (libtiff prints on fd 2)."""
    b = bytearray(data)
    (ifd,) = struct.unpack("<I", b[4:8])
    for i in range(struct.unpack("<H", b[ifd : ifd + 2])[0]):
        at = ifd + 2 + 12 * i
        if struct.unpack("<H", b[at : at + 2])[0] == 279:
            b[at + 8 : at + 12] = struct.pack("<I", struct.unpack("<I", b[at + 8 : at + 12])[0] + 1000)
    return bytes(b)


# --------------------------------------------------------------------------------------------------------------
# The crafted corpus (tests/corpus): written once by --write-corpus, checked in; expectations in expect.json


def png_bytes(chunks: list[tuple[bytes, bytes]]) -> bytes:
    """A PNG file of these (type, data) chunks, CRCs computed (no check of what they say)."""
    return PNG_SIG + b"".join(_chunk(t, d) for t, d in chunks)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def ihdr_data(w: int, h: int, depth: int = 8, color: int = 2, interlace: int = 0) -> bytes:
    """The 13 data bytes of an IHDR chunk (any values, valid or not)."""
    return struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, interlace)


def crafted_corpus() -> dict[str, tuple[bytes, dict]]:
    """name -> (bytes, expectation) of the hand-made corpus files."""
    files: dict[str, tuple[bytes, dict]] = {}
    seeds = {s.name: s.data for s in seed_files()}

    def ok(name: str, data: bytes, size: tuple[int, int], **extra: object) -> None:
        files[name] = (data, {"outcome": "ok", "size": list(size), **extra})

    def bad(name: str, data: bytes, reason: str) -> None:
        files[name] = (data, {"outcome": "refused", "reason": reason})

    def either(name: str, data: bytes) -> None:
        files[name] = (data, {"outcome": "either"})

    # decompression bombs: the header alone declares a huge image (refused before any pixel is decoded)
    tiny_idat = zlib.compress(b"\x00" * 64)
    bad("bomb_png_100000x100000.png", png_bytes([(b"IHDR", ihdr_data(100000, 100000)), (b"IDAT", tiny_idat),
                                            (b"IEND", b"")]), "over the limit")
    bad("bomb_png_1x4000000000.png", png_bytes([(b"IHDR", ihdr_data(1, 4_000_000_000, 1, 0)), (b"IDAT", tiny_idat),
                                           (b"IEND", b"")]), "over the limit")
    gif = bytearray(seeds["p.gif"])
    gif[6:10] = struct.pack("<HH", 65535, 65535)
    desc = gif.index(b"\x2c", 13 + 3 * 2 ** ((gif[10] & 7) + 1) if gif[10] & 0x80 else 13)
    gif[desc + 5 : desc + 9] = struct.pack("<HH", 65535, 65535)
    bad("bomb_gif_65535x65535.gif", bytes(gif), "over the limit")
    jpg = bytearray(seeds["rgb.jpg"])
    sof = jpg.index(b"\xff\xc0")
    jpg[sof + 5 : sof + 9] = struct.pack(">HH", 65500, 65500)
    bad("bomb_jpeg_65500x65500.jpg", bytes(jpg), "over the limit")
    bmp = bytearray(seeds["rgb.bmp"])
    bmp[18:26] = struct.pack("<ii", 60000, 60000)
    bad("bomb_bmp_60000x60000.bmp", bytes(bmp), "")
    webp = bytearray(seeds["rgba_lossless.webp"])  # VP8L: 14-bit width-1 and height-1 after the 0x2f signature
    sig = webp.index(b"VP8L") + 8
    webp[sig + 1 : sig + 5] = struct.pack("<I", (16383) | (16383 << 14) | (1 << 28))
    bad("bomb_webp_16384x16384.webp", bytes(webp), "over the limit")
    tif = bytearray(seeds["rgb.tif"])
    _tiff_set(tif, 256, 200_000)
    _tiff_set(tif, 257, 200_000)
    bad("bomb_tiff_200000x200000.tif", bytes(tif), "over the limit")

    # broken files
    bad("empty.png", b"", "empty")
    bad("text.jpg", b"This is not a picture, just a note someone named .jpg\n", "not a recognised image")
    bad("random.png", np.random.default_rng(7).integers(0, 256, 512, dtype=np.uint8).tobytes(), "")
    bad("signature_only.png", PNG_SIG, "")
    png = seeds["rgb.png"]
    bad("truncated_half_png.png", png[: len(png) // 2], "")
    bad("truncated_half_jpg.jpg", seeds["rgb.jpg"][: len(seeds["rgb.jpg"]) // 2], "")
    bad("truncated_half_tif.tif", seeds["rgb.tif"][: len(seeds["rgb.tif"]) // 2], "")
    bad("truncated_half_webp.webp", seeds["rgb.webp"][: len(seeds["rgb.webp"]) // 2], "")
    bad("truncated_half_gif.gif", seeds["p.gif"][: len(seeds["p.gif"]) // 2], "")
    bad("truncated_half_bmp.bmp", seeds["rgb.bmp"][: len(seeds["rgb.bmp"]) // 2], "")
    chunks = png_chunks(png) or []
    bad_crc = bytearray(png)
    bad_crc[8 + 8 + 13] ^= 0xFF  # IHDR's CRC
    bad("png_bad_ihdr_crc.png", bytes(bad_crc), "")
    huge_len = bytearray(png)
    idat_at = png.index(b"IDAT") - 4
    huge_len[idat_at : idat_at + 4] = b"\xff\xff\xff\xf0"
    either("png_idat_length_4gb.png", bytes(huge_len))  # Pillow reads on to the end of the file: the data is whole
    bad("png_zero_width.png", png_bytes([(b"IHDR", ihdr_data(0, 6)), *[c for c in chunks if c[0] != b"IHDR"]]), "")
    bad("png_bad_depth.png",
        png_bytes([(b"IHDR", ihdr_data(8, 6, depth=7)), *[c for c in chunks if c[0] != b"IHDR"]]), "")
    # The zlib stream ends before the rows do: Pillow (like libpng viewers) pads the missing rows with zeros.
    either("png_ihdr_taller_than_data.png",
           png_bytes([(b"IHDR", ihdr_data(8, 600)), *[c for c in chunks if c[0] != b"IHDR"]]))
    bad("tiff_short_strip.tif", _tiff_short_strip(seeds["rgb_deflate.tif"]), "TIFFFillStrip")
    bad("png_no_idat.png", png_bytes([c for c in chunks if c[0] != b"IDAT"]), "")
    raw = zlib.decompress(b"".join(d for t, d in chunks if t == b"IDAT"))
    bad("png_bad_filter_type.png", png_bytes([c for c in chunks if c[0] == b"IHDR"]
                                        + [(b"IDAT", zlib.compress(b"\x09" + raw[1:])), (b"IEND", b"")]), "")
    either("png_missing_iend.png", png_bytes([c for c in chunks if c[0] != b"IEND"]))
    jpg = seeds["rgb.jpg"]
    either("jpeg_no_eoi.jpg", jpg[:-2])
    bad("jpeg_sof_zero_height.jpg", _jpeg_sof(jpg, 0, 8), "")

    # odd modes and sizes, animations, EXIF
    for name, size in [("1x1.png", (1, 1)), ("1x9.png", (1, 9)), ("9x1.png", (9, 1)), ("p.png", (8, 6)),
                       ("la.png", (8, 6)), ("bw.png", (8, 6)), ("i16.png", (8, 6)), ("i32.tif", (8, 6)),
                       ("f32.tif", (8, 6)), ("cmyk.jpg", (8, 6)), ("cmyk.tif", (8, 6)), ("la16.png", (8, 6)),
                       ("rgb16.tif", (8, 6)), ("p.bmp", (8, 6)), ("rgba.bmp", (8, 6)),
                       ("rgba128_bmp.ico", (128, 128)), ("bw_trns.png", (8, 6)), ("rgba16_assoc.tif", (8, 6)),
                       ("p.gif", (8, 6)), ("rgb.tga", (8, 6)), ("rgb.ppm", (8, 6)), ("gray.pgm", (8, 6)),
                       ("rgb.psd", (8, 6)), ("rgb.jp2", (8, 6)), ("rgb.qoi", (8, 6)), ("rgb.pcx", (8, 6)),
                       ("rgb.sgi", (8, 6))]:
        if name not in seeds:  # an optional Pillow part (OpenJPEG, QOI writing) is missing here
            continue
        stem, ext = name.rsplit(".", 1)
        extra = {"rgba128_bmp.ico": {"alpha": True}, "bw_trns.png": {"alpha": True},
                 "rgba16_assoc.tif": {"alpha": True, "bits": 16}}.get(name, {})
        ok(f"mode_{stem}_{ext}.{ext}", seeds[name], size, **extra)  # unique stems: enhance outputs never collide
    ok("anim.gif", seeds["anim.gif"], (8, 6), first_frame=True)
    ok("apng.png", seeds["apng.png"], (8, 6), first_frame=True)
    ok("anim.webp", seeds["anim.webp"], (8, 6), first_frame=True)
    ok("pages.tif", seeds["pages.tif"], (8, 6), first_frame=True)
    for o in range(1, 9):
        ok(f"exif_orientation_{o}.jpg", seeds[f"exif{o}.jpg"], (8, 6) if o < 5 else (6, 8), orientation=o)
    rgb = Image.fromarray(_pattern(6, 8, 3))
    one_row, one_col = Image.fromarray(_pattern(1, 9, 3)), Image.fromarray(_pattern(9, 1, 3))
    # a flip along a length-1 axis: the decoded array must still be a plain C array (no negative stride)
    ok("exif_orientation_4_one_row.jpg", _save(one_row, "JPEG", quality=90, exif=_exif_with(4)), (9, 1))
    ok("exif_orientation_2_one_column.jpg", _save(one_col, "JPEG", quality=90, exif=_exif_with(2)), (1, 9))
    ok("exif_orientation_4_one_row_png.png", _save(one_row, "PNG", exif=_exif_with(4)), (9, 1))
    for o in (0, 9, 65535):
        ok(f"exif_orientation_bad_{o}.jpg", _save(rgb, "JPEG", quality=90, exif=_exif_with(o)), (8, 6))
    ok("exif_garbage.jpg", _save(rgb, "JPEG", quality=90, exif=b"Exif\x00\x00" + b"\x13\x37" * 40), (8, 6))
    broken = bytearray(_exif_with(6))
    broken[10:14] = b"\xff\xff\xff\x7f"  # IFD0 offset far past the end
    ok("exif_bad_ifd_offset.jpg", _save(rgb, "JPEG", quality=90, exif=bytes(broken)), (8, 6))
    loop = bytearray(_exif_with(6, {0x8769: {0x9003: "2020:01:01 00:00:00"}}))
    ok("exif_subifd.jpg", _save(rgb, "JPEG", quality=90, exif=bytes(loop)), (6, 8))
    ok("exif_png_chunk_garbage.png", png_bytes([*[c for c in chunks if c[0] == b"IHDR"], (b"eXIf", b"MM\x00*garbage"),
                                           *[c for c in chunks if c[0] != b"IHDR"]]), (8, 6))
    return files


def _jpeg_sof(data: bytes, h: int, w: int) -> bytes:
    b = bytearray(data)
    sof = b.index(b"\xff\xc0")
    b[sof + 5 : sof + 9] = struct.pack(">HH", h, w)
    return bytes(b)


def write_corpus(folder: Path) -> None:
    """Write the crafted corpus files and expect.json into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    expect = {}
    for name, (data, what) in sorted(crafted_corpus().items()):
        (folder / name).write_bytes(data)
        expect[name] = what
    (folder / "expect.json").write_text(json.dumps(expect, indent=1, sort_keys=True) + "\n")
    total = sum(p.stat().st_size for p in folder.iterdir())
    print(f"wrote {len(expect)} files, {total / 1024:.1f} KiB, to {folder}")


def corpus_files(folder: Path = CORPUS) -> list[Sample]:
    """The checked-in crafted files (empty when the folder is absent)."""
    if not folder.is_dir():
        return []
    return [Sample(p.name, p.read_bytes(), f"corpus {p.name}") for p in sorted(folder.iterdir())
            if p.is_file() and p.name != "expect.json" and not p.name.startswith(".")]


# --------------------------------------------------------------------------------------------------------------
# Mutators

PNG_SIG = b"\x89PNG\r\n\x1a\n"
INTERESTING_U32 = (0, 1, 2, 7, 255, 256, 65535, 65536, 100000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
INTERESTING_U16 = (0, 1, 2, 255, 256, 0x7FFF, 0x8000, 0xFFFF)
INTERESTING_U8 = (0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 0x7F, 0x80, 0xFF)


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]] | None:
    """The (type, payload) chunks of a well-formed PNG, or None."""
    if not data.startswith(PNG_SIG):
        return None
    chunks, at = [], 8
    while at + 12 <= len(data):
        (n,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        if at + 12 + n > len(data):
            return None
        chunks.append((kind, data[at + 8 : at + 8 + n]))
        at += 12 + n
    return chunks or None


def _sniff(data: bytes) -> str:
    if data.startswith(PNG_SIG):
        return "png"
    if data.startswith(b"\xff\xd8"):
        return "jpeg"
    if data[:4] in (b"GIF8",):
        return "gif"
    if data.startswith(b"BM"):
        return "bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return "other"


def m_bitflip(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 4, 8))):
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


def m_interesting(rng: random.Random, data: bytes) -> bytes:
    if len(data) < 4:
        return data
    b = bytearray(data)
    i = rng.randrange(len(b) - 3)
    kind = rng.randrange(3)
    if kind == 0:
        b[i] = rng.choice(INTERESTING_U8)
    elif kind == 1:
        b[i : i + 2] = struct.pack(rng.choice("<>") + "H", rng.choice(INTERESTING_U16))
    else:
        b[i : i + 4] = struct.pack(rng.choice("<>") + "I", rng.choice(INTERESTING_U32))
    return bytes(b)


def m_truncate(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    return data[: rng.randrange(len(data))]


def m_delete(rng: random.Random, data: bytes) -> bytes:
    if len(data) < 2:
        return data
    i = rng.randrange(len(data))
    return data[:i] + data[i + rng.randint(1, min(64, len(data) - i)) :]


def m_insert(rng: random.Random, data: bytes) -> bytes:
    i = rng.randrange(len(data) + 1)
    junk = rng.choice([bytes(rng.randrange(256) for _ in range(rng.randint(1, 32))), b"\x00" * rng.randint(1, 512),
                       b"\xff" * rng.randint(1, 64)])
    return data[:i] + junk + data[i:]


def m_duplicate(rng: random.Random, data: bytes) -> bytes:
    if len(data) < 2:
        return data
    i = rng.randrange(len(data))
    j = min(len(data), i + rng.randint(1, 256))
    return data[:j] + data[i:j] * rng.randint(1, 4) + data[j:]


def m_png(rng: random.Random, data: bytes) -> bytes:
    """Structure-aware PNG edits; chunk CRCs stay valid unless the edit is about them."""
    chunks = png_chunks(data)
    if not chunks:
        return m_bitflip(rng, data)
    op = rng.randrange(10)
    k = rng.randrange(len(chunks))
    kind, payload = chunks[k]
    if op == 0:  # IHDR sizes
        ihdr = bytearray(chunks[0][1])
        if len(ihdr) >= 8:
            ihdr[rng.choice((0, 4)) : rng.choice((0, 4)) + 4] = struct.pack(">I", rng.choice(INTERESTING_U32))
            if rng.random() < 0.5:
                ihdr[0:8] = struct.pack(">II", rng.choice((1, 2, 3, 5, 9, 100, 1000, 10000)),
                                        rng.choice((1, 2, 3, 5, 9, 100, 1000, 10000)))
        chunks[0] = (chunks[0][0], bytes(ihdr))
        return png_bytes(chunks)
    if op == 1:  # IHDR depth, colour type, compression, filter, interlace
        ihdr = bytearray(chunks[0][1])
        if len(ihdr) >= 13:
            ihdr[rng.randrange(8, 13)] = rng.choice(INTERESTING_U8 + (6,))
        chunks[0] = (chunks[0][0], bytes(ihdr))
        return png_bytes(chunks)
    if op == 2:  # a chunk's length field
        raw = bytearray(png_bytes(chunks))
        at = 8 + sum(12 + len(d) for _, d in chunks[:k])
        raw[at : at + 4] = struct.pack(">I", rng.choice((*INTERESTING_U32, len(payload) + 1, max(0, len(payload) - 1))))
        return bytes(raw)
    if op == 3:  # a CRC
        raw = bytearray(png_bytes(chunks))
        at = 8 + sum(12 + len(d) for _, d in chunks[: k + 1]) - 1
        raw[at] ^= 0x5A
        return bytes(raw)
    if op == 4:  # pixel data: re-deflated with flipped bytes (reaches the unfilter code)
        idat = b"".join(d for t, d in chunks if t == b"IDAT")
        try:
            raw = bytearray(zlib.decompress(idat))
        except zlib.error:
            return m_bitflip(rng, data)
        for _ in range(rng.randint(1, 4)):
            if raw:
                raw[rng.randrange(len(raw))] = rng.randrange(256)
        if rng.random() < 0.3:
            raw = raw[: rng.randrange(len(raw) + 1)]
        first = next(i for i, c in enumerate(chunks) if c[0] == b"IDAT") if any(
            t == b"IDAT" for t, _ in chunks) else 1
        rest = [c for c in chunks if c[0] != b"IDAT"]
        rest.insert(min(first, len(rest)), (b"IDAT", zlib.compress(bytes(raw))))
        return png_bytes(rest)
    if op == 5:  # drop or duplicate a chunk
        if rng.random() < 0.5:
            del chunks[k]
        else:
            chunks.insert(k, chunks[k])
        return png_bytes(chunks)
    if op == 6:  # an unknown chunk, critical or ancillary, or a known one with garbage inside
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(0, 40)))
        kind = rng.choice((b"abCD", b"ABCD", b"eXIf", b"iCCP", b"zTXt", b"tRNS", b"PLTE", b"acTL", b"fcTL", b"sBIT",
                           b"gAMA", b"pHYs", b"iTXt"))
        chunks.insert(rng.randint(1, len(chunks)), (kind, junk))
        return png_bytes(chunks)
    if op == 7:  # bit flips inside one chunk, CRC fixed
        chunks[k] = (kind, m_bitflip(rng, payload) if payload else payload)
        return png_bytes(chunks)
    if op == 8:  # APNG control chunks
        for i, (t, d) in enumerate(chunks):
            if t in (b"acTL", b"fcTL") and len(d) >= 8:
                b = bytearray(d)
                at = rng.randrange(0, len(b) - 3)
                b[at : at + 4] = struct.pack(">I", rng.choice(INTERESTING_U32))
                chunks[i] = (t, bytes(b))
                return png_bytes(chunks)
        return m_bitflip(rng, data)
    raw = png_bytes(chunks)  # truncate at a chunk boundary, give or take a few bytes
    at = 8 + sum(12 + len(d) for _, d in chunks[:k]) + rng.choice((0, 0, 4, 8, -1, 1))
    return raw[: max(0, at)]


def _jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, offset of the marker, segment length) up to SOS."""
    segs, at = [], 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        (n,) = struct.unpack(">H", data[at + 2 : at + 4])
        segs.append((marker, at, n))
        if marker == 0xDA:
            break
        at += 2 + n
    return segs


def m_jpeg(rng: random.Random, data: bytes) -> bytes:
    segs = _jpeg_segments(data)
    if not segs:
        return m_bitflip(rng, data)
    b = bytearray(data)
    op = rng.randrange(6)
    sofs = [s for s in segs if 0xC0 <= s[0] <= 0xCF and s[0] not in (0xC4, 0xC8, 0xCC)]
    if op == 0 and sofs:  # image size
        at = sofs[0][1]
        b[at + 5 : at + 9] = struct.pack(">HH", rng.choice(INTERESTING_U16 + (6, 8, 3000)),
                                         rng.choice(INTERESTING_U16 + (6, 8, 3000)))
    elif op == 1 and sofs:  # precision, component count, sampling factors, table ids
        at = sofs[0][1]
        i = rng.choice([at + 4, at + 9, *range(at + 10, min(len(b), at + 2 + sofs[0][2]))])
        if i < len(b):
            b[i] = rng.choice(INTERESTING_U8 + (0x11, 0x22, 0x41, 0x14))
    elif op == 2:  # a segment length
        _, at, _ = rng.choice(segs)
        b[at + 2 : at + 4] = struct.pack(">H", rng.choice(INTERESTING_U16 + (2, 3)))
    elif op == 3:  # inside a table or the EXIF block
        _, at, n = rng.choice(segs)
        for _ in range(rng.randint(1, 6)):
            i = at + 4 + rng.randrange(max(1, n - 2))
            if i < len(b):
                b[i] = rng.randrange(256)
    elif op == 4:  # entropy-coded data cut or damaged
        sos = segs[-1][1] + 2 + segs[-1][2]
        if sos < len(b):
            if rng.random() < 0.5:
                return bytes(b[: rng.randrange(sos, len(b))])
            for _ in range(rng.randint(1, 8)):
                b[rng.randrange(sos, len(b))] = rng.randrange(256)
    else:  # drop a segment
        _, at, n = rng.choice(segs)
        del b[at : at + 2 + n]
    return bytes(b)


def m_header(rng: random.Random, data: bytes) -> bytes:
    """Sizes and layout fields in GIF/BMP/WebP/TIFF headers."""
    fmt = _sniff(data)
    b = bytearray(data)
    if fmt == "gif" and len(b) >= 13:
        places = [6, 8]
        flags = b[10]
        desc = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
        with contextlib.suppress(ValueError):
            desc = b.index(b"\x2c", desc)
            places += [desc + 1, desc + 3, desc + 5, desc + 7]
        at = rng.choice(places)
        if at + 2 <= len(b):
            b[at : at + 2] = struct.pack("<H", rng.choice(INTERESTING_U16 + (6, 8, 20000)))
        if rng.random() < 0.3 and desc + 10 < len(b):
            b[desc + 10] = rng.choice(INTERESTING_U8)  # LZW minimum code size or local table flags
    elif fmt == "bmp" and len(b) >= 54:
        at = rng.choice((2, 10, 14, 18, 22, 26, 28, 30, 34, 46))
        size = 2 if at in (26, 28) else 4
        values = INTERESTING_U16 if size == 2 else INTERESTING_U32 + (0xFFFFFFFA, 20000)
        b[at : at + size] = struct.pack("<H" if size == 2 else "<I", rng.choice(values))
    elif fmt == "webp" and len(b) >= 30:
        at = rng.choice((4, 16, 20, 21, 23, 24, 26, 27, 28))
        b[at : at + 2] = struct.pack("<H", rng.choice(INTERESTING_U16 + (16383,)))
    elif fmt == "tiff":
        tag = rng.choice((256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 317, 320, 338, 339, 322, 323, 324, 325))
        if not _tiff_set(b, tag, rng.choice(INTERESTING_U32 + (3, 4, 5, 6, 7, 8, 16, 32, 32773, 32946, 5000))):
            return m_interesting(rng, data)
    else:
        return m_interesting(rng, data)
    return bytes(b)


def _tiff_set(b: bytearray, tag: int, value: int) -> bool:
    """Set a first-IFD entry's value in place (SHORT/LONG inline values only); False if absent."""
    if len(b) < 8 or b[:2] not in (b"II", b"MM"):
        return False
    e = "<" if b[:2] == b"II" else ">"
    (ifd,) = struct.unpack(e + "I", b[4:8])
    if ifd + 2 > len(b):
        return False
    (n,) = struct.unpack(e + "H", b[ifd : ifd + 2])
    for i in range(n):
        at = ifd + 2 + 12 * i
        if at + 12 > len(b):
            return False
        t, kind, _count = struct.unpack(e + "HHI", b[at : at + 8])
        if t == tag:
            if kind == 3:
                b[at + 8 : at + 10] = struct.pack(e + "H", value & 0xFFFF)
            else:
                b[at + 8 : at + 12] = struct.pack(e + "I", value & 0xFFFFFFFF)
            return True
    return False


MUTATORS: tuple[Callable[[random.Random, bytes], bytes], ...] = (
    m_bitflip, m_bitflip, m_interesting, m_truncate, m_delete, m_insert, m_duplicate, m_header,
)


def mutate(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    """1-3 mutations, structure-aware where the format is known; -> (bytes, names)."""
    names = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        fmt = _sniff(data)
        if fmt == "png" and rng.random() < 0.6:
            fn = m_png
        elif fmt == "jpeg" and rng.random() < 0.6:
            fn = m_jpeg
        else:
            fn = rng.choice(MUTATORS)
        data = fn(rng, data)
        names.append(fn.__name__[2:])
    return data, "+".join(names)


_EXT_OF = {"png": ".png", "jpeg": ".jpg", "gif": ".gif", "bmp": ".bmp", "tiff": ".tif", "webp": ".webp"}


def make_input(pool: list[Sample], seed: int, path: str, i: int) -> Sample:
    """Input ``i`` of ``path``: the pool verbatim first, then mutations, splices, random bytes and text."""
    rng = random.Random(f"{seed}/{path}/{i}")
    if i < len(pool):
        base = pool[i]
        return Sample(base.name, base.data, base.how)
    r = rng.random()
    if r < 0.02:
        data, how = bytes(rng.randrange(256) for _ in range(rng.randint(0, 300))), "random bytes"
    elif r < 0.03:
        data, how = rng.choice([b"", b"\n", b"hello\n", "caf\u00e9 \u2615\n".encode(), b"<svg></svg>",
                                b"%PDF-1.4\n", b"GIF89a", PNG_SIG, b"\xff\xd8\xff"]), "text/stub"
    elif r < 0.08:
        a, b = rng.choice(pool), rng.choice(pool)
        cut_a, cut_b = rng.randrange(len(a.data) + 1), rng.randrange(len(b.data) + 1)
        data, how = a.data[:cut_a] + b.data[cut_b:], f"splice {a.name}+{b.name}"
    else:
        base = rng.choice(pool)
        data, names = mutate(rng, base.data)
        how = f"{base.name} {names}"
    ext = _EXT_OF.get(_sniff(data), ".png")
    if rng.random() < 0.25:  # the wrong extension (or one the CLI does not know)
        ext = rng.choice((*CLI_EXTENSIONS, ".gif", ".txt", ""))
    return Sample(f"in{i}{ext}", data, how)


# --------------------------------------------------------------------------------------------------------------
# Running one input per path, with the oracle


class Hang(BaseException):
    """Raised by the alarm when one input takes longer than the time limit."""


@dataclass
class Outcome:
    """What one input did on one path."""

    kind: str  # "accepted", "refused" or a failure: traceback, hang, partial, message, changed, server_error
    seconds: float
    detail: str = ""
    scenes: tuple[str, ...] = ()  # the folder path: which situations this input was put in


@dataclass
class Tally:
    """Counts per path."""

    inputs: int = 0
    accepted: int = 0
    refused: int = 0
    tracebacks: int = 0
    hangs: int = 0
    partial: int = 0
    bad_messages: int = 0
    changed_inputs: int = 0
    server_errors: int = 0  # the API answered 5xx with a clean JSON error
    c_stderr_lines: int = 0  # diagnostics C decoders (libtiff) print to fd 2 themselves, or warnings (read)
    slowest: float = 0.0
    slowest_cpu: float = 0.0
    slowest_input: str = ""
    failures: list[tuple[int, str, str, str]] = field(default_factory=list)  # (index, kind, how, detail)
    scenes: dict[str, int] = field(default_factory=dict)  # folder path: inputs per situation

    def add(self, i: int, sample: Sample, outcome: Outcome, warned: int) -> None:
        """Count one outcome."""
        self.inputs += 1
        self.c_stderr_lines += warned
        for scene in outcome.scenes:
            self.scenes[scene] = self.scenes.get(scene, 0) + 1
        if outcome.seconds > self.slowest:
            self.slowest, self.slowest_input = outcome.seconds, f"#{i} {sample.how}"
        key = {"accepted": "accepted", "refused": "refused", "traceback": "tracebacks", "hang": "hangs",
               "partial": "partial", "message": "bad_messages", "changed": "changed_inputs",
               "server_error": "server_errors"}[outcome.kind]
        setattr(self, key, getattr(self, key) + 1)
        if outcome.kind not in ("accepted", "refused"):
            self.failures.append((i, outcome.kind, sample.how, outcome.detail))

    @property
    def failed(self) -> int:
        """Inputs that broke a rule."""
        return (self.tracebacks + self.hangs + self.partial + self.bad_messages + self.changed_inputs
                + self.server_errors)


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise Hang in the main thread after ``seconds`` (Python-level hangs; C code is measured afterwards)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(_signum: int, _frame: object) -> None:
        raise Hang(f"over {seconds:g} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _one_line_ok(message: str) -> bool:
    return bool(message.strip()) and "\n" not in message.strip() and "Traceback" not in message


def _tb(e: BaseException) -> str:
    frames = traceback.extract_tb(e.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(e).__name__}: {str(e)[:200]}{where}"


def _decodes(path: Path) -> str | None:
    """None if the file decodes fully as an image, else why not."""
    from srcnn.images import ImageError, read

    try:
        read(path, max_pixels=None)
    except ImageError as e:
        return str(e)
    return None


def _leftovers(folder: Path) -> list[str]:
    """Problems with the files in an output folder: temporary files, files that do not decode."""
    problems = []
    for p in sorted(folder.rglob("*")):
        if p.is_dir():
            continue
        if p.name.startswith(".") or ".tmp" in p.name:
            problems.append(f"temporary file left: {p.name}")
        elif p.suffix.lower() in OUTPUT_EXTENSIONS:
            why = _decodes(p)
            if why is not None:
                problems.append(f"partial output {p.name}: {why}")
        elif p.stat().st_size == 0:
            problems.append(f"zero-byte file {p.name}")
    return problems


def run_read(sample: Sample, limit: float, max_pixels: int = FUZZ_MAX_PIXELS) -> Outcome:
    """images.read(bytes): a Picture within the limits, or ImageError with a one-line message."""
    from srcnn.images import ImageError, read

    t0 = time.perf_counter()
    try:
        with time_limit(limit):
            pic = read(sample.data, max_pixels=max_pixels)
    except Hang as e:
        return Outcome("hang", time.perf_counter() - t0, str(e))
    except ImageError as e:
        dt = time.perf_counter() - t0
        if not _one_line_ok(str(e)) or not str(e).startswith("<bytes>: "):
            return Outcome("message", dt, repr(str(e))[:300])
        return Outcome("refused", dt, str(e))
    except Exception as e:  # noqa: BLE001 - the oracle: any other exception is a failure
        return Outcome("traceback", time.perf_counter() - t0, _tb(e))
    dt = time.perf_counter() - t0
    px = pic.pixels
    problems = []
    if px.ndim != 3 or px.shape[2] not in (1, 3) or px.dtype not in (np.uint8, np.uint16) or min(px.shape[:2]) < 1:
        problems.append(f"bad pixels {px.shape} {px.dtype}")
    if not px.flags.c_contiguous or min(px.strides) < 0:
        problems.append(f"pixels not a plain C array (strides {px.strides})")  # torch.from_numpy refuses these
    if pic.alpha is not None and (pic.alpha.shape != px.shape[:2] or pic.alpha.dtype != px.dtype):
        problems.append(f"bad alpha {pic.alpha.shape} {pic.alpha.dtype}")
    if px.shape[0] * px.shape[1] > max_pixels:
        problems.append(f"{px.shape[1]}x{px.shape[0]} decoded despite max_pixels={max_pixels}")
    if problems:
        return Outcome("traceback", dt, "; ".join(problems))
    return Outcome("accepted", dt)


_C_STDERR: list[io.BufferedRandom] = []


@contextlib.contextmanager
def c_stderr() -> Iterator[list[str]]:
    """Collect what C code (libtiff, libjpeg) writes straight to file descriptor 2 into the yielded list."""
    if not _C_STDERR:
        _C_STDERR.append(tempfile.TemporaryFile())
    f = _C_STDERR[0]
    f.seek(0)
    f.truncate()
    lines: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(f.fileno(), 2)
    try:
        yield lines
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        f.seek(0)
        lines.extend(line for line in f.read().decode("utf-8", "replace").splitlines() if line.strip())


def _cli(argv: list[str], limit: float) -> tuple[int | None, str, BaseException | None]:
    """(exit code, Python-level stderr, escaped exception) of srcnn.cli.main(argv) in this process."""
    from srcnn.cli import main

    err = io.StringIO()
    code, escaped = None, None
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            with time_limit(limit):
                code = main(argv)
        except SystemExit as e:  # argparse
            code = e.code if isinstance(e.code, int) else 2
        except BaseException as e:  # noqa: BLE001 - the oracle
            escaped = e
    return code, err.getvalue(), escaped


def _clear(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


def run_enhance(sample: Sample, work: Path, limit: float) -> Outcome:
    """`srcnn enhance IN -o OUT -m bicubic -s 2`: a full 2x output, or exit 1 with one line naming the file."""
    from srcnn.images import ImageError, read

    src_dir, out_dir = work / "in", work / "out"
    _clear(src_dir)
    _clear(out_dir)
    src = src_dir / (sample.name or "noname")
    src.write_bytes(sample.data)
    before = src.stat().st_mtime_ns
    t0 = time.perf_counter()
    code, err, escaped = _cli(["enhance", str(src), "-o", str(out_dir), "-m", "bicubic", "-s", "2",
                               "--device", "cpu", "--max-pixels", str(FUZZ_MAX_PIXELS), "--quiet"], limit)
    dt = time.perf_counter() - t0
    if isinstance(escaped, Hang):
        outcome = Outcome("hang", dt, str(escaped))
    elif escaped is not None:
        outcome = Outcome("traceback", dt, _tb(escaped))
    elif "Traceback" in err:
        outcome = Outcome("traceback", dt, err[-300:])
    else:
        outcome = _enhance_verdict(code, err, src, out_dir, dt)
    if src.read_bytes() != sample.data or src.stat().st_mtime_ns != before:
        outcome = Outcome("changed", dt, "the input file was modified")
    if outcome.kind == "accepted":
        outs = [p for p in out_dir.rglob("*") if p.is_file()]
        try:
            want = read(src, max_pixels=FUZZ_MAX_PIXELS)  # (Pillow reads some TIFFs from a path, not from bytes)
            got = read(outs[0], max_pixels=None)
            if (got.height, got.width) != (2 * want.height, 2 * want.width):
                outcome = Outcome("partial", dt, f"{got.width}x{got.height} for {want.width}x{want.height}")
        except ImageError as e:
            outcome = Outcome("partial", dt, f"accepted but unreadable: {e}")
    return outcome


def _enhance_verdict(code: int | None, err: str, src: Path, out_dir: Path, dt: float) -> Outcome:
    problems = _leftovers(out_dir)
    outs = [p for p in out_dir.rglob("*") if p.is_file() and not p.name.startswith(".")]
    lines = [line for line in err.splitlines() if line.strip()]
    if problems:
        return Outcome("partial", dt, "; ".join(problems))
    if code == 0:
        if len(outs) != 1:
            return Outcome("partial", dt, f"exit 0 but {len(outs)} outputs")
        if lines:
            return Outcome("message", dt, f"exit 0 with stderr {err[:300]!r}")
        return Outcome("accepted", dt)
    if code == 1:
        if outs:
            return Outcome("partial", dt, f"refused but wrote {[p.name for p in outs]}")
        about = [line for line in lines if src.stem in line]  # names the input, or its output when writing failed
        summary = [line for line in lines if line.startswith("srcnn: 0 enhanced, 0 skipped")]
        if len(about) != 1 or not about[0].startswith("srcnn: skipped") or len(lines) != 2 or len(summary) != 1:
            return Outcome("message", dt, repr(err)[:300])
        return Outcome("refused", dt, about[0])
    if code == 2 and len(lines) == 1 and lines[0].startswith("srcnn: error:") and not outs:
        return Outcome("refused", dt, lines[0])
    return Outcome("message", dt, f"exit {code}: {err[:300]!r}")


def run_prepare(sample: Sample, work: Path, limit: float) -> Outcome:
    """`srcnn prepare PHOTOS OUT --size 16 --tile 8`: 4 full pairs, or the photo skipped in one line."""
    photos, out = work / "photos", work / "pairs"
    _clear(photos)
    if out.exists():
        shutil.rmtree(out)
    src = photos / (sample.name or "noname")
    src.write_bytes(sample.data)
    before = src.stat().st_mtime_ns
    t0 = time.perf_counter()
    code, err, escaped = _cli(["prepare", str(photos), str(out), "--size", "16", "--tile", "8", "--quiet",
                               "--max-pixels", str(FUZZ_MAX_PIXELS)], limit)
    dt = time.perf_counter() - t0
    lines = [line for line in err.splitlines() if line.strip()]
    pairs = sorted(out.rglob("*.png")) if out.exists() else []
    problems = _leftovers(out) if out.exists() else []
    if isinstance(escaped, Hang):
        outcome = Outcome("hang", dt, str(escaped))
    elif escaped is not None:
        outcome = Outcome("traceback", dt, _tb(escaped))
    elif "Traceback" in err:
        outcome = Outcome("traceback", dt, err[-300:])
    elif problems:
        outcome = Outcome("partial", dt, "; ".join(problems))
    elif code == 0:
        sizes = {Image.open(p).size for p in pairs}
        outcome = Outcome("accepted", dt) if len(pairs) == 4 and sizes == {(16, 8)} else Outcome(
            "partial", dt, f"{len(pairs)} pairs of sizes {sizes}")
    elif code == 1:
        if pairs:
            outcome = Outcome("partial", dt, f"skipped but wrote {len(pairs)} pairs")
        elif len(lines) != 1 or not lines[0].startswith(f"skipped {src.name}: "):
            outcome = Outcome("message", dt, repr(err)[:300])
        else:
            outcome = Outcome("refused", dt, lines[0])
    elif code == 2 and len(lines) == 1 and "no photos" in lines[0]:  # an extension prepare does not look at
        outcome = Outcome("refused", dt, lines[0])
    else:
        outcome = Outcome("message", dt, f"exit {code}: {err[:300]!r}")
    if src.read_bytes() != sample.data or src.stat().st_mtime_ns != before:
        outcome = Outcome("changed", dt, "the input file was modified")
    return outcome


def run_folder(sample: Sample, work: Path, limit: float, rng: random.Random) -> Outcome:
    """A folder run around one input: a twin with its stem (one output name for two inputs), a 238-255-byte name,
    -o inside the input tree run twice (--ext png, then jpg), a FIFO named directly. Exit 0 or 1, every stderr
    line a one-line note, refusal or the summary; the twin always enhanced; no output enhanced again, no partial
    or temporary file, no input changed."""
    tree = work / "tree"
    _clear(tree)
    out = tree / "out"
    ext = Path(sample.name).suffix
    with_twin = rng.random() < 0.7
    # output names of 238-255 bytes: stem + "_srcnn.png", or renamed stem + "_tiff_srcnn.png" (at most 15 more)
    stem = "in" if rng.random() < 0.6 else "n" * rng.randint(238 - 10, 255 - (15 if with_twin else 10))
    src = tree / f"{stem}{ext}"
    src.write_bytes(sample.data)
    twin = None
    if with_twin:  # same stem, another extension: both map to one output name
        twin_ext = rng.choice([e for e in (".png", ".bmp", ".gif", ".tif", ".jpg") if e != ext.lower()])
        twin = tree / f"{stem}{twin_ext}"
        twin.write_bytes(_save(Image.fromarray(_pattern(6, 8, 3, 5)), {".jpg": "JPEG", ".tif": "TIFF"}.get(
            twin_ext, twin_ext[1:].upper())))
    named = [str(tree)]
    fifo = None
    if hasattr(os, "mkfifo") and rng.random() < 0.2:
        fifo = work / "pipe.png"
        if fifo.exists():
            fifo.unlink()
        os.mkfifo(fifo)
        named.append(str(fifo))
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (src, twin) if p is not None}
    scenes = ("out_inside_tree", *(["twin"] if twin else []), *(["long_name"] if len(stem) > 2 else []),
              *(["fifo"] if fifo else []))
    outcome = _folder_runs(src, stem, ext, twin, fifo, named, out, limit)
    for p, (data, mtime) in before.items():
        if p.read_bytes() != data or p.stat().st_mtime_ns != mtime:
            outcome = Outcome("changed", outcome.seconds, f"{p.name} was modified")
    return Outcome(outcome.kind, outcome.seconds, outcome.detail, scenes)


def _folder_runs(src: Path, stem: str, ext: str, twin: Path | None, fifo: Path | None, named: list[str], out: Path,
                 limit: float) -> Outcome:
    t0 = time.perf_counter()
    for run_ext in ("png", "jpg"):
        code, err, escaped = _cli(["enhance", *named, "-o", str(out), "-m", "bicubic", "-s", "2", "--recursive",
                                   "--ext", run_ext, "--device", "cpu", "--max-pixels", str(FUZZ_MAX_PIXELS),
                                   "--quiet"], limit)
        dt = time.perf_counter() - t0
        if isinstance(escaped, Hang):
            return Outcome("hang", dt, str(escaped))
        if escaped is not None:
            return Outcome("traceback", dt, _tb(escaped))
        if "Traceback" in err:
            return Outcome("traceback", dt, err[-300:])
        if code not in (0, 1):
            return Outcome("message", dt, f"exit {code}: {err[:300]!r}")
        lines = [line for line in err.splitlines() if line.strip()]
        odd = [line for line in lines if not line.startswith(("srcnn: skipped ", "srcnn: renamed ")) and
               not re_summary(line)]
        if odd:
            return Outcome("message", dt, f"unexpected stderr line {odd[0][:300]!r}")
        if fifo is not None and sum(f"{fifo}: is a named pipe" in line for line in lines) != 1:
            return Outcome("message", dt, f"the FIFO was not refused in one line: {err[:300]!r}")
        problems = _leftovers(out) if out.exists() else []
        if problems:
            return Outcome("partial", dt, "; ".join(problems))
        made = [p.name for p in out.rglob("*") if p.is_file()] if out.exists() else []
        if any("_srcnn_" in name and name.count("_srcnn") > 1 for name in made):
            return Outcome("partial", dt, f"an output was enhanced again: {made}")
        if twin is not None and not any((out / f"{stem}{middle}_srcnn.{run_ext}").is_file()
                                        for middle in ("", f"_{twin.suffix[1:].lower()}")):
            return Outcome("partial", dt, f"the twin {twin.name} got no output of its own ({made})")
    mine = [p for p in out.rglob("*") if p.is_file() and p.name.startswith(f"{stem}_{ext.lower()[1:] or 'noext'}_")
            or p.name.startswith(f"{stem}_srcnn.")] if out.exists() else []
    return Outcome("accepted" if mine else "refused", time.perf_counter() - t0)


def re_summary(line: str) -> bool:
    """The summary line of `srcnn enhance`: 'srcnn: N enhanced, N skipped (...), N failed[, N renamed (...)]'."""
    import re

    return re.fullmatch(r"(srcnn: )?\d+ enhanced, \d+ skipped \(output exists; --force to redo\), \d+ failed"
                        r"(, \d+ renamed \(inputs that share a name; see above\))?", line) is not None


def web_client() -> object | None:
    """A TestClient on srcnn.web.app (bicubic, small limits), or None when the web app or its extras are absent."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from fastapi.testclient import TestClient

            from srcnn.web.app import ServeSettings, create_app
    except ImportError:
        return None
    settings = ServeSettings(workers=1, queue=4, max_pixels=FUZZ_MAX_PIXELS, max_upload_bytes=2_000_000,
                             read_timeout=10.0, device="cpu", default_model="bicubic")
    return TestClient(create_app(settings))


def run_web(sample: Sample, client: object, limit: float) -> Outcome:
    """POST /api/enhance (bicubic, scale 2): 200 with a full 2x image, or a 4xx with a one-line JSON error."""
    from srcnn.images import ImageError, read

    t0 = time.perf_counter()
    try:
        with time_limit(limit):
            r = client.post("/api/enhance", files={"file": (sample.name, sample.data, "application/octet-stream")},
                            data={"model": "bicubic", "scale": "2"})
    except Hang as e:
        return Outcome("hang", time.perf_counter() - t0, str(e))
    except Exception as e:  # noqa: BLE001 - a server exception surfaces here
        return Outcome("traceback", time.perf_counter() - t0, _tb(e))
    dt = time.perf_counter() - t0
    if r.status_code == 200:
        try:
            want = read(sample.data, max_pixels=FUZZ_MAX_PIXELS)
            got = read(r.content, max_pixels=None)
        except ImageError as e:
            return Outcome("partial", dt, f"200 but {e}")
        if (got.height, got.width) != (2 * want.height, 2 * want.width):
            return Outcome("partial", dt, f"{got.width}x{got.height} for {want.width}x{want.height}")
        return Outcome("accepted", dt)
    try:
        message = r.json().get("error", "")
    except ValueError:
        message = ""
    if 400 <= r.status_code < 500 and r.status_code not in (408, 429) and _one_line_ok(message):
        return Outcome("refused", dt, f"{r.status_code} {message}")
    kind = "server_error" if r.status_code >= 500 and _one_line_ok(message) else "message"
    return Outcome("traceback" if r.status_code >= 500 and kind == "message" else kind, dt,
                   f"HTTP {r.status_code}: {r.text[:300]!r}")


# --------------------------------------------------------------------------------------------------------------
# Driver


def fuzz_path(path: str, n: int, seed: int, limit: float, pool: list[Sample], work: Path,
              client: object | None = None, progress: bool = False, start: int = 0) -> Tally:
    """Run inputs ``start`` .. ``start + n - 1`` through one path and count the outcomes."""
    tally = Tally()
    t_start = time.time()
    for i in range(start, start + n):
        sample = make_input(pool, seed, path, i)
        alarm = WALL_FACTOR * limit
        cpu0 = time.process_time()
        with c_stderr() as c_lines, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's notes on corrupt files (the CLI silences them itself)
            if path == "read":
                outcome = run_read(sample, alarm)
            elif path == "enhance":
                outcome = run_enhance(sample, work, alarm)
            elif path == "prepare":
                outcome = run_prepare(sample, work, alarm)
            elif path == "web":
                outcome = run_web(sample, client, alarm)
            elif path == "folder":
                outcome = run_folder(sample, work, alarm, random.Random(f"{seed}/folder/{i}/scene"))
            else:
                raise ValueError(f"unknown path {path!r}")
        cpu = time.process_time() - cpu0
        if c_lines and outcome.kind in ("accepted", "refused"):  # libtiff & co. must not print past srcnn
            outcome = Outcome("message", outcome.seconds, f"{len(c_lines)} raw line(s) on stderr: {c_lines[0][:200]}")
        if outcome.kind in ("accepted", "refused") and (cpu > limit or outcome.seconds > alarm):
            outcome = Outcome("hang", outcome.seconds, f"{cpu:.1f} s CPU, {outcome.seconds:.1f} s wall")
        tally.slowest_cpu = max(tally.slowest_cpu, cpu)
        tally.add(i, sample, outcome, len(c_lines))
        if progress and (i + 1 - start) % 1000 == 0:
            print(f"  {path}: {i + 1 - start}/{n} ({time.time() - t_start:.0f} s, {tally.failed} failures)",
                  file=sys.stderr, flush=True)
    return tally


def report(results: dict[str, Tally | None], out: io.TextIOBase = sys.stdout) -> None:
    """Print the counts table and the first failures."""
    cols = ("inputs", "accepted", "refused", "tracebacks", "hangs", "partial", "bad_messages", "changed_inputs",
            "server_errors", "c_stderr_lines")
    print(f"{'path':<8} " + " ".join(f"{c:>{max(12, len(c))}}" for c in cols)
          + f" {'slowest s':>10} {'(CPU s)':>8}  slowest input", file=out)
    for path, t in results.items():
        if t is None:
            print(f"{path:<8} skipped (srcnn.web or fastapi not available)", file=out)
            continue
        print(f"{path:<8} " + " ".join(f"{getattr(t, c):>{max(12, len(c))}}" for c in cols)
              + f" {t.slowest:>10.3f} {t.slowest_cpu:>8.3f}  {t.slowest_input[:60]}", file=out)
    for path, t in results.items():
        for i, kind, how, detail in (t.failures if t else [])[:20]:
            print(f"FAIL {path}#{i} {kind}: {how} -> {detail}", file=out)


def main(argv: list[str] | None = None) -> int:
    """Command line: run the fuzz and print the counts; exit 1 if any input broke a rule."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", type=int, default=10_000, help="inputs per path (default 10000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=5.0,
                   help=f"CPU seconds allowed per input (default 5; wall clock: {WALL_FACTOR}x)")
    p.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated subset of {','.join(PATHS)}")
    p.add_argument("--only", metavar="PATH:I", help="run one input and print the outcome")
    p.add_argument("--save", metavar="DIR", help="write every failing input into DIR")
    p.add_argument("--write-corpus", metavar="DIR", type=Path, help="(re)generate the crafted corpus and exit")
    args = p.parse_args(argv)
    if args.write_corpus:
        write_corpus(args.write_corpus)
        return 0
    import torch

    torch.set_num_threads(1)
    pool = seed_files() + corpus_files()
    results: dict[str, Tally | None] = {}
    with tempfile.TemporaryDirectory(prefix="srcnn-fuzz-") as tmp:
        work = Path(tmp)
        if args.only:
            path, i = args.only.split(":")
            sample = make_input(pool, args.seed, path, int(i))
            client = web_client() if path == "web" else None
            tally = fuzz_path(path, 1, args.seed, args.timeout, [sample], work, client)
            kind = tally.failures[0][1] if tally.failures else ("accepted" if tally.accepted else "refused")
            detail = tally.failures[0][3] if tally.failures else ""
            print(f"{path}#{i} ({sample.how}, {len(sample.data)} bytes, {sample.name}): {kind} {detail}")
            if args.save:
                Path(args.save).mkdir(parents=True, exist_ok=True)
                (Path(args.save) / f"{path}-{i}-{sample.name}").write_bytes(sample.data)
            return 0
        for path in [s.strip() for s in args.paths.split(",") if s.strip()]:
            client = None
            if path == "web":
                client = web_client()
                if client is None:
                    results[path] = None
                    continue
            t0 = time.time()
            results[path] = fuzz_path(path, args.n, args.seed, args.timeout, pool, work, client, progress=True)
            print(f"{path}: {args.n} inputs in {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
            if args.save:
                folder = Path(args.save)
                folder.mkdir(parents=True, exist_ok=True)
                for i, _kind, _how, _detail in results[path].failures:
                    s = make_input(pool, args.seed, path, i)
                    (folder / f"{path}-{i}-{s.name}").write_bytes(s.data)
    report(results)
    return 1 if any(t is not None and t.failed for t in results.values()) else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    sys.exit(main())
