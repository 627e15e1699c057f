"""Training data: photos held in memory and cut into degraded/clean patch pairs, or the seed's pair tiles.

Data convention: every item is ``(input, target)``, two float32 tensors of shape (C, p, p) in [0, 1], where C is
1 for ``color="y"`` (Y of BT.601, MATLAB rgb2ycbcr, rounded to uint8 as the protocol does) or ``"gray"`` and 3
for ``"rgb"``. The input is the degraded image at the target's size (SR inputs are bicubic-upscaled), so the
network maps input to target pixel for pixel. Item ``i`` depends only on ``(seed, i)``: training resumes on
exactly the same samples.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch.utils.data import Dataset

from .color import to_channels, y_uint8
from .degrade import Degradation, RealisticDegradation, chain, modcrop
from .files import list_images as _list_files
from .images import INPUT_EXTENSIONS, quantize, read, to_8bit

__all__ = [
    "IMAGE_EXTENSIONS",
    "list_images",
    "load_photo",
    "split_photos",
    "hold_out",
    "rescale_photos",
    "flat_photos",
    "PhotoPatches",
    "PairTiles",
    "ValImage",
    "make_val_images",
    "realistic_chains",
]

T = TypeVar("T")

IMAGE_EXTENSIONS = INPUT_EXTENSIONS  # the one list of what images.read opens, kept in srcnn.images


def list_images(folders: Sequence[str | Path], recursive: bool = True) -> list[Path]:
    """Image files under the folders (or the files themselves), hidden ones skipped, sorted (files.list_images)."""
    return _list_files(folders, IMAGE_EXTENSIONS, recursive)


def load_photo(path: str | Path, color: str) -> np.ndarray:
    """Read one photo as float32 in [0, 1]: (H, W) for "y" or "gray", (H, W, 3) for "rgb" (color.to_channels)."""
    px = to_channels(to_8bit(read(path).pixels), color).astype(np.float32) / 255.0
    return px if color == "rgb" else px[:, :, 0]


def hold_out(items: Sequence[T], count: int, rank: Callable[[T], Any]) -> tuple[list[T], list[T]]:
    """The one train/validation split: ``items`` ordered by ``rank``, the first ``count`` held out for validation;
    (train, val), each sorted. Training ranks photos by a hash of their name, prepare by a seeded shuffle."""
    ranked = sorted(items, key=rank)
    return sorted(ranked[count:]), sorted(ranked[:count])


def split_photos(paths: Sequence[Path], val_count: int) -> tuple[list[Path], list[Path]]:
    """Deterministic train/val split by the sha256 of each file name (stable when folders grow)."""
    return hold_out(paths, val_count, rank=lambda p: hashlib.sha256(p.name.encode()).hexdigest())


def flat_photos(photos: Sequence[np.ndarray], share: float, patch: int, seed: int = 0) -> list[np.ndarray]:
    """Flat pictures (one colour each, float32 [0, 1], the photos' channels, up to 16 of at least ``patch`` px a
    side) whose area is ``share`` of all. Levels are drawn dark-biased within the photos' own range (lo + (hi -
    lo) u^3, u uniform; Y: [16, 235] / 255), colour a small tint of it, so a net learns that a flat area, however
    dark, stays flat (tests/test_depth.py) while the chains still add their noise and blocks to it."""
    if not 0 <= share < 1:
        raise ValueError(f"data.flat must be in [0, 1) (got {share})")
    if share == 0 or not photos:
        return []
    area = sum(p.shape[0] * p.shape[1] for p in photos) * share / (1 - share)
    side = max(int(round((area / 16) ** 0.5)), patch)
    count = max(1, int(round(area / side**2)))
    rng = np.random.default_rng([seed, 7])
    channels = photos[0].shape[2] if photos[0].ndim == 3 else 0
    out = []
    lo, hi = min(float(p.min()) for p in photos), max(float(p.max()) for p in photos)  # Y: [16, 235] / 255
    for _ in range(count):
        level = lo + (hi - lo) * rng.random() ** 3
        colour = np.clip(level * (1 + 0.2 * rng.standard_normal(max(channels, 1))), 0, 1).astype(np.float32)
        shape = (side, side, channels) if channels else (side, side)
        out.append(np.broadcast_to(colour if channels else colour[0], shape).astype(np.float32))
    return out


def rescale_photos(photos: Sequence[np.ndarray], factors: Sequence[float]) -> list[np.ndarray]:
    """Each photo at each factor in (0, 1] (MATLAB bicubic, antialiased, rounded to 8-bit levels); float32 [0, 1].

    Scale augmentation (Kim et al., VDSR, CVPR 2016): a downscaled photo packs more detail per pixel, so a small
    training set shows the network more of the fine textures that test photos have. Factor 1 keeps the photo.
    """
    from .resize import imresize

    out: list[np.ndarray] = []
    for f in factors:
        for ph in photos:
            if f == 1:
                out.append(ph)
                continue
            size = (max(1, round(ph.shape[0] * f)), max(1, round(ph.shape[1] * f)))
            chw = ph[None] if ph.ndim == 2 else ph.transpose(2, 0, 1)
            small = quantize(np.asarray(imresize(chw.astype(np.float64), size=size)), 8).astype(np.float32) / 255.0
            out.append(small[0] if ph.ndim == 2 else small.transpose(1, 2, 0))
    return out


def _augment(arrays: list[np.ndarray], k: int, flip: bool) -> list[np.ndarray]:
    out = []
    for a in arrays:
        a = np.rot90(a, k, axes=(0, 1))
        if flip:
            a = a[:, ::-1]
        out.append(np.ascontiguousarray(a))
    return out


def _to_tensor(a: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    return t.unsqueeze(0) if t.dim() == 2 else t.permute(2, 0, 1).contiguous()


class PhotoPatches(Dataset):
    """Random patches of in-memory photos with an on-the-fly degradation; item i -> (input, target) (C, p, p).

    Photos are drawn with probability proportional to their area. When the degradation is deterministic
    (fixed scale, blur and quality, no noise) the degraded photos are computed once (``cache``) and patches are
    cut from both; otherwise each patch is cut with a margin, degraded, and the margin removed, so the
    degradation's border effects never reach the patch.
    """

    def __init__(
        self,
        photos: Sequence[np.ndarray],
        patch: int,
        degradation: Degradation,
        seed: int = 0,
        augment: bool = True,
        cache: bool = True,
        upsample: bool = True,
        reuse: int = 1,
    ) -> None:
        if not photos:
            raise ValueError("no training photos")
        self.patch = patch
        self.degradation = degradation
        self.seed = seed
        self.augment = augment
        self.upsample = upsample
        self.chains: tuple[RealisticDegradation, ...] = ()
        if reuse < 1:
            raise ValueError(f"reuse must be at least 1 (got {reuse})")
        self.reuse = reuse
        self._windows: OrderedDict[int, tuple] = OrderedDict()  # recent degraded windows (see _realistic)
        if isinstance(degradation, RealisticDegradation):
            degradation = (degradation,)
        if isinstance(degradation, tuple):  # realistic chains, one drawn per sample (all of one scale)
            self.chains, s = degradation, degradation[0].scale
            self.align, cache = s, False
            self.degradation = None
            if upsample or patch % s or any(c.scale != s for c in self.chains):
                raise ValueError(f"realistic degradations are for post-upsampling networks, one scale, a patch that "
                                 f"is a multiple of it (got scale {s}, patch {patch})")
        else:
            s = degradation.scale
            self.align = int(s) if not isinstance(s, (tuple, list)) and float(s).is_integer() else 1
        if not self.chains and not upsample and (self.align != s or patch % self.align):
            raise ValueError(f"a post-upsampling network needs one whole scale and a patch that is a multiple of it "
                             f"(got scale {s}, patch {patch})")
        self.photos = [modcrop(p, self.align) for p in photos]
        self.photos = [p for p in self.photos if min(p.shape[:2]) >= patch]
        if not self.photos:
            raise ValueError(f"no training photo is at least {patch}x{patch}")
        area = np.array([p.shape[0] * p.shape[1] for p in self.photos], dtype=np.float64)
        self.weights = area / area.sum()
        self.cached: list[np.ndarray] | None = None
        if cache and self.deterministic:
            rng = np.random.default_rng(0)
            params = degradation.sample(rng)
            self.cached = [degradation.apply(p, params, rng, upsample) for p in self.photos]

    @property
    def deterministic(self) -> bool:
        """True when every sample gets the same degradation (no ranges, no noise)."""
        d = self.degradation
        if self.chains:
            return False
        return not any(isinstance(v, (tuple, list)) for v in (d.scale, d.blur, d.quality)) and d.noise == 0

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, int(index)])
        k = int(rng.choice(len(self.photos), p=self.weights))
        photo = self.photos[k]
        h, w = photo.shape[:2]
        p = self.patch
        rot, flip = (int(rng.integers(4)), bool(rng.integers(2))) if self.augment else (0, False)
        a = self.align if not self.upsample else 1  # the input's px per target px (LR inputs: the scale)
        if self.cached is not None:
            y = int(rng.integers(0, (h - p) // a + 1)) * a
            x = int(rng.integers(0, (w - p) // a + 1)) * a
            target = photo[y : y + p, x : x + p]
            inp = self.cached[k][y // a : (y + p) // a, x // a : (x + p) // a]
            target, inp = _augment([target, inp], rot, flip)
            return _to_tensor(inp), _to_tensor(target)
        if self.chains:
            return self._realistic(int(index))
        params = self.degradation.sample(rng)
        m = self.degradation.margin
        al = max(self.align, 1)
        m = ((m + al - 1) // al) * al
        y = int(rng.integers(0, (h - p) // a + 1)) * a
        x = int(rng.integers(0, (w - p) // a + 1)) * a
        y0, x0 = max(0, y - m), max(0, x - m)
        y0, x0 = y0 - y0 % al, x0 - x0 % al
        y1, x1 = min(h, y + p + m), min(w, x + p + m)
        region = photo[y0:y1, x0:x1]
        sc = params["scale"]
        if float(sc).is_integer() and sc > 1:
            hh, ww = region.shape[:2]
            region = region[: hh - hh % int(sc), : ww - ww % int(sc)]
        deg = self.degradation.apply(region, params, rng, self.upsample)
        dy, dx = y - y0, x - x0
        target = region[dy : dy + p, dx : dx + p]
        inp = deg[dy // a : (dy + p) // a, dx // a : (dx + p) // a]
        if target.shape[:2] != (p, p):  # region cut short by the scale crop: fall back to its corner
            target, inp = region[:p, :p], deg[: p // a, : p // a]
        target, inp = _augment([target, inp], rot, flip)
        return _to_tensor(inp), _to_tensor(target)


    def _realistic(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Item ``index`` of a realistic chain: one of the REALISTIC_GROUP patches cut from one degraded crop.

        A chain's crop needs a margin of about 40 px (x2) around what is kept, so degrading a (2p)^2 window
        once and cutting its four p x p corners costs about a quarter of degrading each patch with its own
        margin; consecutive indices (one batch) share the window, so a worker degrades it once (cached).
        With ``reuse`` r > 1 each window serves r groups, spread over REUSE_SPAN consecutive groups (so a batch
        still holds patches of several windows): the first use cuts the four corners, later ones four patches
        at drawn places of the window; a worker keeps the last REUSE_SPAN windows, and degrades r times less.
        """
        part = index % REALISTIC_GROUP
        window, use = self._windows_of(index)
        if window not in self._windows:
            self._windows[window] = self._degrade_window(window)
            while len(self._windows) > (REUSE_SPAN if self.reuse > 1 else 1):
                self._windows.popitem(last=False)
        region, lr, dy, dx, wh, ww = self._windows[window]
        s, p = self.align, self.patch
        if use == 0:
            oy, ox = dy + (part // 2) * (wh - p), dx + (part % 2) * (ww - p)
        else:
            place = np.random.default_rng([self.seed, index, 3])
            oy = dy + s * int(place.integers(0, (wh - p) // s + 1))
            ox = dx + s * int(place.integers(0, (ww - p) // s + 1))
        target = region[oy : oy + p, ox : ox + p]
        inp = lr[oy // s : (oy + p) // s, ox // s : (ox + p) // s]
        rng = np.random.default_rng([self.seed, index, 1])
        rot, flip = (int(rng.integers(4)), bool(rng.integers(2))) if self.augment else (0, False)
        target, inp = _augment([target, inp], rot, flip)
        return _to_tensor(inp), _to_tensor(target)

    def _windows_of(self, index: int) -> tuple[int, int]:
        """(the degraded window item ``index`` is cut from, which use of that window it is: 0 .. reuse - 1)."""
        block, k = divmod(index // REALISTIC_GROUP, REUSE_SPAN * self.reuse)  # reuse 1: (group, 0)
        return block * REUSE_SPAN + k % REUSE_SPAN, k // REUSE_SPAN

    def _degrade_window(self, group: int) -> tuple[np.ndarray, np.ndarray, int, int, int, int]:
        """Group ``group``'s HR crop (window + the drawn chain's margin), its LR, the window's offset and size."""
        rng = np.random.default_rng([self.seed, group, 2])
        photo = self.photos[int(rng.choice(len(self.photos), p=self.weights))]
        chain = self.chains[int(rng.integers(len(self.chains)))]
        params = chain.sample(rng)
        s, p = self.align, self.patch
        h, w = photo.shape[:2]
        wh, ww = min(2 * p, h // s * s), min(2 * p, w // s * s)
        y = int(rng.integers(0, (h - wh) // s + 1)) * s
        x = int(rng.integers(0, (w - ww) // s + 1)) * s
        m = params.margin
        y0, x0 = max(0, y - m) // s * s, max(0, x - m) // s * s
        y1, x1 = min(h, y + wh + m), min(w, x + ww + m)
        region = photo[y0 : y0 + (y1 - y0) // s * s, x0 : x0 + (x1 - x0) // s * s]
        return region, chain.apply(region, params, rng), y - y0, x - x0, wh, ww


REALISTIC_GROUP = 4  # patches cut from one degraded window (its four corners)
REUSE_SPAN = 16  # with data.reuse r: the consecutive groups over which r uses of REUSE_SPAN windows are spread


def realistic_chains(scale: int, kind: str) -> tuple[RealisticDegradation, ...]:
    """The realistic chains of ``data.realistic``: one order ("second_order", "first_order", "shuffled") or
    "mixed" (Real-ESRGAN's second order and BSRGAN's shuffled order, one of the two drawn per sample) or "all"
    (those two and the milder first order, one of the three drawn per sample) or "broad" (those three and
    ``degrade.mild``, a decent phone photo: one of the four per sample) or "wide" (those four and
    ``degrade.light``, a good photo: one of the five)."""
    groups = {"mixed": ("second_order", "shuffled"), "all": ("second_order", "shuffled", "first_order"),
              "broad": ("second_order", "shuffled", "first_order", "mild"),
              "wide": ("second_order", "shuffled", "first_order", "mild", "light")}
    return tuple(chain(k, scale) for k in groups.get(kind, (kind,)))


class PairTiles(Dataset):
    """The seed's format: a folder of (2T)xT images, good tile left, poor tile right; item i -> (poor, good)."""

    def __init__(self, folder: str | Path, patch: int | None = None, seed: int = 0, augment: bool = True,
                 color: str = "gray") -> None:
        files = list_images([folder])
        if not files:
            raise ValueError(f"{folder}: no pair images found")
        self.good: list[np.ndarray] = []
        self.poor: list[np.ndarray] = []
        for f in files:
            arr = to_channels(to_8bit(read(f).pixels), color)  # the same meaning of gray and y as load_photo
            w = arr.shape[1] // 2
            self.good.append(arr[:, :w])
            self.poor.append(arr[:, w : 2 * w])
        self.tile = min(min(g.shape[:2]) for g in self.good)
        self.patch = patch or self.tile
        self.seed = seed
        self.augment = augment

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, int(index)])
        k = int(rng.integers(len(self.good)))
        g, q = self.good[k], self.poor[k]
        p = self.patch
        y = int(rng.integers(0, g.shape[0] - p + 1))
        x = int(rng.integers(0, g.shape[1] - p + 1))
        g, q = g[y : y + p, x : x + p], q[y : y + p, x : x + p]
        if self.augment:
            g, q = _augment([g, q], int(rng.integers(4)), bool(rng.integers(2)))
        return _to_tensor(q.astype(np.float32) / 255.0), _to_tensor(g.astype(np.float32) / 255.0)

    def val_images(self) -> list[ValImage]:
        """Every tile as a whole validation image."""
        return [
            ValImage(f"tile{i}", _to_tensor(q.astype(np.float32) / 255.0), _to_y_u8(g), 0)
            for i, (g, q) in enumerate(zip(self.good, self.poor, strict=True))
        ]


def _to_y_u8(a: np.ndarray) -> np.ndarray:
    if a.dtype != np.uint8:
        a = quantize(a, 8)
    return y_uint8(a if a.ndim == 2 or a.shape[2] == 3 else a[:, :, 0])


@dataclass
class ValImage:
    """One validation image: the degraded input (C, H, W) float32 and the clean Y (H, W) uint8; border to shave."""

    name: str
    input: torch.Tensor
    target_y: np.ndarray
    crop_border: int


def make_val_images(photos: Sequence[tuple[str, np.ndarray]], degradation: Degradation, seed: int = 0,
                    upsample: bool = True) -> list[ValImage]:
    """Degrade each (name, photo) deterministically for validation; border = ceil(max scale).

    ``upsample`` False: the input is the low-resolution image itself (for post-upsampling networks).
    """
    out = []
    chains = (degradation,) if isinstance(degradation, RealisticDegradation) else degradation
    for i, (name, photo) in enumerate(photos):
        rng = np.random.default_rng([seed, 1_000_000 + i])
        if isinstance(chains, tuple):  # realistic: the chains in turn, each image with its own draw
            chain = chains[i % len(chains)]
            hr = modcrop(photo, chain.scale)
            lr = chain.apply(hr, chain.sample(rng), rng)
            out.append(ValImage(name, _to_tensor(lr), _to_y_u8(hr), chain.scale if chain.scale > 1 else 0))
            continue
        params = degradation.sample(rng)
        s = params["scale"]
        hr = modcrop(photo, int(s)) if float(s).is_integer() else photo
        lr = degradation.apply(hr, params, rng, upsample)
        out.append(ValImage(name, _to_tensor(lr), _to_y_u8(hr), int(np.ceil(s)) if s > 1 else 0))
    return out
