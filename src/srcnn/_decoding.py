"""Machinery of srcnn.images: finding the source, the bomb limit, decoding, and every Pillow mode to pixel planes."""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

from ._codecs import (
    DECODE_ERRORS,
    as_array,
    cmyk_to_rgb,
    decode16,
    key_alpha,
    load,
    no_pillow_limit,
    one_line,
    open_image,
    orient,
    read_exif,
    split16_plan,
    srgb_profile,
    tile_rawmode,
    unpremultiply,
    with_rawmode,
)
from .errors import ImageError

__all__ = ["Planes", "find_source", "decode", "planes_of", "arrays"]

Planes = tuple[np.ndarray, "np.ndarray | None", "bytes | None", "bytes | None", str]  # pixels, alpha, ICC, EXIF, format


def find_source(path: object) -> tuple[str, object]:
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
            raise ImageError(f"{name}: cannot read ({one_line(e.strerror or e)})") from e
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
        raise ImageError(f"{name}: cannot read ({one_line(e.strerror or e)})") from e
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(f"{name}: is a directory, not an image file")
    if not stat.S_ISREG(st.st_mode):  # never opened: a FIFO would block, a device would stream forever
        what = ("a named pipe (FIFO)" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "not a regular file")
        raise ImageError(f"{name}: is {what}, not an image file (give a saved image file)")
    if st.st_size == 0:
        raise ImageError(f"{name}: empty file (0 bytes)")
    return name, p


def decode(source: object, name: str, max_pixels: int | None) -> Planes:
    """Open, check the size against ``max_pixels``, load and convert ``source`` (see :func:`planes_of`)."""
    with no_pillow_limit(), open_image(source) as img:
        w, h = img.size
        if max_pixels is not None and w * h > max_pixels:
            raise ImageError(
                f"{name}: image is {w} x {h} = {w * h} pixels, over the limit of {max_pixels} "
                "(use --max-pixels to raise it)"
            )
        split = split16_plan(img)
        premultiplied = split is not None and tile_rawmode(img.tile[0]).startswith("RGBa")  # type: ignore[union-attr]
        if premultiplied:  # decode the stored (premultiplied) 16-bit values as they are; divided out below
            img.tile = [with_rawmode(t, "RGBA" + tile_rawmode(t)[4:]) for t in img.tile]  # type: ignore[operator]
        load(img)
        deep = None
        if split is not None:
            try:
                deep = decode16(img, source, split)
            except DECODE_ERRORS as e:  # pragma: no cover - depends on Pillow internals
                warnings.warn(f"{name}: 16-bit colour read as 8 bits ({one_line(e)})", stacklevel=3)
                if premultiplied:
                    with open_image(source) as again:
                        load(again)
                        return planes_of(again, name)
            if deep is not None and premultiplied:
                deep = (unpremultiply(*deep), deep[1])
        return planes_of(img, name, deep)


def planes_of(img: Image.Image, name: str, deep: tuple[np.ndarray, np.ndarray | None] | None = None) -> Planes:
    """(pixels HxWxC, alpha HxW or None, ICC, EXIF, format) of a loaded Pillow image, EXIF orientation applied."""
    icc = img.info.get("icc_profile") or None
    if deep is not None:
        pixels, alpha = deep
    else:
        pixels, alpha, icc = arrays(img, name, icc)
    exif, orientation = read_exif(img)
    pixels = orient(pixels, orientation)
    alpha = None if alpha is None else orient(alpha, orientation)
    fmt = img.format or ""
    return pixels, alpha, icc, exif, "JPEG" if fmt == "MPO" else fmt


def arrays(img: Image.Image, name: str, icc: bytes | None) -> tuple[np.ndarray, np.ndarray | None, bytes | None]:
    """(pixels HxWxC, alpha HxW or None, ICC) of a loaded image in any Pillow mode (mode F: float64 in [0, 1])."""
    mode = img.mode
    key = img.info.get("transparency")
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or key is not None or (img.palette is not None and img.palette.mode == "RGBA")
        rgb = as_array(img.convert("RGBA" if has_alpha else "RGB"))
        gray = np.array_equal(rgb[:, :, 0], rgb[:, :, 1]) and np.array_equal(rgb[:, :, 0], rgb[:, :, 2])
        pixels = rgb[:, :, :1] if gray else rgb[:, :, :3]
        return np.ascontiguousarray(pixels), (np.ascontiguousarray(rgb[:, :, 3]) if has_alpha else None), icc
    if mode == "1":
        pixels = as_array(img.convert("L"))[:, :, None]
        return pixels, key_alpha(pixels, key, 8), icc  # Pillow gives a 1-bit key as 0 or 255
    if mode in ("L", "RGB", "RGBX"):
        pixels = as_array(img.convert("RGB") if mode == "RGBX" else img)
        pixels = pixels[:, :, None] if pixels.ndim == 2 else pixels
        return pixels, key_alpha(pixels, key, 8), icc
    if mode in ("LA", "La", "RGBA", "RGBa"):
        arr = as_array(img.convert("LA" if mode.startswith("L") else "RGBA"))
        return np.ascontiguousarray(arr[:, :, :-1]), np.ascontiguousarray(arr[:, :, -1]), icc
    if mode.startswith("I;16"):
        pixels = as_array(img).astype(np.uint16, copy=False)[:, :, None]
        return pixels, key_alpha(pixels, key, 16), icc
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
        return (np.nan_to_num(values, nan=0.0) / scale)[:, :, None], None, icc  # float: the caller makes it 16-bit
    if mode == "CMYK":
        return np.asarray(cmyk_to_rgb(img, icc)), None, srgb_profile() if icc else None
    if mode == "LAB":
        lab, srgb = ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB")
        rgb = ImageCms.profileToProfile(img, lab, srgb, outputMode="RGB")
        return as_array(rgb), None, None
    try:
        rgb = img.convert("RGB")
    except ValueError as e:
        raise ImageError(f"{name}: unsupported image mode {mode}") from e
    return as_array(rgb), None, icc
