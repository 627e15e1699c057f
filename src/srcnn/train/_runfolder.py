"""Hides the run folder: preflight, its files (config, commands, log, curve, best, last, slim last), write errors."""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import load_state, save_weights
from ..config import Config, to_toml
from ..files import atomic_write, remove_stale_temps, write_text

__all__ = ["TrainError", "RunFolder", "LOG_FIELDS", "slim_state", "full_state", "is_slim"]

LOG_FIELDS = ["step", "elapsed_s", "loss", "lr", "val_psnr", "val_ssim"]
_WRITTEN = ("last.pt", "best.safetensors", "log.csv", "curve.png")  # what a killed run may leave half-written
_WRITE_ERRORS = {errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota exceeded", errno.EROFS: "read-only file system",
                 errno.EACCES: "permission denied", errno.EPERM: "permission denied"}


class TrainError(Exception):
    """A problem the user can fix (bad paths, existing run folder, unwritable folder); one-line message."""


class RunFolder:
    """``runs/<name>`` (or train.out): every file a run reads or writes there, each write atomic."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.state_path = out / "last.pt"
        self.history: list[dict] = []  # log.csv's rows (rank 0)
        self._writer: Any = None  # TensorBoard's SummaryWriter while open

    def preflight(self, resume: bool) -> None:
        """Check the folder before any work: resume or not as asked, writable; remove stale temp files."""
        out = self.out
        if self.state_path.exists() and not resume:
            raise TrainError(f"{out} already holds a run: add --resume, or set train.out to a new folder")
        if resume and not self.state_path.exists():
            raise TrainError(f"{out}: nothing to resume (no last.pt); drop --resume to start")
        try:
            out.mkdir(parents=True, exist_ok=True)
            probe = out / ".write-test"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as e:
            raise TrainError(f"{out}: run folder not writable ({e.strerror}); set train.out") from None
        remove_stale_temps(out, _WRITTEN)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Turn an OSError while writing here (disk full, quota, permissions) into a one-line TrainError."""
        try:
            yield
        except OSError as e:
            reason = _WRITE_ERRORS.get(e.errno, " ".join(str(e.strerror or e).split()))
            keep = (f"{self.state_path.name} still holds the last good checkpoint: free some space, then continue "
                    "with --resume" if self.state_path.exists() else "free some space, then start again")
            raise TrainError(f"{self.out}: cannot write to the run folder ({reason}); {keep}") from None

    def begin(self, cfg: Config, resolved: dict, command: str, start: int) -> None:
        """Write the resolved config.toml, add ``command`` to commands.txt; read log.csv's rows up to ``start``."""
        with self.writing():
            write_text(self.out / "config.toml", to_toml(cfg, resolved))
            if command:
                with open(self.out / "commands.txt", "a") as f:
                    f.write(f"{start}\t{command}\n")
        self.history = self.read_log(start)

    def log(self, step: int, elapsed: float, lr: float, loss: float | None,
            val: tuple[float, float] | None) -> dict | None:
        """One row of log.csv (kept in ``history``, written with last.pt) and its TensorBoard scalars; none
        when there is neither a ``loss`` nor a validation (``val``: PSNR, SSIM) to log."""
        if loss is None and val is None:
            return None
        row = {"step": step, "elapsed_s": round(elapsed, 2), "loss": "" if loss is None else loss, "lr": lr,
               "val_psnr": "", "val_ssim": ""}
        if loss is not None:
            self._scalars(step, {"train/loss": loss, "train/lr": lr})
        if val is not None:
            row.update(val_psnr=round(val[0], 4), val_ssim=round(val[1], 5))
            self._scalars(step, {"val/psnr": val[0], "val/ssim": val[1]})
        self.history.append(row)
        return row

    def read_log(self, upto: int) -> list[dict]:
        path = self.out / "log.csv"
        if not path.exists():
            return []
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["step"]) <= upto]
        for r in rows:
            r["step"] = int(r["step"])
        return rows

    def write_log(self) -> None:
        def write(tmp: str) -> None:
            with open(tmp, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=LOG_FIELDS)
                w.writeheader()
                w.writerows(self.history)

        atomic_write(self.out / "log.csv", write)

    def save_best(self, model: torch.nn.Module, metadata: dict) -> None:
        with self.writing():
            save_weights(self.out / "best.safetensors", model, metadata)

    def plot(self) -> None:
        """curve.png: training loss (log scale) and validation PSNR against the step."""
        with self.writing():
            _plot(self.history, self.out / "curve.png")

    def record_ddp(self, world: int, spread: float, step: int) -> None:
        write_text(self.out / "ddp.json", json.dumps({"world_size": world, "max_param_diff_across_ranks": spread,
                                                      "step": step}))

    @contextlib.contextmanager
    def tensorboard(self, start: int, resume: bool, enabled: bool) -> Iterator[None]:
        """Scalars into tb/ while open (none without tensorboard, the optional `train` extra)."""
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(str(self.out / "tb"), purge_step=start if resume else None)
            except Exception:  # tensorboard is optional (the `train` extra)
                self._writer = None
        try:
            yield
        finally:
            if self._writer:
                self._writer.close()
            self._writer = None

    def _scalars(self, step: int, values: dict) -> None:
        if self._writer:
            for tag, value in values.items():
                self._writer.add_scalar(tag, value, step)

    def read_state(self, note: bool) -> dict:
        """last.pt at full precision; a slim one (``make wip-save``) is widened, with a one-line note."""
        state = load_state(self.state_path)
        if is_slim(state) and note:
            warnings.warn(f"{self.state_path} is a slim training state (make wip-save): weights restored from "
                          "float16, Adam's first moments restart at zero", stacklevel=3)
        return full_state(state)


def _plot(history: list[dict], path: Path) -> None:
    try:
        import matplotlib
    except ImportError:  # the train extra draws curve.png; log.csv holds the same numbers without it
        return

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history if h.get("loss") not in ("", None)]
    loss = [float(h["loss"]) for h in history if h.get("loss") not in ("", None)]
    vs = [h["step"] for h in history if h.get("val_psnr") not in ("", None)]
    vp = [float(h["val_psnr"]) for h in history if h.get("val_psnr") not in ("", None)]
    fig, ax1 = plt.subplots(figsize=(8, 4.5), dpi=100)
    ax1.plot(steps, loss, color="tab:blue", lw=1, label="training loss (MSE)")
    ax1.set_yscale("log")
    ax1.set_xlabel("step")
    ax1.set_ylabel("loss", color="tab:blue")
    ax2 = ax1.twinx()
    ax2.plot(vs, vp, "o-", color="tab:red", ms=3, label="validation PSNR")
    ax2.set_ylabel("validation Y-PSNR (dB)", color="tab:red")
    ax1.set_title(path.parent.name)
    fig.tight_layout()
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)


# A slim last.pt (what `make wip-save` commits when the full one is >= 1 MB): the weights and the EMA in float16
# (bfloat16 for a tensor that bfloat16 round-trips closer: values past float16's 65504, or mostly below its normal
# range), Adam's second moments in bfloat16, its first moments dropped; every other field as it was.
SLIM = "model and ema float16 (bfloat16 where closer), optimizer exp_avg_sq bfloat16, exp_avg dropped"


def is_slim(state: dict) -> bool:
    return bool(state.get("slim"))


def slim_state(state: dict) -> dict:
    """A copy of a last.pt dict about 2.7 times smaller (see SLIM); ``full_state`` reads it back."""
    out = {**state, "model": _narrow(state["model"]), "slim": SLIM}
    if state.get("ema") is not None:
        out["ema"] = _narrow(state["ema"])
    opt = state["optimizer"]
    out["optimizer"] = {**opt, "state": {
        i: {k: v.to(torch.bfloat16) if k == "exp_avg_sq" else v for k, v in s.items() if k != "exp_avg"}
        for i, s in opt["state"].items()}}
    return out


def full_state(state: dict) -> dict:
    """A last.pt dict as training writes it: a slim one widened (float32; Adam's exp_avg as zeros), else as is."""
    if not is_slim(state):
        return state
    out = {k: v for k, v in state.items() if k != "slim"}
    out["model"] = _widen(state["model"])
    if state.get("ema") is not None:
        out["ema"] = _widen(state["ema"])
    moments = {}
    for i, s in state["optimizer"]["state"].items():
        s = {k: v.float() if k == "exp_avg_sq" else v for k, v in s.items()}
        if "exp_avg_sq" in s and "exp_avg" not in s:
            s["exp_avg"] = torch.zeros_like(s["exp_avg_sq"])
        moments[i] = s
    out["optimizer"] = {**state["optimizer"], "state": moments}
    return out


def _narrow(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: _half(v) for k, v in tensors.items()}


def _half(t: torch.Tensor) -> torch.Tensor:
    """float16, or bfloat16 when that round-trips ``t`` closer (overflow past 65504, underflow below 6e-5)."""
    if not t.is_floating_point() or not bool(torch.isfinite(t).all()):
        return t
    f16, b16 = t.to(torch.float16), t.to(torch.bfloat16)
    f16_err = float((f16.float() - t.float()).norm()) if bool(torch.isfinite(f16).all()) else float("inf")
    return f16 if f16_err <= float((b16.float() - t.float()).norm()) else b16


def _widen(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
