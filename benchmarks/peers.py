"""Us against OpenCV's dnn_superres, side by side in one run: Y-PSNR/SSIM on Set5 and Set14 and wall time.

Same inputs for every method: the ground truth mod-cropped to the scale (a gray image as R = G = B), its LR made
with the one MATLAB bicubic (``srcnn.resize.imresize`` of the RGB float image) and rounded to uint8, as RGB uint8;
each method takes that RGB uint8 LR and returns RGB uint8 at the HR size (OpenCV works in BGR: the conversions
both ways are part of its call). Methods, at x2, x3 and x4:

- ``bicubic (ours)``: ``srcnn.load_model("bicubic")``;
- OpenCV dnn_superres graphs from ``../shared/peers/opencv-dnn-superres`` (FSRCNN, FSRCNN-small, ESPCN, and LapSRN
  where a graph exists), through ``cv2.dnn_superres`` (``opencv-contrib-python-headless``, the ``bench`` extra);
- ours through ``srcnn.load_model`` and ``Enhancer.enhance_picture``: every shipped ``srcnn-x2/x3/x4`` and any
  ``fsrcnn-x2/x3/x4`` card that exists, plus ``--models`` (names or weights files, ``PATH@SCALE`` to set the scale).

Quality: ``srcnn.metrics.psnr_y`` / ``ssim_y`` on Y (BT.601, rounded to uint8) of the RGB outputs against Y of the
RGB ground truth, ``crop_border`` = scale; a gray image's values are its Y (the protocol's rule), and the output's
Y is then the rounded mean of its R, G, B (the methods return them equal up to rounding).

Speed: the wall time of the whole call (RGB uint8 in -> RGB uint8 out, no file decode/encode) on a synthetic
photo-like input (``_common.photo``) whose size is the output size / scale, at 1 MP (1152x864) and 12 MP
(4032x3024) outputs; median of ``--repeats`` after one untimed call. 1 MP runs in this process after a warm-up
call at that size; each 12-MP case runs in a fresh child process (a warm-up on a small crop, then the repeats),
which also gives its peak RSS (VmHWM / ru_maxrss: includes the child's Python, imports and the input) without
methods mixing. torch threads and ``cv2.setNumThreads`` are both ``--threads``. fp32 and bf16 matmul GFLOP/s
(torch, 4096^2, median of 3; a smaller n where a 4096 product would take over 5 s) are measured before and after
(the higher is used); for our network rows the effective GFLOP/s of the whole enhance path at 12 MP (FLOP per
output pixel x pixels / s) is shown as % of both.

    python benchmarks/peers.py                           # everything (several minutes on 2 cores)
    python benchmarks/peers.py --quick                   # smoke run: tiny sizes, 1 repeat, Set5 only
    python benchmarks/peers.py --quality-only            # PSNR/SSIM only (independent of machine load)
    python benchmarks/peers.py --models runs/fsrcnn-x3/best.safetensors --scales 3 --json peers.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
from _common import PEERS_DIR, ROOT, Runner, Sample, has_cv2, peak_mib, photo, status_mib  # noqa: E402

SIZES = {"1": (1152, 864), "12": (4032, 3024)}  # output W x H, 4:3, divisible by 2, 3 and 4
QUICK_SIZES = {"1": (288, 216), "12": (576, 432)}
# (label, file stem, dnn_superres algo name); a graph is used at every scale its file exists for
OPENCV = [("OpenCV FSRCNN", "FSRCNN", "fsrcnn"), ("OpenCV FSRCNN-small", "FSRCNN-small", "fsrcnn"),
          ("OpenCV ESPCN", "ESPCN", "espcn"), ("OpenCV LapSRN", "LapSRN", "lapsrn")]
REFERENCE = "OpenCV FSRCNN"  # the "x vs" column divides by this method's 12-MP MP/s at the same scale
HINT = ("peers.py: needs OpenCV with dnn_superres (cv2.dnn_superres): "
        "pip install -e '.[bench]' (opencv-contrib-python-headless)")



@dataclass(frozen=True)
class Method(_common.Method):
    """One compared method at one scale (kind "bicubic", "ours" or "opencv"), with our networks' precision."""

    precision: str = "auto"  # ours: srcnn's --precision (auto: bf16 where the CPU has it)


def build(method: Method) -> tuple[Runner, int | None]:
    """(RGB uint8 LR -> RGB uint8 HR callable, FLOP per output pixel of our network or None) for ``method``."""
    if method.kind == "opencv":
        return _common.opencv_runner(method.spec, method.algo, method.scale), None
    from srcnn.enhance import load_model

    enhancer = load_model("bicubic" if method.kind == "bicubic" else method.spec, device="cpu", scale=method.scale,
                          precision=method.precision)
    flop = getattr(enhancer.model, "flops_per_pixel", None) if enhancer.model is not None else None
    return _common.enhancer_runner(enhancer, method.scale), (int(flop) if flop is not None else None)


def list_methods(scales: list[int], peers: Path, extra: list[str]) -> list[Method]:
    """Every method to compare, ordered by scale: bicubic, the OpenCV graphs that exist, then ours."""
    from srcnn.enhance import load_model
    from srcnn.zoo import card

    ours: list[Method] = []
    for s in scales:
        for name in (f"srcnn-x{s}", f"fsrcnn-x{s}"):
            if card(name) is not None:
                ours.append(Method(name, "ours", s, name))
    for spec in extra:  # a model whose scale is not in ``scales`` brings its scale (and its peers) along
        path, at = spec.rsplit("@", 1) if "@" in spec else (spec, "")
        s = int(at) if at else load_model(path, device="cpu").scale
        ours.append(Method(path, "ours", s, path))
    methods = []
    for s in sorted(set(scales) | {m.scale for m in ours}):
        methods.append(Method("bicubic (ours)", "bicubic", s))
        methods += _common.opencv_methods(OPENCV, peers, s, Method)
        methods += [m for m in ours if m.scale == s]
    return methods


def prepare(paths: list[Path], scale: int) -> list[Sample]:
    """The shared inputs: HR mod-cropped to ``scale`` as RGB uint8, its Y, and the MATLAB-bicubic LR as RGB uint8."""
    from srcnn.color import y_uint8
    from srcnn.degrade import downscale, modcrop
    from srcnn.images import quantize, read, to_8bit

    samples = []
    for p in paths:
        px = to_8bit(read(p).pixels)
        hr = modcrop(np.repeat(px, 3, axis=2) if px.shape[2] == 1 else px, scale)
        lr = np.ascontiguousarray(quantize(downscale(hr.astype(np.float64) / 255.0, scale), 8))
        gray = px.shape[2] == 1
        samples.append(Sample(p.name, y_uint8(hr, gray=gray), lr, gray))
    return samples


def quality(run: Runner, samples: list[Sample], scale: int, with_ssim: bool = True) -> dict:
    """Protocol Y-PSNR (and SSIM) of ``run`` on ``samples``, ``scale`` px shaved: {"psnr", "ssim", "per_image": [...]}
    (means); every output must be RGB."""
    return _common.score(run, samples, scale, with_ssim, channels=(3,))


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2


def timed(run: Runner, pixels: np.ndarray, repeats: int) -> list[float]:
    """Wall times of ``repeats`` calls of ``run`` on ``pixels`` (the previous output freed before each call)."""
    times = []
    for _ in range(repeats):
        out = None
        t = time.perf_counter()
        out = run(pixels)
        times.append(time.perf_counter() - t)
        del out
    return times


def set_threads(threads: int, torch_too: bool = True) -> None:
    """The same thread count for torch and OpenCV (each only where it is imported or needed)."""
    if torch_too:
        import torch

        torch.set_num_threads(threads)
    if has_cv2():
        import cv2

        cv2.setNumThreads(threads)


def lr_input(width: int, height: int, scale: int) -> np.ndarray:
    """The synthetic photo-like RGB uint8 input whose output at ``scale`` is width x height."""
    return photo(height // scale, width // scale)


def child(spec: dict) -> None:
    """One 12-MP (or --quick) case in a fresh process: prints {"times", "peak_mib", "before_mib"} as JSON."""
    method = Method(**spec["method"])
    set_threads(spec["threads"], torch_too=method.kind != "opencv")
    run, _ = build(method)
    w, h = spec["size"]
    pixels = lr_input(w, h, method.scale)
    run(np.ascontiguousarray(pixels[: min(256, pixels.shape[0]), : min(256, pixels.shape[1])]))  # warm-up
    before = status_mib("VmRSS")
    times = timed(run, pixels, spec["repeats"])
    print(json.dumps({"times": times, "peak_mib": peak_mib(), "before_mib": before}), flush=True)


def run_child(method: Method, size: tuple[int, int], repeats: int, threads: int) -> dict:
    """Run :func:`child` in a subprocess; its JSON, or {"error": text}."""
    spec = {"method": dataclasses.asdict(method), "size": list(size), "repeats": repeats, "threads": threads}
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        reason = "killed (out of memory?)" if r.returncode < 0 else f"exit {r.returncode}"
        tail = (r.stderr.strip().splitlines() or [""])[-1]
        return {"error": f"{reason} {tail}"[:160]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def matmul_gflops(quick: bool = False) -> dict:
    """torch matmul GFLOP/s in fp32 and bf16: {"fp32": {"n", "gflops"}, "bf16": {...}} (median of 3, n <= 4096)."""
    import torch

    out = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        n = 1024
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        a @ b
        t = time.perf_counter()
        a @ b
        rate = 2 * n**3 / max(time.perf_counter() - t, 1e-9)
        if not quick:  # the largest of 4096, 2048 whose one product takes at most ~5 s at the rate seen
            n = next((m for m in (4096, 2048) if 2 * m**3 / rate <= 5.0), 1024)
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        a @ b
        ts = []
        for _ in range(1 if quick else 3):
            t = time.perf_counter()
            a @ b
            ts.append(time.perf_counter() - t)
        out[name] = {"n": n, "gflops": 2 * n**3 / _median(ts) / 1e9}
    return out


def cpu_info() -> dict:
    """The CPU's model name (lscpu, else /proc/cpuinfo), core count and its bf16 flags."""
    name, flags = platform.processor() or platform.machine(), ""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Model name":
                name = value.strip()
            elif key.strip() == "Flags":
                flags = value
    except (OSError, subprocess.SubprocessError):
        pass
    if not flags:
        try:
            with open("/proc/cpuinfo") as f:
                flags = next((line.split(":", 1)[1] for line in f if line.startswith("flags")), "")
        except OSError:
            pass
    have = set(flags.split())
    return {"model": name, "cores": os.cpu_count(), "avx512_bf16": "avx512_bf16" in have,
            "amx_bf16": "amx_bf16" in have}


def _datasets(data: Path, names: list[str]) -> dict[str, list[Path]]:
    """Image paths (sorted) of each named data set under ``data``."""
    from srcnn.data import list_images

    out = {}
    for n in names:
        folder = data / n
        if not folder.is_dir():
            raise SystemExit(f"peers.py: {folder} not found (set --data or SRCNN_DATA)")
        out[n] = list_images([folder], recursive=False)
    return out


def main() -> None:
    """Parse the arguments, measure, print the tables, optionally write JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scales", default="2,3,4", help="comma-separated scales (default 2,3,4)")
    p.add_argument("--models", nargs="*", default=[], help="more of ours: names or weights files (PATH@SCALE)")
    p.add_argument("--only", default="", help="comma-separated substrings: keep methods whose name has one")
    p.add_argument("--datasets", default="Set5,Set14", help="data sets for quality (default Set5,Set14)")
    p.add_argument("--data", default=os.environ.get("SRCNN_DATA", str(ROOT.parent / "shared" / "data")))
    p.add_argument("--peers", default=str(PEERS_DIR), help="folder of the OpenCV .pb graphs")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per case, median shown (default 3)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch and OpenCV threads (all cores)")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                   help="our networks' precision (default auto: bf16 where the CPU has it); recorded in the output")
    p.add_argument("--no-ssim", action="store_true", help="PSNR only (SSIM is the slower metric)")
    p.add_argument("--quality-only", action="store_true", help="no timing")
    p.add_argument("--speed-only", action="store_true", help="no quality")
    p.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, 1 repeat, Set5 only")
    p.add_argument("--json", help="also write every figure here")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    if not has_cv2():
        print(HINT, file=sys.stderr)
        raise SystemExit(2)
    peers = Path(args.peers)
    if not peers.is_dir():
        print(f"peers.py: {peers} not found (the OpenCV graphs; set --peers)", file=sys.stderr)
        raise SystemExit(2)
    import cv2
    import torch

    if args.quick:
        args.repeats, args.datasets = 1, "Set5"
    sizes = QUICK_SIZES if args.quick else SIZES
    scales = [int(s) for s in args.scales.split(",") if s.strip()]
    methods = list_methods(scales, peers, args.models)
    if args.only:
        keys = [k.strip() for k in args.only.split(",") if k.strip()]
        methods = [m for m in methods if any(k in m.name for k in keys)]
    from srcnn.device import resolve_precision

    precision = resolve_precision(args.precision, torch.device("cpu"))
    methods = [dataclasses.replace(m, precision=precision) if m.kind == "ours" else m for m in methods]
    set_threads(args.threads)
    cpu = cpu_info()
    report: dict = {"cpu": cpu, "torch": torch.__version__, "opencv": cv2.__version__, "threads": args.threads,
                    "repeats": args.repeats, "sizes": {k: list(v) for k, v in sizes.items()}, "quick": args.quick,
                    "methods": [dataclasses.asdict(m) | {"quality": {}, "speed": {}} for m in methods]}
    bf16 = "AMX" if cpu["amx_bf16"] else ("AVX512-BF16" if cpu["avx512_bf16"] else "no bf16 instructions")
    print(f"{cpu['model']}, {cpu['cores']} cores ({bf16}); torch {torch.__version__}, OpenCV {cv2.__version__}; "
          f"{args.threads} threads each; our precision {precision}; RGB uint8 in and out, file decode/encode not "
          "included", flush=True)
    report["precision"] = precision
    t0 = time.perf_counter()
    if not args.speed_only:
        _quality_phase(args, methods, report)
    if not args.quality_only:
        _speed_phase(args, methods, sizes, report)
    report["seconds"] = time.perf_counter() - t0
    _print_table(report, sizes)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
        print(f"wrote {args.json}")


def _quality_phase(args: argparse.Namespace, methods: list[Method], report: dict) -> None:
    """Y-PSNR/SSIM of every method on every data set, printed as they come."""
    sets = _datasets(Path(args.data), [d.strip() for d in args.datasets.split(",") if d.strip()])
    for scale in sorted({m.scale for m in methods}):
        for dname, paths in sets.items():
            samples = prepare(paths, scale)
            for i, m in enumerate(methods):
                if m.scale != scale:
                    continue
                run, _ = build(m)
                t = time.perf_counter()
                q = quality(run, samples, scale, with_ssim=not args.no_ssim)
                report["methods"][i]["quality"][dname] = q
                ssim = f" / {q['ssim']:.4f}" if q["ssim"] is not None else ""
                print(f"  quality x{scale} {dname:<6} {m.name:<22} {q['psnr']:6.2f} dB{ssim} "
                      f"({time.perf_counter() - t:.1f} s)", flush=True)


def _speed_phase(args: argparse.Namespace, methods: list[Method], sizes: dict, report: dict) -> None:
    """Matmul rates before and after; small size in this process, large size in a child per method."""
    before = matmul_gflops(args.quick)
    print(f"matmul before: fp32 {before['fp32']['gflops']:.0f} GFLOP/s (n {before['fp32']['n']}), "
          f"bf16 {before['bf16']['gflops']:.0f} GFLOP/s (n {before['bf16']['n']})", flush=True)
    (w1, h1), (w12, h12) = sizes["1"], sizes["12"]
    for i, m in enumerate(methods):
        run, flop = build(m)
        pixels = lr_input(w1, h1, m.scale)
        run(pixels)  # warm-up at this size
        times = timed(run, pixels, args.repeats)
        big = run_child(m, (w12, h12), args.repeats, args.threads)
        speed = {"flop_per_px": flop, "1": {"times": times, "mps": w1 * h1 / _median(times) / 1e6}, "12": big}
        if "times" in big:
            big["mps"] = w12 * h12 / _median(big["times"]) / 1e6
            if flop:
                big["gflops"] = flop * w12 * h12 / _median(big["times"]) / 1e9
        report["methods"][i]["speed"] = speed
        big_text = (f"{big['mps']:.2f} MP/s, peak RSS {big['peak_mib']:.0f} MiB" if "times" in big
                    else big["error"])
        print(f"  speed x{m.scale} {m.name:<22} {w1 * h1 / 1e6:.2f} MP: {speed['1']['mps']:.2f} MP/s; "
              f"{w12 * h12 / 1e6:.2f} MP: {big_text}", flush=True)
    after = matmul_gflops(args.quick)
    print(f"matmul after:  fp32 {after['fp32']['gflops']:.0f} GFLOP/s, bf16 {after['bf16']['gflops']:.0f} GFLOP/s "
          f"(the higher of before/after is used)", flush=True)
    report["matmul"] = {"before": before, "after": after,
                        "fp32": max(before["fp32"]["gflops"], after["fp32"]["gflops"]),
                        "bf16": max(before["bf16"]["gflops"], after["bf16"]["gflops"])}


def _print_table(report: dict, sizes: dict) -> None:
    """The markdown table: quality, speed at both sizes, the ratio to OpenCV FSRCNN, RSS, % of matmul."""
    rows = report["methods"]
    sets = sorted({d for r in rows for d in r["quality"]}, key=lambda d: (d != "Set5", d))
    mm = report.get("matmul")
    mp1, mp12 = (w * h / 1e6 for w, h in (sizes["1"], sizes["12"]))
    ref = {r["scale"]: r["speed"]["12"]["mps"] for r in rows
           if r["name"] == REFERENCE and "mps" in r["speed"].get("12", {})}
    head = ["method", "scale"] + [f"{d} dB" for d in sets]
    if mm:
        head += [f"MP/s {mp1:.2g} MP", f"MP/s {mp12:.2g} MP", f"x vs {REFERENCE}", f"peak RSS {mp12:.2g} MP",
                 f"GFLOP/s {mp12:.2g} MP", "% fp32 mm", "% bf16 mm"]
    print()
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        cells = [r["name"], f"x{r['scale']}"] + [f"{r['quality'][d]['psnr']:.2f}" if d in r["quality"] else ""
                                                 for d in sets]
        if mm:
            s, big = r["speed"], r["speed"].get("12", {})
            cells.append(f"{s['1']['mps']:.2f}" if "1" in s else "")
            cells.append(f"{big['mps']:.2f}" if "mps" in big else big.get("error", ""))
            cells.append(f"{big['mps'] / ref[r['scale']]:.2f}x" if "mps" in big and r["scale"] in ref else "")
            cells.append(f"{big['peak_mib']:.0f} MiB" if "peak_mib" in big else "")
            g = big.get("gflops")
            cells += ([f"{g:.0f}", f"{100 * g / mm['fp32']:.0f} %", f"{100 * g / mm['bf16']:.0f} %"] if g
                      else ["", "", ""])
        print("| " + " | ".join(cells) + " |")
    notes = [f"dB = Y-PSNR (BT.601 Y of the RGB uint8 output, {', '.join(sets)} mean, scale px shaved)"]
    if mm:
        notes.append(f"MP/s = output megapixels / median of {report['repeats']} wall times of the whole call (RGB "
                     f"uint8 in and out); peak RSS of a fresh process per method ({mp12:.2g} MP case); "
                     f"matmul fp32 {mm['fp32']:.0f}, bf16 {mm['bf16']:.0f} GFLOP/s (torch)")
    print("; ".join(notes) + f"; run took {report['seconds']:.0f} s")


if __name__ == "__main__":
    main()
