"""Image files written band by band, as the rows are produced: bounded memory for any output size (PNG, TIFF)."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from ._codecs import PngStream, TiffStream, exif_for, icc_for, one_line
from .files import AtomicFile
from .images import ImageError, at_path, check_destination, check_output, format_for_path, save_image, store, to_8bit

__all__ = ["BandWriter", "STREAMED_FORMATS"]

# Formats that BandWriter writes as the rows come (the others are held whole and encoded at the end).
STREAMED_FORMATS = ("PNG", "TIFF")


class BandWriter:
    """An image file written band by band, as the rows are produced; atomically, like :func:`write`.

    ``BandWriter(path, height, width, channels, bits, alpha=..., icc=..., exif=..., quality=..., format=...)``
    opens a temporary ``.<name>.tmp-<random>`` beside ``path`` (:class:`srcnn.files.AtomicFile`, as :func:`write`
    does); :meth:`write` takes the next rows, pixels R x W x C (C = ``channels``, 1 or 3) and alpha R x W when
    ``alpha``, of the dtype of ``bits`` (uint8 or uint16), top to bottom; :meth:`close` checks that every row came,
    finishes the file, fsyncs it and renames it over ``path``. Any failure, or leaving a ``with`` block on an
    exception (KeyboardInterrupt too), removes the temporary file: ``path`` is never half-written.

    PNG and TIFF (:data:`STREAMED_FORMATS`) are encoded as the rows come, so memory is a band's whatever the
    size. The file holds the same pixels (and alpha, ICC, EXIF) as :func:`write` of the whole Picture, not the
    same bytes: PNG as :func:`write` (8 and 16 bits, gray/gray+alpha/RGB/RGBA, ICC and EXIF); TIFF always with
    deflate and the horizontal predictor, EXIF kept at every depth (its sub-IFDs too), 16-bit gray+alpha as
    16-bit RGBA as :func:`write` does. JPEG, WebP and BMP need the whole picture (Pillow's encoders): their rows
    go into one 8-bit Pillow image (1 byte a pixel gray, 4 colour), encoded at :meth:`close` with the options of
    :func:`write`, so they cost no more than that image whatever the source depth.
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
        self._target: AtomicFile | None = None
        try:
            self.format = check_output(format or format_for_path(path), quality, width, height)
        except ImageError as e:
            raise at_path(path, e) from e
        self.quality = int(quality)
        self.streaming = self.format in STREAMED_FORMATS
        check_destination(path)  # before any work, whatever the format
        if not self.streaming:  # JPEG, WebP, BMP: one 8-bit Pillow image filled band by band, encoded at close()
            self._keep_alpha = alpha and self.format == "WEBP"  # JPEG and BMP drop alpha (as write() does)
            mode = ("L" if channels == 1 else "RGB") + ("A" if self._keep_alpha else "")
            self._image: Image.Image | None = Image.new(mode, (width, height))
            self._icc, self._exif = icc, exif
            return
        exif = exif_for(exif)
        samples = channels + alpha
        if self.format == "TIFF" and bits == 16 and samples == 2:  # 16-bit gray+alpha: as RGBA (see write)
            samples = 4
        self._samples = samples
        try:
            self._target = AtomicFile(path, buffering=1 << 20)
            icc_kept = icc_for(icc, 1 if samples <= 2 else 3)
            stream = PngStream if self.format == "PNG" else TiffStream
            self._stream: PngStream | TiffStream = stream(self._target.file, height, width, samples, bits,
                                                          icc_kept, exif)
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
            band = to_8bit(pixels)
            if self._keep_alpha:
                band = np.concatenate([band, to_8bit(alpha)[:, :, None]], axis=2)  # type: ignore[arg-type]
            band = band[:, :, 0] if band.shape[2] == 1 else band
            self._image.paste(Image.fromarray(np.ascontiguousarray(band)), (0, self._done))  # type: ignore[union-attr]
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
            if self._image is None:
                raise ValueError(f"{self.path}: already closed")
            try:
                data = save_image(self._image, self.format, self.quality, self._icc, self._exif)
            except BaseException as e:
                self._fail(e)
            self._image = None
            store(self.path, data)
            return
        if self._target is None:
            raise ValueError(f"{self.path}: already closed")
        try:
            self._stream.close()
            self._target.commit()
            self._target = None
        except BaseException as e:
            self._fail(e)

    def abort(self) -> None:
        """Drop the file being written (the temporary file); ``path`` is left as it was."""
        if self._target is not None:
            self._target.abort()
            self._target = None
        self._image = None

    def _fail(self, e: BaseException) -> None:
        self.abort()
        if isinstance(e, OSError):
            raise ImageError(f"{self.path}: cannot write ({one_line(e.strerror or e)})") from e
        if isinstance(e, (ValueError, MemoryError, struct.error)):
            raise ImageError(f"{self.path}: cannot encode as {self.format}: {one_line(e) or type(e).__name__}") from e
        raise e

    def __enter__(self) -> BandWriter:
        return self

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


