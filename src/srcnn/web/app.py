"""The `srcnn serve` web app: a FastAPI factory (:func:`create_app`), a bounded worker pool and the HTTP API.

Request path of ``POST /api/enhance``: Origin check -> Content-Length check (413) -> queue check (503) -> the body
is read from the ASGI stream chunk by chunk into an in-memory multipart parser, stopping at the byte limit (413)
or the read deadline (408) -> fields validated (422) -> a slot in the bounded job queue (503 + Retry-After) ->
decode (images.read: 415 not an image, 422 too many pixels), enhance and encode on a worker thread -> image bytes.
Nothing a user sends is written to disk.

This module holds the routes and the two jobs they run; the parts beside it: ``settings`` (ServeSettings,
ApiError), ``guard`` (headers, Origin check), ``models``, ``jobs`` (queue, progress, State), ``upload`` (reading
and validating a request) and ``output`` (self-check, encoding).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..enhance import Enhancer, load_model
from ..resize import output_size
from .guard import CSP, Guard
from .guard import DOCS_CSP as DOCS_CSP  # the "X as X" names: re-exported, importable from here as before the split
from .jobs import JobCancelled, JobProgress, State, busy
from .jobs import JobGate as JobGate
from .models import ModelInfo as ModelInfo
from .output import DEFAULT_QUALITY, EXTENSIONS, MEDIA_TYPES, Result, encode_output, selfcheck
from .output import SELFCHECK_JPEG_QUALITY as SELFCHECK_JPEG_QUALITY
from .settings import MAX_SCALE, ApiError, ServeSettings, error
from .upload import FORM_OVERHEAD, OUTPUT_FORMATS, Job, Upload, decode_upload, mb, parse_job, parse_scale, read_upload
from .upload import parse_output as parse_output

__all__ = ["ServeSettings", "create_app", "ApiError", "CSP", "MAX_SCALE"]

log = logging.getLogger("srcnn.web")

STATIC_DIR = Path(__file__).resolve().parent / "static"
SCALE_PRESETS = (1, 1.5, 2, 2.5, 3, 4)  # the page's choices (static/index.html), listed by GET /api/limits


# --------------------------------------------------------------------------------------------------------------
# The work the routes run (on a worker thread)


def _load(source: Any, *args: Any, **kwargs: Any) -> Enhancer:
    """enhance.load_model, looked up in this module at each call (tests replace ``srcnn.web.app.load_model``)."""
    return load_model(source, *args, **kwargs)


def _enhance_job(state: State, upload: Upload, job: Job, progress: JobProgress | None = None) -> Result:
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
        rate = state.known_rate(job.model, job.scale)
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
    return Result(body, MEDIA_TYPES[fmt], EXTENSIONS[fmt], (picture.width, picture.height),
                  (out.width, out.height), check, seconds, fmt, picture.format, quality, notes)


def _selfcheck_job(state: State, upload: Upload, job: Job) -> dict[str, Any]:
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
    state = State(settings, _load)

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
        return error(exc.status, exc.message, exc.headers, exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        return error(422, str(first.get("msg", "invalid request")))

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
        if length is not None and length.isdigit() and int(length) > settings.max_upload_bytes + FORM_OVERHEAD:
            raise ApiError(413, f"upload too large (the limit is {mb(settings.max_upload_bytes)})",
                           {"Connection": "close"})
        if state.gate.full():
            raise busy(state)
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
    app.add_middleware(Guard)
    return app


def _version() -> str:
    try:
        from .. import __version__

        return __version__
    except ImportError:  # pragma: no cover
        return "0"

