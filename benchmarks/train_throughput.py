"""Training throughput: the full pipeline (loading + degradation + step) against the model step alone.

Prints, for each config, samples/s of the whole data path plus training step, samples/s of the step alone on
a batch of the same shape held in memory, and their ratio (target: >= 90%). Same process, same threads; the
config's own network (SRCNN, FSRCNN or CompactSR) and its precision (train.amp: bf16 autocast).

    python benchmarks/train_throughput.py --data ../shared/data [--configs x3 jpeg photo real-x2] [--steps 30]
    python benchmarks/train_throughput.py --configs real-x2-stage3 --set data.reuse=4   # each window serves 4 groups
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from srcnn.config import load_config
from srcnn.train import StepBatches, build_network, training_data

ROOT = Path(__file__).resolve().parents[1]


def step_fn(model: torch.nn.Module, opt: torch.optim.Optimizer, amp: bool):
    def step(inp: torch.Tensor, target: torch.Tensor) -> None:
        inp = inp.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            out = model(inp)
        loss = F.mse_loss(out.float(), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def measure(name: str, data_root: str, steps: int, workers: int | None, extra: list[str]) -> tuple[float, float]:
    overrides = [f'data.root="{data_root}"', *extra]
    if workers is not None:
        overrides.append(f"data.workers={workers}")
    cfg = load_config(ROOT / "configs" / f"{name}.toml", overrides)
    ds, _, _ = training_data(cfg, rank=1)  # rank != 0: no validation images
    model = build_network(cfg).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    step = step_fn(model, opt, cfg.train.amp)
    b = cfg.data.batch
    loader = DataLoader(ds, batch_sampler=StepBatches(0, steps + 3, b, 0, 1), num_workers=cfg.data.workers,
                        prefetch_factor=4 if cfg.data.workers else None)
    it = iter(loader)
    fixed = next(it)
    for _ in range(2):  # warm-up
        step(*next(it))
    t = time.perf_counter()
    for inp, target in it:
        step(inp, target)
    full = steps * b / (time.perf_counter() - t)
    for _ in range(2):
        step(*fixed)
    t = time.perf_counter()
    for _ in range(steps):
        step(*fixed)
    alone = steps * b / (time.perf_counter() - t)
    return full, alone


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--configs", nargs="+", default=["x3", "jpeg", "photo"])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--workers", type=int, help="override data.workers")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2, as the configs)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="config overrides for every config, e.g. data.reuse=4")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads" + (f"; {' '.join(a.set)}" if a.set else ""))
    print(f"{'config':<10} {'pipeline samples/s':>19} {'step-only samples/s':>20} {'ratio':>7}")
    for name in a.configs:
        full, alone = measure(name, a.data, a.steps, a.workers, a.set)
        print(f"{name:<10} {full:>19.1f} {alone:>20.1f} {full / alone:>7.1%}")


if __name__ == "__main__":
    main()
