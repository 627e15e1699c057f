"""`make wip-save RUN=NAME`: a run's resumable state into weights/wip/NAME (committed; each file under 1 MB).

    python tools/wip.py NAME [--runs runs] [--wip weights/wip]    # runs/NAME -> weights/wip/NAME

`make wip-restore RUN=NAME` copies the files back into runs/NAME (``cp -n``).

A last.pt of 1 MB or more is saved slim (``srcnn.train.slim_state``: weights and EMA in float16, Adam's second
moments in bfloat16, its first moments dropped; about 2.6 times smaller). ``srcnn train --resume`` reads a slim
last.pt back at float32 with a one-line note, and its next checkpoint is a full one again.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import torch

from srcnn.checkpoint import load_state
from srcnn.files import write_bytes
from srcnn.train import slim_state

LIMIT = 1_000_000  # bytes: the most a committed file may hold
NEEDED = ("last.pt", "log.csv", "config.toml")
OPTIONAL = ("commands.txt", "best.safetensors")


def save(run: Path, wip: Path) -> str:
    """Copy the run's files into ``wip`` (last.pt slim when it is over the limit); nothing is written when any file
    would still be over it. Returns a one-line summary."""
    missing = [n for n in NEEDED if not (run / n).is_file()]
    if missing:
        raise SystemExit(f"wip.py: error: {run} has no {', '.join(missing)}")
    files = {n: (run / n).read_bytes() for n in NEEDED + OPTIONAL if (run / n).is_file()}
    note = ""
    if len(files["last.pt"]) >= LIMIT:
        buf = io.BytesIO()
        torch.save(slim_state(load_state(run / "last.pt")), buf)
        note = f" (last.pt slim: {len(files['last.pt']):,} -> {len(buf.getvalue()):,} bytes)"
        files["last.pt"] = buf.getvalue()
    big = [f"{n} ({len(b):,} bytes)" for n, b in files.items() if len(b) >= LIMIT]
    if big:
        raise SystemExit(f"wip.py: error: over the {LIMIT:,}-byte limit of a committed file: {', '.join(big)}; "
                         f"nothing written to {wip}")
    wip.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        write_bytes(wip / name, data)
        (wip / name).chmod(0o644)
    return f"{wip}: {len(files)} files, {sum(map(len, files.values())):,} bytes{note}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tools/wip.py", description=__doc__.splitlines()[0])
    p.add_argument("name", help="the run's name: runs/NAME and weights/wip/NAME")
    p.add_argument("--runs", type=Path, default=Path("runs"), help="the folder of the run folders (default: runs)")
    p.add_argument("--wip", type=Path, default=Path("weights/wip"), help="default: weights/wip")
    a = p.parse_args(argv)
    print(save(a.runs / a.name, a.wip / a.name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
