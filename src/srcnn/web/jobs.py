"""The job machinery: admission (:class:`JobGate`), progress and cancelling (:class:`JobProgress`) and the per-app
:class:`State` (models, enhancers, worker pool, tracked jobs, measured speeds)."""

from __future__ import annotations

import asyncio
import math
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import Request

from ..enhance import Enhancer, load_model
from ..images import Picture, encode
from .models import model_table
from .settings import ApiError, ServeSettings

__all__ = ["JobGate", "JobCancelled", "JobProgress", "State", "busy"]

_KEEP_FINISHED_JOBS = 60.0  # seconds a finished job's progress stays readable
_MAX_TRACKED_JOBS = 512
_CALIBRATION_SIDE = 384  # output px per side of the test run that measures a model's speed


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


class State:
    """Per-app state: settings, model table, loaded enhancers, worker pool, gate, jobs and measured speeds."""

    def __init__(self, settings: ServeSettings, load: Callable[..., Enhancer] = load_model) -> None:
        self.settings = settings
        self._load = load  # enhance.load_model, or what the app passes
        self.models, self.default_model, preloaded = model_table(settings, load)
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

    def known_rate(self, name: str, scale: float | None = None) -> tuple[float, str] | None:
        """The known rate of the model that runs for ``name`` at ``scale``, else None (unlike ``rate``: no test run)."""
        with self._rate_lock:
            return self.rates.get(self.run_name(name, scale))

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
                enh = self._load(source, device=self.settings.device, scale=default,
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
            raise busy(self)
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


def busy(state: State) -> ApiError:
    """503 + Retry-After: the queue is full."""
    return ApiError(503, "the server is busy, try again shortly", {"Retry-After": str(state.retry_after())})
