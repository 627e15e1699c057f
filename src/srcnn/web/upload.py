"""Reading a request: the multipart form streamed into memory under the limits (:func:`read_upload`), its fields
validated into a :class:`Job` (:func:`parse_job`) and the photo decoded under the pixel limits (:func:`decode_upload`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio
from fastapi import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from ..choices import check_scale
from ..images import ImageError, Picture, normalize_format, read
from ..resize import output_size
from .jobs import State
from .settings import MAX_SCALE, ApiError, ServeSettings

__all__ = ["Upload", "read_upload", "Job", "parse_scale", "parse_output", "parse_job", "decode_upload",
           "OUTPUT_FORMATS", "FORM_OVERHEAD", "mb"]

log = logging.getLogger("srcnn.web")

_SCALE_TEXT = re.compile(r"[0-9]{1,3}(\.[0-9]{0,6})?|\.[0-9]{1,6}")  # plain decimals: no signs, exponents or "_"
FORM_OVERHEAD = 64 * 1024  # multipart boundaries, part headers and the small fields on top of the file itself
_MAX_FIELD_BYTES = 1024
_MAX_PARTS = 8
_CHUNK_LOG = "body over the limit after %d bytes"
# The ``format`` field: keep (JPEG stays JPEG, PNG stays PNG, anything else becomes PNG: as before the field existed),
# or one output format for every photo.
OUTPUT_FORMATS = ("keep", "png", "jpeg", "webp")
_QUALITY_TEXT = re.compile(r"[0-9]{1,3}")
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
_TRUE = {"1", "true", "on", "yes"}
_FALSE = {"", "0", "false", "off", "no"}


@dataclass
class Upload:
    """A parsed multipart form: the one file (bytes in memory, name as sent) and the text fields."""

    data: bytes
    filename: str
    fields: dict[str, str] = field(default_factory=dict)


class _FormCollector:
    """python-multipart callbacks that keep the parts in memory, with per-part limits."""

    def __init__(self, max_file_bytes: int) -> None:
        self.max_file_bytes = max_file_bytes
        self.fields: dict[str, str] = {}
        self.files: list[tuple[str, bytearray]] = []
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._parts = 0
        self._name = ""
        self._is_file = False
        self._filename = ""
        self._buf = bytearray()

    def callbacks(self) -> dict[str, Callable[..., None]]:
        """The callback table for MultipartParser."""
        return {
            "on_part_begin": self._part_begin,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_cb,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
        }

    def _part_begin(self) -> None:
        self._parts += 1
        if self._parts > _MAX_PARTS:
            raise ApiError(422, f"too many form fields (at most {_MAX_PARTS})")
        self._disposition = b""
        self._buf = bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_cb(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]
        if len(self._header_value) > 4096:
            raise ApiError(422, "multipart header too long")

    def _header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = b""
        self._header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise ApiError(422, "a multipart part has no name")
        self._name = options[b"name"].decode("utf-8", "replace")
        self._is_file = self._name == "file"
        if b"filename" in options and not self._is_file:
            raise ApiError(422, f"unexpected file field {self._name[:40]!r}: send the photo as 'file'")
        self._filename = options.get(b"filename", b"").decode("utf-8", "replace")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        limit = self.max_file_bytes if self._is_file else _MAX_FIELD_BYTES
        if len(self._buf) + (end - start) > limit:
            if self._is_file:
                raise ApiError(413, f"upload too large (the limit is {mb(self.max_file_bytes)})")
            raise ApiError(422, f"form field {self._name!r} is too long")
        self._buf += data[start:end]

    def _part_end(self) -> None:
        if self._is_file:
            self.files.append((self._filename, self._buf))
        else:
            self.fields[self._name] = self._buf.decode("utf-8", "replace")
        self._buf = bytearray()


def mb(n: int) -> str:
    """``n`` bytes as megabytes for a message ("25 MB")."""
    return f"{n / (1024 * 1024):.3g} MB"


async def read_upload(request: Request, settings: ServeSettings) -> Upload:
    """The request's multipart form, read from the ASGI stream under the byte limit and read deadline."""
    body_limit = settings.max_upload_bytes + FORM_OVERHEAD
    too_large = f"upload too large (the limit is {mb(settings.max_upload_bytes)})"
    length = request.headers.get("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise ApiError(400, "bad Content-Length header") from None
        if declared > body_limit:
            raise ApiError(413, too_large, {"Connection": "close"})
    mime, params = parse_options_header(request.headers.get("content-type", ""))
    if mime != b"multipart/form-data":
        raise ApiError(415, "send the photo as multipart/form-data with a 'file' field")
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(400, "multipart/form-data without a boundary")
    collector = _FormCollector(settings.max_upload_bytes)
    parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    received = 0
    deadline = time.monotonic() + settings.read_timeout
    receive = request.receive
    try:
        while True:
            remaining = deadline - time.monotonic()
            message = None
            with anyio.move_on_after(max(0.0, remaining)):
                message = await receive()
            if message is None:
                raise ApiError(408, f"the upload took longer than {settings.read_timeout:g} s", {"Connection": "close"})
            if message["type"] == "http.disconnect":
                raise ApiError(400, "client disconnected")
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > body_limit:
                log.info(_CHUNK_LOG, received)
                raise ApiError(413, too_large, {"Connection": "close"})
            if chunk:
                parser.write(chunk)
            if not message.get("more_body", False):
                break
        parser.finalize()
    except ApiError as e:
        if e.status == 413 and "Connection" not in e.headers:
            e.headers["Connection"] = "close"
        raise
    except FormParserError as e:
        raise ApiError(400, f"malformed multipart body ({e})") from None
    if not collector.files:
        raise ApiError(422, "no 'file' field in the form")
    if len(collector.files) > 1:
        raise ApiError(422, "send one file per request")
    filename, data = collector.files[0]
    return Upload(bytes(data), filename, collector.fields)


# --------------------------------------------------------------------------------------------------------------
# The form's options and the photo


@dataclass(frozen=True)
class Job:
    """A validated request: which model, which scale (an int when whole, else a float such as 1.5), self-check,
    output format ("keep", or a Pillow name: "PNG", "JPEG", "WEBP") and JPEG/WebP quality (None: the default)."""

    model: str
    scale: float
    selfcheck: bool
    job_id: str | None = None  # the client's id for GET/DELETE /api/jobs/{id}; None: the server picks one
    format: str = "keep"
    quality: int | None = None


def parse_scale(raw: str) -> float:
    """A form's scale text -> a number from 1 to MAX_SCALE: an int when whole ("2", "2.0"), else a float ("1.5").

    422 for anything else: not a plain decimal number ("x", "1e1", "-2", "nan"), or out of range ("0.5", "9").
    """
    text = raw.strip()
    if not _SCALE_TEXT.fullmatch(text):
        raise ApiError(422, f"scale must be a number from 1 to {MAX_SCALE}, such as 1.5 or 2, got {raw[:20]!r}")
    try:
        value = check_scale(float(text), MAX_SCALE, text)
    except ValueError as e:
        raise ApiError(422, str(e)) from None
    return int(value) if value.is_integer() else value


def parse_output(fields: dict[str, str]) -> tuple[str, int | None]:
    """The form fields ``format`` (keep|png|jpeg|webp, any case; jpg = jpeg) and ``quality`` (1-100) -> (format,
    quality); 422 with a clear message for anything else."""
    raw_format = fields.get("format", "").strip()
    try:  # the one table of format names and aliases (jpg = JPEG), then the page's own choices
        fmt = "keep" if raw_format.lower() in ("", "keep") else normalize_format(raw_format)
    except ImageError:
        fmt = ""
    if fmt.lower() not in OUTPUT_FORMATS:
        raise ApiError(422, f"format must be one of {', '.join(OUTPUT_FORMATS)}, got {raw_format[:20]!r}",
                       extra={"formats": list(OUTPUT_FORMATS)})
    raw_quality = fields.get("quality", "").strip()
    if not raw_quality:
        return fmt, None
    if not _QUALITY_TEXT.fullmatch(raw_quality) or not 1 <= int(raw_quality) <= 100:
        raise ApiError(422, f"quality must be a whole number from 1 to 100, got {raw_quality[:20]!r}")
    return fmt, int(raw_quality)


def parse_job(fields: dict[str, str], state: State) -> Job:
    """Validate the form fields ``model``, ``scale``, ``selfcheck``, ``format`` and ``quality`` (422 on anything
    unknown)."""
    model = fields.get("model", "").strip() or state.default_model
    if model not in state.models:
        raise ApiError(422, f"unknown model {model!r}: choose one of {', '.join(state.models)}")
    raw_scale = fields.get("scale", "").strip()
    info = state.models[model]
    scale = parse_scale(raw_scale) if raw_scale else info.scale
    if not info.scales.allows(scale):
        others = [m.name for m in state.models.values() if m.name != model and m.scales.allows(scale)]
        hint = f"; made for {scale}x: {', '.join(others)}" if others else ""
        raise ApiError(422, f"{model} is made for {info.scales.text()}, not {scale}x (it would damage the photo): "
                            f"choose {info.scales.text()}, or another model{hint}",
                       extra={"allowed_scales": info.scales.as_json(), "models_for_scale": others})
    raw_check = fields.get("selfcheck", "").strip().lower()
    if raw_check not in _TRUE | _FALSE:
        raise ApiError(422, f"selfcheck must be true or false, got {raw_check[:20]!r}")
    job_id = fields.get("job", "").strip() or None
    if job_id is not None and not _JOB_ID.fullmatch(job_id):
        raise ApiError(422, "job must be 8 to 64 letters, digits, '-' or '_'")
    fmt, quality = parse_output(fields)
    return Job(model, scale, raw_check in _TRUE, job_id, fmt, quality)


def decode_upload(data: bytes, scale: float, settings: ServeSettings) -> Picture:
    """images.read under the input and output pixel limits: 415 when it is not an image, 422 when too large.

    The output of an H x W input is ceil(H x scale) x ceil(W x scale) pixels (resize.output_size). Inputs over
    output_pixel_limit / scale^2 pixels are refused before decoding (their output is surely too large); at a
    fractional scale the rounding up can still push a decoded picture over, which is refused too.
    """
    limit_out = settings.output_pixel_limit
    # whole scales: exact; fractional: a hair lenient against float rounding (the exact check below decides)
    by_output = limit_out // (scale * scale) if isinstance(scale, int) else int(limit_out / (scale * scale) + 1e-6)
    limit = min(settings.max_pixels, by_output)
    hint = f" (at scale {scale} the output may have at most {limit_out:,} pixels; try a smaller scale)"
    try:
        picture = read(data, max_pixels=limit)
    except ImageError as e:
        reason = str(e).removeprefix("<bytes>: ")
        if "over the limit" in reason:
            reason = reason.replace(" (use --max-pixels to raise it)", "")
            if by_output < settings.max_pixels:
                reason += hint
            raise ApiError(422, f"image too large: {reason}") from None
        raise ApiError(415, f"not a supported image: {reason}") from None
    out_h, out_w = output_size(picture.height, scale), output_size(picture.width, scale)
    if out_h * out_w > limit_out:
        raise ApiError(422, f"image too large: {picture.width} x {picture.height} gives a {out_w} x {out_h} = "
                            f"{out_w * out_h:,} pixel output{hint}")
    return picture

