"""The `srcnn serve` web app: a FastAPI factory (:func:`create_app`), a bounded worker pool and the HTTP API.

Request path of ``POST /api/enhance``: Origin check -> Content-Length check (413) -> queue check (503) -> the body
is read from the ASGI stream chunk by chunk into an in-memory multipart parser, stopping at the byte limit (413)
or the read deadline (408) -> fields validated (422) -> a slot in the bounded job queue (503 + Retry-After) ->
decode (images.read: 415 not an image, 422 too many pixels), enhance and encode on a worker thread -> image bytes.
Nothing a user sends is written to disk.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import zoo
from ..degrade import downscale, jpeg
from ..enhance import Enhancer, load_model
from ..images import ImageError, Picture, encode, quantize, read, to_8bit
from ..metrics import psnr_y, to_y_uint8
from ..resize import output_size

__all__ = ["ServeSettings", "create_app", "ApiError", "CSP", "MAX_SCALE"]

log = logging.getLogger("srcnn.web")

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_SCALE = 4  # the largest scale a request may ask for; any number from 1 to MAX_SCALE, such as 1.5, is accepted
SCALE_PRESETS = (1, 1.5, 2, 2.5, 3, 4)  # the page's choices (static/index.html), listed by GET /api/limits
_SCALE_TEXT = re.compile(r"[0-9]{1,3}(\.[0-9]{0,6})?|\.[0-9]{1,6}")  # plain decimals: no signs, exponents or "_"
SELFCHECK_JPEG_QUALITY = 20
_FORM_OVERHEAD = 64 * 1024  # multipart boundaries, part headers and the small fields on top of the file itself
_MAX_FIELD_BYTES = 1024
_MAX_PARTS = 8
_CHUNK_LOG = "body over the limit after %d bytes"

CSP = (
    "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
# Swagger UI (/docs) is served from this server (fastapi-offline bundles it: no CDN, works offline), but it boots
# with an inline script and sets inline styles: only that page gets this.
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
_DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect"})
_SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
_MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
# The ``format`` field: keep (JPEG stays JPEG, PNG stays PNG, anything else becomes PNG: as before the field existed),
# or one output format for every photo.
OUTPUT_FORMATS = ("keep", "png", "jpeg", "webp")
_FORMAT_ALIASES = {"keep": "keep", "png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}
DEFAULT_QUALITY = 95  # JPEG/WebP quality when the form has none (JPEG in, JPEG out has always been q95)
_QUALITY_TEXT = re.compile(r"[0-9]{1,3}")
_FORMAT_WORDS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "TIFF": "TIFF", "BMP": "BMP", "GIF": "GIF"}
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
_KEEP_FINISHED_JOBS = 60.0  # seconds a finished job's progress stays readable
_MAX_TRACKED_JOBS = 512
_CALIBRATION_SIDE = 384  # output px per side of the test run that measures a model's speed
_TRUE = {"1", "true", "on", "yes"}
_FALSE = {"", "0", "false", "off", "no"}


_BAND_MIB = 320  # a job's working set besides its result: bands of the network, bicubic and colour (measured)
_BYTES_PER_OUTPUT_PX = 12  # the 16-bit result (6 bytes) and its encoded copy (at most as much)


@dataclass
class ServeSettings:
    """Everything `srcnn serve` can be told; limits are per request unless noted."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2  # threads running jobs (decode + enhance + encode)
    queue: int = 8  # jobs that may wait for a worker; more -> 503
    max_upload_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 40_000_000  # input pixels
    max_output_pixels: int | None = None  # None: 2.5 x max_pixels, at most what worker_memory_mb holds (100 MP)
    worker_memory_mb: int = 1536  # memory one worker's job may use: caps the default output limit
    read_timeout: float = 30.0  # seconds to receive the whole request body -> 408
    selfcheck_crop: int = 512  # the self-check works on a centre crop of at most this many px per side
    device: str = "auto"
    precision: str = "auto"  # "auto" (bf16 where the CPU has it), "fp32" or "bf16"
    torch_threads: int | None = None  # None: leave torch's setting alone
    default_model: str | None = None  # None: zoo.default_name() if not bicubic, else the first extra model
    extra_models: tuple[str, ...] = ()  # local weights files to offer besides the shipped models

    @property
    def output_pixel_limit(self) -> int:
        """Largest output a request may ask for, in pixels: ceil(H x scale) x ceil(W x scale).

        Default: 2.5 x max_pixels, at most what one worker's ``worker_memory_mb`` holds. The enhancer works band by
        band (its working set is bounded by the band: about 300 MiB for network, bicubic and colour), so a job's
        memory grows only with its result (3 bytes an output pixel, 6 at 16 bits) and the encoded copy (at most as
        much again): (worker_memory_mb - 320 MiB) / 12 bytes, 107 MP for the default 1,536 MiB, 61 MP for 1 GiB.
        """
        if self.max_output_pixels is not None:
            return self.max_output_pixels
        fits = max(1, (self.worker_memory_mb - _BAND_MIB) * 2**20 // _BYTES_PER_OUTPUT_PX)
        return min(int(2.5 * self.max_pixels), fits)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError("workers must be >= 1")
        if self.queue < 0:
            raise ValueError("queue must be >= 0")
        if self.max_upload_bytes < 1 or self.max_pixels < 1:
            raise ValueError("limits must be positive")


class ApiError(Exception):
    """An HTTP error answered as JSON ``{"error": message}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.extra = extra or {}  # more JSON keys beside "error" (e.g. "allowed_scales")


def _error(status: int, message: str, headers: dict[str, str] | None = None,
           extra: dict[str, Any] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, **(extra or {})}, status_code=status, headers=headers)


# --------------------------------------------------------------------------------------------------------------
# Security headers, Origin check, last-resort 500 (outermost layer, so every response carries the headers)


class _Guard:
    """ASGI middleware: security headers on every response, cross-origin POSTs refused, crashes -> JSON 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if scope["path"] in _DOCS_PATHS else CSP
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                headers["content-security-policy"] = csp
                for k, v in _SECURITY_HEADERS.items():
                    headers[k] = v
            await send(message)

        if scope["method"] not in ("GET", "HEAD", "OPTIONS") and not _same_origin(scope):
            await _error(403, "cross-origin request refused")(scope, receive, send_with_headers)
            return
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if started:
                raise
            await _error(500, "internal server error")(scope, receive, send_with_headers)


def _same_origin(scope: Scope) -> bool:
    """True unless the browser says the request comes from another origin (CSRF from other web pages)."""
    headers = dict(scope.get("headers") or [])
    origin = headers.get(b"origin")
    if origin is None:
        return True  # not a browser cross-origin request (curl, scripts, same-origin GET-initiated forms)
    host = headers.get(b"host", b"").decode("latin-1").lower()
    origin_s = origin.decode("latin-1").lower()
    return origin_s in (f"http://{host}", f"https://{host}")


# --------------------------------------------------------------------------------------------------------------
# Models


@dataclass(frozen=True)
class ModelInfo:
    """A model the app offers: the name users pick, what it does, its default and allowed scales, its weights."""

    name: str
    task: str
    scale: int
    summary: str
    source: str  # "bicubic", a shipped model name, or a weights file path
    purpose: str = ""  # one plain sentence: what it is for
    scales: zoo.Scales = zoo.Scales(lo=1, hi=MAX_SCALE)  # the scales it is made for
    state: str = ""  # training state in a few words
    metrics: dict[str, Any] = field(default_factory=dict)
    family: zoo.ModelCard | None = None  # a family (one model per trained scale): picks the member per job


def _model_table(settings: ServeSettings) -> tuple[dict[str, ModelInfo], str, dict[str, Enhancer]]:
    """({name: info} in display order, the default name, {name: enhancer} of the extra weights files).

    Extra weights files are loaded here once, on the serving device, and kept: the server reuses them.
    """
    table: dict[str, ModelInfo] = {}
    loaded: dict[str, Enhancer] = {}
    cards = zoo.available()
    members = {m for c in cards for m in c.members.values()}
    for c in cards:
        if c.name in members:
            continue  # reached through its family, which the page shows by purpose
        table[c.name] = ModelInfo(c.name, c.task, max(1, min(MAX_SCALE, c.scale)), c.summary, c.name, c.purpose,
                                  c.scales, c.state, dict(c.metrics), c if c.members else None)
    extra_names = []
    for path in settings.extra_models:
        enh = load_model(path, device=settings.device, precision=settings.precision)
        name = Path(path).stem
        while name in table or name == "bicubic":
            name += "+"
        loaded[name] = enh
        meta = enh.metadata
        summary = str(meta.get("summary") or f"local weights file {Path(path).name}")
        scale = max(1, min(MAX_SCALE, enh.scale))
        table[name] = ModelInfo(name, str(meta.get("task", "sr")), scale, summary, str(path),
                                str(meta.get("purpose") or summary), zoo.Scales.parse(meta.get("scales"), scale))
        extra_names.append(name)
    table["bicubic"] = ModelInfo("bicubic", "sr", 2, "plain bicubic upscaling (MATLAB imresize), the baseline",
                                 "bicubic", "Plain enlargement without a model, to compare with",
                                 zoo.Scales(lo=1, hi=MAX_SCALE))
    if settings.default_model is not None:
        if settings.default_model not in table:
            raise ValueError(f"default model {settings.default_model!r} is not one of {', '.join(table)}")
        default = settings.default_model
    elif (shipped := zoo.default_name()) != "bicubic" and shipped in table:
        default = shipped
    elif extra_names:
        default = extra_names[0]
    else:
        default = "bicubic"
    return table, default, loaded


# --------------------------------------------------------------------------------------------------------------
# The job queue


class JobGate:
    """Admission control: at most ``capacity`` jobs (running + waiting for a worker) at any time; thread-safe."""

    def __init__(self, capacity: int, workers: int) -> None:
        self.capacity = capacity
        self.workers = workers
        self._lock = threading.Lock()
        self._active = 0
        self._mean_seconds = 1.0

    @property
    def active(self) -> int:
        """Jobs admitted and not finished."""
        return self._active

    def full(self) -> bool:
        """True when a new job would be refused now."""
        with self._lock:
            return self._active >= self.capacity

    def try_enter(self) -> bool:
        """Take a slot; False when the queue is full."""
        with self._lock:
            if self._active >= self.capacity:
                return False
            self._active += 1
            return True

    def leave(self, seconds: float | None = None) -> None:
        """Give a slot back (called when the job's thread finishes); ``seconds`` updates the wait estimate."""
        with self._lock:
            self._active -= 1
            if seconds is not None:
                self._mean_seconds = 0.8 * self._mean_seconds + 0.2 * seconds

    def retry_after(self) -> int:
        """Seconds a refused client should wait: the expected time for the queue ahead of it to drain, 1..120."""
        with self._lock:
            rounds = self._active / max(1, self.workers)
            return int(min(120, max(1, math.ceil(rounds * self._mean_seconds))))


class JobCancelled(Exception):
    """Raised inside a job's progress callback when the client stopped it or went away."""


@dataclass
class JobProgress:
    """One job's progress as the worker reports it (tiles done of total) and its cancel flag; thread-safe enough."""

    id: str
    state: str = "queued"  # queued, running, done, failed, cancelled
    done: int = 0
    total: int = 0
    estimate: float | None = None  # expected seconds of work, from the model's measured rate
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        """Ask the worker to stop at the next tile (or not to start)."""
        self.cancel_event.set()

    def check(self) -> None:
        """Raise JobCancelled if the job was cancelled."""
        if self.cancel_event.is_set():
            raise JobCancelled(self.id)

    def tick(self, n: int) -> None:
        """The enhancer's progress(n) callback: ``n`` tiles done; raises JobCancelled to abort the run."""
        self.done = n
        self.total = max(self.total, n)
        self.check()

    def remaining(self, now: float) -> float | None:
        """Expected seconds until the job finishes, or None when nothing is known."""
        if self.started is not None and self.done and self.total:
            spent = now - self.started
            return max(0.0, spent / self.done * (self.total - self.done))
        if self.estimate is not None:
            return self.estimate - (now - self.started if self.started is not None else 0.0)
        return None

    def as_json(self, now: float) -> dict[str, Any]:
        """What GET /api/jobs/{id} answers."""
        left = self.remaining(now) if self.state in ("queued", "running") else 0.0
        end = self.finished if self.finished is not None else now
        began = self.started or end
        return {"id": self.id, "state": self.state, "done": self.done, "total": self.total,
                "elapsed": round(end - began, 3), "waited": round(began - self.created, 3),
                "remaining": None if left is None else round(max(0.0, left), 3)}


class _State:
    """Per-app state: settings, model table, loaded enhancers, worker pool, gate, jobs and measured speeds."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.models, self.default_model, preloaded = _model_table(settings)
        self.gate = JobGate(settings.workers + settings.queue, settings.workers)
        self._enhancers: dict[str, Enhancer] = dict(preloaded)
        self._load_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self.jobs: dict[str, JobProgress] = {}
        self._jobs_lock = threading.Lock()
        self.rates: dict[str, tuple[float, str]] = {}  # model -> (seconds per output megapixel, how measured)
        self._rate_lock = threading.Lock()

    def new_job(self, job_id: str | None) -> JobProgress:
        """Track a job under ``job_id`` (the client's, or a fresh one); finished jobs are forgotten after a while."""
        now = time.monotonic()
        with self._jobs_lock:
            for k in [k for k, j in self.jobs.items()
                      if j.finished is not None and now - j.finished > _KEEP_FINISHED_JOBS]:
                del self.jobs[k]
            if job_id is None or job_id in self.jobs:
                job_id = uuid.uuid4().hex
            while len(self.jobs) >= _MAX_TRACKED_JOBS:
                oldest = min((j for j in self.jobs.values() if j.finished is not None), key=lambda j: j.finished or 0,
                             default=None)
                if oldest is None:
                    break
                del self.jobs[oldest.id]
            progress = self.jobs[job_id] = JobProgress(job_id)
            return progress

    def retry_after(self) -> int:
        """Seconds until a queue slot is expected to free up: the running job nearest its end, from its tiles.

        Falls back to the gate's running mean when no running job has reported progress yet; 1..120.
        """
        now = time.monotonic()
        with self._jobs_lock:
            left = [r for j in self.jobs.values() if j.state == "running" and (r := j.remaining(now)) is not None]
        if not left:
            return self.gate.retry_after()
        return int(min(120, max(1, math.ceil(min(left)))))

    def run_name(self, name: str, scale: float | None = None) -> str:
        """The model that runs for ``name`` at ``scale``: a family's member for that scale, else ``name``."""
        family = self.models[name].family
        return family.member(scale) if family is not None else name

    def rate(self, name: str, scale: float | None = None) -> tuple[float, str]:
        """(seconds per output megapixel, how it was measured) for model ``name`` (at ``scale``, which picks a
        family's member): from its jobs, else a test run."""
        key = self.run_name(name, scale)
        with self._rate_lock:
            known = self.rates.get(key)
            if known is not None:
                return known
            enh = self.enhancer(name, scale)
            scale = enh.scale
            side = max(8, _CALIBRATION_SIDE // max(1, scale))
            rng = np.random.default_rng(0)
            picture = Picture.from_float(rng.random((side, side, 3), dtype=np.float32), bits=8)
            enh.enhance_picture(picture, scale)  # warm-up (first-call costs)
            t0 = time.perf_counter()
            out = enh.enhance_picture(picture, scale)
            encode(out, "PNG")
            seconds = time.perf_counter() - t0
            measured = (seconds * 1e6 / (out.width * out.height), f"a {out.width} × {out.height} test run")
            self.rates[key] = measured
            return measured

    def record_rate(self, name: str, seconds: float, pixels: int) -> None:
        """Fold a finished job's speed into the rate of the model that ran (``run_name``; a running mean)."""
        if pixels < 65536 or seconds <= 0:
            return  # tiny jobs measure overheads, not speed
        per_mpx = seconds * 1e6 / pixels
        with self._rate_lock:
            old = self.rates.get(name)
            value = per_mpx if old is None or old[1].startswith("a ") else 0.7 * old[0] + 0.3 * per_mpx
            self.rates[name] = (value, "recent photos")

    @property
    def pool(self) -> ThreadPoolExecutor:
        """The worker threads (created on first use)."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.settings.workers, thread_name_prefix="srcnn-worker")
            return self._pool

    def close(self) -> None:
        """Stop the workers (running jobs finish)."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None

    def enhancer(self, name: str, scale: float | None = None) -> Enhancer:
        """The loaded model ``name`` (a key of ``models``; ``scale`` picks a family's member), loaded once and
        shared by all workers."""
        key = self.run_name(name, scale)
        with self._load_lock:
            enh = self._enhancers.get(key)
            if enh is None:
                info = self.models[name]
                source, default = (key, None) if key != name else (info.source, info.scale)
                enh = load_model(source, device=self.settings.device, scale=default,
                                 precision=self.settings.precision)
                self._enhancers[key] = enh
            return enh

    async def run_job(self, fn: Callable[[], Any], progress: JobProgress | None = None,
                      request: Request | None = None) -> Any:
        """Run ``fn`` on a worker thread in a queue slot; 503 + Retry-After when the queue is full.

        With ``progress``: its state follows the job, and when the client goes away (``request`` disconnects)
        the job is cancelled, so that the worker stops at its next tile instead of finishing for nobody.
        """
        if not self.gate.try_enter():
            if progress is not None:
                self._finish(progress, "failed")
            raise _busy(self)
        t0 = time.perf_counter()
        try:
            future: Future = self.pool.submit(fn)
        except BaseException:
            self.gate.leave()
            raise

        def done(f: Future) -> None:
            # The slot is freed when the thread finishes, even if this request is cancelled meanwhile.
            self.gate.leave(time.perf_counter() - t0)
            if progress is not None:
                cancelled = f.cancelled() or isinstance(f.exception(), JobCancelled)
                self._finish(progress, "cancelled" if cancelled else "failed" if f.exception() else "done")

        future.add_done_callback(done)
        waiting = asyncio.wrap_future(future)
        if request is None or progress is None:
            return await waiting
        watcher = asyncio.ensure_future(_disconnected(request))
        try:
            finished, _ = await asyncio.wait({waiting, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if waiting in finished:
                return waiting.result()
            progress.cancel()  # the tab was closed or the request aborted: stop the work
            waiting.add_done_callback(lambda f: f.cancelled() or f.exception())  # nobody reads it
            raise ApiError(409, "the job was stopped: the client went away")
        finally:
            watcher.cancel()

    def _finish(self, progress: JobProgress, state: str) -> None:
        progress.state = state
        progress.finished = time.monotonic()


async def _disconnected(request: Request) -> None:
    """Return when the client disconnects (the body has been read whole before this is awaited)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def _busy(state: _State) -> ApiError:
    return ApiError(503, "the server is busy, try again shortly", {"Retry-After": str(state.retry_after())})


# --------------------------------------------------------------------------------------------------------------
# Reading the upload: bounded, streamed, in memory


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
                raise ApiError(413, f"upload too large (the limit is {_mb(self.max_file_bytes)})")
            raise ApiError(422, f"form field {self._name!r} is too long")
        self._buf += data[start:end]

    def _part_end(self) -> None:
        if self._is_file:
            self.files.append((self._filename, self._buf))
        else:
            self.fields[self._name] = self._buf.decode("utf-8", "replace")
        self._buf = bytearray()


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.3g} MB"


async def read_upload(request: Request, settings: ServeSettings) -> Upload:
    """The request's multipart form, read from the ASGI stream under the byte limit and read deadline."""
    body_limit = settings.max_upload_bytes + _FORM_OVERHEAD
    too_large = f"upload too large (the limit is {_mb(settings.max_upload_bytes)})"
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
# Options and the work itself (runs on a worker thread)


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
    value = float(text)
    if not 1 <= value <= MAX_SCALE:
        raise ApiError(422, f"scale must be from 1 to {MAX_SCALE}, got {text}")
    return int(value) if value.is_integer() else value


def parse_output(fields: dict[str, str]) -> tuple[str, int | None]:
    """The form fields ``format`` (keep|png|jpeg|webp, any case; jpg = jpeg) and ``quality`` (1-100) -> (format,
    quality); 422 with a clear message for anything else."""
    raw_format = fields.get("format", "").strip()
    fmt = _FORMAT_ALIASES.get(raw_format.lower() or "keep")
    if fmt is None:
        raise ApiError(422, f"format must be one of {', '.join(OUTPUT_FORMATS)}, got {raw_format[:20]!r}",
                       extra={"formats": list(OUTPUT_FORMATS)})
    raw_quality = fields.get("quality", "").strip()
    if not raw_quality:
        return fmt, None
    if not _QUALITY_TEXT.fullmatch(raw_quality) or not 1 <= int(raw_quality) <= 100:
        raise ApiError(422, f"quality must be a whole number from 1 to 100, got {raw_quality[:20]!r}")
    return fmt, int(raw_quality)


def parse_job(fields: dict[str, str], state: _State) -> Job:
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


def _enhance_job(state: _State, upload: Upload, job: Job, progress: JobProgress | None = None) -> Result:
    """Decode, enhance, optionally self-check, and encode (encode_output: by default in the upload's format).

    ``progress`` gets tiles done / total and may cancel the job: its tick raises JobCancelled inside the enhancer.
    """
    t0 = time.perf_counter()
    if progress is not None:
        progress.check()  # cancelled while waiting in the queue
        progress.state, progress.started = "running", time.monotonic()
    picture = decode_upload(upload.data, job.scale, state.settings)
    enhancer = state.enhancer(job.model, job.scale)
    out_h, out_w = output_size(picture.height, job.scale), output_size(picture.width, job.scale)
    if progress is not None:
        progress.total = enhancer.tile_count(picture.height, picture.width, job.scale)
        with state._rate_lock:
            rate = state.rates.get(state.run_name(job.model, job.scale))
        progress.estimate = None if rate is None else rate[0] * out_h * out_w / 1e6
    out = enhancer.enhance_picture(picture, job.scale, progress=None if progress is None else progress.tick)
    if progress is not None:
        progress.check()
        progress.done = progress.total
    check = None
    if job.selfcheck:
        check = selfcheck(picture, enhancer, state.enhancer("bicubic"), job.model, job.scale,
                          state.settings.selfcheck_crop)
    body, fmt, quality, notes = encode_output(out, picture.format, job.format, job.quality)
    seconds = time.perf_counter() - t0
    if not job.selfcheck:
        state.record_rate(state.run_name(job.model, job.scale), seconds, out.width * out.height)
    return Result(body, _MEDIA_TYPES[fmt], _EXTENSIONS[fmt], (picture.width, picture.height),
                  (out.width, out.height), check, seconds, fmt, picture.format, quality, notes)


def _selfcheck_job(state: _State, upload: Upload, job: Job) -> dict[str, Any]:
    """Decode and run only the self-check."""
    picture = decode_upload(upload.data, job.scale, state.settings)
    out = selfcheck(picture, state.enhancer(job.model, job.scale), state.enhancer("bicubic"), job.model, job.scale,
                    state.settings.selfcheck_crop)
    out["input_size"] = [picture.width, picture.height]
    return out


def _download_name(filename: str, model: str, scale: float, extension: str) -> str:
    stem = Path(filename.replace("\\", "/")).stem if filename else ""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:60] or "photo"
    tag = re.sub(r"[^A-Za-z0-9._-]+", "_", model)[:40]
    return f"{stem}_{tag}_x{scale}.{extension}"


# --------------------------------------------------------------------------------------------------------------
# The app

_FORM_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "the photo (any common format)"},
                        "model": {"type": "string", "description": "a name from GET /api/models (default: the "
                                  "default model)"},
                        "scale": {"type": "number", "minimum": 1, "maximum": MAX_SCALE,
                                  "description": f"upscale factor from 1 to {MAX_SCALE}, whole or not (e.g. 1.5); "
                                  "each side becomes ceil(side x scale) (default: the model's)"},
                        "selfcheck": {"type": "boolean", "description": "also run the 'did it help?' check"},
                        "format": {"type": "string", "enum": list(OUTPUT_FORMATS), "default": "keep",
                                   "description": "output format: keep (JPEG in: JPEG; PNG in: PNG; anything else: "
                                   "PNG), png (keeps 16 bits and transparency), jpeg (neither: transparency is "
                                   "flattened onto white), webp (keeps transparency, not 16 bits)"},
                        "quality": {"type": "integer", "minimum": 1, "maximum": 100, "default": DEFAULT_QUALITY,
                                    "description": "JPEG/WebP quality (WebP 100: lossless); ignored for PNG"},
                    },
                }
            }
        },
    },
}
_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": text, "content": {"application/json": {"example": {"error": text}}}}
    for code, text in [
        (403, "cross-origin request refused"),
        (408, "the upload took too long"),
        (413, "upload too large"),
        (415, "not an image"),
        (422, f"too many pixels, unknown model, bad scale (not a number from 1 to {MAX_SCALE}, or not one the "
              "model is made for: then also allowed_scales), format or quality"),
        (503, "busy: see Retry-After"),
    ]
}


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    """Build the web app (page, API, limits, worker pool) for ``settings``."""
    settings = settings or ServeSettings()
    if settings.torch_threads:
        import torch

        torch.set_num_threads(settings.torch_threads)
    state = _State(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        state.close()

    app = FastAPIOffline(
        title="srcnn serve",
        summary="Restore detail in photos with SRCNN.",
        version=_version(),
        docs_url="/docs",
        redoc_url=None,
        static_url="/docs-static",
        lifespan=lifespan,
    )
    app.state.srcnn = state

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.message, exc.headers, exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        return _error(422, str(first.get("msg", "invalid request")))

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})

    @app.get("/healthz", summary="Liveness check")
    async def healthz() -> dict[str, str]:
        """Always {"status": "ok"} while the server runs."""
        return {"status": "ok"}

    @app.get("/api/models", summary="Models this server offers")
    async def models() -> list[dict[str, Any]]:
        """[{name, task, scale, scales, purpose, summary, state, metrics, default}], bicubic included.

        ``scales``: the scales the model is made for, a list of values ([2]) or a range ({"min": 1, "max": 4});
        other scales are refused with 422. ``purpose``: one plain sentence; ``summary``: how it was trained.
        """
        return [
            {"name": m.name, "task": m.task, "scale": m.scale, "scales": m.scales.as_json(), "purpose": m.purpose,
             "summary": m.summary, "state": m.state, "metrics": m.metrics, "default": m.name == state.default_model}
            for m in state.models.values()
        ]

    @app.get("/api/limits", summary="This server's request limits")
    async def limits() -> dict[str, Any]:
        """Byte, pixel and scale limits, so that a client can check before uploading.

        Any scale from ``min_scale`` to ``max_scale`` is accepted (e.g. 1.5); ``scales`` are the page's presets.
        The output of an H x W photo is ceil(H x scale) x ceil(W x scale) pixels, at most ``max_output_pixels``.
        """
        return {
            "max_upload_bytes": settings.max_upload_bytes,
            "max_pixels": settings.max_pixels,
            "max_output_pixels": settings.output_pixel_limit,
            "scales": list(SCALE_PRESETS),
            "min_scale": 1,
            "max_scale": MAX_SCALE,
            "selfcheck_crop": settings.selfcheck_crop,
        }

    async def _accept(request: Request) -> tuple[Upload, Job]:
        # Cheap refusals first, before a byte of the body is read.
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > settings.max_upload_bytes + _FORM_OVERHEAD:
            raise ApiError(413, f"upload too large (the limit is {_mb(settings.max_upload_bytes)})",
                           {"Connection": "close"})
        if state.gate.full():
            raise _busy(state)
        upload = await read_upload(request, settings)
        return upload, parse_job(upload.fields, state)

    @app.post("/api/enhance", summary="Enhance a photo", openapi_extra=_FORM_SCHEMA, response_class=Response,
              responses={200: {"description": "the enhanced image in the chosen format (by default the upload's: "
                                               "JPEG in: JPEG q95 out; PNG in: PNG out; anything else: PNG)",
                               "content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}},
                         **_ERROR_RESPONSES})
    async def enhance(request: Request) -> Response:
        """Multipart form: file, model, scale, selfcheck, format, quality -> image bytes; X-Srcnn-* headers describe
        the result: X-Srcnn-Format (PNG, JPEG or WEBP), X-Srcnn-Input-Format, X-Srcnn-Quality (JPEG/WebP) and
        X-Srcnn-Format-Note (what changed on the way: the format, transparency or depth), besides size and time."""
        upload, job = await _accept(request)
        progress = state.new_job(job.job_id)
        try:
            result: Result = await state.run_job(lambda: _enhance_job(state, upload, job, progress), progress,
                                                 request)
        except JobCancelled:
            raise ApiError(409, "the job was stopped") from None
        name = _download_name(upload.filename, job.model, job.scale, result.extension)
        headers = {
            "X-Srcnn-Job": progress.id,
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Srcnn-Model": job.model,
            "X-Srcnn-Scale": str(job.scale),
            "X-Srcnn-Input-Size": "{}x{}".format(*result.input_size),
            "X-Srcnn-Output-Size": "{}x{}".format(*result.output_size),
            "X-Srcnn-Seconds": f"{result.seconds:.3f}",
            "X-Srcnn-Format": result.format,
            "X-Srcnn-Input-Format": result.input_format or "unknown",
        }
        if result.quality is not None:
            headers["X-Srcnn-Quality"] = str(result.quality)
        if result.notes:
            headers["X-Srcnn-Format-Note"] = "; ".join(result.notes).encode("ascii", "replace").decode()
        if result.selfcheck is not None:
            headers["X-Srcnn-Selfcheck"] = json.dumps(result.selfcheck, separators=(",", ":"))
        return Response(result.body, media_type=result.media_type, headers=headers)

    @app.get("/api/jobs/{job_id}", summary="A job's progress")
    async def job_progress(job_id: str) -> dict[str, Any]:
        """{id, state (queued, running, done, failed, cancelled), done, total (tiles), elapsed, waited, remaining (s)}.

        The id is the ``job`` form field sent with POST /api/enhance (or its X-Srcnn-Job answer header).
        """
        progress = state.jobs.get(job_id)
        if progress is None:
            raise ApiError(404, "no such job (finished jobs are forgotten after a minute)")
        return progress.as_json(time.monotonic())

    @app.delete("/api/jobs/{job_id}", summary="Stop a job")
    async def job_cancel(job_id: str) -> dict[str, Any]:
        """Stops the job: a waiting job never starts, a running one stops at its next tile (its request gets 409)."""
        progress = state.jobs.get(job_id)
        if progress is None:
            raise ApiError(404, "no such job (finished jobs are forgotten after a minute)")
        progress.cancel()
        return progress.as_json(time.monotonic())

    @app.post("/api/jobs/{job_id}/cancel", summary="Stop a job (for navigator.sendBeacon)")
    async def job_cancel_beacon(job_id: str) -> dict[str, Any]:
        """The same as DELETE /api/jobs/{id}, as a POST: what a closing page can send."""
        return await job_cancel(job_id)

    @app.get("/api/estimate", summary="Output size, tiles and expected time of a job, before sending it")
    async def estimate(model: str, width: int, height: int, scale: float) -> dict[str, Any]:
        """{output: [w, h], tiles, seconds, measured_on, fits}: the time is this server's measured rate for the model
        (from recent photos, or a short test run the first time) times the output megapixels.
        """
        if model not in state.models:
            raise ApiError(422, f"unknown model {model!r}: choose one of {', '.join(state.models)}")
        scale_v = parse_scale(str(scale))
        if not 1 <= width <= 1_000_000 or not 1 <= height <= 1_000_000:
            raise ApiError(422, "width and height must be from 1 to 1,000,000")
        out_w, out_h = output_size(width, scale_v), output_size(height, scale_v)
        per_mpx, how = await asyncio.to_thread(state.rate, model, scale_v)
        fits = width * height <= settings.max_pixels and out_w * out_h <= settings.output_pixel_limit
        return {"output": [out_w, out_h], "tiles": state.enhancer(model, scale_v).tile_count(height, width, scale_v),
                "seconds": round(per_mpx * out_w * out_h / 1e6, 2), "measured_on": how, "fits": fits}

    @app.post("/api/selfcheck", summary="'Did it help?' numbers for a photo", openapi_extra=_FORM_SCHEMA,
              responses=_ERROR_RESPONSES)
    async def selfcheck_endpoint(request: Request) -> JSONResponse:
        """Multipart form: file, model, scale -> {psnr_model, psnr_bicubic, gain_db, crop, method, ...}."""
        upload, job = await _accept(request)
        out = await state.run_job(lambda: _selfcheck_job(state, upload, job))
        return JSONResponse(out, headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(_Guard)
    return app


def _version() -> str:
    try:
        from .. import __version__

        return __version__
    except ImportError:  # pragma: no cover
        return "0"

