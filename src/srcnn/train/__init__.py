"""The training loop, top to bottom: config -> data -> model -> steps -> validation -> checkpoints.

Run folder (``runs/<name>`` by default, git-ignored): ``config.toml`` (resolved), ``last.pt`` (training state,
written atomically every ``ckpt_every_s`` seconds and at each validation), ``best.safetensors`` (weights with
the best validation PSNR; EMA weights when EMA is on), ``log.csv``, TensorBoard events, ``curve.png``.
Item ``i`` of the data depends only on the seed and ``i``, the learning rate only on the step, so ``resume``
continues the exact trajectory. Under torchrun each process takes its slice of the global batch (DDP).
Machinery you may skip: ``_data`` (the training set and batch order), ``_runfolder`` (every file of the run
folder) and ``_ddp`` (torch.distributed).
"""

from __future__ import annotations

import contextlib
import copy
import math
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..checkpoint import load_weights, save_state
from ..color import y_uint8
from ..config import Config, to_toml
from ..data import ValImage
from ..files import sha256_file
from ..images import quantize
from ..metrics import psnr_y, ssim_y
from ..model import FSRCNN, SRCNN, CompactSR
from ._data import StepBatches, loader, training_data
from ._ddp import Ranks, barrier, close_ranks, max_param_diff, setup_ranks, stop_on_any_rank, verdict_of_rank_0, wrap
from ._runfolder import RunFolder, TrainError, full_state, slim_state

__all__ = ["train", "TrainError", "TrainInterrupted", "validate", "lr_at", "max_param_diff", "training_data",
           "build_network", "StepBatches", "slim_state", "full_state"]


class TrainInterrupted(Exception):
    """SIGINT/SIGTERM arrived; the state was saved at ``step`` in ``out`` and the run can be resumed."""

    def __init__(self, step: int, out: Path) -> None:
        super().__init__(f"stopped at step {step}; state saved in {out / 'last.pt'} (continue with --resume)")
        self.step, self.out = step, out


def lr_at(cfg: Config, step: int) -> float:
    """Learning rate of the first layers at ``step`` (0-based): warmup, then cosine / step / constant."""
    o = cfg.optim
    if o.warmup and step < o.warmup:
        return o.lr * (step + 1) / o.warmup
    if o.schedule == "cosine":
        t = (step - o.warmup) / max(1, cfg.train.steps - o.warmup)
        return o.lr * (o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))
    if o.schedule == "step":
        return o.lr * o.gamma ** (step // o.step_size)
    return o.lr


@torch.no_grad()
def validate(model: torch.nn.Module, images: list[ValImage], device: torch.device) -> tuple[float, float]:
    """Mean protocol PSNR (dB) and SSIM on Y of the validation images (outputs clipped, rounded to uint8)."""
    model.eval()
    ps, ss = [], []
    for im in images:
        out = model(im.input.unsqueeze(0).to(device).contiguous(memory_format=torch.channels_last))[0]
        px = quantize(out.clamp(0, 1).float().cpu().permute(1, 2, 0).numpy(), 8)  # the uint8 picture
        y = y_uint8(px) if px.shape[2] == 3 else px[:, :, 0]  # the protocol's Y of an RGB net's output
        ps.append(psnr_y(im.target_y, y, im.crop_border))
        ss.append(ssim_y(im.target_y, y, im.crop_border))
    model.train()
    return float(np.mean(ps)), float(np.mean(ss))


def _shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def build_network(cfg: Config) -> torch.nn.Module:
    """A fresh network of ``cfg.model.arch``; a post-upsampling one gets ``data.scale`` as its own factor."""
    m, k = cfg.model, int(cfg.data.scale) if cfg.model.arch != "srcnn" else 1
    if m.arch == "fsrcnn":
        return FSRCNN(m.channels, m.d, m.s, m.m, scale=k)
    if m.arch == "compact":
        return CompactSR(m.channels, m.head, m.width, m.depth, scale=k, anchor=m.anchor, unshuffle=m.unshuffle)
    model = SRCNN(m.channels, m.f1, m.f2, m.f3, m.n1, m.n2, m.residual)
    _init_model(model, m.init)
    return model


def _init_model(model: SRCNN, scheme: str) -> None:
    if scheme == "paper":
        for conv in (model.conv1, model.conv2, model.conv3):
            torch.nn.init.normal_(conv.weight, std=1e-3)
            torch.nn.init.zeros_(conv.bias)


def _model(cfg: Config, device: torch.device) -> tuple[torch.nn.Module, str]:
    """The network of [model] on ``device``, started from ``model.init_from`` when set; that file's sha256."""
    m = cfg.model
    model = build_network(cfg)
    init_sha = ""  # the sha256 of the init_from file when the run started (the file may be re-shipped later)
    if m.init_from:
        init_sha = sha256_file(m.init_from)
        start_model, _ = load_weights(m.init_from)
        # the same tensors (an FSRCNN of another scale has the same ones: only the stride of its end differs;
        # a CompactSR of another scale maps its tail's sub-pixel outputs, a narrower or shallower one grows)
        if m.arch == "compact" and start_model.arch == "compact":
            try:
                model.load_from(start_model)
            except ValueError as e:
                raise TrainError(f"model.init_from={m.init_from}: {e}") from None
        elif _shapes(start_model) != _shapes(model) or (m.arch == "srcnn" and start_model.config != model.config):
            raise TrainError(f"model.init_from={m.init_from}: its shape {start_model.config} differs from [model]")
        else:
            model.load_state_dict(start_model.state_dict())
    model.to(device)
    if device.type == "cpu":
        model = model.to(memory_format=torch.channels_last)
    return model, init_sha


def _ema(model: torch.nn.Module, decay: float) -> torch.nn.Module | None:
    """A frozen copy of ``model`` that follows it as an exponential moving average (none when ``decay`` is 0)."""
    if decay <= 0:
        return None
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema


def _optimizer(model: torch.nn.Module, cfg: Config) -> torch.optim.Optimizer:
    """Adam or SGD; the last layer in a group of its own, its learning rate ``last_layer_lr_mult`` times the rest's."""
    o, last = cfg.optim, {"srcnn": "conv3", "fsrcnn": "deconv", "compact": "tail"}[cfg.model.arch]
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.startswith(last)], "mult": 1.0},
        {"params": list(getattr(model, last).parameters()), "mult": o.last_layer_lr_mult},
    ]
    if o.name == "adam":
        return torch.optim.Adam(groups, lr=o.lr, weight_decay=o.weight_decay)
    return torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)


def _resume(run: RunFolder, model: torch.nn.Module, ema: torch.nn.Module | None, opt: torch.optim.Optimizer,
            ranks: Ranks) -> tuple[int, float, float, str]:
    """Load last.pt into the model, EMA and optimiser; (step, best PSNR, elapsed s, init_from's sha256) from it."""
    barrier(ranks)  # rank 0 checked the folder first
    st = run.read_state(note=ranks.main)
    if {k: tuple(v.shape) for k, v in st["model"].items()} != _shapes(model):
        raise TrainError(f"{run.state_path}: the saved model has another shape than [model] in the config; "
                         "resume with the run's own config.toml")
    model.load_state_dict(st["model"])
    opt.load_state_dict(st["optimizer"])
    if ema is not None and st.get("ema") is not None:
        ema.load_state_dict(st["ema"])
    # runs saved before init_from_sha256 existed: unknown
    return int(st["step"]), float(st["best_psnr"]), float(st["elapsed_s"]), st.get("init_from_sha256", "")


def _metadata(cfg: Config, data_info: dict, init_sha: str) -> dict:
    """What best.safetensors records of the run (the step, time and metrics are added at each save)."""
    d = cfg.data
    meta = {"task": cfg.train.task, "scale": d.scale, "color": d.color,
            "degradation": {"scale": d.scale, "blur": d.blur, "noise": d.noise, "quality": d.quality,
                            "realistic": d.realistic},
            "data": data_info, "train_config": asdict(cfg)}
    if cfg.model.init_from:
        meta["init_from"] = {"path": cfg.model.init_from, "sha256": init_sha or "unknown"}
    return meta


@contextlib.contextmanager
def _stop_signals() -> Iterator[dict]:
    """``{"signal": n}``: the SIGINT/SIGTERM that arrived (0: none); the loop saves and stops after its step."""
    stop = {"signal": 0}

    def on_signal(signum, _frame):
        stop["signal"] = signum

    old_handlers = {}
    for s in (signal.SIGINT, signal.SIGTERM):  # on every rank: torchrun forwards the signals to all of them
        try:
            old_handlers[s] = signal.signal(s, on_signal)
        except ValueError:  # not the main thread
            pass
    try:
        yield stop
    finally:
        for s, h in old_handlers.items():
            signal.signal(s, h)


@contextlib.contextmanager
def _progress_bar(cfg: Config, start: int, show: bool) -> Iterator[Any]:
    """``tick(row, val_psnr)`` after each step: a tqdm bar on stderr (a no-op when not ``show``)."""
    bar = None
    if show:
        from tqdm import tqdm

        bar = tqdm(total=cfg.train.steps, initial=start, desc=cfg.train.name, unit="step", dynamic_ncols=True,
                   file=sys.stderr)

    def tick(row: dict | None, val_psnr: float) -> None:
        if bar:
            bar.update(1)
            if row:
                bar.set_postfix(loss=f"{row['loss']:.2e}" if row["loss"] != "" else "-", val=f"{val_psnr:.3f}")

    try:
        yield tick
    finally:
        if bar:
            bar.close()


def _to(device: torch.device, inp: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch on ``device`` (channels-last input on the CPU, where the convolutions run faster so)."""
    inp, target = inp.to(device, non_blocking=True), target.to(device, non_blocking=True)
    return inp.contiguous(memory_format=torch.channels_last) if device.type == "cpu" else inp, target


def _crop(t: torch.Tensor, border: int) -> torch.Tensor:
    return t[..., border:-border, border:-border] if border else t


def _follow(ema: torch.nn.Module | None, model: torch.nn.Module, decay: float) -> None:
    """One EMA step: ema = decay * ema + (1 - decay) * model."""
    if ema is not None:
        with torch.no_grad():
            torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - decay)


def _resolved(cfg: Config, ranks: Ranks, border: int, data_info: dict) -> dict:
    """What config.toml records besides the config: the values this run derived from it."""
    return {"world_size": ranks.world, "per_process_batch": cfg.data.batch // ranks.world,
            "global_batch": cfg.data.batch, "lr": cfg.optim.lr, "device": str(ranks.device), "loss_border": border,
            "train_photos": data_info.get("train_photos", 0)}


def train(cfg: Config, resume: bool = False, progress: bool = True, command: str = "") -> Path:
    """Train per ``cfg``; returns the run folder. Resumes from ``last.pt`` when ``resume`` is set. ``command`` (the
    command line of this segment) goes into commands.txt with the step it starts from."""
    ranks = setup_ranks(cfg.train.device, cfg.data.batch, cfg.train.threads)  # this process's rank under torchrun
    device, o = ranks.device, cfg.optim
    run = RunFolder(Path(cfg.train.out or f"runs/{cfg.train.name}"))
    verdict_of_rank_0(lambda: run.preflight(resume), ranks)  # refused on rank 0: raised on every rank

    torch.manual_seed(cfg.train.seed)
    np.random.seed(cfg.train.seed)
    dataset, val_images, data_info = training_data(cfg, ranks.rank)
    model, init_sha = _model(cfg, device)
    ema, opt = _ema(model, o.ema), _optimizer(model, cfg)
    final = ema if ema is not None else model  # the weights that are validated and saved
    start, best, elapsed0 = 0, -math.inf, 0.0
    if resume:
        start, best, elapsed0, init_sha = _resume(run, model, ema, opt, ranks)
    net = wrap(model, ranks)  # DDP under torchrun: the gradients are averaged over the ranks
    border = model.receptive_radius if cfg.train.loss_border < 0 else cfg.train.loss_border
    meta = _metadata(cfg, data_info, init_sha)
    if ranks.main:
        run.begin(cfg, _resolved(cfg, ranks, border, data_info), command, start)  # config.toml, commands.txt
    batches = loader(dataset, cfg, start, ranks)
    amp = cfg.train.amp and device.type in ("cuda", "cpu")  # bfloat16 forward, float32 weights

    def snapshot(step: int, elapsed: float) -> None:
        state = {"step": step, "model": model.state_dict(), "optimizer": opt.state_dict(),
                 "ema": ema.state_dict() if ema is not None else None, "best_psnr": best,
                 "elapsed_s": elapsed, "config": to_toml(cfg), "init_from_sha256": init_sha}
        with run.writing():  # the log first: a kill in between leaves no gap in log.csv
            run.write_log()
            save_state(run.state_path, state)

    t0 = last_ckpt = time.time()
    step, loss_sum, loss_n, val_psnr = start, 0.0, 0, float("nan")
    model.train()
    with (run.tensorboard(start, resume, enabled=ranks.main), _stop_signals() as stop,
          _progress_bar(cfg, start, show=progress and ranks.main) as tick):
        for inp, target in batches:
            lr = lr_at(cfg, step)
            for g in opt.param_groups:
                g["lr"] = lr * g["mult"]
            inp, target = _to(device, inp, target)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                pred = net(inp)
            loss = F.mse_loss(_crop(pred.float(), border), _crop(target, border))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if o.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), o.grad_clip)
            opt.step()
            _follow(ema, model, o.ema)
            step, loss_sum, loss_n = step + 1, loss_sum + loss.item(), loss_n + 1
            stop["signal"] = stop_on_any_rank(stop["signal"], ranks)  # every rank stops after the same step
            if ranks.main:  # rank 0 logs, validates and writes the run folder; the other ranks only train
                elapsed, end = elapsed0 + time.time() - t0, step == cfg.train.steps
                logged = step % cfg.train.log_every == 0 or end
                validated = bool(val_images) and (step % cfg.train.val_every == 0 or end)
                if validated:
                    val_psnr, val_ssim = validate(final, val_images, device)
                    if val_psnr > best:
                        best = val_psnr
                        run.save_best(final, {**meta, "steps": step, "wall_time_s": round(elapsed, 1),
                                              "val_psnr": val_psnr, "val_ssim": val_ssim})
                row = run.log(step, elapsed, lr, loss_sum / loss_n if logged else None,
                              (val_psnr, val_ssim) if validated else None)
                if logged:
                    loss_sum, loss_n = 0.0, 0
                tick(row, val_psnr)
                if validated:
                    run.plot()
                if validated or stop["signal"] or end or time.time() - last_ckpt >= cfg.train.ckpt_every_s:
                    snapshot(step, elapsed)
                    last_ckpt = time.time()
            if stop["signal"]:
                break
    close_ranks(model, ranks, record=lambda spread: run.record_ddp(ranks.world, spread, step))
    if stop["signal"]:
        raise TrainInterrupted(step, run.out)
    if ranks.main and not val_images and step == cfg.train.steps:
        run.save_best(final, {**meta, "steps": step, "wall_time_s": round(elapsed0 + time.time() - t0, 1)})
    return run.out
