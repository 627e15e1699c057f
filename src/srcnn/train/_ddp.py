"""Hides torch.distributed from train(): the process group, rank 0's verdict, the stop flag, the final weight check."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ..device import DeviceError, resolve_device
from ._runfolder import TrainError

__all__ = ["Ranks", "setup_ranks", "verdict_of_rank_0", "barrier", "wrap", "stop_on_any_rank", "close_ranks",
           "max_param_diff"]


@dataclass(frozen=True)
class Ranks:
    """This process's place in the run: ``rank`` of ``world`` processes (1 without torchrun), on ``device``."""

    rank: int
    world: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        """Rank 0: the one that validates and writes the run folder."""
        return self.rank == 0

    @property
    def group_device(self) -> torch.device:
        """Where the collectives' tensors live (CUDA for NCCL, else the CPU for gloo)."""
        return self.device if self.device.type == "cuda" else torch.device("cpu")


def setup_ranks(device_name: str, batch: int, threads: int = 0) -> Ranks:
    """Resolve the device; under torchrun (WORLD_SIZE > 1) join the process group (NCCL on CUDA, else gloo).
    The global ``batch`` must split evenly over the processes; ``threads`` (0: torch's choice) per process."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    try:
        device = resolve_device(device_name)
    except DeviceError as e:
        raise TrainError(str(e)) from None
    ranks = Ranks(0, 1, device)
    if world > 1:
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        ranks = Ranks(int(os.environ["RANK"]), world, device)
    if batch % world:
        raise TrainError(f"data.batch={batch} must be divisible by the {world} processes")
    if threads:
        torch.set_num_threads(threads)
    return ranks


def verdict_of_rank_0(check: Callable[[], None], ranks: Ranks) -> None:
    """Run ``check`` on rank 0; its TrainError is raised on every rank, so that no rank waits for a run that will
    not start (the process group is then closed)."""
    refusal = ""
    if ranks.main:
        try:
            check()
        except TrainError as e:
            refusal = str(e)
    if ranks.distributed:
        import torch.distributed as dist

        buf = torch.zeros(1024, dtype=torch.uint8)
        raw = refusal.encode()[:1024]
        buf[: len(raw)] = torch.frombuffer(bytearray(raw), dtype=torch.uint8) if raw else buf[:0]
        buf = buf.to(ranks.group_device)
        dist.broadcast(buf, 0)  # a plain byte tensor: nothing is unpickled
        refusal = bytes(buf.cpu().tolist()).rstrip(b"\0").decode(errors="replace")
        if refusal:
            dist.destroy_process_group()
    if refusal:
        raise TrainError(refusal)


def barrier(ranks: Ranks) -> None:
    if ranks.distributed:
        import torch.distributed as dist

        dist.barrier()


def wrap(model: torch.nn.Module, ranks: Ranks) -> torch.nn.Module:
    """The module to call in the loop: DistributedDataParallel(model) under torchrun (gradients averaged), else
    ``model`` itself."""
    if not ranks.distributed:
        return model
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=[ranks.device] if ranks.device.type == "cuda"
                                                     else None)


def stop_on_any_rank(signum: int, ranks: Ranks) -> int:
    """The signal seen on any rank (the largest), so that every rank stops after the same step."""
    if not ranks.distributed:
        return signum
    import torch.distributed as dist

    flag = torch.tensor([float(signum)], device=ranks.group_device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return signum or int(flag.item())


def close_ranks(model: torch.nn.Module, ranks: Ranks, record: Callable[[float], None]) -> None:
    """Compare every rank's weights with rank 0's, ``record`` the spread on rank 0, close the process group."""
    if not ranks.distributed:
        return
    import torch.distributed as dist

    spread = max_param_diff(model, ranks.device, dist)
    if ranks.main:
        record(spread)
    dist.barrier()
    dist.destroy_process_group()


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
