"""Peak memory of `srcnn enhance` on a 12-MP photo: tiled (bounded by the tile) against untiled (whole image).

Each case runs in a fresh subprocess that builds the photo (a synthetic HxWx3 uint8 picture), loads an SRCNN
9-5-5 (64-32, random weights) through ``srcnn.load_model`` like the CLI does, enhances it at scale 1 and reports
its peak resident set (VmHWM from /proc/self/status, else ru_maxrss) and the time of the enhancement alone.
Then, in this process, the float outputs of the tiled and untiled passes are compared on a smaller crop.

    python benchmarks/memory.py                          # 4032 x 3024 (12.2 MP), default tile
    python benchmarks/memory.py --width 512 --height 384 --tile 128
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import peak_mib, photo, status_mib  # noqa: E402


def _weights(folder: str) -> str:
    import torch

    from srcnn.checkpoint import save_weights
    from srcnn.model import SRCNN

    torch.manual_seed(0)
    path = os.path.join(folder, "srcnn-955.safetensors")
    save_weights(path, SRCNN(f1=9, f2=5, f3=5, n1=64, n2=32, residual=False), {"scale": 1, "task": "sr"})
    return path


def child(args: argparse.Namespace) -> None:
    """One measured run; prints a JSON line."""
    import torch

    from srcnn.enhance import load_model
    from srcnn.images import Picture

    if args.threads:
        torch.set_num_threads(args.threads)
    enhancer = load_model(args.weights, device="cpu", scale=1)
    picture = Picture(photo(args.height, args.width))
    before = status_mib("VmRSS")
    t = time.perf_counter()
    out = enhancer.enhance_picture(picture, scale=1, tile=args.run_tile)
    seconds = time.perf_counter() - t
    assert out.pixels.shape == picture.pixels.shape
    print(json.dumps({"peak_mib": peak_mib(), "before_mib": before, "seconds": seconds,
                      "threads": torch.get_num_threads()}))


def run_child(args: argparse.Namespace, weights: str, tile: int) -> dict:
    cmd = [sys.executable, __file__, "--child", "--weights", weights, "--run-tile", str(tile),
           "--width", str(args.width), "--height", str(args.height)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        reason = "killed (out of memory?)" if r.returncode < 0 else f"exit {r.returncode}"
        tail = r.stderr.strip().splitlines()[-1:] or [""]
        raise SystemExit(f"memory.py: the {tile}-px run failed: {reason} {tail[0]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def crop_diff(weights: str, tile: int, height: int, width: int) -> float:
    """Max |tiled - untiled| of the float RGB outputs on a height x width crop of the same kind of photo."""
    import numpy as np

    from srcnn.enhance import load_model

    enhancer = load_model(weights, device="cpu", scale=1)
    x = photo(height, width).astype(np.float32) / 255.0
    tiled = enhancer.enhance_array(x, scale=1, tile=tile)
    whole = enhancer.enhance_array(x, scale=1, tile=max(height, width) + 1)
    return float(np.abs(tiled - whole).max())


def main() -> None:
    from srcnn.enhance import DEFAULT_TILE

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=4032)
    p.add_argument("--height", type=int, default=3024)
    p.add_argument("--tile", type=int, default=DEFAULT_TILE, help=f"tile of the tiled run (default {DEFAULT_TILE})")
    p.add_argument("--crop", type=int, nargs=2, default=[384, 512], metavar=("H", "W"),
                   help="size of the crop on which tiled and untiled float outputs are compared")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--weights", help=argparse.SUPPRESS)
    p.add_argument("--run-tile", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return

    import torch

    untiled = max(args.width, args.height) + 1
    mp = args.width * args.height / 1e6
    with tempfile.TemporaryDirectory() as folder:
        weights = _weights(folder)
        print(f"{args.width} x {args.height} RGB ({mp:.1f} MP), scale 1, SRCNN 9-5-5 (64-32) on Y, cpu, "
              f"torch {torch.__version__}")
        print(f"{'run':<8} {'tile':>6} {'peak RSS MiB':>13} {'before MiB':>11} {'seconds':>8}")
        for name, tile in (("tiled", args.tile), ("untiled", untiled)):
            r = run_child(args, weights, tile)
            before = f"{r['before_mib']:.0f}" if r["before_mib"] is not None else "?"
            print(f"{name:<8} {tile:>6} {r['peak_mib']:>13.0f} {before:>11} {r['seconds']:>8.2f}", flush=True)
        ch, cw = min(args.crop[0], args.height), min(args.crop[1], args.width)
        tile = min(args.tile, max(1, max(ch, cw) // 2))  # at least two tiles across the crop
        diff = crop_diff(weights, tile, ch, cw)
        print(f"tiled (tile {tile}) vs untiled max |diff| of float outputs on a {cw} x {ch} crop: {diff:.2e}")


if __name__ == "__main__":
    main()
