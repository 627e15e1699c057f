"""Ship a trained model: copy a run's best weights into the package and write its model card.

    python tools/ship_model.py runs/x3 srcnn-x3 --data ../shared/data [--status interim]
    python tools/ship_model.py runs/x3-stage2 srcnn-x3 --previous <the stage-1 card>.json   # a second stage

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

from srcnn.checkpoint import read_metadata, sha256_file
from srcnn.enhance import load_model
from srcnn.evaluate import evaluate_dataset
from srcnn.zoo import weights_dir


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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("name")
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--status", default="final", choices=["final", "interim"])
    p.add_argument("--summary", default="")
    p.add_argument("--hardware", default="", help="override the hardware line (e.g. a run that changed threads)")
    p.add_argument("--previous", type=Path, default=None,
                   help="card of the earlier stage this run continued from (its init_from): the new card lists "
                        "every stage's commands and adds up their steps and wall time")
    p.add_argument("--init-sha256", default="",
                   help="sha256 of the run's init_from weights, for runs that predate its record in the metadata")
    a = p.parse_args()
    src = a.run / "best.safetensors"
    meta = read_metadata(src)
    dst = weights_dir() / f"{a.name}.safetensors"
    shutil.copyfile(src, dst)
    task = meta.get("task", "sr")
    scale = meta.get("scale", 1)
    # A blind model (trained on a scale range) defaults to x2 for phone photos; any -s in its range works.
    scale = 2 if isinstance(scale, list) else int(round(float(scale)))
    enh = load_model(dst)
    metrics: dict[str, str] = {}
    if task == "jpeg":
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
        "summary": a.summary or f"SRCNN {meta['config']['f1']}-{meta['config']['f2']}-{meta['config']['f3']} "
                                 f"on Y, {task} x{scale}",
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
    (weights_dir() / f"{a.name}.json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps({k: card[k] for k in ("name", "sha256", "steps", "wall_time_s", "metrics")}, indent=2))


if __name__ == "__main__":
    main()
