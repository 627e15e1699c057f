"""Speed of the project's one bicubic (``srcnn.resize.imresize``) against Pillow's, on the same planes, one run.

For each case it resizes the same three float32 planes of a photo-like 4:3 picture (the benchmark's synthetic
photo, /255) with ``imresize`` on a (3, H, W) torch tensor and with Pillow's ``Image.resize(..., BICUBIC)`` on
three 'F'-mode images, interleaved, and prints the medians of --repeats, the ratio ours / Pillow (the issue's
target: at most 3), and the max abs difference of ``imresize`` to the previous implementation kept as the oracle
in tests/reference_resize.py (target: at most 1e-6). Cases: 3 MP -> 12 MP (x2), 1.33 MP -> 12 MP (x3),
0.75 MP -> 12 MP (x4), 12 MP -> 1.33 MP (x1/3). The CPU (lscpu) and torch's thread count are printed: compare
only figures from one run (ratios survive a busy machine better than seconds do).

    python benchmarks/bicubic.py                    # median of 5
    python benchmarks/bicubic.py --repeats 2 --no-reference
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
from _common import photo  # noqa: E402

FULL = (3024, 4032)  # H x W of the 12-MP picture
CASES = (  # name, input H x W, scale
    ("x2   3 MP -> 12 MP", (1512, 2016), 2.0),
    ("x3   1.33 MP -> 12 MP", (1008, 1344), 3.0),
    ("x4   0.75 MP -> 12 MP", (756, 1008), 4.0),
    ("x1/3 12 MP -> 1.33 MP", FULL, 1 / 3),
)


def cpu_name() -> str:
    """The CPU's model name from lscpu (or platform.processor())."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in text.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    import platform

    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    """Run every case, print one table; exit 1 when a ratio is over --target or a difference over 1e-6."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per method and case (median; default 5)")
    ap.add_argument("--target", type=float, default=3.0, help="the most ours / Pillow may be (default 3)")
    ap.add_argument("--no-reference", action="store_true", help="skip the (slow) comparison with the oracle")
    args = ap.parse_args(argv)

    import numpy as np
    import torch
    from PIL import Image

    from srcnn.resize import imresize, output_size

    ref = None
    if not args.no_reference:
        import reference_resize as ref

    print(f"CPU: {cpu_name()}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"Pillow {Image.__version__}; median of {args.repeats}")
    rgb = photo(*FULL, seed=0)
    print(f"{'case':24s} {'ours s':>8s} {'Pillow s':>9s} {'ratio':>6s} {'max |ours - ref|':>17s}")
    ok = True
    for name, (h, w), scale in CASES:
        src = rgb if (h, w) == FULL else np.asarray(Image.fromarray(rgb).resize((w, h), Image.BICUBIC))
        planes = torch.from_numpy(np.ascontiguousarray(src.transpose(2, 0, 1), dtype=np.float32) / 255.0)
        images = [Image.fromarray(planes[c].numpy(), "F") for c in range(3)]
        oh, ow = output_size(h, scale), output_size(w, scale)
        ours_t, pil_t = [], []
        for _ in range(args.repeats):  # interleaved, so both see the same load
            t0 = time.perf_counter()
            out = imresize(planes, scale)
            ours_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            [im.resize((ow, oh), Image.BICUBIC) for im in images]
            pil_t.append(time.perf_counter() - t0)
        assert tuple(out.shape) == (3, oh, ow)
        ours, pil = float(np.median(ours_t)), float(np.median(pil_t))
        diff = "skipped"
        if ref is not None:
            d = float((out.double() - ref.imresize(planes, scale).double()).abs().max())
            diff = f"{d:.2e}"
            ok &= d <= 1e-6
        ok &= ours / pil <= args.target
        print(f"{name:24s} {ours:8.3f} {pil:9.3f} {ours / pil:6.2f} {diff:>17s}", flush=True)
    verdict = "met" if ok else "NOT met"
    print(f"ratio = ours / Pillow (target <= {args.target:g}); difference target <= 1e-6: {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
