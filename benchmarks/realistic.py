"""The realistic-benchmark table (issue 17, item 3): Y-PSNR/SSIM on Set14, LIVE1 and Classic5 degraded for real.

The benchmark is ``tools/make_realistic_bench.py``'s: the ground truth of each set, modcropped to the scale,
degraded once by ``srcnn.degrade.RealisticDegradation(scale)`` with a fixed seed per (set, image, scale), saved as
8-bit PNGs under ``bench-data/realistic/<scale>/<set>/{HR,LR}/`` (git-ignored; the sha256 of every file is in
``benchmarks/realistic-bench.json`` and is checked here before anything runs, unless ``--no-verify``).

Every method gets the LR PNG as it is (uint8, RGB, or gray for Classic5) and returns uint8 at the HR size:

- ``input`` (x1 only): the degraded input itself, the x1 baseline;
- ``bicubic (ours)`` (x2, x4): ``srcnn.load_model("bicubic")``, the baseline at those scales;
- ``srcnn-photo``: today's default, at the same scale, through ``Enhancer.enhance_picture``;
- ``OpenCV FSRCNN`` / ``OpenCV ESPCN`` (x2, x4): ``cv2.dnn_superres`` graphs from
  ``../shared/peers/opencv-dnn-superres`` (RGB -> BGR -> upsample -> RGB; a gray LR goes in as R = G = B and
  its output's Y is the rounded mean of R, G, B); left out with a note when cv2 (the ``bench`` extra) is missing;
- ``--models NAME|PATH[@S1,S2]``: shipped names or weights files, through ``srcnn.load_model`` and
  ``enhance_picture`` (the Enhancer runs pre- and post-upsampling, Y and RGB networks on RGB and gray pictures).
  Without ``@``, a model runs at the requested scales it is made for: a post-upsampling network at its own
  factor, a shipped model at its card's scales, a weights file at its metadata's scale (or the range of a list).

Metric: ``srcnn.metrics.psnr_y`` and ``ssim_y`` (the project's protocol: Y of BT.601 rounded to uint8, a gray
image's values as they are), ``crop_border`` = scale (0 at x1). A set's figure is the mean over its images; the
``mean`` column is the mean of the three set means; ``gain`` is ``mean`` minus the baseline's (input at x1,
bicubic at x2 and x4). Then one line per target of the issue for the best ``--models`` entry at each scale (the
highest ``mean``): over the baseline +2.0 dB (x1), +1.5 (x2), +1.0 (x4); over srcnn-photo +1.0; over OpenCV
FSRCNN +1.0 (x2, x4). "met" is judged on the mean; the per-set gains are shown beside it.

Quality only (no timings), so machine load does not change the figures.

    python tools/make_realistic_bench.py                  # once (~80 s): builds bench-data/realistic
    python benchmarks/realistic.py                        # every scale, set and baseline method
    python benchmarks/realistic.py --models runs/real-x2/best.safetensors --json realistic.json
    python benchmarks/realistic.py --quick --scales 2 --sets Set14 --no-ssim
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
from _common import PEERS_DIR, ROOT, Method, Runner, Sample, has_cv2  # noqa: E402

BENCH_DIR = ROOT / "bench-data" / "realistic"
MANIFEST = ROOT / "benchmarks" / "realistic-bench.json"
SETS = ("Set14", "LIVE1", "Classic5")
SCALES = (1, 2, 4)
QUICK_IMAGES = 3
# (label, file stem, dnn_superres algo name), run at x2 and x4 where the graph exists
OPENCV = [("OpenCV FSRCNN", "FSRCNN", "fsrcnn"), ("OpenCV ESPCN", "ESPCN", "espcn")]
REFERENCE = "OpenCV FSRCNN"
OLD_DEFAULT = "srcnn-photo"
TARGETS = {1: 2.0, 2: 1.5, 4: 1.0}  # dB over the baseline (the input at x1, bicubic otherwise)
TARGET_OLD = 1.0  # dB over srcnn-photo
TARGET_REF = 1.0  # dB over OpenCV FSRCNN
CV2_HINT = "cv2 with dnn_superres is not installed (pip install -e '.[bench]'): OpenCV rows left out"


def load_set(bench: Path, scale: int, set_name: str, limit: int | None = None) -> list[Sample]:
    """The (HR, LR) pairs of one set at one scale, sorted by name; ``limit``: the first images only."""
    from srcnn.color import y_uint8
    from srcnn.images import read

    folder = bench / str(scale) / set_name
    hr_files = sorted((folder / "HR").glob("*.png"))
    if not hr_files:
        raise FileNotFoundError(f"{folder / 'HR'}: no PNGs (build it: python tools/make_realistic_bench.py)")
    samples = []
    for hr_path in hr_files[:limit]:
        lr_path = folder / "LR" / hr_path.name
        hr, lr = read(hr_path).pixels, read(lr_path).pixels
        if hr.dtype != np.uint8 or lr.dtype != np.uint8 or hr.shape[2] != lr.shape[2]:
            raise ValueError(f"{lr_path}: expected 8-bit HR and LR of the same kind, got {hr.shape} {hr.dtype}, "
                             f"{lr.shape} {lr.dtype}")
        if (lr.shape[0] * scale, lr.shape[1] * scale) != hr.shape[:2]:
            raise ValueError(f"{lr_path}: LR {lr.shape[:2]} x{scale} is not the HR size {hr.shape[:2]}")
        samples.append(Sample(hr_path.stem, y_uint8(hr), lr, hr.shape[2] == 1))
    return samples


def verify(bench: Path, manifest: Path, scales: list[int], sets: list[str]) -> tuple[list[str], int]:
    """(files of ``scales`` x ``sets`` that are missing or are not the manifest's pictures, how many match only up
    to float rounding): a file whose sha256 differs passes when its png_fingerprint (shape, mean, std) matches, as
    a benchmark rebuilt on another CPU or library build does (tools/make_realistic_bench.py)."""
    entries = json.loads(manifest.read_text())["images"]
    bad, rounded = [], 0
    for e in entries:
        if e["scale"] not in scales or e["set"] not in sets:
            continue
        for kind in ("hr", "lr"):
            f = bench / e[kind]["path"]
            if not f.is_file():
                bad.append(f"{e[kind]['path']} (missing)")
                continue
            blob = f.read_bytes()
            if hashlib.sha256(blob).hexdigest() == e[kind]["sha256"]:
                continue
            if "mean" in e[kind] and _common.same_fingerprint(_common.png_fingerprint(blob), e[kind]):
                rounded += 1
            else:
                bad.append(f"{e[kind]['path']} (differs)")
    return bad, rounded


def make_runner(method: Method, device: str = "cpu") -> Runner:
    """The method as a callable: LR uint8 HxWxC (C 1 or 3) -> uint8 at the HR size (C 1 or 3)."""
    if method.kind == "input":
        return lambda lr: lr
    if method.kind == "opencv":  # a gray LR goes in as R = G = B and comes out as the rounded mean
        return _common.opencv_runner(method.spec, method.algo, method.scale)
    from srcnn.enhance import load_model

    enhancer = load_model("bicubic" if method.kind == "bicubic" else method.spec, device=device, scale=method.scale)
    return _common.enhancer_runner(enhancer, method.scale)


def evaluate(run: Runner, samples: list[Sample], scale: int, with_ssim: bool = True) -> dict:
    """Protocol Y-PSNR (and SSIM) of ``run`` on ``samples``, ``scale`` px shaved (none at x1): {"psnr", "ssim",
    "per_image": [...]} (means); an output may be gray (HxWx1) or RGB (a gray image's Y: the rounded mean)."""
    return _common.score(run, samples, scale if scale > 1 else 0, with_ssim)


def model_scales(spec: str, requested: list[int]) -> list[int]:
    """The requested scales a ``--models`` entry runs at (``PATH@S1,S2`` sets them; else what it is made for)."""
    if "@" in spec:
        return [int(s) for s in spec.rsplit("@", 1)[1].split(",") if s.strip()]
    from srcnn.enhance import load_model
    from srcnn.zoo import card

    c = card(spec)
    if c is not None:
        return [s for s in requested if c.scales.allows(s)]
    e = load_model(spec, device="cpu")
    if e.upsampling == "post":
        return [e.net_scale] if e.net_scale in requested else []
    raw = e.metadata.get("scale", e.scale)
    if isinstance(raw, list) and raw:
        return [s for s in requested if min(raw) - 1e-9 <= s <= max(raw) + 1e-9]
    return [s for s in requested if abs(s - float(raw)) < 1e-9]


def list_methods(scales: list[int], models: list[str], peers: Path | None = PEERS_DIR,
                 old_default: str | None = OLD_DEFAULT) -> list[Method]:
    """Every method, ordered by scale: the baseline, srcnn-photo, the OpenCV graphs (when peers), ``models``."""
    extra = {spec: model_scales(spec, scales) for spec in models}
    methods = []
    for s in scales:
        methods.append(Method("input", "input", s) if s == 1 else Method("bicubic (ours)", "bicubic", s))
        if old_default:
            methods.append(Method(old_default, "ours", s, old_default))
        if peers is not None and s > 1:
            methods += _common.opencv_methods(OPENCV, peers, s)
        for spec, at in extra.items():
            if s in at:
                path = spec.rsplit("@", 1)[0]
                methods.append(Method(path, "ours", s, path))
    return methods


def run_benchmark(bench: Path, methods: list[Method], sets: list[str], limit: int | None = None,
                  with_ssim: bool = True, device: str = "cpu", log: Callable[[str], None] | None = None) -> dict:
    """Evaluate ``methods`` on ``sets`` of the benchmark at ``bench``: {"<scale>": [method dict + "quality"]}."""
    report: dict = {}
    for scale in sorted({m.scale for m in methods}):
        at = [m for m in methods if m.scale == scale]
        rows = [asdict(m) | {"quality": {}} for m in at]
        runners = [make_runner(m, device) for m in at]
        for set_name in sets:
            samples = load_set(bench, scale, set_name, limit)
            for row, run in zip(rows, runners, strict=True):
                t = time.perf_counter()
                q = evaluate(run, samples, scale, with_ssim)
                row["quality"][set_name] = q
                if log:
                    ssim = f" / {q['ssim']:.4f}" if q["ssim"] is not None else ""
                    log(f"  x{scale} {set_name:<8} {row['name']:<32} {q['psnr']:6.2f} dB{ssim} "
                        f"({len(samples)} images, {time.perf_counter() - t:.1f} s)")
        report[str(scale)] = rows
    return report


def _mean(row: dict, sets: list[str], key: str = "psnr") -> float | None:
    vals = [row["quality"][s][key] for s in sets if s in row["quality"] and row["quality"][s][key] is not None]
    return float(np.mean(vals)) if len(vals) == len(sets) else None


def baseline(rows: list[dict]) -> dict | None:
    """The row the gains are measured from: the input (x1) or our bicubic."""
    return next((r for r in rows if r["kind"] in ("input", "bicubic")), None)


def format_table(scale: int, rows: list[dict], sets: list[str]) -> str:
    """One markdown table: method, each set's PSNR / SSIM, the mean of the set means, the gain over the baseline."""
    base = baseline(rows)
    base_mean = _mean(base, sets) if base else None
    what = "the input" if scale == 1 else "bicubic"
    unit = " dB / SSIM" if any(q["ssim"] is not None for r in rows for q in r["quality"].values()) else " dB"
    lines = [f"x{scale}", "", "| method | " + " | ".join(f"{s}{unit}" for s in sets)
             + f" | mean{unit} | gain over {what} (dB) |", "|---" * (len(sets) + 3) + "|"]
    for r in rows:
        cells = [r["name"]]
        for s in sets:
            q = r["quality"].get(s)
            cells.append("" if q is None else f"{q['psnr']:.2f}" + (f" / {q['ssim']:.4f}" if q["ssim"] is not None
                                                                    else ""))
        m, ms = _mean(r, sets), _mean(r, sets, "ssim")
        cells.append("" if m is None else f"{m:.2f}" + (f" / {ms:.4f}" if ms is not None else ""))
        cells.append("" if m is None or base_mean is None else f"{m - base_mean:+.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def check_targets(report: dict, sets: list[str]) -> list[dict]:
    """Per scale and target: the best ``--models`` entry (highest mean) against the reference row.

    Each: {"scale", "model", "against", "target", "gain" (of the means), "per_set" {set: gain}, "met"}; "model"
    None when no ``--models`` entry ran at that scale, "gain" None when the reference row is missing.
    """
    out = []
    for key, rows in report.items():
        scale = int(key)
        models = [r for r in rows if r["kind"] == "ours" and r["name"] != OLD_DEFAULT and _mean(r, sets) is not None]
        best = max(models, key=lambda r: _mean(r, sets), default=None)
        refs = [("input" if scale == 1 else "bicubic (ours)", baseline(rows), TARGETS.get(scale, 0.0)),
                (OLD_DEFAULT, next((r for r in rows if r["name"] == OLD_DEFAULT), None), TARGET_OLD)]
        if scale > 1:
            refs.append((REFERENCE, next((r for r in rows if r["name"] == REFERENCE), None), TARGET_REF))
        for name, ref, target in refs:
            item = {"scale": scale, "model": best["name"] if best else None, "against": name, "target": target,
                    "gain": None, "per_set": {}, "met": None}
            if best is not None and ref is not None and _mean(ref, sets) is not None:
                item["gain"] = _mean(best, sets) - _mean(ref, sets)
                item["per_set"] = {s: best["quality"][s]["psnr"] - ref["quality"][s]["psnr"] for s in sets}
                item["met"] = item["gain"] >= target - 1e-9
            out.append(item)
    return out


def format_targets(items: list[dict]) -> str:
    """One line per target: "met" / "not met" with the figures."""
    lines = []
    for it in items:
        head = f"x{it['scale']} vs {it['against']} (target +{it['target']:.1f} dB):"
        if it["model"] is None:
            lines.append(f"{head} not checked (no --models entry at x{it['scale']})")
        elif it["gain"] is None:
            lines.append(f"{head} not checked ({it['against']} did not run)")
        else:
            per = ", ".join(f"{s} {g:+.2f}" for s, g in it["per_set"].items())
            short = [s for s, g in it["per_set"].items() if g < it["target"] - 1e-9]
            verdict = ("met (on every set too)" if not short else f"met on the mean (not on {', '.join(short)})"
                       ) if it["met"] else "not met"
            lines.append(f"{head} {it['model']} {it['gain']:+.2f} dB on the mean ({per}): {verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, verify the files, evaluate, print the tables and the targets, optionally write JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="*", default=[], help="more of ours: names or weights files (PATH@S1,S2)")
    p.add_argument("--scales", default="1,2,4", help="comma-separated scales (default 1,2,4)")
    p.add_argument("--sets", default=",".join(SETS), help=f"comma-separated sets (default {','.join(SETS)})")
    p.add_argument("--quick", action="store_true", help=f"the first {QUICK_IMAGES} images of each set")
    p.add_argument("--bench", type=Path, default=BENCH_DIR, help="the benchmark folder (default bench-data/realistic)")
    p.add_argument("--manifest", type=Path, default=MANIFEST, help="sha256 of every file (realistic-bench.json)")
    p.add_argument("--no-verify", action="store_true", help="skip the sha256 check against the manifest")
    p.add_argument("--peers", type=Path, default=PEERS_DIR, help="folder of the OpenCV .pb graphs")
    p.add_argument("--no-opencv", action="store_true", help="leave the OpenCV rows out")
    p.add_argument("--no-ssim", action="store_true", help="PSNR only (SSIM is the slower metric)")
    p.add_argument("--device", default="cpu", help="device of our networks (default cpu)")
    p.add_argument("--json", type=Path, help="also write every figure (per image too) here")
    args = p.parse_args(argv)

    scales = [int(s) for s in args.scales.split(",") if s.strip()]
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    if not (args.bench / str(scales[0]) / sets[0] / "HR").is_dir():
        print(f"realistic.py: {args.bench} has no benchmark; build it: python tools/make_realistic_bench.py",
              file=sys.stderr)
        return 2
    if not args.no_verify:
        bad, rounded = verify(args.bench, args.manifest, scales, sets)
        if bad:
            print(f"realistic.py: {len(bad)} files do not match {args.manifest} (first: {bad[0]}); rebuild with "
                  f"python tools/make_realistic_bench.py, or --no-verify", file=sys.stderr)
            return 2
    notes = []
    if not args.no_verify and rounded:
        notes.append(f"{rounded} files differ from the manifest's bytes but not its pixels (rebuilt on another "
                     "CPU or library build: float rounding)")
    peers: Path | None = None
    if args.no_opencv:
        notes.append("OpenCV rows left out (--no-opencv)")
    elif not has_cv2():
        notes.append(CV2_HINT)
    elif not args.peers.is_dir():
        notes.append(f"{args.peers} not found: OpenCV rows left out")
    else:
        peers = args.peers
    for n in notes:
        print(f"note: {n}", file=sys.stderr)

    import torch

    methods = list_methods(scales, args.models, peers)
    for spec in args.models:
        if not any(m.spec == spec.rsplit("@", 1)[0] for m in methods):
            notes.append(f"{spec}: not made for any of x{', x'.join(map(str, scales))} (give PATH@SCALE)")
            print(f"note: {notes[-1]}", file=sys.stderr)
    images = f"first {QUICK_IMAGES} images per set" if args.quick else "all images"
    print(f"realistic benchmark {args.bench} ({images}); "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    t0 = time.perf_counter()
    report = run_benchmark(args.bench, methods, sets, QUICK_IMAGES if args.quick else None, not args.no_ssim,
                           args.device, log=lambda line: print(line, flush=True))
    print()
    for key, rows in report.items():
        print(format_table(int(key), rows, sets))
        print()
    targets = check_targets(report, sets)
    print("Targets (issue 17 item 3), the best --models entry per scale:")
    print(format_targets(targets))
    print(f"dB = Y-PSNR (BT.601 Y rounded to uint8; gray: its values), scale px shaved (none at x1); mean = mean of "
          f"the set means; run took {time.perf_counter() - t0:.0f} s")
    if args.json:
        out = {"bench": str(args.bench), "sets": sets, "scales": scales, "quick": args.quick, "notes": notes,
               "torch": torch.__version__, "results": report, "targets": targets}
        if peers is not None:
            import cv2

            out["opencv"] = cv2.__version__
        args.json.write_text(json.dumps(out, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
