"""torchrun with 2 CPU processes (gloo): ranks stay identical and match a single-process run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from srcnn.checkpoint import load_state
from srcnn.config import load_config
from srcnn.train import train

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
ARGS = ["train.steps=12", "train.val_every=6", "train.log_every=3", "optim.ema=0.0", "data.batch=8"]


def torchrun(n: int, data_dir: Path, out: Path, *extra: str, steps: int = 12) -> subprocess.CompletedProcess:
    exe = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [exe, "--standalone", f"--nproc_per_node={n}", "-m", "srcnn", "train", str(CONFIGS / "debug.toml"),
           f'data.root="{data_dir}"', *ARGS, f"train.steps={steps}", "--out", str(out), "--quiet",
           "--device", "cpu", *extra]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_two_gloo_ranks_match_one_process(data_dir, tmp_path):
    r = torchrun(2, data_dir, tmp_path / "ddp")
    assert r.returncode == 0, r.stderr[-2000:]
    sync = json.loads((tmp_path / "ddp" / "ddp.json").read_text())
    assert sync["world_size"] == 2 and sync["max_param_diff_across_ranks"] == 0.0
    cfg_text = (tmp_path / "ddp" / "config.toml").read_text()
    assert "global_batch = 8" in cfg_text and "per_process_batch = 4" in cfg_text

    torch.set_num_threads(1)
    single = load_config(CONFIGS / "debug.toml", [f'data.root="{data_dir}"', *ARGS,
                                                 f'train.out="{tmp_path / "one"}"'])
    train(single, progress=False)
    a = load_state(tmp_path / "ddp" / "last.pt")["model"]
    b = load_state(tmp_path / "one" / "last.pt")["model"]
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst < 1e-4  # same global batch and samples; only the order of float sums differs

    # resume the 2-process run with 1 process: it continues from step 12 to 16
    r = torchrun(1, data_dir, tmp_path / "ddp", "--resume", steps=16)
    assert r.returncode == 0, r.stderr[-2000:]
    assert load_state(tmp_path / "ddp" / "last.pt")["step"] == 16


@pytest.mark.slow
def test_a_refusal_on_rank_0_stops_every_rank(data_dir, tmp_path):
    """An existing run without --resume is refused on rank 0; the other rank must not hang waiting for it."""
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "last.pt").write_bytes(b"x")
    r = torchrun(2, data_dir, tmp_path / "run")
    assert r.returncode != 0
    assert "already holds a run" in r.stderr
