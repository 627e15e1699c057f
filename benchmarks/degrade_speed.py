"""Speed of the realistic degradations on training patches, one core: ms per patch for scales 1, 2 and 4.

Each patch is cut from a photo-like image with the margin its drawn parameters need (``Params.margin``), as a
data loader would, degraded, and the margin removed. Prints, per order and scale, the median and mean ms per
patch and the median margin. Threads are pinned to 1 (one DataLoader worker).

    OMP_NUM_THREADS=1 python benchmarks/degrade_speed.py [--patch 128] [--n 100] [--orders second_order]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import photo  # noqa: E402

from srcnn.degrade import ORDERS, RealisticDegradation  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patch", type=int, default=128, help="HR patch side in px (default 128)")
    ap.add_argument("--n", type=int, default=100, help="patches per order and scale (default 100)")
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--orders", nargs="+", default=list(ORDERS), choices=ORDERS)
    args = ap.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    img = photo(1024, 1024).astype(np.float32) / 255.0
    print(f"patch {args.patch} HR px, {args.n} patches each, 1 thread")
    print(f"{'order':<14} {'scale':>5} {'median ms':>10} {'mean ms':>8} {'p90 ms':>7} {'margin':>7}")
    for order in args.orders:
        for s in args.scales:
            deg = RealisticDegradation(scale=s, order=order)
            rng = np.random.default_rng(0)
            times, margins = [], []
            for _ in range(args.n):
                t0 = time.perf_counter()
                params = deg.sample(rng)
                m = params.margin
                side = args.patch + 2 * m
                side = min(side - side % s, img.shape[0] - img.shape[0] % s)
                y, x = (int(v) - int(v) % s for v in rng.integers(0, img.shape[0] - side + 1, 2))
                lr = deg.apply(img[y : y + side, x : x + side], params, rng)
                _ = lr[m // s : (m + args.patch) // s, m // s : (m + args.patch) // s]
                times.append((time.perf_counter() - t0) * 1e3)
                margins.append(m)
            times.sort()
            print(f"{order:<14} {s:>5} {statistics.median(times):>10.2f} {statistics.fmean(times):>8.2f} "
                  f"{times[int(0.9 * len(times))]:>7.2f} {int(statistics.median(margins)):>7}")


if __name__ == "__main__":
    main()
