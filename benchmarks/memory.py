"""Peak memory of `srcnn enhance` against the output size: flat, bounded by the band, not by the photo.

Each case runs in a fresh subprocess that builds a photo-like source (a synthetic HxWx3 uint8 picture, 4:3) whose
output at the scale is the given size, loads the model through ``srcnn.load_model`` like the CLI does (fp32),
enhances it with ``Enhancer.enhance_picture`` and reports its peak resident set (VmHWM from /proc/self/status,
else ru_maxrss), the resident set before the enhancement (Python, torch, the model and the source) and the time
of the enhancement alone. The uint8 result itself (3 bytes per output pixel) is part of the peak.

    python benchmarks/memory.py                          # 12, 25, 50, 100 MP at -s 2, default model and bicubic
    python benchmarks/memory.py --sizes 12 100 --models bicubic
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import peak_mib, photo, status_mib  # noqa: E402


def child(args: argparse.Namespace) -> None:
    """One measured run; prints a JSON line."""
    import torch

    from srcnn.enhance import load_model
    from srcnn.images import Picture

    if args.threads:
        torch.set_num_threads(args.threads)
    enhancer = load_model(args.model, device="cpu", precision="fp32")
    picture = Picture(photo(args.height, args.width))
    before = status_mib("VmRSS")
    t = time.perf_counter()
    out = enhancer.enhance_picture(picture, scale=args.scale)
    seconds = time.perf_counter() - t
    print(json.dumps({"peak_mib": peak_mib(), "before_mib": before, "seconds": seconds,
                      "out": list(out.pixels.shape), "threads": torch.get_num_threads()}))


def source_size(megapixels: float, scale: float) -> tuple[int, int]:
    """A 4:3 source (height, width) whose output at ``scale`` has about ``megapixels`` MP."""
    width = int(round(math.sqrt(megapixels * 1e6 * 4 / 3) / scale))
    return int(round(width * 3 / 4)), width


def run_child(args: argparse.Namespace, model: str, height: int, width: int) -> dict:
    cmd = [sys.executable, __file__, "--child", "--model", model, "--scale", str(args.scale),
           "--width", str(width), "--height", str(height)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        reason = "killed (out of memory?)" if r.returncode < 0 else f"exit {r.returncode}"
        tail = r.stderr.strip().splitlines()[-1:] or [""]
        raise SystemExit(f"memory.py: {model} at {width} x {height} failed: {reason} {tail[0]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=float, nargs="+", default=[12, 25, 50, 100], metavar="MP",
                   help="output sizes in megapixels (default 12 25 50 100)")
    p.add_argument("--models", nargs="+", default=["srcnn-photo", "bicubic"])
    p.add_argument("--scale", type=float, default=2.0)
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--width", type=int, help=argparse.SUPPRESS)
    p.add_argument("--height", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return

    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    print(f"peak RSS of enhance_picture at -s {args.scale:g}, fp32, cpu ({cpu}), torch {torch.__version__}")
    print(f"{'model':<12} {'source':>11} {'output MP':>10} {'peak RSS MiB':>13} {'before MiB':>11} "
          f"{'peak - before':>14} {'seconds':>8}")
    for model in args.models:
        for mp in args.sizes:
            height, width = source_size(mp, args.scale)
            r = run_child(args, model, height, width)
            out_mp = r["out"][0] * r["out"][1] / 1e6
            before = r["before_mib"] if r["before_mib"] is not None else float("nan")
            print(f"{model:<12} {f'{width}x{height}':>11} {out_mp:>10.1f} {r['peak_mib']:>13.0f} {before:>11.0f} "
                  f"{r['peak_mib'] - before:>14.0f} {r['seconds']:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
