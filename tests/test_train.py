"""Training: the debug config learns, writes best/last, resumes exactly; configs are checked."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from srcnn.checkpoint import load_state, load_weights, read_metadata, sha256_file
from srcnn.cli import main
from srcnn.config import ConfigError, load_config
from srcnn.train import train

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def debug_cfg(data_dir: Path, out: Path, *overrides: str):
    return load_config(CONFIGS / "debug.toml", [f'data.root="{data_dir}"', f'train.out="{out}"', *overrides])


def test_debug_run_lowers_loss_and_writes_best_and_last(data_dir, tmp_path):
    cfg = debug_cfg(data_dir, tmp_path / "run", "train.steps=60", "train.log_every=10", "train.val_every=30")
    out = train(cfg, progress=False)
    rows = list(csv.DictReader(open(out / "log.csv")))
    losses = [float(r["loss"]) for r in rows if r["loss"]]
    assert losses[-1] < losses[0]
    assert any(r["val_psnr"] for r in rows)
    assert (out / "best.safetensors").exists() and (out / "last.pt").exists()
    assert (out / "curve.png").stat().st_size > 1000
    assert "steps = 60" in (out / "config.toml").read_text()
    model, meta = load_weights(out / "best.safetensors")
    assert meta["task"] == "sr" and meta["scale"] == 3.0 and meta["train_config"]["train"]["steps"] == 60
    assert model.config.f2 == 1 and model.config.residual


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_resume_continues_the_exact_trajectory(data_dir, tmp_path, optimizer):
    extra = [f'optim.name="{optimizer}"', "train.steps=20", "train.val_every=10", "train.log_every=5"]
    straight = train(debug_cfg(data_dir, tmp_path / "a", *extra), progress=False)
    # the same run, stopped after 10 steps (a shorter schedule would change the lr, so stop by hand)
    half = debug_cfg(data_dir, tmp_path / "b", *extra)
    half.train.steps = 20
    import srcnn.train as T

    orig = T.StepBatches.__iter__

    def ten_steps(self):
        for i, b in enumerate(orig(self)):
            if i == 10:
                return
            yield b

    T.StepBatches.__iter__ = ten_steps
    try:
        train(half, progress=False)
    finally:
        T.StepBatches.__iter__ = orig
    assert load_state(tmp_path / "b" / "last.pt")["step"] == 10
    train(debug_cfg(data_dir, tmp_path / "b", *extra), resume=True, progress=False)
    a = load_state(straight / "last.pt")
    b = load_state(tmp_path / "b" / "last.pt")
    assert a["step"] == b["step"] == 20
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    wa = load_file(str(straight / "best.safetensors"))
    wb = load_file(str(tmp_path / "b" / "best.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_existing_run_needs_resume(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", str(CONFIGS / "debug.toml"), f'data.root="{data_dir}"', "train.steps=2", "--out", str(out),
            "--quiet"]
    assert main(args) == 0
    assert main(args) == 2
    assert "--resume" in capsys.readouterr().err
    shutil.rmtree(out)


def test_run_folder_records_each_command_with_its_start_step(data_dir, tmp_path):
    out = tmp_path / "run"
    base = ["train", str(CONFIGS / "debug.toml"), f'data.root="{data_dir}"']
    assert main([*base, "train.steps=3", "--out", str(out), "--quiet"]) == 0
    assert main([*base, "train.steps=5", "--out", str(out), "--quiet", "--resume"]) == 0
    lines = (out / "commands.txt").read_text().splitlines()
    assert [ln.split("\t")[0] for ln in lines] == ["0", "3"]
    assert lines[1].split("\t")[1].startswith("srcnn train ") and lines[1].endswith("--quiet --resume")


def test_bad_config_key_is_a_clear_error(tmp_path, capsys):
    assert main(["train", str(CONFIGS / "debug.toml"), "optim.lrr=0.1"]) == 2
    err = capsys.readouterr().err
    assert "unknown key optim.lrr" in err and "Traceback" not in err
    with pytest.raises(ConfigError, match="wrong type"):
        load_config(CONFIGS / "debug.toml", ["train.steps=abc"])
    with pytest.raises(ConfigError, match="unknown table"):
        load_config(None, ["bogus.x=1"])
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nsteps=1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_every_shipped_config_loads():
    for f in sorted(CONFIGS.glob("*.toml")):
        cfg = load_config(f)
        assert cfg.train.steps > 0, f


def test_unwritable_run_folder_is_a_clear_error(data_dir, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = main(["train", str(CONFIGS / "debug.toml"), f'data.root="{data_dir}"', "--out", str(blocker / "run"),
                 "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "not writable" in err and "Traceback" not in err


def test_training_on_the_seed_pair_format(tmp_path):
    """A folder of 256x128 good|poor PNGs (what `srcnn prepare --preset seed` writes) trains as it is."""
    import numpy as np
    from PIL import Image

    from srcnn.data import PairTiles

    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("val", 2)):
        (tmp_path / split).mkdir()
        for i in range(n):
            good = (rng.random((128, 128)) * 255).astype(np.uint8)
            poor = np.clip(good.astype(int) + rng.integers(-20, 20, good.shape), 0, 255).astype(np.uint8)
            Image.fromarray(np.concatenate([good, poor], 1)).save(tmp_path / split / f"p{i}.png")
    ds = PairTiles(tmp_path / "train", patch=32)
    poor, good = ds[0]
    assert poor.shape == good.shape == (1, 32, 32) and poor.dtype == torch.float32
    assert 0 <= float(poor.min()) and float(poor.max()) <= 1
    cfg = load_config(CONFIGS / "debug.toml", [
        'data.kind="pairs"', f'data.root="{tmp_path}"', 'data.train=["train"]', f'data.val_dir="{tmp_path / "val"}"',
        "data.scale=1", "data.patch=32", "train.steps=10", "train.val_every=5", f'train.out="{tmp_path / "run"}"'])
    out = train(cfg, progress=False)
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert [r["val_psnr"] for r in rows if r["val_psnr"]]
    assert (out / "best.safetensors").exists()


@pytest.mark.parametrize("sig,group", [("SIGINT", False), ("SIGTERM", False), ("SIGTERM", True)])
def test_signal_saves_state_and_exits_cleanly(data_dir, tmp_path, sig, group):
    """group: the signal reaches the DataLoader worker too (`pkill -f`, `kill -- -PGID`), not only the trainer."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "srcnn", "train", str(CONFIGS / "debug.toml"), f'data.root="{data_dir}"',
           "train.steps=1000000", "train.ckpt_every_s=0.5", "train.val_every=1000000", "train.log_every=1",
           *(["data.workers=1", "data.blur=[0.0, 1.0]"] if group else []), "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "last.pt").exists() and time.time() < deadline:
        time.sleep(0.2)
    if group:  # the worker first (the order pkill may use), then the trainer
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        assert children, "no DataLoader worker"
        for pid in children:
            os.kill(int(pid), getattr(signal, sig))
        time.sleep(1.0)
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "--resume" in err
    step = load_state(out / "last.pt")["step"]
    assert step > 0
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert int(rows[-1]["step"]) <= step


@pytest.mark.parametrize("override,needle", [
    ("model.f1=8", "odd"), ("data.scale=[2]", "[low, high]"), ("data.scale=0.5", "scale must be >= 1"),
    ("data.quality=[40, 10]", "[low, high]"), ("data.quality=101", "0..100"), ("data.rescale=[1.0, 1.5]", "(0, 1]"),
])
def test_bad_values_are_one_line_errors(override, needle, capsys):
    assert main(["train", str(CONFIGS / "debug.toml"), override]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_resume_with_another_model_shape_is_refused(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    base = ["train", str(CONFIGS / "debug.toml"), f'data.root="{data_dir}"', "train.steps=2", "--out", str(out),
            "--quiet"]
    assert main(base) == 0
    assert main(base[:3] + ["model.n1=8"] + base[3:] + ["--resume"]) == 2
    assert "another shape" in capsys.readouterr().err


def test_bf16_autocast_on_cpu_follows_the_float32_trajectory(data_dir, tmp_path):
    """train.amp=true (bf16 forward, float32 weights) on CPU learns like float32: same losses within 2 %."""
    runs = {}
    for amp in ("false", "true"):
        cfg = debug_cfg(data_dir, tmp_path / amp, "train.steps=30", "train.log_every=10", "train.val_every=30",
                        f"train.amp={amp}")
        out = train(cfg, progress=False)
        runs[amp] = [float(r["loss"]) for r in csv.DictReader(open(out / "log.csv")) if r["loss"]]
        model, _ = load_weights(out / "best.safetensors")
        assert all(p.dtype == torch.float32 for p in model.parameters())
    assert runs["true"][-1] < runs["true"][0]
    assert runs["true"] != runs["false"]  # autocast really ran in bf16
    assert runs["true"] == pytest.approx(runs["false"], rel=0.02)


def test_fine_tune_records_the_sha256_of_its_starting_weights_across_resume(data_dir, tmp_path):
    first = train(debug_cfg(data_dir, tmp_path / "a", "train.steps=4", "train.val_every=2"), progress=False)
    init = tmp_path / "init.safetensors"
    shutil.copyfile(first / "best.safetensors", init)
    sha = sha256_file(init)
    extra = [f'model.init_from="{init}"', "train.val_every=2"]
    out = train(debug_cfg(data_dir, tmp_path / "b", "train.steps=2", *extra), progress=False)
    assert read_metadata(out / "best.safetensors")["init_from"] == {"path": str(init), "sha256": sha}
    init.write_bytes((first / "best.safetensors").read_bytes()[:-4] + b"    ")  # the file is re-shipped later
    train(debug_cfg(data_dir, tmp_path / "b", "train.steps=4", *extra), resume=True, progress=False)
    assert load_state(out / "last.pt")["init_from_sha256"] == sha  # what the next best.safetensors will carry


def test_ddp_parameter_check_compares_with_rank_0_in_place():
    """The final DDP check reads rank 0's weights from the broadcast tensor itself (a temporary read 0 on CUDA)."""
    from types import SimpleNamespace

    from srcnn.model import SRCNN
    from srcnn.train import max_param_diff

    torch.manual_seed(0)
    model = SRCNN(n1=4, n2=2)
    own = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    rank0 = own + 0.25  # rank 0 drifted by 0.25

    def broadcast(t, src):
        assert src == 0
        t.copy_(rank0)  # in place, as torch.distributed does

    fake = SimpleNamespace(broadcast=broadcast, all_reduce=lambda t, op: None, ReduceOp=SimpleNamespace(MAX="max"))
    assert abs(max_param_diff(model, torch.device("cpu"), fake) - 0.25) < 1e-6
    rank0 = own.clone()
    assert max_param_diff(model, torch.device("cpu"), fake) == 0.0
