"""`srcnn serve`: a local web page and HTTP API for enhancing photos (FastAPI + uvicorn, the `web` extra).

Importing this package is cheap and needs no web libraries; ``create_app`` and ``ServeSettings`` load the
app module (FastAPI) on first use. The CLI wires ``add_arguments(parser)`` and ``run(args)``.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from typing import TYPE_CHECKING, Any

from ..argtypes import int_in, positive_float
from ..choices import DEVICES, PRECISION_HELP, PRECISIONS
from ..errors import fail, warn
from .settings import ServeSettings

if TYPE_CHECKING:
    from .app import create_app

__all__ = ["add_arguments", "run", "settings_from_args", "create_app", "ServeSettings"]


def __getattr__(name: str) -> Any:
    """Load ``create_app`` from the app module on first use."""
    if name == "create_app":
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_positive = int_in(1)
_non_negative = int_in(0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `srcnn serve` options to ``parser``."""
    parser.description = (
        "Serve a web page (and an HTTP API, documented at /docs) to enhance photos in the browser. Listens on "
        "127.0.0.1 only, unless --host says otherwise. Uploads stay in memory and are never written to disk.")
    d = ServeSettings()
    mib = 1024 * 1024
    parser.add_argument("--host", default=d.host, help=f"address to listen on (default {d.host}: this "
                        "computer only; 0.0.0.0 exposes it to your network)")
    parser.add_argument("--port", type=int, default=d.port, help=f"TCP port (default {d.port})")
    parser.add_argument("--workers", type=_positive, default=d.workers,
                        help=f"photos processed at the same time (threads; default {d.workers})")
    parser.add_argument("--queue", type=_non_negative, default=d.queue,
                        help=f"photos that may wait for a worker; more get 503 + Retry-After (default {d.queue})")
    parser.add_argument("--max-upload-mb", type=positive_float, default=d.max_upload_bytes / mib,
                        help=f"largest upload in MB (default {d.max_upload_bytes / mib:g})")
    parser.add_argument("--max-pixels", type=_positive, default=d.max_pixels,
                        help=f"largest input in pixels (default {d.max_pixels:,})")
    parser.add_argument("--max-output-pixels", type=_positive, default=d.max_output_pixels,
                        help="largest output in pixels, ceil(H x scale) x ceil(W x scale) (default 2.5 x "
                             "--max-pixels, at most what --worker-memory-mb holds)")
    parser.add_argument("--worker-memory-mb", type=_positive, default=d.worker_memory_mb,
                        help=f"memory one worker's job may use; caps the default output limit (default "
                             f"{d.worker_memory_mb}: 107 MP; 1024: 61 MP)")
    parser.add_argument("--read-timeout", type=positive_float, default=d.read_timeout,
                        help=f"seconds a client may take to send its upload; slower gets 408 (default "
                             f"{d.read_timeout:g})")
    parser.add_argument("--model", dest="extra_models", action="append", default=[], metavar="WEIGHTS",
                        help="also offer this weights file (repeatable); the first becomes the default when "
                             "srcnn-photo does not ship")
    parser.add_argument("--device", default="auto", choices=DEVICES)
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help=PRECISION_HELP)
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])


def settings_from_args(args: argparse.Namespace) -> ServeSettings:
    """ServeSettings from parsed `srcnn serve` options (torch threads: cores / workers)."""
    workers = int(args.workers)
    return ServeSettings(
        host=args.host,
        port=int(args.port),
        workers=workers,
        queue=int(args.queue),
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        max_pixels=int(args.max_pixels),
        max_output_pixels=args.max_output_pixels,
        worker_memory_mb=args.worker_memory_mb,
        read_timeout=float(args.read_timeout),
        device=args.device,
        precision=args.precision,
        torch_threads=max(1, (os.cpu_count() or 1) // workers),
        extra_models=tuple(args.extra_models),
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    """Run `srcnn serve` until interrupted; returns the exit code."""
    try:
        import uvicorn

        from .app import create_app
    except ImportError as e:
        return fail(f"the web app needs the web extra: pip install 'srcnn[web]' ({e})")
    try:
        settings = settings_from_args(args)
        app = create_app(settings)
    except Exception as e:  # noqa: BLE001 - bad settings or an unreadable --model file: one line, no traceback
        return fail(str(e))
    if not _is_loopback(settings.host):
        warn(f"listening on {settings.host}: anyone who can reach this machine can use it")
    shown = f"[{settings.host}]" if ":" in settings.host else settings.host
    print(f"srcnn serve: open http://{shown}:{settings.port}/  (API docs at /docs; Ctrl+C stops)", file=sys.stderr)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level=args.log_level,
                            timeout_keep_alive=5, server_header=False)
    server = uvicorn.Server(config)
    try:
        server.run()
    except KeyboardInterrupt:
        return 130
    except SystemExit as e:  # uvicorn exits 1 when it cannot bind
        return int(e.code or 0)
    return 0 if server.started else 1
