"""Reliability: training survives SIGKILL and a full disk, weights are checked, `srcnn enhance` never loses work."""

from __future__ import annotations

import csv
import errno
import hashlib
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import srcnn.zoo
from srcnn.checkpoint import WeightsError, load_state, load_weights, save_weights
from srcnn.cli import main
from srcnn.enhance import load_model
from srcnn.images import read
from srcnn.model import SRCNN

from .conftest import smooth_image

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread: these tests run many tiny ops, which extra threads only slow down on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def err_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def temp_files(folder: Path) -> list[str]:
    """Names of temporary files (ours all start with '.' and contain 'tmp') anywhere under ``folder``."""
    return sorted(p.name for p in folder.rglob("*") if p.is_file() and p.name.startswith(".") and "tmp" in p.name)


def train_args(data_dir: Path, out: Path, *overrides: str) -> list[str]:
    return ["train", str(CONFIGS / "debug.toml"), f'data.root="{data_dir}"', "train.threads=1", *overrides,
            "--out", str(out), "--quiet"]


# --------------------------------------------------------------------------------------------------------------
# Crash-proof training: SIGKILL at random moments, then --resume


# A helper process that imports torch, srcnn and what training loads lazily once, then forks one child per
# "life" of the run: the child runs the real `srcnn train` command (srcnn.cli.main) and is SIGKILLed by the test.
# Forking keeps each start at a fraction of a second instead of ~4 s of imports, so that 20+ kills fit the test.
# The child notes each step it starts and each checkpoint write (begin/end) in an events file, by os.write.
ZYGOTE = textwrap.dedent("""
    import json, os, sys, time, traceback
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot
    import torch, torch._dynamo
    from torch.utils.tensorboard import SummaryWriter
    import srcnn.cli, srcnn.train as T

    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            events = os.open(job["events"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

            def note(text):
                os.write(events, f"{text} {time.time():.6f}\\n".encode())

            lr_at, save_state = T.lr_at, T.save_state

            def lr_at_noted(cfg, step):
                note(f"step {step}")
                return lr_at(cfg, step)

            def save_state_noted(path, state):
                note(f"save {state['step']}")
                save_state(path, state)
                note(f"saved {state['step']}")

            T.lr_at, T.save_state = lr_at_noted, save_state_noted
            try:
                code = srcnn.cli.main(job["argv"])
            except BaseException:
                traceback.print_exc()
                code = 98
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        print(pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)
""")


def read_events(path: Path) -> list[tuple[str, int, float]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        kind, step, t = line.split()
        out.append((kind, int(step), float(t)))
    return out


def wait_for(path: Path, kind: str, deadline: float, count: int = 1) -> bool:
    """Poll the events file (every ms) until ``count`` events of ``kind`` are in it."""
    needle = f"{kind} ".encode()
    while time.time() < deadline:
        if path.exists() and path.read_bytes().count(needle) >= count:
            return True
        time.sleep(0.001)
    return False


def check_finished_run(run: Path, steps: int, log_every: int) -> None:
    """A run that reached its last step: last.pt there, no temp file, no gap in log.csv, best weights load."""
    assert load_state(run / "last.pt")["step"] == steps
    assert temp_files(run) == []
    logged = [int(row["step"]) for row in csv.DictReader(open(run / "log.csv"))]
    assert logged == sorted(set(logged))
    assert set(range(log_every, steps + 1, log_every)) <= set(logged)  # no gap in the log
    load_weights(run / "best.safetensors")


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="the kill test forks its training processes (POSIX)")
def test_sigkill_at_random_moments_always_resumes(data_dir, tmp_path):
    """22 SIGKILLs at seeded random moments (start-up, training, mid-checkpoint): resumes work, <= 1 interval lost."""
    kills_wanted, steps, interval_s, log_every = 22, 2000, 0.3, 10
    rng = random.Random(20240607)
    modes = ["start-up"] * 4 + ["training"] * 11 + ["checkpoint"] * 6
    rng.shuffle(modes)
    modes.insert(0, "start-up")  # the first kill is likely to come before the first last.pt exists
    save_times: list[float] = []
    zygote = subprocess.Popen([sys.executable, "-c", ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, cwd=ROOT)
    kills: list[dict] = []
    chain = 1  # a fast machine may finish a run between kills: then the kills go on in a new run folder
    run = tmp_path / f"run{chain}"
    saved_before = 0  # the step in last.pt before this life
    max_temp_files = half_written = 0
    t_start = time.time()

    def argv(run: Path) -> list[str]:
        return train_args(data_dir, run, f"train.steps={steps}", f"train.ckpt_every_s={interval_s}",
                          "train.val_every=250", f"train.log_every={log_every}")

    try:
        life = 0
        while len(kills) < kills_wanted:
            assert time.time() - t_start < 150, f"only {len(kills)} kills in 150 s"
            life += 1
            events, log = tmp_path / f"events{life}.txt", tmp_path / f"life{life}.log"
            resume = (run / "last.pt").exists()
            job = {"argv": argv(run) + (["--resume"] if resume else []), "events": str(events), "log": str(log)}
            zygote.stdin.write(json.dumps(job) + "\n")
            zygote.stdin.flush()
            pid = int(zygote.stdout.readline())
            mode = modes[len(kills) % len(modes)]
            deadline = time.time() + 60
            if mode == "start-up":
                time.sleep(rng.uniform(0.0, 0.3) if life == 1 else rng.uniform(0.0, 0.8))
            elif mode == "training":
                if wait_for(events, "step", deadline):
                    until = time.time() + rng.uniform(0.0, 0.6)
                    while time.time() < until and len(read_events(events)) < 150:
                        time.sleep(0.003)
            else:  # just after a checkpoint write begins: often kills it half-written
                if wait_for(events, "save", deadline, count=rng.choice((1, 2))):
                    time.sleep(rng.uniform(0.0, statistics.median(save_times) if save_times else 0.005))
            t_kill = time.time()
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            code = int(zygote.stdout.readline())
            assert code in (-signal.SIGKILL, 0), f"life {life} exited {code}:\n{log.read_text()[-3000:]}"
            if code == 0:  # finished before the kill
                check_finished_run(run, steps, log_every)
                chain += 1
                run, saved_before = tmp_path / f"run{chain}", 0
                continue
            ev = read_events(events)
            half_written += bool(list(run.glob(".last.pt.tmp-*"))) if run.exists() else 0
            started = [s for k, s, _ in ev if k == "step"]
            saved = [(s, t) for k, s, t in ev if k == "saved"]
            begun = {s: t for k, s, t in ev if k == "save"}
            save_times += [t - begun[s] for s, t in saved if s in begun]
            if started:  # the resumed run continued exactly where last.pt was
                assert started[0] == saved_before, (life, started[0], saved_before)
            now_saved = load_state(run / "last.pt")["step"] if (run / "last.pt").exists() else 0  # never corrupt
            unfinished = [(st, t) for st, t in begun.items() if st not in dict(saved)]
            # last.pt holds the last finished write, or the one in flight if only its end note was cut off
            assert now_saved in {saved_before, *(st for st, _ in saved), *(st for st, _ in unfinished)}
            assert now_saved >= saved_before
            durable = [(st, t) for st, t in [*saved, *unfinished] if st == now_saved]
            # how much work this kill lost: steps started since the last durable checkpoint, and their time
            lost_steps = (started[-1] + 1 - now_saved) if started else 0
            since = durable[-1][1] if durable else (next(t for k, _, t in ev if k == "step") if started else t_kill)
            in_save = any(st != now_saved for st, _ in unfinished)  # a write cut off: the previous one survived
            steps_t = [t for k, _, t in ev if k == "step"]
            rate = (len(steps_t) - 1) / (steps_t[-1] - steps_t[0]) if len(steps_t) > 20 else None
            kills.append({"mode": mode, "lost_steps": lost_steps, "lost_s": t_kill - since, "in_save": in_save,
                          "no_checkpoint_yet": not (run / "last.pt").exists(), "steps_per_s": rate})
            saved_before = now_saved
            max_temp_files = max(max_temp_files, len(temp_files(run)) if run.exists() else 0)
    finally:
        zygote.stdin.close()
        zygote.wait(timeout=30)

    # the last life is the real command in a fresh process: it resumes and reaches the final step
    resume = ["--resume"] if (run / "last.pt").exists() else []
    r = subprocess.run([sys.executable, "-m", "srcnn", *argv(run), *resume], capture_output=True, text=True,
                       timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    check_finished_run(run, steps, log_every)
    rates = [k["steps_per_s"] for k in kills if k["steps_per_s"]]
    per_interval = statistics.median(rates) * interval_s
    worst = max(kills, key=lambda k: k["lost_steps"])
    print(f"\n{len(kills)} SIGKILLs over {chain} run(s): {sum(k['mode'] == 'start-up' for k in kills)} at start-up "
          f"({sum(k['no_checkpoint_yet'] for k in kills)} before the first last.pt existed), "
          f"{sum(k['in_save'] for k in kills)} cut a checkpoint write (median write "
          f"{statistics.median(save_times) * 1000:.0f} ms; {half_written} left a half-written temp file); "
          f"lost per kill: max {worst['lost_steps']} steps ({worst['lost_s']:.2f} s), median "
          f"{statistics.median(k['lost_steps'] for k in kills)} steps; one checkpoint interval = {interval_s} s = "
          f"{per_interval:.0f} steps (median {statistics.median(rates):.0f} steps/s); temp files at any time <= "
          f"{max_temp_files}; {time.time() - t_start:.0f} s in all")
    assert len(kills) >= 20
    for k in kills:  # at most one checkpoint interval lost (+ a validation, the step in flight, a loaded machine)
        assert k["lost_s"] <= interval_s + 1.5, k
    assert max_temp_files <= 1  # a half-written checkpoint is removed at the next start, never piles up


class _Killed(BaseException):
    """Stands in for SIGKILL in-process: nothing catches it, nothing is written after it."""


def test_a_kill_right_after_a_checkpoint_leaves_no_gap_in_the_log(data_dir, tmp_path, monkeypatch):
    """The worst moment for the log: the process dies just after last.pt is renamed; resume then logs every step."""
    import srcnn.train as T

    run = tmp_path / "run"
    args = train_args(data_dir, run, "train.steps=40", "train.ckpt_every_s=1000", "train.val_every=20",
                      "train.log_every=5")
    real, calls = T.save_state, []

    def save_then_die(path: Path, state: dict) -> None:
        real(path, state)
        calls.append(state["step"])
        if len(calls) == 1:
            raise _Killed

    monkeypatch.setattr(T, "save_state", save_then_die)
    with pytest.raises(_Killed):
        main(args)
    assert load_state(run / "last.pt")["step"] == 20  # the validation at step 20 checkpoints
    (run / ".last.pt.tmp-0a1b2c3d4e5f").write_bytes(b"half a checkpoint")  # what a kill during the write leaves
    assert main([*args, "--resume"]) == 0
    logged = [int(row["step"]) for row in csv.DictReader(open(run / "log.csv"))]
    assert logged == list(range(5, 41, 5))
    assert temp_files(run) == []


def test_disk_full_is_one_line_and_keeps_the_last_checkpoint(data_dir, tmp_path, monkeypatch, capsys):
    """ENOSPC while writing last.pt: exit 2, a one-line 'disk full' error, the previous last.pt still loads."""
    run = tmp_path / "run"
    args = train_args(data_dir, run, "train.steps=30", "train.ckpt_every_s=0", "train.val_every=1000")
    real, calls = torch.save, []

    def fills_the_disk(obj: object, f: object, *a: object, **k: object) -> None:
        calls.append(f)
        if len(calls) < 3:
            return real(obj, f, *a, **k)
        Path(f).write_bytes(b"\0" * 100)  # part of it made it to the disk
        raise OSError(errno.ENOSPC, "No space left on device", str(f))

    monkeypatch.setattr(torch, "save", fills_the_disk)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err_lines(err)) == 1 and "Traceback" not in err, err
    assert "disk full" in err and str(run) in err and "--resume" in err
    assert load_state(run / "last.pt")["step"] == 2  # the checkpoint before the failed write
    assert temp_files(run) == []
    monkeypatch.setattr(torch, "save", real)  # space freed: the run continues
    assert main([*args, "--resume"]) == 0
    assert load_state(run / "last.pt")["step"] == 30


def test_disk_full_before_any_checkpoint_says_start_again(data_dir, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"

    def full(*_a: object, **_k: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    assert main(train_args(data_dir, run, "train.steps=5", "train.ckpt_every_s=0")) == 2
    err = capsys.readouterr().err
    assert len(err_lines(err)) == 1 and "disk full" in err and "--resume" not in err and "Traceback" not in err
    assert not (run / "last.pt").exists() and temp_files(run) == []


# --------------------------------------------------------------------------------------------------------------
# Safe weights: nothing untrusted is unpickled; shipped weights are checked against their card


def test_no_code_path_unpickles_untrusted_data():
    """Every torch.load passes weights_only=True; no pickle/np.load(allow_pickle)/torch.jit.load anywhere in src."""
    problems = []
    for f in sorted((ROOT / "src" / "srcnn").rglob("*.py")):
        text = f.read_text()
        for m in re.finditer(r"torch\.load\((?:[^()]|\([^()]*\))*\)", text):
            if "weights_only=True" not in m.group(0):
                problems.append(f"{f.name}: {m.group(0)}")
        for pattern in (r"\bimport pickle\b", r"\bpickle\.loads?\(", r"allow_pickle\s*=\s*True", r"torch\.jit\.load",
                        r"\bimport dill\b", r"\bjoblib\.load"):
            problems += [f"{f.name}: {pattern}" for _ in re.finditer(pattern, text)]
    assert problems == []


def test_a_pickle_payload_in_last_pt_is_refused_on_resume(data_dir, tmp_path, capsys):
    """--resume of a last.pt that carries code: exit 2 with one line, and the code never runs."""
    run = tmp_path / "run"
    run.mkdir()
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    torch.save({"step": 3, "model": Payload()}, run / "last.pt")
    assert main([*train_args(data_dir, run, "train.steps=5"), "--resume"]) == 2
    err = capsys.readouterr().err
    assert len(err_lines(err)) == 1 and "last.pt" in err and "Traceback" not in err
    assert not marker.exists()


@pytest.fixture
def fake_zoo(tmp_path, monkeypatch) -> Path:
    """A weights folder with one shipped model 'tiny-x2' (.safetensors + card) in place of the package's."""
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    torch.manual_seed(0)
    save_weights(zoo / "tiny-x2.safetensors", SRCNN(f2=1, n1=16, n2=8), {"scale": 2, "task": "sr"})
    digest = hashlib.sha256((zoo / "tiny-x2.safetensors").read_bytes()).hexdigest()
    card = {"name": "tiny-x2", "file": "tiny-x2.safetensors", "sha256": digest, "task": "sr", "scale": 2,
            "summary": "a test model", "metrics": {"Set5": 30.0}}
    (zoo / "tiny-x2.json").write_text(json.dumps(card))
    monkeypatch.setattr(srcnn.zoo, "weights_dir", lambda: zoo)
    return zoo


def _photo(tmp_path: Path) -> Path:
    src = tmp_path / "photo.png"
    Image.fromarray(smooth_image(12, 16)).save(src)
    return src


def test_intact_shipped_weights_load(fake_zoo, tmp_path, capsys):
    assert load_model("tiny-x2", device="cpu").scale == 2
    assert main(["models"]) == 0
    assert any(line.startswith("tiny-x2") for line in capsys.readouterr().out.splitlines())
    src = _photo(tmp_path)
    assert main(["enhance", str(src), "-m", "tiny-x2", "--device", "cpu", "--quiet"]) == 0
    assert read(tmp_path / "photo_srcnn.png").pixels.shape == (24, 32, 3)


@pytest.mark.parametrize("damage", ["one byte changed", "truncated"])
def test_damaged_shipped_weights_are_refused(fake_zoo, tmp_path, capsys, damage):
    """A tampered or truncated shipped file fails its sha256 check: one line, no output, nothing loaded."""
    weights = fake_zoo / "tiny-x2.safetensors"
    data = bytearray(weights.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data[-5] ^= 0x01  # inside a tensor: the file still parses, only the checksum can tell
    weights.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        load_model("tiny-x2", device="cpu")
    src = _photo(tmp_path)
    assert main(["enhance", str(src), "-m", "tiny-x2", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert len(err_lines(err)) == 1 and "sha256" in err and str(weights) in err and "Traceback" not in err
    assert not (tmp_path / "photo_srcnn.png").exists()


def test_a_card_without_its_file_or_unreadable_is_not_listed(fake_zoo, tmp_path, capsys):
    (fake_zoo / "ghost.json").write_text(json.dumps({"name": "ghost", "file": "ghost.safetensors", "sha256": "0" * 64,
                                                     "task": "sr", "scale": 3, "summary": "", "metrics": {}}))
    (fake_zoo / "broken.json").write_text('{"name": "broken", "file": ')  # a damaged install
    (fake_zoo / "broken.safetensors").write_bytes(b"x")
    assert main(["models"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:] if line.strip()]
    assert "tiny-x2" in names and "ghost" not in names and "broken" not in names
    src = _photo(tmp_path)
    assert main(["enhance", str(src), "-m", "ghost"]) == 2
    err = capsys.readouterr().err
    assert len(err_lines(err)) == 1 and "unknown model 'ghost'" in err


def test_a_truncated_weights_file_given_by_path_is_refused(tmp_path, capsys):
    w = tmp_path / "mine.safetensors"
    torch.manual_seed(0)
    save_weights(w, SRCNN(f2=1, n1=16, n2=8), {"scale": 2})
    w.write_bytes(w.read_bytes()[:-100])
    assert main(["enhance", str(_photo(tmp_path)), "-m", str(w)]) == 2
    err = capsys.readouterr().err
    assert len(err_lines(err)) == 1 and str(w) in err and "Traceback" not in err


# --------------------------------------------------------------------------------------------------------------
# Nothing lost: inputs untouched, interrupted folders resume


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir()) if p.is_file()}


def test_bad_files_in_a_folder_never_touch_any_input(tmp_path, capsys):
    """Outputs beside the inputs: good files enhanced, bad ones get no output, no input changes (bytes, mtime)."""
    rng = np.random.default_rng(3)
    for k in range(3):
        Image.fromarray(smooth_image(10, 14, seed=k)).save(tmp_path / f"good{k}.png")
    Image.fromarray(smooth_image(10, 14)).save(tmp_path / "good.jpg", quality=90)
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not a photo\n")
    (tmp_path / "noise.webp").write_bytes(rng.integers(0, 256, 300, dtype=np.uint8).tobytes())
    whole = (tmp_path / "good0.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "bomb.png").write_bytes((ROOT / "tests" / "corpus" / "bomb_png_100000x100000.png").read_bytes())
    for p in tmp_path.iterdir():
        os.utime(p, ns=(1_500_000_000_000_000_000, 1_500_000_000_000_000_000))
    before = _snapshot(tmp_path)
    for extra in ([], ["--force"]):
        assert main(["enhance", str(tmp_path), "-m", "bicubic", "-s", "2", *extra]) == 1
        err = capsys.readouterr().err
        assert "Traceback" not in err and "4 enhanced" in err and "5 failed" in err
        after = _snapshot(tmp_path)
        assert {k: after[k] for k in before} == before
        made = sorted(set(after) - set(before))
        assert made == ["good0_srcnn.png", "good1_srcnn.png", "good2_srcnn.png", "good_srcnn.jpg"]
        assert all(read(tmp_path / m).pixels.shape[:2] == (20, 28) for m in made)
        assert temp_files(tmp_path) == []


def test_ctrl_c_before_the_first_image_is_one_line(tmp_path, monkeypatch, capsys):
    import srcnn.enhance

    def interrupted(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(srcnn.enhance, "load_model", interrupted)
    try:
        code = main(["enhance", str(_photo(tmp_path)), "-m", "bicubic"])
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped srcnn.cli.main: the user sees a traceback")
    assert code == 130
    err = capsys.readouterr().err
    assert err_lines(err) == ["srcnn: error: interrupted"]


@pytest.mark.slow
def test_sigint_mid_folder_keeps_finished_outputs_and_rerun_continues(tmp_path, capsys):
    """Ctrl-C while a folder is processed: exit 130, every output present is complete, a rerun skips them."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    # Photos big enough (~0.3 s each here) that the interrupt lands mid-folder even when this process is slow to poll
    # (with 30 photos of 200x280 the child once finished all of them before the signal came).
    n = 12
    for k in range(n):
        Image.fromarray(smooth_image(360, 480, seed=k)).save(src / f"p{k:02d}.png")
    before = _snapshot(src)
    args = ["enhance", str(src), "-o", str(out), "-m", "bicubic", "-s", "2"]
    # The child gets Ctrl-C's default disposition whatever this process inherited (a SIGINT ignored by the parent
    # is inherited through exec, and Python then installs no KeyboardInterrupt: in a full suite run the child
    # twice finished all 12 photos after the signal).
    proc = subprocess.Popen([sys.executable, "-m", "srcnn", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and not (out.exists() and any(p.suffix == ".png" for p in out.iterdir())):
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    done = sorted(out.iterdir())
    assert 1 <= len(done) < n, f"{len(done)} outputs: the interrupt came too late to test anything"
    assert temp_files(out) == []
    assert all(read(p).pixels.shape[:2] == (720, 960) for p in done)  # complete files only
    assert _snapshot(src) == before
    mtimes = {p.name: p.stat().st_mtime_ns for p in done}

    assert main(args) == 0  # the rerun
    assert f"{n - len(done)} enhanced, {len(done)} skipped" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in done} == mtimes  # finished work is not redone
    assert len(list(out.iterdir())) == n and temp_files(out) == []

    assert main([*args, "--force", "--quiet"]) == 0
    assert all(p.stat().st_mtime_ns != mtimes[p.name] for p in done)  # --force redoes them
    assert _snapshot(src) == before


# --------------------------------------------------------------------------------------------------------------
# A folder run never stops because of one file, and takes every format read() takes


def _err_lines_about(err: str, word: str) -> list[str]:
    return [line for line in err_lines(err) if word in line]


def test_two_inputs_for_one_output_get_distinct_names_and_the_run_goes_on(tmp_path, capsys):
    """a.png and a.bmp both map to a_srcnn.png: each gets its own name (one line each), the rest is done, exit 1."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    Image.fromarray(smooth_image(6, 8)).save(src / "a.png")
    Image.fromarray(smooth_image(6, 8, seed=1)).save(src / "a.bmp")
    Image.fromarray(smooth_image(6, 8, seed=2)).save(src / "b.png")
    args = ["enhance", str(src), "-o", str(out), "-m", "bicubic", "-s", "2"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "3 enhanced" in err and "0 failed" in err and "2 renamed" in err
    assert sorted(p.name for p in out.iterdir()) == ["a_bmp_srcnn.png", "a_png_srcnn.png", "b_srcnn.png"]
    assert len(_err_lines_about(err, "renamed")) == 3  # one per input, and the summary
    assert np.array_equal(read(out / "a_bmp_srcnn.png").pixels[::2, ::2].shape[:2], (6, 8))
    assert not np.array_equal(read(out / "a_bmp_srcnn.png").pixels, read(out / "a_png_srcnn.png").pixels)
    assert main(args) == 1  # a rerun finds the same names and skips them
    assert "0 enhanced, 3 skipped" in capsys.readouterr().err


def test_an_input_that_still_has_no_name_of_its_own_is_skipped_alone(tmp_path, capsys):
    """a.png, a.bmp and a_png.png: a.png's distinct name a_png_srcnn.png is a_png.png's output; only a.png waits."""
    for name, seed in (("a.png", 0), ("a.bmp", 1), ("a_png.png", 2), ("c.png", 3)):
        Image.fromarray(smooth_image(6, 8, seed=seed)).save(tmp_path / name)
    out = tmp_path / "out"
    assert main(["enhance", str(tmp_path), "-o", str(out), "-m", "bicubic", "-s", "2"]) == 1
    err = capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["a_bmp_srcnn.png", "a_png_srcnn.png", "c_srcnn.png"]
    skipped = _err_lines_about(err, "skipped")
    assert len([line for line in skipped if line.startswith("srcnn: skipped")]) == 1 and "a.png" in skipped[0]
    assert "3 enhanced" in err and "1 failed" in err


def test_folder_mode_takes_every_format_read_takes(tmp_path, capsys):
    """GIF, TGA, PPM, ICO, JPEG 2000, ... in a folder are enhanced as when named one by one; GIF/TGA out as PNG."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    img = Image.fromarray(smooth_image(6, 8))
    for name, fmt in (("g.gif", "GIF"), ("t.tga", "TGA"), ("p.ppm", "PPM"), ("i.ico", "ICO"), ("j.jp2", "JPEG2000"),
                      ("q.qoi", "QOI"), ("x.pcx", "PCX")):
        img.save(src / name, fmt)
    assert main(["enhance", str(src), "-o", str(out), "-m", "bicubic", "-s", "2", "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["g_srcnn.png", "i_srcnn.png", "j_srcnn.png", "p_srcnn.png",
                                                     "q_srcnn.png", "t_srcnn.png", "x_srcnn.png"]
    assert all(read(p).pixels.shape[:2] == (12, 16) for p in out.iterdir())
    (tmp_path / "only").mkdir()
    img.save(tmp_path / "only" / "a.gif")
    assert main(["enhance", str(tmp_path / "only"), "-m", "bicubic", "--quiet"]) == 0  # not "no images found"
    assert (tmp_path / "only" / "a_srcnn.png").exists()


def test_outputs_inside_the_input_tree_are_never_enhanced_again(tmp_path, capsys):
    """-o inside the input folder (--recursive): earlier outputs are not inputs, even after --ext changes."""
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    Image.fromarray(smooth_image(6, 8)).save(photos / "a.png")
    Image.fromarray(smooth_image(6, 8, seed=1)).save(photos / "sub" / "b.gif")
    out = photos / "out"
    for ext in ("auto", "jpg", "tif"):
        assert main(["enhance", str(photos), "-o", str(out), "-m", "bicubic", "--recursive", "--ext", ext,
                     "--quiet"]) == 0
    made = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert made == ["a_srcnn.jpg", "a_srcnn.png", "a_srcnn.tif", "sub/b_srcnn.jpg", "sub/b_srcnn.png",
                    "sub/b_srcnn.tif"]
    # outputs beside the inputs: an earlier output with another extension is not an input either
    assert main(["enhance", str(photos / "sub"), "-m", "bicubic", "--quiet"]) == 0
    assert main(["enhance", str(photos / "sub"), "-m", "bicubic", "--ext", "jpg", "--quiet"]) == 0
    assert sorted(p.name for p in (photos / "sub").iterdir()) == ["b.gif", "b_srcnn.jpg", "b_srcnn.png"]


@pytest.mark.parametrize("length", [238, 250, 255])
def test_output_names_of_238_to_255_bytes_are_written(tmp_path, capsys, length):
    stem = "p" * (length - len("_srcnn.png"))
    Image.fromarray(smooth_image(6, 8)).save(tmp_path / f"{stem}.png")
    assert main(["enhance", str(tmp_path), "-m", "bicubic", "--quiet"]) == 0, capsys.readouterr().err
    assert len(f"{stem}_srcnn.png".encode()) == length and (tmp_path / f"{stem}_srcnn.png").exists()
    assert temp_files(tmp_path) == []


def test_libtiff_messages_never_reach_stderr_one_line_per_bad_file(tmp_path, capfd):
    """A TIFF libtiff complains about: the one 'skipped' line names it (with libtiff's reason), nothing raw."""
    from .test_images import tiff_with_short_strip

    (tmp_path / "short.tif").write_bytes(tiff_with_short_strip())
    Image.fromarray(smooth_image(6, 8)).save(tmp_path / "good.tif")
    assert main(["enhance", str(tmp_path), "-m", "bicubic", "--quiet"]) == 1
    out, err = capfd.readouterr()
    assert err_lines(err) == [err_lines(err)[0], "srcnn: 1 enhanced, 0 skipped (output exists; --force to redo), "
                              "1 failed"], err
    assert err_lines(err)[0].startswith(f"srcnn: skipped {tmp_path / 'short.tif'}: ") and "TIFFFillStrip" in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_a_fifo_named_directly_is_refused_for_what_it_is(tmp_path, capsys):
    os.mkfifo(tmp_path / "pipe.png")
    Image.fromarray(smooth_image(6, 8)).save(tmp_path / "a.png")
    assert main(["enhance", str(tmp_path / "pipe.png"), str(tmp_path / "a.png"), "-m", "bicubic", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err_lines(err)[0] == f"srcnn: skipped {tmp_path / 'pipe.png'}: is a named pipe (FIFO), not an image " \
        "file (give a saved image file)"
    assert "empty" not in err and (tmp_path / "a_srcnn.png").exists()
    assert main(["enhance", "/dev/null", "-o", str(tmp_path / "n.png"), "-m", "bicubic"]) == 1
    assert "/dev/null: is a device" in capsys.readouterr().err
