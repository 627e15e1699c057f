"""Peak memory of `srcnn enhance` against the output size: flat, bounded by the band, not by the photo.

Default (the CLI path): for each model, output size and output format, a fresh subprocess runs ``srcnn enhance``
(``srcnn.cli.main``, fp32, CPU) on a photo-like PNG source (a synthetic 4:3 HxWx3 uint8 picture, written
beforehand by another subprocess) whose output at the scale is the given size, and reports its peak resident
set (VmHWM from /proc/self/status, else ru_maxrss): Python, torch, the model, the decoded source, the bands, and
the output being encoded. PNG and TIFF are written band by band as they are produced (``Enhancer.enhance_to_file``,
:class:`srcnn.bandfile.BandWriter`), so their peak should stay flat as the output grows; JPEG, WebP and BMP hold the
result whole (Pillow's encoders need it), so theirs grows by about 3 bytes per output pixel, plus the encoder's own.

``--library`` measures ``Enhancer.enhance_picture`` instead (the result held whole as a Picture, no file), as this
benchmark did before the streamed path: the resident set before the enhancement and the time of it alone too.

    python benchmarks/memory.py                          # 12, 25, 50, 100 MP at -s 2; srcnn-photo, bicubic; png tif jpg
    python benchmarks/memory.py --sizes 12 100 --models bicubic --formats png jpg
    python benchmarks/memory.py --library --sizes 12 100
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import peak_mib, photo, status_mib  # noqa: E402


def child_library(args: argparse.Namespace) -> None:
    """One measured enhance_picture; prints a JSON line."""
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


def child_source(args: argparse.Namespace) -> None:
    """Write the source PNG (in its own process, so that making it is not part of any measured peak)."""
    from srcnn.images import Picture, write

    write(args.source, Picture(photo(args.height, args.width)))


def child_cli(args: argparse.Namespace) -> None:
    """One measured `srcnn enhance` of args.source to args.out; prints a JSON line."""
    import torch

    from srcnn.cli import main

    if args.threads:
        torch.set_num_threads(args.threads)
    before = status_mib("VmRSS")  # Python and torch imported; no model, no picture yet
    t = time.perf_counter()
    code = main(["enhance", args.source, "-o", args.out, "-m", args.model, "-s", str(args.scale), "--device", "cpu",
                 "--precision", "fp32", "--force", "--quiet", "--max-output-pixels", str(10**10)])
    seconds = time.perf_counter() - t
    if code != 0:
        raise SystemExit(f"srcnn enhance exited {code}")
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None
    with Image.open(args.out) as im:
        size = im.size
    print(json.dumps({"peak_mib": peak_mib(), "before_mib": before, "seconds": seconds, "out": [size[1], size[0]],
                      "bytes": os.path.getsize(args.out), "threads": torch.get_num_threads()}))


def source_size(megapixels: float, scale: float) -> tuple[int, int]:
    """A 4:3 source (height, width) whose output at ``scale`` has about ``megapixels`` MP."""
    width = int(round(math.sqrt(megapixels * 1e6 * 4 / 3) / scale))
    return int(round(width * 3 / 4)), width


def run(cmd: list[str], what: str) -> dict | None:
    r = subprocess.run([sys.executable, __file__, *cmd], capture_output=True, text=True)
    if r.returncode != 0:
        reason = "killed (out of memory?)" if r.returncode < 0 else f"exit {r.returncode}"
        tail = r.stderr.strip().splitlines()[-1:] or [""]
        raise SystemExit(f"memory.py: {what} failed: {reason} {tail[0]}")
    lines = r.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=float, nargs="+", default=[12, 25, 50, 100], metavar="MP",
                   help="output sizes in megapixels (default 12 25 50 100)")
    p.add_argument("--models", nargs="+", default=["srcnn-photo", "bicubic"])
    p.add_argument("--formats", nargs="+", default=["png", "tif", "jpg"], metavar="EXT",
                   help="output formats for the CLI path (default png tif jpg)")
    p.add_argument("--scale", type=float, default=2.0)
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    p.add_argument("--library", action="store_true", help="measure Enhancer.enhance_picture, not the CLI")
    for hidden in ("--child", "--model", "--source", "--out"):
        p.add_argument(hidden, help=argparse.SUPPRESS)
    p.add_argument("--width", type=int, help=argparse.SUPPRESS)
    p.add_argument("--height", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        {"library": child_library, "source": child_source, "cli": child_cli}[args.child](args)
        return

    import platform

    import torch

    from srcnn.bandfile import STREAMED_FORMATS
    from srcnn.images import format_for_path

    cpu = _cpu_name() or platform.processor() or platform.machine()
    threads = ["--threads", str(args.threads)] if args.threads else []
    what = "Enhancer.enhance_picture (result held whole)" if args.library else "srcnn enhance (the CLI path)"
    print(f"peak RSS of {what} at -s {args.scale:g}, fp32, {os.cpu_count()} cores ({cpu}), torch {torch.__version__}")
    if args.library:
        print(f"{'model':<12} {'source':>11} {'output MP':>10} {'peak RSS MiB':>13} {'before MiB':>11} "
              f"{'peak - before':>14} {'seconds':>8}")
        for model in args.models:
            for mp in args.sizes:
                height, width = source_size(mp, args.scale)
                r = run(["--child", "library", "--model", model, "--scale", str(args.scale), "--width", str(width),
                         "--height", str(height), *threads], f"{model} at {width} x {height}")
                assert r is not None
                out_mp = r["out"][0] * r["out"][1] / 1e6
                before = r["before_mib"] if r["before_mib"] is not None else float("nan")
                print(f"{model:<12} {f'{width}x{height}':>11} {out_mp:>10.1f} {r['peak_mib']:>13.0f} {before:>11.0f} "
                      f"{r['peak_mib'] - before:>14.0f} {r['seconds']:>8.1f}", flush=True)
        return

    print(f"{'model':<12} {'format':<7} {'streamed':<8} {'source':>11} {'output MP':>10} {'peak RSS MiB':>13} "
          f"{'file MB':>8} {'seconds':>8}")
    folder = tempfile.mkdtemp(prefix="srcnn-memory-")
    try:
        sources = {}
        for mp in args.sizes:
            height, width = source_size(mp, args.scale)
            sources[mp] = (os.path.join(folder, f"source-{width}x{height}.png"), width, height)
            run(["--child", "source", "--source", sources[mp][0], "--width", str(width), "--height", str(height)],
                f"making the {width} x {height} source")
        for model in args.models:
            for ext in args.formats:
                out = os.path.join(folder, f"out.{ext.lstrip('.')}")
                streamed = "yes" if format_for_path(out) in STREAMED_FORMATS else "no"
                for mp in args.sizes:
                    src, width, height = sources[mp]
                    r = run(["--child", "cli", "--model", model, "--scale", str(args.scale), "--source", src,
                             "--out", out, *threads], f"{model} {ext} at {width} x {height}")
                    assert r is not None
                    os.unlink(out)
                    out_mp = r["out"][0] * r["out"][1] / 1e6
                    print(f"{model:<12} {ext:<7} {streamed:<8} {f'{width}x{height}':>11} {out_mp:>10.1f} "
                          f"{r['peak_mib']:>13.0f} {r['bytes'] / 1e6:>8.0f} {r['seconds']:>8.1f}", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _cpu_name() -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


if __name__ == "__main__":
    main()
