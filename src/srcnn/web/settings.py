"""What `srcnn serve` can be told (:class:`ServeSettings`, whose defaults the options show) and how a request is
refused (:class:`ApiError`). Importing it needs no web library."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi.responses import JSONResponse

__all__ = ["ServeSettings", "ApiError", "error", "MAX_SCALE"]

MAX_SCALE = 4  # the largest scale a request may ask for; any number from 1 to MAX_SCALE, such as 1.5, is accepted

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


def error(status: int, message: str, headers: dict[str, str] | None = None,
          extra: dict[str, Any] | None = None) -> JSONResponse:
    """The JSON error response ``{"error": message, **extra}``."""
    from fastapi.responses import JSONResponse  # here: the settings are read without the web extra

    return JSONResponse({"error": message, **(extra or {})}, status_code=status, headers=headers)
