"""Load test for `srcnn serve`: N concurrent clients upload small generated photos for a bounded time.

Starts the server in a subprocess on 127.0.0.1 (a free port; loopback only), runs ``--clients`` asyncio + httpx
clients for ``--duration`` seconds, then prints requests/s, p50/p99 latency, the count of each status code, and
the server's peak resident memory (VmHWM from /proc). A 503 (queue full) makes that client wait ``--backoff``
seconds before its next request, as a polite client would.

    .venv/bin/python benchmarks/serve_load.py                      # 32 clients, 20 s, bicubic, 128x128 PNG
    .venv/bin/python benchmarks/serve_load.py --duration 5 --clients 8 --model srcnn-photo
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def make_photos(size: int, count: int = 8) -> list[bytes]:
    """``count`` different size x size PNG 'photos' (gradients, a disc, noise), generated in memory."""
    out = []
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    for i in range(count):
        r = np.random.default_rng(i)
        base = 0.5 + 0.25 * np.sin(xx / (5 + i)) * np.cos(yy / 9.0)
        base += 0.2 * (((xx - size / 2) ** 2 + (yy - size / 2) ** 2) < (size / 3) ** 2)
        img = np.stack([np.clip(base + 0.04 * r.standard_normal(base.shape) + 0.08 * c, 0, 1) for c in range(3)], -1)
        buf = io.BytesIO()
        Image.fromarray(np.round(img * 255).astype(np.uint8)).save(buf, "PNG")
        out.append(buf.getvalue())
    return out


def peak_rss_mb(pid: int) -> tuple[float | None, float | None]:
    """(VmHWM, VmRSS) of a process in MiB from /proc/<pid>/status (None where unavailable)."""
    values: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                values[key] = int(rest.split()[0]) / 1024.0
    except OSError:
        pass
    return values.get("VmHWM"), values.get("VmRSS")


def start_server(port: int, args: argparse.Namespace) -> subprocess.Popen:
    """`srcnn serve` on 127.0.0.1:port in a child process (the python process itself, for /proc)."""
    cmd = [
        sys.executable, "-c", "import sys; from srcnn.cli import main; sys.exit(main(sys.argv[1:]))", "serve",
        "--host", HOST, "--port", str(port), "--workers", str(args.workers), "--queue", str(args.queue),
        "--log-level", "warning",
    ]
    for weights in args.weights:
        cmd += ["--model", weights]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def wait_ready(base: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Poll /healthz until the server answers."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise SystemExit(f"the server exited with {proc.returncode}:\n{err}")
            try:
                if (await client.get(base + "/healthz", timeout=2.0)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the server did not start in time")


def load_corpus(folder: Path) -> list[tuple[str, bytes]]:
    """(name, bytes) of every file in the fuzz corpus folder (malformed and odd images), sorted."""
    return [(f.name, f.read_bytes()) for f in sorted(folder.iterdir()) if f.is_file() and f.suffix != ".json"]


async def load(base: str, args: argparse.Namespace, photos: list[bytes], corpus: list[tuple[str, bytes]]
               ) -> tuple[list[float], collections.Counter, float, collections.Counter]:
    """Run the clients (and the corpus senders); (latencies of 200s in s, statuses, elapsed s, corpus statuses)."""
    statuses: collections.Counter = collections.Counter()
    corpus_statuses: collections.Counter = collections.Counter()
    latencies: list[float] = []
    fields = {"model": args.model}
    if args.scale:
        fields["scale"] = str(args.scale)
    t0 = time.monotonic()
    deadline = t0 + args.duration

    async def client_loop(i: int, client: httpx.AsyncClient) -> None:
        n = i
        while time.monotonic() < deadline:
            photo = photos[n % len(photos)]
            n += 1
            start = time.perf_counter()
            try:
                r = await client.post(base + "/api/enhance", data=fields,
                                      files={"file": (f"bench{n}.png", photo, "image/png")})
                await r.aread()
                status: int | str = r.status_code
            except httpx.HTTPError as e:
                status = type(e).__name__
            elapsed = time.perf_counter() - start
            statuses[status] += 1
            if status == 200:
                latencies.append(elapsed)
            elif status == 503:
                await asyncio.sleep(args.backoff)

    async def corpus_loop(i: int, client: httpx.AsyncClient) -> None:
        n = i
        while time.monotonic() < deadline:
            name, data = corpus[n % len(corpus)]
            n += args.corpus_clients
            try:
                r = await client.post(base + "/api/enhance", data={"model": "bicubic", "scale": "2"},
                                      files={"file": (name, data, "application/octet-stream")})
                await r.aread()
                status: int | str = r.status_code
            except httpx.HTTPError as e:
                status = type(e).__name__
            corpus_statuses[status] += 1
            if status == 503:
                await asyncio.sleep(args.backoff)

    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=args.clients + args.corpus_clients),
                                 timeout=httpx.Timeout(300.0)) as client:
        senders = [corpus_loop(i, client) for i in range(args.corpus_clients)] if corpus else []
        await asyncio.gather(*(client_loop(i, client) for i in range(args.clients)), *senders)
    return latencies, statuses, time.monotonic() - t0, corpus_statuses


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) of ``values``, linear interpolation; nan when empty."""
    return float(np.percentile(values, q)) if values else float("nan")


def _mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} MiB"


def main(argv: list[str] | None = None) -> int:
    """Start the server, load it, print the numbers."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of load (default 20)")
    p.add_argument("--model", default="bicubic", help="model name to request (default bicubic)")
    p.add_argument("--weights", action="append", default=[], metavar="FILE",
                   help="weights file the server should offer (its name is the file stem)")
    p.add_argument("--scale", type=int, help="scale to request (default: the model's)")
    p.add_argument("--size", type=int, default=128, help="side of the square test photos in px (default 128)")
    p.add_argument("--workers", type=int, default=2, help="server --workers (default 2)")
    p.add_argument("--queue", type=int, default=8, help="server --queue (default 8)")
    p.add_argument("--backoff", type=float, default=0.1, help="seconds a client waits after a 503 (default 0.1)")
    p.add_argument("--corpus", type=Path, help="also send every file of this fuzz corpus (e.g. tests/corpus), "
                   "from --corpus-clients extra clients, at the same time")
    p.add_argument("--corpus-clients", type=int, default=4, help="clients sending the corpus (default 4)")
    args = p.parse_args(argv)

    port = free_port()
    base = f"http://{HOST}:{port}"
    photos = make_photos(args.size)
    proc = start_server(port, args)
    try:
        asyncio.run(wait_ready(base, proc))
        _, rss_idle = peak_rss_mb(proc.pid)
        corpus = load_corpus(args.corpus) if args.corpus else []
        latencies, statuses, elapsed, corpus_statuses = asyncio.run(load(base, args, photos, corpus))
        hwm, rss = peak_rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    total = sum(statuses.values())
    ok = statuses.get(200, 0)
    print(f"srcnn serve load test: {args.clients} clients x {elapsed:.1f} s, model {args.model}, "
          f"{args.size}x{args.size} PNG, server --workers {args.workers} --queue {args.queue}, "
          f"{os.cpu_count()} CPUs")
    print(f"requests      {total}  ({total / elapsed:.1f}/s)")
    print(f"ok (200)      {ok}  ({ok / elapsed:.1f}/s)")
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    print(f"latency ok    p50 {p50:.0f} ms   p99 {p99:.0f} ms")
    others = {k: v for k, v in statuses.items() if k != 200}
    print("errors        " + (", ".join(f"{k}: {v}" for k, v in sorted(others.items(), key=str)) or "none"))
    unexpected = sum(v for k, v in statuses.items() if k not in (200, 503))
    if corpus:
        print(f"corpus        {sum(corpus_statuses.values())} uploads of {len(corpus)} crafted files: "
              + ", ".join(f"{k}: {v}" for k, v in sorted(corpus_statuses.items(), key=str)))
        unexpected += sum(v for k, v in corpus_statuses.items() if not (isinstance(k, int) and k < 500 or k == 503))
    print(f"unexpected    {unexpected}  (anything but 200/503 for the photos; 5xx other than 503 for the corpus)")
    print(f"server memory peak {_mib(hwm)} (VmHWM), now {_mib(rss)}, idle before load {_mib(rss_idle)}")
    return 0 if ok and not unexpected else 1


if __name__ == "__main__":
    sys.exit(main())
