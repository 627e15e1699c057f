"""Inference speed of the whole `enhance` path on this CPU, side by side with a naive baseline and Pillow.

One run, the same synthetic photos (4:3, photo-like gradients plus noise, built from a fixed seed) for every
path. For each model (random weights: speed does not depend on them) and size it prints:

- ours: ``Enhancer.enhance_picture`` at scale 1 on an RGB uint8 Picture: colour conversion, the network on Y
  in tiles, merge, back to RGB uint8 (decoding and encoding files are NOT included);
- naive: the popular reimplementation's way: numpy colour conversion, eager NCHW float32 on the whole Y plane
  (no tiling, no channels_last), merge, quantize; bounded by --naive-timeout ("timed out >N s");
- Pillow: ``Image.resize`` bicubic of the half-size photo to the same output size (x2; at x1 Pillow only copies),
  as a sense of scale for a plain upscale;

with MP/s, effective GFLOP/s (the direct-convolution FLOP count per output pixel x output pixels / wall time),
the % of this machine's fp32 matmul rate (torch, measured in the same run, before and after: the higher one is
used), peak RSS of a fresh subprocess per (path, model, size) (VmHWM, which includes the Python + torch
baseline, shown apart), medians over --repeats with the spread (min-max), and the ratios naive/ours.

    python benchmarks/inference.py                              # 0.25, 1, 4, 12 MP; 9-1-5 and 9-5-5
    python benchmarks/inference.py --sizes 0.25,1 --repeats 2   # quick
    python benchmarks/inference.py --backend onnxruntime
    python benchmarks/inference.py --x2                         # the path people use: a 3-MP photo to 12 MP
    python benchmarks/inference.py --x4                         # the same from a 0.76-MP photo

``--x2``: ``enhance_picture`` of a 2016x1512 RGB photo at scale 2 (a 12-MP result) for bicubic, the shipped
srcnn-x2, srcnn-photo and real-x2 (the default at x2), FSRCNN 56-12-4 x2 (random weights), at
fp32 and, where the CPU has bf16 units, at bf16; the time inside the network (the tiles: ``tiling.Tiles.band``) and the
share outside it (bicubic, colour, quantisation), against Pillow's bicubic of the same three float planes.
``--x4``: the same from a 1008x756 photo with srcnn-x4, real-x4 and FSRCNN x4.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time

SIZES = {"0.25": (576, 432), "1": (1152, 864), "4": (2304, 1728), "12": (4032, 3024)}  # W x H, 4:3
MODELS = {"9-1-5": (9, 1, 5), "9-5-5": (9, 5, 5)}
TARGETS = {"9-5-5": 85.0, "9-1-5": 50.0}  # % of the matmul peak, at 1, 4 and 12 MP
RSS_LIMIT_MIB = 1024.0  # 12-MP photo through 9-5-5

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import peak_mib, photo, status_mib  # noqa: E402


def matmul_gflops(repeats: int = 3) -> dict:
    """fp32 matmul GFLOP/s with torch (this process's threads) and numpy: best size's median."""
    import numpy as np
    import torch

    out = {}
    for lib in ("torch", "numpy"):
        best = 0.0
        for n in (1024, 2048, 4096):
            if lib == "torch":
                a, b = torch.randn(n, n), torch.randn(n, n)
                mm = lambda a=a, b=b: a @ b  # noqa: E731
            else:
                g = np.random.default_rng(0)
                a, b = g.standard_normal((n, n), np.float32), g.standard_normal((n, n), np.float32)
                mm = lambda a=a, b=b: a @ b  # noqa: E731
            mm()
            ts = []
            for _ in range(repeats):
                t = time.perf_counter()
                mm()
                ts.append(time.perf_counter() - t)
            best = max(best, 2 * n**3 / sorted(ts)[len(ts) // 2] / 1e9)
        out[lib] = best
    return out


def _weights(folder: str, name: str) -> str:
    import torch

    from srcnn.checkpoint import save_weights
    from srcnn.model import SRCNN

    f1, f2, f3 = MODELS[name]
    torch.manual_seed(0)
    path = os.path.join(folder, f"srcnn-{name}.safetensors")
    save_weights(path, SRCNN(f1=f1, f2=f2, f3=f3, n1=64, n2=32, residual=False), {"scale": 1, "task": "sr"})
    return path


def _naive_enhance(model, pixels):
    """The popular way: float RGB -> YCbCr (numpy) -> model on the whole Y plane, NCHW -> merge -> RGB uint8."""
    import numpy as np
    import torch

    from srcnn.color import rgb_to_ycbcr, ycbcr_to_rgb

    ycc = rgb_to_ycbcr(pixels.astype(np.float32) / 255.0)
    with torch.no_grad():
        y = model(torch.from_numpy(np.ascontiguousarray(ycc[:, :, 0]))[None, None]).clamp_(0, 1)[0, 0].numpy()
    ycc[:, :, 0] = y
    return np.clip(np.round(ycbcr_to_rgb(ycc) * 255.0), 0, 255).astype(np.uint8)


def child(args: argparse.Namespace) -> None:
    """One measured (path, model, size) in a fresh process; prints one JSON line per repeat, then a summary."""
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    w, h = SIZES[args.size]
    pixels = photo(h, w)
    result: dict = {"threads": torch.get_num_threads()}
    if args.path == "ours":
        from srcnn.enhance import load_model
        from srcnn.images import Picture

        enhancer = load_model(args.weights, device="cpu", scale=1, backend=args.backend)
        picture = Picture(pixels)
        from srcnn.enhance import DEFAULT_TILE

        t = args.tile or DEFAULT_TILE  # warm up on a crop that splits into tiles of the same shapes as the photo
        wh, ww = min(h, 2 * (h // -(-h // t)) + 1), min(w, 2 * (w // -(-w // t)) + 1)
        warm = Picture(np.ascontiguousarray(pixels[:wh, :ww]))
        enhancer.enhance_picture(warm, scale=1, tile=args.tile)  # oneDNN primitives, ORT plans: not timed
        run = lambda: enhancer.enhance_picture(picture, scale=1, tile=args.tile).pixels  # noqa: E731
    else:
        from srcnn.checkpoint import load_weights

        model = load_weights(args.weights)[0].eval()
        run = lambda: _naive_enhance(model, pixels)  # noqa: E731
    result["before_mib"] = status_mib("VmRSS")
    times: list[float] = []
    started = time.perf_counter()
    if args.budget:  # SIGALRM's default action ends the process even inside a long convolution
        signal.alarm(max(1, math.ceil(args.budget)))
    out = None
    for _ in range(args.repeats):
        t = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - t)
        print(json.dumps({"repeat": times[-1]}), flush=True)
        if args.budget and time.perf_counter() - started + times[-1] > args.budget:
            break  # the next repeat would not finish in time
    signal.alarm(0)
    result["times"] = times
    result["peak_mib"] = peak_mib()
    if args.save and out is not None:
        np.save(args.save, out)
    if args.path == "ours":
        from PIL import Image

        small = Image.fromarray(np.ascontiguousarray(pixels[::2, ::2]))
        small.resize((w, h), Image.BICUBIC)
        pil = []
        for _ in range(max(1, len(times))):
            t = time.perf_counter()
            small.resize((w, h), Image.BICUBIC)
            pil.append(time.perf_counter() - t)
        result["pillow"] = pil
    print(json.dumps(result), flush=True)


def run_child(args: argparse.Namespace, path: str, weights: str, size: str, repeats: int, timeout: float | None,
              save: str | None) -> dict:
    """Run one child; {"times": [...], ...}, or {"timed_out": seconds} / {"error": text}."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--path", path, "--weights", weights,
           "--size", size, "--repeats", str(repeats), "--threads", str(args.threads), "--backend", args.backend]
    if args.tile:
        cmd += ["--tile", str(args.tile)]
    if save:
        cmd += ["--save", save]
    if timeout:
        cmd += ["--budget", str(timeout)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if timeout and r.returncode == -signal.SIGALRM:  # the child's own deadline, set just before its first repeat
        times = [json.loads(line)["repeat"] for line in r.stdout.splitlines() if line.startswith('{"repeat"')]
        return {"times": times, "timed_out": timeout} if times else {"timed_out": timeout}
    if r.returncode != 0:
        reason = "killed (out of memory?)" if r.returncode < 0 else f"exit {r.returncode}"
        tail = (r.stderr.strip().splitlines() or [""])[-1]
        return {"error": f"{reason} {tail}"[:120]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2


def up_path(repeats: int, scale: int = 2) -> list[dict]:
    """Whole path at x2 (2016x1512 -> 12 MP) or x4 (1008x756 -> 12 MP), fp32 and bf16: total s, network s, %
    outside the network; printed."""
    import numpy as np
    import torch
    from PIL import Image

    from srcnn.device import cpu_bf16
    from srcnn.enhance import Enhancer, load_model
    from srcnn.images import Picture
    from srcnn.model import FSRCNN

    w, h = 4032 // scale, 3024 // scale
    pic = Picture(pixels=photo(h, w, seed=2))
    planes = [Image.fromarray(pic.pixels[:, :, c].astype(np.float32) / 255, mode="F") for c in range(3)]
    pillow = _median([_timed(lambda: [p.resize((scale * w, scale * h), Image.BICUBIC) for p in planes])
                      for _ in range(repeats)])
    print(f"x{scale} path: {w}x{h} RGB -> {scale * w}x{scale * h} (12.2 MP); Pillow bicubic of the 3 float planes "
          f"{pillow:.2f} s (median of {repeats})")
    from srcnn.tiling import Tiles

    net_time = [0.0]
    call = Tiles.band

    def timed_call(self, *a, **k):  # the network's share: every tile the one tiler runs, band by band
        t = time.perf_counter()
        try:
            return call(self, *a, **k)
        finally:
            net_time[0] += time.perf_counter() - t

    Tiles.band = timed_call
    cpu = torch.device("cpu")
    torch.manual_seed(0)
    nets = {"bicubic": lambda prec: load_model("bicubic"),
            f"srcnn-x{scale}": lambda prec: load_model(f"srcnn-x{scale}", device="cpu", precision=prec),
            "srcnn-photo": lambda prec: load_model("srcnn-photo", device="cpu", precision=prec),
            f"fsrcnn 56-12-4 x{scale}": lambda prec: Enhancer("fsrcnn", FSRCNN(scale=scale).eval(), scale, {}, cpu,
                                                              precision=prec),
            f"real-x{scale} (RGB, the default)": lambda prec: load_model(f"real-x{scale}", device="cpu",
                                                                          precision=prec)}
    rows = []
    precisions = ["fp32", "bf16"] if cpu_bf16() else ["fp32"]
    print("| model | precision | whole path s | MP/s | network s | outside the network | outside / Pillow |")
    print("|---|---|---|---|---|---|---|")
    for name, make in nets.items():
        for prec in precisions if name != "bicubic" else ["fp32"]:
            enh = make(prec)
            enh.enhance_picture(Picture(pixels=pic.pixels[:64, :64]), scale=scale)  # warm-up
            totals, nets_s = [], []
            for _ in range(repeats):
                net_time[0] = 0.0
                totals.append(_timed(lambda enh=enh: enh.enhance_picture(pic, scale=scale)))
                nets_s.append(net_time[0] if enh.model is not None else 0.0)
            total, net = _median(totals), _median(nets_s)
            out = total - net
            rows.append({"model": name, "precision": prec, "total_s": total, "network_s": net, "outside_s": out,
                         "pillow_s": pillow})
            print(f"| {name} | {prec} | {total:.2f} | {12.19 / total:.2f} | {net:.2f} | {out:.2f} s "
                  f"({100 * out / total:.0f} %) | {out / pillow:.1f}x |", flush=True)
    Tiles.band = call
    return rows


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), else what platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="0.25,1,4,12", help=f"megapixels, from {', '.join(SIZES)} (default all)")
    p.add_argument("--models", default="9-1-5,9-5-5", help="SRCNN variants (default 9-1-5,9-5-5)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per config (12 MP: at most 2)")
    p.add_argument("--backend", default="torch", choices=["torch", "onnxruntime"], help="our path's backend")
    p.add_argument("--tile", type=int, default=0, help="tile of our path (default: srcnn's DEFAULT_TILE)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads (default: all cores)")
    p.add_argument("--naive-timeout", type=float, default=10.0,
                   help="seconds the naive path may compute, all repeats (default 10, at least 1.5x ours)")
    p.add_argument("--no-naive", action="store_true", help="skip the naive baseline")
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--path", help=argparse.SUPPRESS)
    p.add_argument("--weights", help=argparse.SUPPRESS)
    p.add_argument("--size", help=argparse.SUPPRESS)
    p.add_argument("--save", help=argparse.SUPPRESS)
    p.add_argument("--budget", type=float, help=argparse.SUPPRESS)
    p.add_argument("--x2", action="store_true", help="the whole path at x2, 3 MP -> 12 MP, instead (see above)")
    p.add_argument("--x4", action="store_true", help="the same at x4, 0.76 MP -> 12 MP")
    args = p.parse_args()
    if args.child:
        child(args)
        return
    if args.x2 or args.x4:
        import torch

        torch.set_num_threads(args.threads)
        from srcnn.device import cpu_bf16

        cpu = cpu_name()
        print(f"{cpu}, bf16 units: {cpu_bf16() or 'none'}; torch {torch.__version__}, {args.threads} threads")
        scale = 4 if args.x4 else 2
        rows = up_path(args.repeats, scale)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({f"x{scale}": rows, "threads": args.threads, "cpu": cpu, "bf16": cpu_bf16()}, f, indent=1)
        return

    import numpy as np
    import torch

    from srcnn.enhance import DEFAULT_TILE
    from srcnn.model import SRCNN

    sizes = [s.strip() for s in args.sizes.split(",")]
    models = [m.strip() for m in args.models.split(",")]
    for s in sizes:
        if s not in SIZES:
            raise SystemExit(f"inference.py: --sizes takes {', '.join(SIZES)}")
    for m in models:
        if m not in MODELS:
            raise SystemExit(f"inference.py: --models takes {', '.join(MODELS)}")
    torch.set_num_threads(args.threads)
    cpu = cpu_name()
    print(f"{cpu}, {os.cpu_count()} cores; torch {torch.__version__}, {args.threads} threads; our backend "
          f"{args.backend}, tile {args.tile or DEFAULT_TILE}; scale 1, RGB uint8 Picture in and out, "
          f"file decode/encode not included")
    t0 = time.perf_counter()
    before = matmul_gflops()
    print(f"fp32 matmul before: torch {before['torch']:.0f} GFLOP/s, numpy {before['numpy']:.0f} GFLOP/s "
          f"(best of n = 1024, 2048, 4096; median of 3)", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in models:
            weights = _weights(folder, name)
            f1, f2, f3 = MODELS[name]
            flop = SRCNN(f1=f1, f2=f2, f3=f3).flops_per_pixel
            for size in sizes:
                w, h = SIZES[size]
                reps = min(args.repeats, 2) if size == "12" else args.repeats
                ours_npy, naive_npy = os.path.join(folder, "ours.npy"), os.path.join(folder, "naive.npy")
                ours = run_child(args, "ours", weights, size, reps, None, ours_npy)
                # the naive path gets at least 1.5x our time, so that "timed out" always means "slower than ours"
                budget = max(args.naive_timeout, 1.5 * _median(ours["times"]) + 1) if "times" in ours else None
                naive = ({"skipped": True} if args.no_naive else
                         run_child(args, "naive", weights, size, reps, budget or args.naive_timeout, naive_npy))
                diff = None
                if "times" in ours and "times" in naive and "timed_out" not in naive:
                    a, b = np.load(ours_npy).astype(np.int16), np.load(naive_npy).astype(np.int16)
                    diff = int(np.abs(a - b).max())
                for f in (ours_npy, naive_npy):
                    if os.path.exists(f):
                        os.unlink(f)
                rows.append({"model": name, "size": size, "width": w, "height": h, "flop_per_px": flop,
                             "ours": ours, "naive": naive, "max_abs_diff_u8": diff})
                _print_row(rows[-1], before["torch"])
    after = matmul_gflops()
    peak = max(before["torch"], after["torch"])
    print(f"fp32 matmul after:  torch {after['torch']:.0f} GFLOP/s, numpy {after['numpy']:.0f} GFLOP/s; "
          f"% of peak below uses torch {peak:.0f} (the higher); run took {time.perf_counter() - t0:.0f} s")
    _print_table(rows, peak)
    _print_targets(rows, peak)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"matmul_before": before, "matmul_after": after, "peak": peak, "rows": rows,
                       "backend": args.backend, "threads": args.threads}, f, indent=1)


def _fmt_times(r: dict) -> str:
    if "error" in r:
        return r["error"]
    if "skipped" in r:
        return "skipped"
    if "timed_out" in r and not r.get("times"):
        return f"timed out >{r['timed_out']:.0f} s"
    t = r["times"]
    note = " (then timed out)" if "timed_out" in r else ""
    return f"{_median(t):7.2f} s [{min(t):.2f}-{max(t):.2f}] x{len(t)}{note}"


def _print_row(row: dict, peak: float) -> None:
    print(f"  {row['model']} {row['size']:>4} MP: ours {_fmt_times(row['ours'])}; naive {_fmt_times(row['naive'])}",
          flush=True)


def _print_table(rows: list[dict], peak: float) -> None:
    head = (f"{'model':<6} {'MP':>5} | {'ours s [min-max]':>20} {'MP/s':>6} {'GFLOP/s':>7} {'%peak':>6} "
            f"{'RSS MiB':>8} | {'naive s [min-max]':>21} {'GFLOP/s':>7} {'RSS MiB':>8} | {'x naive':>7} | "
            f"{'Pillow s':>8} | {'|d|':>3}")
    print(head)
    print("-" * len(head))
    for row in rows:
        px = row["width"] * row["height"]
        o, n = row["ours"], row["naive"]
        if "times" in o:
            t = _median(o["times"])
            ours = (f"{t:7.2f} [{min(o['times']):.2f}-{max(o['times']):.2f}]".rjust(20)
                    + f" {px / t / 1e6:6.2f} {row['flop_per_px'] * px / t / 1e9:7.1f} "
                    f"{100 * row['flop_per_px'] * px / t / 1e9 / peak:5.0f}% {o['peak_mib']:8.0f}")
            pil = f"{_median(o['pillow']):8.3f}"
        else:
            ours, pil, t = _fmt_times(o).rjust(59), " " * 8, None
        if "times" in n and "timed_out" not in n:
            tn = _median(n["times"])
            naive = (f"{tn:7.2f} [{min(n['times']):.2f}-{max(n['times']):.2f}]".rjust(21)
                     + f" {row['flop_per_px'] * px / tn / 1e9:7.1f} {n['peak_mib']:8.0f}")
            ratio = f"{tn / t:6.2f}x" if t else ""
        else:
            naive = _fmt_times(n).rjust(38)
            ratio = f">{n['timed_out'] / t:5.1f}x" if t and "timed_out" in n else ""
        diff = "" if row["max_abs_diff_u8"] is None else str(row["max_abs_diff_u8"])
        print(f"{row['model']:<6} {row['size']:>5} | {ours} | {naive} | {ratio:>7} | {pil} | {diff:>3}")
    base = [r["ours"]["before_mib"] for r in rows if "times" in r["ours"] and r["ours"].get("before_mib")]
    if base:
        print(f"RSS = peak resident set of a fresh process (VmHWM), including its baseline after imports and the "
              f"input photo: {min(base):.0f}-{max(base):.0f} MiB; |d| = max |ours - naive| of the uint8 outputs; "
              f"x naive = naive time / ours; Pillow = bicubic x2 to the same size")


def _print_targets(rows: list[dict], peak: float) -> None:
    for row in rows:
        o, n = row["ours"], row["naive"]
        if "times" not in o:
            continue
        px = row["width"] * row["height"]
        t = _median(o["times"])
        pct = 100 * row["flop_per_px"] * px / t / 1e9 / peak
        checks = []
        if row["size"] in ("1", "4", "12") and row["model"] in TARGETS:
            goal = TARGETS[row["model"]]
            checks.append(f">= {goal:.0f}% of peak: {'met' if pct >= goal else 'NOT met'} ({pct:.0f}%)")
        if "times" in n and "timed_out" not in n:
            checks.append(f"not slower than naive: {'met' if t <= _median(n['times']) else 'NOT met'}")
        elif "timed_out" in n:
            checks.append(f"not slower than naive: {'met' if t <= n['timed_out'] else 'NOT met'} (naive timed out)")
        if row["model"] == "9-5-5" and row["size"] == "12":
            checks.append(f"peak RSS < 1 GiB: {'met' if o['peak_mib'] < RSS_LIMIT_MIB else 'NOT met'} "
                          f"({o['peak_mib']:.0f} MiB)")
        if checks:
            print(f"target {row['model']} {row['size']} MP: " + "; ".join(checks))


if __name__ == "__main__":
    main()
