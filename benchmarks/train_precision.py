"""Training step time in bf16 autocast (train.amp) against float32, in the same process on the same batch.

Prints the seconds per step (median of --repeats blocks of --steps steps) for float32 and for bf16 autocast,
and the speed-up. SRCNN 9-5-5, residual, channels_last, Adam, batch 32 of 64x64 (the shipped configs' shape).
bf16 pays off on CPUs with AVX512-BF16 or AMX; elsewhere it may be slower.

    python benchmarks/train_precision.py [--threads 1] [--steps 5] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from srcnn.model import SRCNN


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = SRCNN(f1=9, f2=5, f3=5, residual=True).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.rand(32, 1, 64, 64).contiguous(memory_format=torch.channels_last)
    y = torch.rand(32, 1, 64, 64)

    def step(bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(x)
        loss = F.mse_loss(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    times: dict[bool, list[float]] = {False: [], True: []}
    for bf16 in (False, True):
        step(bf16)  # warm-up (oneDNN primitive creation)
    for _ in range(a.repeats):  # interleaved, so a noisy neighbour hits both alike
        for bf16 in (False, True):
            t = time.perf_counter()
            for _ in range(a.steps):
                step(bf16)
            times[bf16].append((time.perf_counter() - t) / a.steps)
    f32, bf = statistics.median(times[False]), statistics.median(times[True])
    print(f"threads {a.threads}: float32 {f32:.3f} s/step, bf16 autocast {bf:.3f} s/step, speed-up {f32 / bf:.2f}x")


if __name__ == "__main__":
    main()
