"""Machinery of srcnn.train: the training set and validation images of a config, and the order of its batches.

Item ``i`` of the data depends only on the seed and ``i`` (srcnn.data), and step ``k`` of rank ``r`` takes a
fixed slice of that stream (:class:`StepBatches`), so a resumed or a DDP run sees the very same samples.
"""

from __future__ import annotations

import signal
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from ..config import Config
from ..data import (
    PairTiles,
    PhotoPatches,
    ValImage,
    flat_photos,
    list_images,
    load_photo,
    make_val_images,
    realistic_chains,
    rescale_photos,
    split_photos,
)
from ..degrade import Degradation
from ._ddp import Ranks
from ._runfolder import TrainError

__all__ = ["training_data", "StepBatches", "loader"]


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
    photos += flat_photos(photos, d.flat, d.patch, cfg.train.seed)
    deg = realistic_chains(int(d.scale), d.realistic) if d.realistic else _degradation(cfg)
    upsample = cfg.model.arch == "srcnn"  # post-upsampling networks take the low-resolution image itself
    ds = PhotoPatches(photos, d.patch, deg, seed=cfg.train.seed, augment=d.augment, upsample=upsample,
                      reuse=d.reuse)
    val: list[ValImage] = []
    if rank == 0:
        val = make_val_images([(p.name, load_photo(p, d.color)) for p in val_paths], deg, seed=cfg.train.seed,
                              upsample=upsample)
    info = {"train": [str(f) for f in folders], "train_photos": len(train_paths),
            "val_photos": [p.name for p in val_paths]}
    return ds, val, info


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


def loader(dataset: torch.utils.data.Dataset, cfg: Config, start: int, ranks: Ranks) -> DataLoader:
    """This rank's batches of steps ``start`` .. ``train.steps``."""
    workers, batches = cfg.data.workers, StepBatches(start, cfg.train.steps, cfg.data.batch, ranks.rank, ranks.world)
    return DataLoader(dataset, batch_sampler=batches, num_workers=workers, persistent_workers=False,
                      worker_init_fn=_ignore_stop_signals if workers else None, prefetch_factor=4 if workers else None)
