"""Training: the debug config learns, writes best/last, resumes exactly; configs are checked."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from srcnn.checkpoint import load_state, load_weights, read_metadata
from srcnn.cli import main
from srcnn.config import ConfigError, load_config
from srcnn.files import sha256_file
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


# --------------------------------------------------------------------------------------------------------------
# Slim last.pt (make wip-save): small enough to commit, and --resume reads it


def _compact_last_pt() -> dict:
    """A last.pt dict as train() writes it, for the 131,580-parameter CompactSR (width 48, depth 6) after an
    Adam step (so that the optimiser holds exp_avg and exp_avg_sq)."""
    import copy

    from srcnn.model import CompactSR

    torch.manual_seed(0)
    model = CompactSR(channels=3, head=3, width=48, depth=6, scale=2, anchor=True)
    model = model.to(memory_format=torch.channels_last)
    assert sum(p.numel() for p in model.parameters()) == 131_580
    ema = copy.deepcopy(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.rand(2, 3, 16, 16)).square().mean().backward()
    opt.step()
    return {"step": 7, "model": model.state_dict(), "optimizer": opt.state_dict(), "ema": ema.state_dict(),
            "best_psnr": 21.5, "elapsed_s": 12.5, "config": "[train]\nsteps = 10\n", "init_from_sha256": "ab"}


def _nbytes(state: dict) -> int:
    import io

    buf = io.BytesIO()
    torch.save(state, buf)
    return len(buf.getvalue())


def test_a_slim_state_of_the_131580_parameter_compactsr_is_under_1_mb_and_reads_back():
    from srcnn.train import full_state, slim_state

    full = _compact_last_pt()
    slim = slim_state(full)
    assert _nbytes(full) >= 1_000_000 > _nbytes(slim)
    assert slim["slim"] and "slim" not in full
    assert {k: v for k, v in slim.items() if k not in ("model", "ema", "optimizer", "slim")} == \
        {k: v for k, v in full.items() if k not in ("model", "ema", "optimizer")}
    assert {v.dtype for v in slim["model"].values()} == {v.dtype for v in slim["ema"].values()} == {torch.float16}
    moments = slim["optimizer"]["state"]
    assert all("exp_avg" not in s and s["exp_avg_sq"].dtype == torch.bfloat16 for s in moments.values())
    assert slim["optimizer"]["param_groups"] == full["optimizer"]["param_groups"]

    back = full_state(slim)
    assert "slim" not in back and back["step"] == 7 and back["config"] == full["config"]
    for part in ("model", "ema"):
        for k, v in full[part].items():
            assert back[part][k].dtype == torch.float32 and back[part][k].shape == v.shape
            torch.testing.assert_close(back[part][k], v, rtol=1e-3, atol=1e-6)
    for i, s in full["optimizer"]["state"].items():
        b = back["optimizer"]["state"][i]
        assert b["exp_avg"].dtype == torch.float32 and not b["exp_avg"].any()
        assert b["exp_avg_sq"].dtype == torch.float32
        torch.testing.assert_close(b["exp_avg_sq"], s["exp_avg_sq"], rtol=1e-2, atol=0)
        assert torch.equal(b["step"], s["step"])
    assert full_state(full) is full  # a full state is read as it is


def test_slim_weights_take_bfloat16_where_float16_would_overflow_or_underflow():
    from srcnn.train import full_state, slim_state

    state = _compact_last_pt()
    w = dict(state["model"])
    w["normal"] = torch.linspace(-2, 2, 101)
    w["huge"] = torch.tensor([1.0, 7e4, -3e5])  # past float16's 65504
    w["tiny"] = torch.full((8,), 3e-9)  # below float16's smallest subnormal: would round to 0
    w["count"] = torch.tensor(5)  # not a float: kept as it is
    slim = slim_state({**state, "model": w})["model"]
    assert slim["normal"].dtype == torch.float16
    assert slim["huge"].dtype == slim["tiny"].dtype == torch.bfloat16
    assert slim["count"].dtype == torch.int64
    back = full_state({**state, "model": slim, "slim": "yes"})["model"]
    torch.testing.assert_close(back["huge"], w["huge"], rtol=1e-2, atol=0)
    torch.testing.assert_close(back["tiny"], w["tiny"], rtol=1e-2, atol=0)


def test_a_run_resumes_from_a_full_and_from_a_slim_last_pt(data_dir, tmp_path, capsys):
    """The same 4 steps saved full and slim: both resume to step 8; the slim one says so in one line, and its next
    checkpoint is full again."""
    from srcnn.checkpoint import save_state
    from srcnn.train import slim_state

    extra = ["train.steps=4", "train.val_every=2", "train.log_every=2"]
    full = train(debug_cfg(data_dir, tmp_path / "full", *extra), progress=False)
    shutil.copytree(full, tmp_path / "slim")
    save_state(tmp_path / "slim" / "last.pt", slim_state(load_state(full / "last.pt")))
    assert load_state(tmp_path / "slim" / "last.pt")["model"]["conv1.weight"].dtype == torch.float16

    more = ["train.steps=8", "train.val_every=2", "train.log_every=2"]
    train(debug_cfg(data_dir, full, *more), resume=True, progress=False)
    base = ["train", str(CONFIGS / "debug.toml"), f'data.root="{data_dir}"', *more, "--quiet", "--resume"]
    assert main([*base, "--out", str(tmp_path / "slim")]) == 0
    note = [ln for ln in capsys.readouterr().err.splitlines() if "slim" in ln]
    assert len(note) == 1 and note[0].startswith("srcnn: warning: ") and "last.pt" in note[0]
    for run in (full, tmp_path / "slim"):
        st = load_state(run / "last.pt")
        assert st["step"] == 8 and "slim" not in st
        assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in st["model"].values())
        assert all("exp_avg" in s for s in st["optimizer"]["state"].values())
        rows = list(csv.DictReader(open(run / "log.csv")))
        assert [int(r["step"]) for r in rows] == [2, 4, 6, 8] and all(float(r["loss"]) > 0 for r in rows)
    a, b = load_state(full / "last.pt")["model"], load_state(tmp_path / "slim" / "last.pt")["model"]
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 0.05  # the same run, give or take the rounding


def _wip_tool():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "tools" / "wip.py"
    spec = importlib.util.spec_from_file_location("wip_tool", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_wip_save_writes_a_big_last_pt_slim_and_copies_a_small_one_as_it_is(tmp_path, capsys):
    from srcnn.checkpoint import save_state
    from srcnn.train import full_state

    wip = _wip_tool()
    runs, store = tmp_path / "runs", tmp_path / "wip"
    (runs / "big").mkdir(parents=True)
    save_state(runs / "big" / "last.pt", _compact_last_pt())
    for name in ("log.csv", "config.toml", "commands.txt"):
        (runs / "big" / name).write_text(f"{name}\n")
    assert wip.main(["big", "--runs", str(runs), "--wip", str(store)]) == 0
    assert "slim" in capsys.readouterr().out
    assert sorted(p.name for p in (store / "big").iterdir()) == ["commands.txt", "config.toml", "last.pt", "log.csv"]
    assert all(p.stat().st_size < 1_000_000 for p in (store / "big").iterdir())
    saved = load_state(store / "big" / "last.pt")
    assert saved["slim"] and full_state(saved)["step"] == 7
    assert (store / "big" / "log.csv").read_text() == "log.csv\n"

    shutil.copytree(runs / "big", runs / "small")
    small = _compact_last_pt()
    save_state(runs / "small" / "last.pt", {**small, "optimizer": {**small["optimizer"], "state": {}}, "ema": None})
    assert wip.main(["small", "--runs", str(runs), "--wip", str(store)]) == 0
    assert (store / "small" / "last.pt").read_bytes() == (runs / "small" / "last.pt").read_bytes()

    (runs / "big" / "log.csv").write_bytes(b"x" * 1_000_000)  # a file the slim form cannot help: refused, unwritten
    with pytest.raises(SystemExit, match="log.csv"):
        wip.main(["big", "--runs", str(runs), "--wip", str(store)])
    assert (store / "big" / "log.csv").read_text() == "log.csv\n"


def test_without_matplotlib_a_run_skips_its_curve_only(tmp_path, monkeypatch):
    """matplotlib is the train extra: without it curve.png is not drawn, and nothing fails."""
    import sys

    from srcnn.train._runfolder import RunFolder

    run = RunFolder(tmp_path)
    run.history = [{"step": 1, "loss": 0.01, "val_psnr": ""}, {"step": 2, "loss": 0.005, "val_psnr": 30.0}]
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    run.plot()
    assert not (tmp_path / "curve.png").exists()
    monkeypatch.undo()
    run.plot()
    assert (tmp_path / "curve.png").stat().st_size > 1000
