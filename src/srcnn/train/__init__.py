"""The training loop, top to bottom: config -> data -> model -> steps -> validation -> checkpoints.

Run folder (``runs/<name>`` by default, git-ignored): ``config.toml`` (resolved), ``last.pt`` (training state,
written atomically every ``ckpt_every_s`` seconds and at each validation), ``best.safetensors`` (weights with
the best validation PSNR; EMA weights when EMA is on), ``log.csv``, TensorBoard events, ``curve.png``.
Item ``i`` of the data depends only on the seed and ``i``, the learning rate only on the step, so ``resume``
continues the exact trajectory. Under torchrun each process takes its slice of the global batch (DDP).
"""

from __future__ import annotations

import contextlib
import copy
import csv
import errno
import json
import math
import os
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
from torch.utils.data import DataLoader

from .checkpoint import atomic_write, load_state, save_state, save_weights
from .config import Config, to_toml
from .data import (
    PairTiles,
    PhotoPatches,
    ValImage,
    list_images,
    load_photo,
    make_val_images,
    realistic_chains,
    rescale_photos,
    split_photos,
)
from .degrade import Degradation
from .device import DeviceError, resolve_device
from .images import quantize
from .metrics import psnr_y, ssim_y
from .model import FSRCNN, SRCNN, CompactSR

__all__ = ["train", "TrainError", "TrainInterrupted", "validate", "lr_at", "max_param_diff", "training_data",
           "StepBatches"]


class TrainError(Exception):
    """A problem the user can fix (bad paths, existing run folder, unwritable folder); one-line message."""


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


def _degradation(cfg: Config) -> Degradation:
    d = cfg.data

    def rng(v):
        return tuple(v) if isinstance(v, list) else v

    return Degradation(scale=rng(d.scale), blur=rng(d.blur), noise=rng(d.noise), quality=rng(d.quality))


def training_data(cfg: Config, rank: int) -> tuple[torch.utils.data.Dataset, list[ValImage], dict]:
    """The training set of ``cfg``, its validation images (of photos: rank 0 only) and what the run records of both."""
    d = cfg.data
    if d.kind == "pairs":
        root = Path(d.root)
        folders = [root / t if not Path(t).is_absolute() else Path(t) for t in d.train]
        ds = PairTiles(folders[0], patch=d.patch, seed=cfg.train.seed, augment=d.augment, color=d.color)
        val = PairTiles(d.val_dir, seed=0, augment=False, color=d.color).val_images() if d.val_dir else []
        return ds, val, {"train": [str(f) for f in folders], "val": d.val_dir}
    folders = [Path(d.root) / t if not Path(t).is_absolute() else Path(t) for t in d.train]
    missing = [str(f) for f in folders if not f.exists()]
    if missing:
        raise TrainError(f"training photos not found: {', '.join(missing)} (set data.root or data.train)")
    paths = list_images(folders)
    if len(paths) <= d.val_count:
        raise TrainError(f"need more than data.val_count={d.val_count} photos, found {len(paths)}")
    train_paths, val_paths = split_photos(paths, d.val_count)
    photos = [load_photo(p, d.color) for p in train_paths]
    if d.rescale:
        photos = rescale_photos(photos, d.rescale)
    deg = realistic_chains(int(d.scale), d.realistic) if d.realistic else _degradation(cfg)
    upsample = cfg.model.arch == "srcnn"  # post-upsampling networks take the low-resolution image itself
    ds = PhotoPatches(photos, d.patch, deg, seed=cfg.train.seed, augment=d.augment, upsample=upsample)
    val: list[ValImage] = []
    if rank == 0:
        val = make_val_images([(p.name, load_photo(p, d.color)) for p in val_paths], deg, seed=cfg.train.seed,
                              upsample=upsample)
    info = {"train": [str(f) for f in folders], "train_photos": len(train_paths),
            "val_photos": [p.name for p in val_paths]}
    return ds, val, info


@torch.no_grad()
def validate(model: torch.nn.Module, images: list[ValImage], device: torch.device) -> tuple[float, float]:
    """Mean protocol PSNR (dB) and SSIM on Y of the validation images (outputs clipped, rounded to uint8)."""
    from .color import rgb_to_y

    model.eval()
    ps, ss = [], []
    for im in images:
        out = model(im.input.unsqueeze(0).to(device).contiguous(memory_format=torch.channels_last))[0]
        out = out.clamp(0, 1).float().cpu()
        if out.shape[0] == 3:
            rgb = torch.round(out * 255) / 255
            y = quantize(rgb_to_y(rgb).numpy(), 8)
        else:
            y = quantize(out[0].numpy(), 8)
        ps.append(psnr_y(im.target_y, y, im.crop_border))
        ss.append(ssim_y(im.target_y, y, im.crop_border))
    model.train()
    return float(np.mean(ps)), float(np.mean(ss))


class StepBatches:
    """Batch sampler: step k of this rank -> indices [k*B + r*b, k*B + (r+1)*b) of the global stream."""

    def __init__(self, start: int, stop: int, batch: int, rank: int, world: int) -> None:
        self.start, self.stop, self.batch, self.rank, self.world = start, stop, batch, rank, world
        self.local = batch // world

    def __len__(self) -> int:
        return self.stop - self.start

    def __iter__(self):
        for k in range(self.start, self.stop):
            base = k * self.batch + self.rank * self.local
            yield list(range(base, base + self.local))


def _ignore_stop_signals(_: int) -> None:
    """In a DataLoader worker: leave Ctrl-C and SIGTERM sent to the whole group (pkill -f) to the trainer,
    which saves its state and then shuts the workers down; a worker that died first would crash the run."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def max_param_diff(model: torch.nn.Module, device: torch.device, dist: Any) -> float:
    """Largest |parameter - rank 0's| over every rank (0.0 when the DDP ranks hold identical weights).

    Rank 0's parameters are broadcast in place into a tensor on the process group's device (CUDA for NCCL):
    broadcasting into ``ref.to(device)``, a temporary, left ``ref`` as this rank's own values, so the check read
    0 on CUDA whatever the weights were.
    """
    dev = device if device.type == "cuda" else torch.device("cpu")
    flat = torch.cat([p.detach().reshape(-1).float() for p in model.parameters()]).to(dev)
    ref = flat.clone()
    dist.broadcast(ref, 0)
    diff = (flat - ref).abs().max().reshape(1)
    dist.all_reduce(diff, op=dist.ReduceOp.MAX)
    return float(diff.item())


def _shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _build_model(cfg: Config) -> torch.nn.Module:
    """A fresh network of ``cfg.model.arch``; a post-upsampling one gets ``data.scale`` as its own factor."""
    m, k = cfg.model, int(cfg.data.scale) if cfg.model.arch != "srcnn" else 1
    if m.arch == "fsrcnn":
        return FSRCNN(m.channels, m.d, m.s, m.m, scale=k)
    if m.arch == "compact":
        return CompactSR(m.channels, m.head, m.width, m.depth, scale=k, anchor=m.anchor)
    model = SRCNN(m.channels, m.f1, m.f2, m.f3, m.n1, m.n2, m.residual)
    _init_model(model, m.init)
    return model


def _init_model(model: SRCNN, scheme: str) -> None:
    if scheme == "paper":
        for conv in (model.conv1, model.conv2, model.conv3):
            torch.nn.init.normal_(conv.weight, std=1e-3)
            torch.nn.init.zeros_(conv.bias)


def _plot(history: list[dict], path: Path) -> None:
    import matplotlib

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


_WRITE_ERRORS = {errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota exceeded", errno.EROFS: "read-only file system",
                 errno.EACCES: "permission denied", errno.EPERM: "permission denied"}


@contextlib.contextmanager
def _writing(out: Path, state_path: Path) -> Iterator[None]:
    """Turn an OSError while writing into the run folder (disk full, quota, permissions) into a one-line TrainError."""
    try:
        yield
    except OSError as e:
        reason = _WRITE_ERRORS.get(e.errno, " ".join(str(e.strerror or e).split()))
        keep = (f"{state_path.name} still holds the last good checkpoint: free some space, then continue with --resume"
                if state_path.exists() else "free some space, then start again")
        raise TrainError(f"{out}: cannot write to the run folder ({reason}); {keep}") from None


def _remove_stale_temp_files(out: Path) -> None:
    """Remove temporary files that a killed run left half-written (atomic_write's ``.<name>.<random>.tmp``)."""
    for pattern in (".last.pt.*.tmp", ".best.safetensors.*.tmp", ".log.csv.*.tmp", ".curve.png.*.tmp"):
        for p in out.glob(pattern):
            with contextlib.suppress(OSError):
                p.unlink()


_FIELDS = ["step", "elapsed_s", "loss", "lr", "val_psnr", "val_ssim"]


def _read_log(path: Path, upto: int) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= upto]
    for r in rows:
        r["step"] = int(r["step"])
    return rows


def _write_log(path: Path, rows: list[dict]) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=_FIELDS)
            w.writeheader()
            w.writerows(rows)

    atomic_write(path, write)


def _preflight(out: Path, state_path: Path, resume: bool) -> None:
    """Check the run folder before any work: resume or not as asked, writable; remove stale temp files."""
    if state_path.exists() and not resume:
        raise TrainError(f"{out} already holds a run: add --resume, or set train.out to a new folder")
    if resume and not state_path.exists():
        raise TrainError(f"{out}: nothing to resume (no last.pt); drop --resume to start")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as e:
        raise TrainError(f"{out}: run folder not writable ({e.strerror}); set train.out") from None
    _remove_stale_temp_files(out)


def train(cfg: Config, resume: bool = False, progress: bool = True, command: str = "") -> Path:
    """Train per ``cfg``; returns the run folder. Resumes from ``last.pt`` when ``resume`` is set.

    ``command`` (the command line that started this segment) is appended to ``commands.txt`` in the run folder
    with the step it starts from, so a model card can give the exact commands of a run that spans sessions.
    """
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    distributed = world > 1
    try:
        device = resolve_device(cfg.train.device)
    except DeviceError as e:
        raise TrainError(str(e)) from None
    if distributed:
        rank = int(os.environ["RANK"])
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    else:
        rank = 0
    if cfg.data.batch % world:
        raise TrainError(f"data.batch={cfg.data.batch} must be divisible by the {world} processes")
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    out = Path(cfg.train.out or f"runs/{cfg.train.name}")
    state_path = out / "last.pt"
    refusal = ""
    if rank == 0:
        try:
            _preflight(out, state_path, resume)
        except TrainError as e:
            refusal = str(e)
    if distributed:  # rank 0's verdict, so that no rank waits for a run that will not start
        buf = torch.zeros(1024, dtype=torch.uint8)
        raw = refusal.encode()[:1024]
        buf[: len(raw)] = torch.frombuffer(bytearray(raw), dtype=torch.uint8) if raw else buf[:0]
        buf = buf.to(device) if device.type == "cuda" else buf
        dist.broadcast(buf, 0)  # a plain byte tensor: nothing is unpickled
        refusal = bytes(buf.cpu().tolist()).rstrip(b"\0").decode(errors="replace")
    if refusal:
        if distributed:
            dist.destroy_process_group()
        raise TrainError(refusal)

    torch.manual_seed(cfg.train.seed)
    np.random.seed(cfg.train.seed)
    dataset, val_images, data_info = training_data(cfg, rank)

    m = cfg.model
    model = _build_model(cfg)
    init_sha = ""  # the sha256 of the init_from file when the run started (the file may be re-shipped later)
    if m.init_from:
        from .checkpoint import load_weights, sha256_file

        init_sha = sha256_file(m.init_from)
        start_model, _ = load_weights(m.init_from)
        # the same tensors (an FSRCNN of another scale has the same ones: only the stride of its end differs;
        # a CompactSR of another scale maps its tail's sub-pixel outputs)
        if m.arch == "compact" and start_model.arch == "compact" and start_model.scale != model.scale:
            try:
                model.load_other_scale(start_model)
            except ValueError as e:
                raise TrainError(f"model.init_from={m.init_from}: {e}") from None
        elif _shapes(start_model) != _shapes(model) or (m.arch == "srcnn" and start_model.config != model.config):
            raise TrainError(f"model.init_from={m.init_from}: its shape {start_model.config} differs from [model]")
        else:
            model.load_state_dict(start_model.state_dict())
    model.to(device)
    if device.type == "cpu":
        model = model.to(memory_format=torch.channels_last)
    ema = copy.deepcopy(model).eval() if cfg.optim.ema > 0 else None
    if ema is not None:
        for p in ema.parameters():
            p.requires_grad_(False)
    last = {"srcnn": "conv3", "fsrcnn": "deconv", "compact": "tail"}[m.arch]
    last_params = list(getattr(model, last).parameters())
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.startswith(last)], "mult": 1.0},
        {"params": last_params, "mult": cfg.optim.last_layer_lr_mult},
    ]
    o = cfg.optim
    if o.name == "adam":
        opt = torch.optim.Adam(groups, lr=o.lr, weight_decay=o.weight_decay)
    else:
        opt = torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)

    start, best, elapsed0 = 0, -math.inf, 0.0
    if resume:
        if distributed:
            dist.barrier()
        st = load_state(state_path)
        shapes = {k: tuple(v.shape) for k, v in st["model"].items()}
        if shapes != _shapes(model):
            raise TrainError(f"{state_path}: the saved model has another shape than [model] in the config; "
                             "resume with the run's own config.toml")
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        if ema is not None and st.get("ema") is not None:
            ema.load_state_dict(st["ema"])
        start, best, elapsed0 = int(st["step"]), float(st["best_psnr"]), float(st["elapsed_s"])
        init_sha = st.get("init_from_sha256", "")  # runs saved before this record existed: unknown

    net: torch.nn.Module = model
    if distributed:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)

    radius = model.receptive_radius
    border = radius if cfg.train.loss_border < 0 else cfg.train.loss_border
    meta = {
        "task": cfg.train.task, "scale": cfg.data.scale, "color": cfg.data.color,
        "degradation": {"scale": cfg.data.scale, "blur": cfg.data.blur, "noise": cfg.data.noise,
                        "quality": cfg.data.quality, "realistic": cfg.data.realistic},
        "data": data_info, "train_config": asdict(cfg),
    }
    if m.init_from:
        meta["init_from"] = {"path": m.init_from, "sha256": init_sha or "unknown"}
    writer = None
    history: list[dict] = []
    if rank == 0:
        resolved = {"world_size": world, "per_process_batch": cfg.data.batch // world,
                    "global_batch": cfg.data.batch, "lr": cfg.optim.lr, "device": str(device),
                    "loss_border": border, "train_photos": data_info.get("train_photos", 0)}
        with _writing(out, state_path):
            (out / "config.toml").write_text(to_toml(cfg, resolved))
            if command:
                with open(out / "commands.txt", "a") as f:
                    f.write(f"{start}\t{command}\n")
        history = _read_log(out / "log.csv", start)
        try:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(out / "tb"), purge_step=start if resume else None)
        except Exception:  # tensorboard is optional (the `train` extra)
            writer = None

    stop = {"signal": 0}

    def on_signal(signum, _frame):
        stop["signal"] = signum

    old_handlers = {}
    for s in (signal.SIGINT, signal.SIGTERM):  # on every rank: torchrun forwards the signals to all of them
        try:
            old_handlers[s] = signal.signal(s, on_signal)
        except ValueError:  # not the main thread
            pass

    loader = DataLoader(
        dataset,
        batch_sampler=StepBatches(start, cfg.train.steps, cfg.data.batch, rank, world),
        num_workers=cfg.data.workers,
        worker_init_fn=_ignore_stop_signals if cfg.data.workers else None,
        persistent_workers=False,
        prefetch_factor=4 if cfg.data.workers else None,
    )
    use_amp = cfg.train.amp and device.type in ("cuda", "cpu")

    def snapshot(step: int, elapsed: float) -> None:
        state = {"step": step, "model": model.state_dict(), "optimizer": opt.state_dict(),
                 "ema": ema.state_dict() if ema is not None else None, "best_psnr": best,
                 "elapsed_s": elapsed, "config": to_toml(cfg), "init_from_sha256": init_sha}
        with _writing(out, state_path):  # the log first: a kill in between leaves no gap in log.csv
            _write_log(out / "log.csv", history)
            save_state(state_path, state)

    t0 = time.time()
    last_ckpt = t0
    bar = None
    if rank == 0 and progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.train.steps, initial=start, desc=cfg.train.name, unit="step",
                   dynamic_ncols=True, file=sys.stderr)
    loss_acc, loss_n, val_psnr = 0.0, 0, float("nan")
    step = start
    model.train()
    try:
        for inp, target in loader:
            lr = lr_at(cfg, step)
            for g in opt.param_groups:
                g["lr"] = lr * g["mult"]
            inp = inp.to(device, non_blocking=True)
            target = target.to(device, non_blocking=True)
            if device.type == "cpu":
                inp = inp.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                pred = net(inp)
            pred = pred.float()
            if border:
                pred = pred[..., border:-border, border:-border]
                target = target[..., border:-border, border:-border]
            loss = F.mse_loss(pred, target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if o.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), o.grad_clip)
            opt.step()
            if ema is not None:
                with torch.no_grad():
                    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - o.ema)
            step += 1
            loss_acc += loss.item()
            loss_n += 1
            if distributed:  # a signal on any rank stops every rank after the same step
                flag = torch.tensor([float(stop["signal"])], device=device if device.type == "cuda" else "cpu")
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                stop["signal"] = stop["signal"] or int(flag.item())
            if rank != 0:
                if stop["signal"]:
                    break
                continue
            elapsed = elapsed0 + time.time() - t0
            row: dict | None = None
            if step % cfg.train.log_every == 0 or step == cfg.train.steps:
                row = {"step": step, "elapsed_s": round(elapsed, 2), "loss": loss_acc / loss_n, "lr": lr,
                       "val_psnr": "", "val_ssim": ""}
                if writer:
                    writer.add_scalar("train/loss", loss_acc / loss_n, step)
                    writer.add_scalar("train/lr", lr, step)
                loss_acc, loss_n = 0.0, 0
            validated = False
            if val_images and (step % cfg.train.val_every == 0 or step == cfg.train.steps):
                val_psnr, val_ssim = validate(ema if ema is not None else model, val_images, device)
                row = row or {"step": step, "elapsed_s": round(elapsed, 2), "loss": "", "lr": lr}
                row.update(val_psnr=round(val_psnr, 4), val_ssim=round(val_ssim, 5))
                if writer:
                    writer.add_scalar("val/psnr", val_psnr, step)
                    writer.add_scalar("val/ssim", val_ssim, step)
                if val_psnr > best:
                    best = val_psnr
                    with _writing(out, state_path):
                        save_weights(out / "best.safetensors", ema if ema is not None else model,
                                     {**meta, "steps": step, "wall_time_s": round(elapsed, 1),
                                      "val_psnr": val_psnr, "val_ssim": val_ssim})
                validated = True
            if row:
                history.append(row)
            if bar:
                bar.update(1)
                if row:
                    bar.set_postfix(loss=f"{row['loss']:.2e}" if row["loss"] != "" else "-", val=f"{val_psnr:.3f}")
            if validated:
                with _writing(out, state_path):
                    _plot(history, out / "curve.png")
            if validated or time.time() - last_ckpt >= cfg.train.ckpt_every_s or step == cfg.train.steps:
                snapshot(step, elapsed)
                last_ckpt = time.time()
            if stop["signal"]:
                snapshot(step, elapsed)
                break
    finally:
        if bar:
            bar.close()
        if writer:
            writer.close()
        for s, h in old_handlers.items():
            signal.signal(s, h)
    if distributed:
        spread = max_param_diff(model, device, dist)
        if rank == 0:
            (out / "ddp.json").write_text(json.dumps({"world_size": world, "max_param_diff_across_ranks": spread,
                                                      "step": step}))
        dist.barrier()
        dist.destroy_process_group()
    if stop["signal"]:
        raise TrainInterrupted(step, out)
    if rank == 0 and not val_images and step == cfg.train.steps:
        with _writing(out, state_path):
            save_weights(out / "best.safetensors", ema if ema is not None else model,
                         {**meta, "steps": step, "wall_time_s": round(elapsed0 + time.time() - t0, 1)})
    return out
