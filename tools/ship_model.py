"""Ship a trained model: copy a run's best weights into the package and write its model card.

    python tools/ship_model.py runs/x3 srcnn-x3 --data ../shared/data [--status interim]
    python tools/ship_model.py runs/x3-stage2 srcnn-x3 --previous <the stage-1 card>.json   # a second stage
    python tools/ship_model.py runs/real-x2 real-x2 --purpose "..." --scales 2 --realistic realistic-x2.json
    python tools/ship_model.py --family real real-x1 real-x2 real-x4 --purpose "..." --scale 2   # a family card

The card (src/srcnn/weights/<name>.json) records the data, config, steps, wall time, hardware, the exact
training command, validation metrics (held-out training photos) and test-set metrics measured here, and the
sha256 of the weights file, which `srcnn.load_model` checks at every load.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import shutil
from pathlib import Path

import torch

from srcnn.checkpoint import read_metadata
from srcnn.enhance import load_model
from srcnn.evaluate import evaluate_dataset
from srcnn.files import sha256_file, write_text
from srcnn.zoo import default_scale, weights_dir


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _hours(seconds: float | None) -> str:
    if not seconds:
        return "unknown"
    h, m = divmod(round(seconds / 60), 60)
    return (f"{h} h {m:02d} min of training (wall clock while the process ran, over all resumes; validation and "
            "checkpoints included)")


def parse_scales(text: str) -> list[float] | dict[str, float]:
    """ "2" or "1,2,4" -> a list; "1-4" -> {"min": 1, "max": 4} (a card's "scales")."""
    def n(v: str) -> float:
        return int(v) if float(v).is_integer() else float(v)
    if "-" in text:
        lo, hi = text.split("-", 1)
        return {"min": n(lo), "max": n(hi)}
    return [n(v) for v in text.split(",") if v.strip()]


def realistic_metrics(report_file: Path, weights: Path, name: str) -> dict[str, str]:
    """The model's rows of a ``benchmarks/realistic.py --json`` report: {"realistic x2 Set14": "24.10 (bicubic
    23.10, +1.00)", ..., "realistic x2 mean": ...}; the model's row is the one whose spec is ``weights`` or ``name``."""
    report = json.loads(report_file.read_text())
    sets = report["sets"]
    metrics: dict[str, str] = {}
    for scale, rows in report["results"].items():
        base = next((r for r in rows if r["kind"] in ("input", "bicubic")), None)
        mine = next((r for r in rows if r.get("spec") in (name, str(weights))
                     or (r.get("spec") and Path(r["spec"]).resolve() == weights.resolve())), None)
        if mine is None or base is None:
            continue
        what = "input" if base["kind"] == "input" else "bicubic"
        for st in [*sets, "mean"]:
            if st == "mean":
                q = sum(mine["quality"][x]["psnr"] for x in sets) / len(sets)
                b = sum(base["quality"][x]["psnr"] for x in sets) / len(sets)
            else:
                q, b = mine["quality"][st]["psnr"], base["quality"][st]["psnr"]
            metrics[f"realistic x{scale} {st}"] = f"{q:.2f} ({what} {b:.2f}, {q - b:+.2f})"
    if not metrics:
        raise SystemExit(f"ship_model: {report_file} has no rows for {weights} or {name}")
    return metrics


def last_weights(run: Path, meta: dict) -> tuple[Path, dict]:
    """RUN/last.safetensors: last.pt's EMA weights (the model's without EMA) with best.safetensors' metadata and
    the step, wall time and validation of the log's last validated row (which must be the last step)."""
    from srcnn.checkpoint import load_state, load_weights, save_weights

    state = load_state(run / "last.pt")
    model, _ = load_weights(run / "best.safetensors")
    model.load_state_dict(state.get("ema") or state["model"])
    with open(run / "log.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("val_psnr")]
    if not rows or int(rows[-1]["step"]) != int(state["step"]):
        raise SystemExit(f"{run}: the last step {state['step']} has no validation row in log.csv")
    last = rows[-1]
    meta = {**meta, "steps": int(last["step"]), "wall_time_s": float(last["elapsed_s"]),
            "val_psnr": float(last["val_psnr"]), "val_ssim": float(last["val_ssim"]), "weights": "last step"}
    out = run / "last.safetensors"
    save_weights(out, model, {k: v for k, v in meta.items() if k not in ("arch", "config")})
    return out, meta


def ship_family(argv: list[str]) -> None:
    """Write a family card: one name for one model per trained scale (see srcnn.zoo)."""
    p = argparse.ArgumentParser(description=ship_family.__doc__)
    p.add_argument("--family", required=True, help="the family's name")
    p.add_argument("members", nargs="+", help="shipped member names; each card's scale is its key")
    p.add_argument("--purpose", required=True)
    p.add_argument("--summary", default="")
    p.add_argument("--scales", default="1-4")
    p.add_argument("--scale", type=int, default=2, help="the default scale (a member must be trained for it)")
    a = p.parse_args(argv)
    family, metrics = {}, {}
    for m in a.members:
        raw = json.loads((weights_dir() / f"{m}.json").read_text())
        family[str(raw["scale"])] = m
        metrics.update({f"{m}: {k}": v for k, v in raw.get("metrics", {}).items() if k.startswith("realistic")})
    if str(a.scale) not in family:
        raise SystemExit(f"ship_model: no member is trained for the default scale {a.scale}")
    card = {"name": a.family, "family": dict(sorted(family.items(), key=lambda kv: int(kv[0]))),
            "task": "photo", "scale": a.scale, "scales": parse_scales(a.scales), "purpose": a.purpose,
            "summary": a.summary or f"one model per trained scale ({', '.join(a.members)}); other scales by the "
                                    f"nearest (log scale, ties up) and the one bicubic",
            "metrics": metrics}
    write_text(weights_dir() / f"{a.family}.json", json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(card, indent=2, ensure_ascii=False))


def _summary(meta: dict, task: str, scale: int) -> str:
    c, arch = meta["config"], meta.get("arch", "srcnn")
    color = "RGB" if c.get("channels") == 3 else "Y"
    if arch == "compact":
        return (f"CompactSR (3x3 convs, width {c['width']}, {c['depth']} inner layers, PReLU"
                f"{', anchor' if c.get('anchor') else ''}) on {color}, {task} x{scale}")
    if arch == "fsrcnn":
        return f"FSRCNN d={c['d']}, s={c['s']}, m={c['m']} on {color}, {task} x{scale}"
    return f"SRCNN {c['f1']}-{c['f2']}-{c['f3']} on {color}, {task} x{scale}"


def main() -> None:
    import sys

    if "--family" in sys.argv[1:]:
        ship_family(sys.argv[1:])
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("name")
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--status", default="final", choices=["final", "interim"])
    p.add_argument("--summary", default="")
    p.add_argument("--purpose", default="", help="what the model is for, in one plain sentence (the page shows it)")
    p.add_argument("--scales", default="", help='the scales it is made for: "2", "1,2,4" or "1-4"')
    p.add_argument("--realistic", type=Path, default=None,
                   help="a benchmarks/realistic.py --json report holding this run's best.safetensors")
    p.add_argument("--hardware", default="", help="override the hardware line (e.g. a run that changed threads)")
    p.add_argument("--previous", type=Path, default=None,
                   help="card of the earlier stage this run continued from (its init_from): the new card lists "
                        "every stage's commands and adds up their steps and wall time")
    p.add_argument("--last", action="store_true",
                   help="ship the weights of the run's last step (last.pt's EMA, with its final validation) instead "
                        "of its best validation step, e.g. when the best step fails a test the last one passes")
    p.add_argument("--init-sha256", default="",
                   help="sha256 of the run's init_from weights, for runs that predate its record in the metadata")
    a = p.parse_args()
    src = a.run / "best.safetensors"
    meta = read_metadata(src)
    dst = weights_dir() / f"{a.name}.safetensors"
    if a.last:
        src, meta = last_weights(a.run, meta)
    shutil.copyfile(src, dst)
    task = meta.get("task", "sr")
    scale = default_scale(meta.get("scale", 1))  # a blind model (a scale range): x2 for phone photos
    enh = load_model(dst)
    metrics: dict[str, str] = {}
    post = meta.get("arch", "srcnn") != "srcnn"
    if a.realistic:
        metrics.update(realistic_metrics(a.realistic, src, a.name))
    if post and scale == 1:  # a same-size model: JPEG artefacts on the JPEG test sets
        for d in ("LIVE1", "Classic5"):
            for q in (20, 40):
                r = evaluate_dataset(enh, a.data / d, scale=1, jpeg_quality=q)
                metrics[f"{d} q{q}"] = f"{r.psnr:.2f} / {r.ssim:.4f} (JPEG {r.baseline_psnr:.2f})"
    elif post:  # a post-upsampling net at its own factor, on clean (bicubic-downscaled) inputs
        for d in ("Set5", "Set14"):
            r = evaluate_dataset(enh, a.data / d, scale=scale)
            metrics[f"{d} x{scale}"] = f"{r.psnr:.2f} / {r.ssim:.4f} (bicubic {r.baseline_psnr:.2f})"
    elif task == "jpeg":
        for d in ("LIVE1", "Classic5"):
            for q in (10, 20, 30, 40):
                r = evaluate_dataset(enh, a.data / d, scale=1, jpeg_quality=q)
                metrics[f"{d} q{q}"] = f"{r.psnr:.2f} / {r.ssim:.4f} (JPEG {r.baseline_psnr:.2f})"
    else:
        scales = [2, 3, 4] if task == "photo" else [scale]
        for s in scales:
            for d in ("Set5", "Set14"):
                r = evaluate_dataset(enh, a.data / d, scale=s)
                metrics[f"{d} x{s}"] = f"{r.psnr:.2f} / {r.ssim:.4f} (bicubic {r.baseline_psnr:.2f})"
        if task == "photo":  # at x1 on JPEG artefacts: q40 is inside its training range (30-95), q20 is not
            for d in ("LIVE1", "Classic5"):
                for q in (20, 40):
                    r = evaluate_dataset(enh, a.data / d, scale=1, jpeg_quality=q)
                    metrics[f"{d} q{q}"] = f"{r.psnr:.2f} / {r.ssim:.4f} (JPEG {r.baseline_psnr:.2f})"
    cfg = meta.get("train_config") or {}
    tcfg = cfg.get("train", {})
    commands_file = a.run / "commands.txt"
    if commands_file.exists():  # one line per segment: "<start step>\t<command>"
        commands = [f"from step {ln.split(chr(9), 1)[0]}: {ln.split(chr(9), 1)[1]}"
                    for ln in commands_file.read_text().splitlines() if "\t" in ln]
    else:
        commands = [f"srcnn train configs/{tcfg.get('name', a.run.name)}.toml  (resume: --resume)"]
    init_from = meta.get("init_from") or (
        {"path": cfg.get("model", {}).get("init_from"), "sha256": "unknown"}
        if cfg.get("model", {}).get("init_from") else None)
    if init_from and a.init_sha256:
        init_from["sha256"] = a.init_sha256
    run_wall = meta.get("wall_time_s")  # at the best step; the whole run's wall time is the log's last row
    if (a.run / "log.csv").exists():
        with open(a.run / "log.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        run_wall = float(rows[-1]["elapsed_s"]) if rows else run_wall
    this_stage = {"config": f"configs/{tcfg.get('name', a.run.name)}.toml", "steps": meta.get("steps"),
                  "wall_time_s": run_wall, "commands": commands}
    stages = [this_stage]
    if a.previous:
        prev = json.loads(a.previous.read_text())
        stages = prev.get("stages") or [{"config": f"configs/{prev['train_config']['train']['name']}.toml",
                                         "steps": prev.get("steps"), "wall_time_s": prev.get("wall_time_s"),
                                         "commands": prev.get("commands", []), "sha256": prev.get("sha256")}]
        stages[-1] = {**stages[-1], "sha256": stages[-1].get("sha256") or prev.get("sha256")}
        stages = [*stages, this_stage]
        commands = [f"stage {i + 1} ({st['config']}), {c}" for i, st in enumerate(stages) for c in st["commands"]]
    steps = sum(st["steps"] or 0 for st in stages)
    planned = sum((st["steps"] or 0) for st in stages[:-1]) + (tcfg.get("steps") or 0)
    wall = sum(st["wall_time_s"] or 0 for st in stages) or None
    threads = tcfg.get("threads") or torch.get_num_threads()
    precision = "bf16 autocast forward, float32 weights" if tcfg.get("amp") else "float32"
    this_stage["sha256"] = sha256_file(dst)
    card = {
        "name": a.name,
        "file": dst.name,
        "sha256": this_stage["sha256"],
        "status": a.status,
        "task": task,
        "scale": scale,
        "summary": a.summary or _summary(meta, task, scale),
        **({"purpose": a.purpose} if a.purpose else {}),
        **({"scales": parse_scales(a.scales)} if a.scales else {}),
        "architecture": meta["config"],
        "degradation": meta.get("degradation"),
        "training_data": meta.get("data"),
        "steps": steps,
        "planned_steps": planned,
        "wall_time_s": wall,
        "wall_time": _hours(wall),
        "hardware": a.hardware or f"{cpu_name()} (no GPU), {threads} thread(s), {precision}, "
                                  f"torch {torch.__version__}",
        "commands": commands,
        **({"init_from": init_from} if init_from else {}),
        **({"stages": stages} if len(stages) > 1 else {}),
        "validation": {"photos": "held-out training photos (never a test set)",
                       "psnr": meta.get("val_psnr"), "ssim": meta.get("val_ssim")},
        "metrics": metrics,
        "train_config": cfg,
    }
    write_text(weights_dir() / f"{a.name}.json", json.dumps(card, indent=2) + "\n")
    print(json.dumps({k: card[k] for k in ("name", "sha256", "steps", "wall_time_s", "metrics")}, indent=2))


if __name__ == "__main__":
    main()
