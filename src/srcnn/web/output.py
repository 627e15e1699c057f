"""What a job gives back: the 'did it help?' :func:`selfcheck`, the :class:`Result` and its encoding
(:func:`encode_output`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..degrade import downscale, jpeg
from ..enhance import Enhancer
from ..images import EXTENSION_OF, ImageError, Picture, encode, quantize, to_8bit
from ..metrics import psnr_y, to_y_uint8
from ..resize import output_size

__all__ = ["selfcheck", "Result", "encode_output", "DEFAULT_QUALITY", "MEDIA_TYPES", "EXTENSIONS",
           "SELFCHECK_JPEG_QUALITY"]

SELFCHECK_JPEG_QUALITY = 20
MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}  # what the page gets back
EXTENSIONS = {f: EXTENSION_OF[f].lstrip(".") for f in MEDIA_TYPES}  # its download name's suffix
DEFAULT_QUALITY = 95  # JPEG/WebP quality when the form has none (JPEG in, JPEG out has always been q95)
_FORMAT_WORDS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "TIFF": "TIFF", "BMP": "BMP", "GIF": "GIF"}


def _db(value: float) -> float | None:
    return None if not math.isfinite(value) else round(value, 3)


def _round_trip_length(n: int, scale: float) -> tuple[int, int]:
    """(crop, low): the largest crop <= n whose shrunk length ``low`` enlarges back to exactly ``crop`` at ``scale``.

    Whole scales: crop = n - n % scale, low = crop / scale. Fractional: low = floor(n / scale), crop =
    output_size(low, scale) (e.g. 1.5: n 8 -> low 5, crop 8; n 9 -> low 6, crop 9).
    """
    low = int(n // scale)
    while low > 0 and output_size(low, scale) > n:  # float rounding of n / scale
        low -= 1
    return output_size(low, scale), low


def selfcheck(picture: Picture, enhancer: Enhancer, bicubic: Enhancer, model: str, scale: float,
              crop: int = 512) -> dict[str, Any]:
    """'Did it help?': degrade a centre crop of the user's photo, restore it with the model and with bicubic, Y-PSNR.

    Scale > 1 (e.g. 1.5, 2): the crop is shrunk by ``scale`` with the antialiased MATLAB bicubic and enlarged back
    (the crop is cut so that its shrunk size enlarges back to exactly its own size).
    Scale 1 (JPEG artefact models): the crop is JPEG-compressed at quality 20 and restored at the same size.
    Both results are compared with the crop itself (Y of BT.601, uint8, ceil(``scale``) px shaved at scale > 1).
    """
    pixels = picture.to_float()
    h, w = pixels.shape[:2]
    (ch, low_h), (cw, low_w) = _round_trip_length(min(h, crop), scale), _round_trip_length(min(w, crop), scale)
    if ch < 8 * scale or cw < 8 * scale:
        return {"applicable": False, "reason": "the photo is too small for a self-check", "model": model,
                "scale": scale, "psnr_model": None, "psnr_bicubic": None}
    top, left = (h - ch) // 2, (w - cw) // 2
    reference = pixels[top:top + ch, left:left + cw]
    if scale > 1:
        low = np.clip(downscale(reference, scale, size=(low_h, low_w)), 0.0, 1.0)
        method = f"a {cw}x{ch} centre crop of your photo, shrunk {scale}x with bicubic, then restored"
        border = math.ceil(scale)
    else:
        low = jpeg(reference[:, :, 0] if reference.shape[2] == 1 else reference, SELFCHECK_JPEG_QUALITY)
        method = (f"a {cw}x{ch} centre crop of your photo, JPEG-compressed at quality {SELFCHECK_JPEG_QUALITY}, "
                  "then restored")
        border = 0
    small = Picture.from_float(low, bits=8)
    ref_y = to_y_uint8(quantize(reference, 8))
    by_model = to_y_uint8(enhancer.enhance_picture(small, scale).pixels)
    by_bicubic = to_y_uint8(bicubic.enhance_picture(small, scale).pixels)
    p_model, p_bicubic = psnr_y(ref_y, by_model, border), psnr_y(ref_y, by_bicubic, border)
    gain = p_model - p_bicubic if math.isfinite(p_model) and math.isfinite(p_bicubic) else None
    return {
        "applicable": True,
        "model": model,
        "scale": scale,
        "psnr_model": _db(p_model),
        "psnr_bicubic": _db(p_bicubic),
        "gain_db": None if gain is None else round(gain, 3),
        "crop": [cw, ch],
        "method": method,
    }


@dataclass
class Result:
    """What a job produced."""

    body: bytes
    media_type: str
    extension: str
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    selfcheck: dict[str, Any] | None
    seconds: float
    format: str = "PNG"  # what was sent: "PNG", "JPEG" or "WEBP"
    input_format: str = ""  # what came in (images.read's name: "JPEG", "PNG", "WEBP", "TIFF", ...)
    quality: int | None = None  # JPEG/WebP quality used; None for PNG
    notes: tuple[str, ...] = ()  # what changed on the way, in plain words (format, transparency, depth)


def _flatten_on_white(picture: Picture) -> Picture:
    """8-bit pixels with the transparency composited onto white (for JPEG, which has no alpha); in row blocks."""
    pixels = to_8bit(picture.pixels)
    alpha = to_8bit(picture.alpha) if picture.alpha is not None else None
    if alpha is None:
        return Picture(pixels, icc=picture.icc, exif=picture.exif, format=picture.format)
    out = np.empty_like(pixels)
    rows = max(1, (1 << 22) // max(1, pixels.shape[1] * pixels.shape[2]))
    for top in range(0, pixels.shape[0], rows):
        p = pixels[top:top + rows].astype(np.uint32)
        a = alpha[top:top + rows, :, None].astype(np.uint32)
        out[top:top + rows] = ((p * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)
    return Picture(out, icc=picture.icc, exif=picture.exif, format=picture.format)


def encode_output(out: Picture, input_format: str, choice: str = "keep", quality: int | None = None
                  ) -> tuple[bytes, str, int | None, tuple[str, ...]]:
    """Encode a result as asked -> (bytes, format, quality used or None, notes on what changed).

    ``choice`` "keep": JPEG in -> JPEG (q95 unless ``quality``), PNG in -> PNG, anything else -> PNG (a note says
    so). "PNG" keeps 16 bits and alpha; "WEBP" keeps alpha, not 16 bits; "JPEG" keeps neither (transparency is
    flattened onto white). A result too large for JPEG/WebP comes back as PNG, with a note.
    """
    said = _FORMAT_WORDS.get(input_format, input_format or "this format")
    notes: list[str] = []
    if choice == "keep":
        fmt = input_format if input_format in ("JPEG", "PNG") else "PNG"
        if fmt != input_format:
            notes.append(f"{said} in, PNG out (the format is kept for JPEG and PNG only)")
    else:
        fmt = choice
    q = (quality if quality is not None else DEFAULT_QUALITY) if fmt in ("JPEG", "WEBP") else None
    picture = out
    lossy: list[str] = []
    if fmt in ("JPEG", "WEBP") and out.bits == 16:
        lossy.append(f"16-bit depth reduced to 8 bits ({_FORMAT_WORDS[fmt]} stores 8 bits per channel)")
    if fmt == "JPEG" and out.alpha is not None:
        picture = _flatten_on_white(out)
        lossy.append("transparency flattened onto white (JPEG has none)")
    try:
        return encode(picture, fmt, quality=q or DEFAULT_QUALITY), fmt, q, tuple(notes + lossy)
    except ImageError as e:
        if fmt == "PNG":
            raise
        # e.g. a result wider than JPEG's 65,500 px or WebP's 16,383 px: PNG has no such limit
        reason = str(e).split(";")[0]
        notes.append(f"sent as PNG: {reason}")
        return encode(out, "PNG"), "PNG", None, tuple(notes)

