"""Dataset preparation: photos -> (good | poor) tile pairs, as the seed project built its training data.

Per photo: read (EXIF orientation applied, RGB) -> MATLAB bicubic resize to ``size`` x ``size`` (aspect
not kept) -> good = that uint8 image; poor = blur -> bicubic down/up -> JPEG (Pillow, in memory, on RGB) of
good -> both to grayscale "L" (Pillow's ``convert("L")``) or kept RGB -> cut into ``tile`` x ``tile`` tiles,
row-major -> each pair saved as one PNG of ``2*tile`` x ``tile`` (good on the LEFT, poor on the RIGHT) under
``OUT/train`` or ``OUT/val`` as ``<photo-stem>_<tile-index:03d>.png``.

The split is by photo: the sorted relative paths of the readable photos are shuffled by
``numpy.random.default_rng(seed)`` and the first ``round(n * val_fraction)`` (at least 1 when n >= 2 and
val_fraction > 0, at most n - 1) go to val. ``OUT/manifest.csv`` lists every pair; ``OUT/prepare.json`` holds
the options and counts. Every file is written atomically (temporary file in the same folder + ``os.replace``).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .color import to_channels
from .data import IMAGE_EXTENSIONS, hold_out
from .degrade import bicubic_down_up, gaussian_blur, jpeg
from .errors import fail
from .files import atomic_write, is_temp_name, list_images, write_bytes
from .images import DEFAULT_MAX_PIXELS, ImageError, Picture, quantize, read, to_8bit, write
from .resize import imresize

__all__ = [
    "PrepareOptions",
    "PrepareReport",
    "PrepareError",
    "PRESETS",
    "IMAGE_EXTENSIONS",
    "MANIFEST_COLUMNS",
    "validate_options",
    "find_photos",
    "split_photos",
    "load_photo",
    "resize_photo",
    "degrade_photo",
    "to_color",
    "tiles",
    "make_pair",
    "prepare",
    "add_arguments",
    "options_from_args",
    "run",
]

MANIFEST_COLUMNS = ("split", "file", "source", "source_sha256", "tile_index", "row", "col")
COLORS = ("gray", "rgb")


@dataclass(frozen=True)
class PrepareOptions:
    """How photos become tile pairs; the defaults are the seed project's dataset."""

    size: int = 1024  # each photo resized to size x size (MATLAB bicubic, antialiased); aspect not kept
    tile: int = 128  # tile x tile tiles -> (size // tile) ** 2 pairs per photo
    quality: int = 20  # JPEG quality of the poor copy; 0 = no JPEG step
    scale: float = 1  # > 1: bicubic down by scale and back up, before the JPEG step
    blur: float = 0.0  # Gaussian sigma (px) applied first
    color: str = "gray"  # "gray" (Pillow "L") or "rgb"
    val_fraction: float = 0.2
    seed: int = 0

    def to_dict(self) -> dict:
        """Plain dict of the fields (JSON-safe)."""
        return asdict(self)


PRESETS: dict[str, PrepareOptions] = {"seed": PrepareOptions()}


@dataclass(frozen=True)
class PrepareReport:
    """What ``prepare`` did: counts, and (source, reason) of every skipped photo."""

    out: Path
    photos_found: int
    train_photos: int
    val_photos: int
    train_tiles: int
    val_tiles: int
    skipped: tuple[tuple[str, str], ...]

    @property
    def photos_processed(self) -> int:
        """Photos that were turned into tiles."""
        return self.train_photos + self.val_photos

    @property
    def ok(self) -> bool:
        """True when no photo was skipped."""
        return not self.skipped


class PrepareError(ValueError):
    """Bad options or inputs (missing PHOTOS, no photos, non-empty OUT without force); message is one line."""


def validate_options(options: PrepareOptions) -> None:
    """Raise PrepareError when the options are inconsistent (size % tile, quality, scale, blur, fractions)."""
    if options.tile <= 0 or options.size <= 0:
        raise PrepareError(f"size and tile must be positive (got size={options.size}, tile={options.tile})")
    if options.size % options.tile:
        raise PrepareError(f"size must be a multiple of tile (got size={options.size}, tile={options.tile})")
    if not 0 <= options.quality <= 100:
        raise PrepareError(f"quality must be in 0..100 (got {options.quality})")
    if not options.scale >= 1:
        raise PrepareError(f"scale must be >= 1 (got {options.scale})")
    if not options.blur >= 0:
        raise PrepareError(f"blur must be >= 0 (got {options.blur})")
    if options.color not in COLORS:
        raise PrepareError(f"color must be one of {', '.join(COLORS)} (got {options.color!r})")
    if not 0 <= options.val_fraction < 1:
        raise PrepareError(f"val_fraction must be in [0, 1) (got {options.val_fraction})")


# ------------------------------------------------------------------------------------------- photo pipeline


def load_photo(data: bytes | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode a photo (bytes or path) with srcnn.images (EXIF orientation applied) -> (H, W, 3) uint8 RGB."""
    pic = read(data, max_pixels=max_pixels)
    px = to_8bit(pic.pixels)
    if px.shape[2] == 1:
        px = np.repeat(px, 3, axis=2)
    return np.ascontiguousarray(px)


def resize_photo(rgb: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (size, size, 3) uint8: MATLAB bicubic (antialiased, float64), rounded; no aspect."""
    out = np.empty((size, size, rgb.shape[2]), dtype=np.uint8)
    for c in range(rgb.shape[2]):  # one plane at a time bounds the float64 memory for big photos
        plane = rgb[:, :, c].astype(np.float64) / 255.0
        out[:, :, c] = quantize(imresize(plane, size=(size, size), antialias=True), 8)
    return out


def degrade_photo(good: np.ndarray, options: PrepareOptions) -> np.ndarray:
    """(H, W, 3) uint8 good image -> same-shape uint8 poor copy: blur -> bicubic down/up -> JPEG (on RGB)."""
    x = good.astype(np.float64) / 255.0
    if options.blur > 0:
        x = gaussian_blur(x, options.blur)
    if options.scale != 1:
        x = bicubic_down_up(x, options.scale)
    if options.quality > 0:
        x = jpeg(x, options.quality)
    return quantize(x, 8)


def to_color(rgb: np.ndarray, color: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) uint8 Pillow "L" for color="gray", or the RGB array itself for "rgb"."""
    if color not in COLORS:
        raise ValueError(f"unknown color {color!r}")
    px = to_channels(rgb, color)
    return px[:, :, 0] if color == "gray" else px


def tiles(image: np.ndarray, tile: int) -> Iterator[tuple[int, int, int, np.ndarray]]:
    """Yield (index, row, col, tile) over (H, W[, C]) in row-major order; H and W multiples of ``tile``."""
    rows, cols = image.shape[0] // tile, image.shape[1] // tile
    for r in range(rows):
        for c in range(cols):
            yield r * cols + c, r, c, image[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile, ...]


def make_pair(good: np.ndarray, poor: np.ndarray) -> np.ndarray:
    """Two (t, t[, C]) uint8 tiles -> one (t, 2t[, C]) uint8 image: good on the left, poor on the right."""
    return np.concatenate([good, poor], axis=1)


# ------------------------------------------------------------------------------------------ files and split


def find_photos(photos: Path, exclude: Path | None = None) -> list[Path]:
    """Image files under ``photos`` (recursive; hidden and ``exclude`` skipped), sorted by relative path."""
    photos = Path(photos)
    found = list_images([photos], IMAGE_EXTENSIONS, exclude=exclude)
    return sorted(found, key=lambda p: p.relative_to(photos).as_posix())


def split_photos(names: list[str], val_fraction: float, seed: int) -> set[str]:
    """The val subset of ``names``: sorted, shuffled by default_rng(seed), the first round(n*val_fraction)."""
    ordered = sorted(names)
    n = len(ordered)
    n_val = int(round(n * val_fraction))
    if n >= 2 and val_fraction > 0:
        n_val = min(max(n_val, 1), n - 1)
    n_val = min(n_val, n)
    place = {ordered[i]: k for k, i in enumerate(np.random.default_rng(seed).permutation(n))}
    return set(hold_out(ordered, n_val, rank=place.__getitem__)[1])


def _save_png(path: Path, pixels: np.ndarray) -> None:
    write(path, Picture(pixels))  # atomic: temp file, then rename


def _output_stems(sources: list[str]) -> dict[str, str]:
    """File stem per source: the photo's stem, or its relative path flattened when two photos share a stem."""
    stems = {s: Path(s).stem for s in sources}
    counts = Counter(stems.values())
    for s, stem in stems.items():
        if counts[stem] > 1:
            stems[s] = s.replace("/", "__").replace(".", "_")
    return stems


def _clear_previous(out: Path) -> None:
    """With force: remove an earlier run's output (PNGs, temp files, manifest, prepare.json)."""
    for sub in ("train", "val"):
        d = out / sub
        if d.is_dir():
            for p in d.iterdir():
                if p.is_file() and (p.suffix in (".png", ".tmp") or is_temp_name(p.name)):
                    p.unlink()
    for name in ("manifest.csv", "prepare.json"):
        p = out / name
        if p.is_file():
            p.unlink()


def _warn(message: str) -> None:
    tqdm.write(message, file=sys.stderr)


def prepare(
    photos: Path, out: Path, options: PrepareOptions, progress: bool = True, *, force: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> PrepareReport:
    """Build the tile-pair dataset from ``photos`` into ``out`` (module docstring); raises PrepareError."""
    validate_options(options)
    photos, out = Path(photos), Path(out)
    if not photos.exists():
        raise PrepareError(f"photos folder not found: {photos}")
    if not photos.is_dir():
        raise PrepareError(f"photos is not a folder: {photos}")
    if out.resolve() == photos.resolve():
        raise PrepareError(f"output folder must differ from the photos folder: {out}")
    if out.exists() and not out.is_dir():
        raise PrepareError(f"output exists and is not a folder: {out}")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise PrepareError(f"output folder is not empty: {out} (use --force to overwrite)")
    paths = find_photos(photos, exclude=out)
    if not paths:
        raise PrepareError(f"no photos ({', '.join(sorted(IMAGE_EXTENSIONS))}) found under {photos}")

    bar = None if progress else True  # tqdm: None = show on a terminal only
    skipped: list[tuple[str, str]] = []

    def skip(source: str, error: BaseException) -> None:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        skipped.append((source, reason))
        _warn(f"skipped {source}: {reason}")

    # Pass 1: hash and fully decode every photo, so that the split is over the readable ones only.
    readable: dict[str, tuple[Path, str]] = {}
    for path in tqdm(paths, desc="check", unit="photo", disable=bar, file=sys.stderr):
        source = path.relative_to(photos).as_posix()
        try:
            data = path.read_bytes()
            load_photo(data, max_pixels)
        except Exception as e:  # any decoder failure means a bad photo, not a bug here
            skip(source, e)
            continue
        readable[source] = (path, hashlib.sha256(data).hexdigest())

    val = split_photos(list(readable), options.val_fraction, options.seed)
    stems = _output_stems(list(readable))
    if force and out.is_dir():
        _clear_previous(out)
    for sub in ("train", "val"):
        (out / sub).mkdir(parents=True, exist_ok=True)

    rows: list[dict] = []
    counts = {"train_photos": 0, "val_photos": 0, "train_tiles": 0, "val_tiles": 0}
    todo = tqdm(readable.items(), desc="prepare", unit="photo", disable=bar, file=sys.stderr)
    for source, (path, sha) in todo:
        try:
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() != sha:
                raise ValueError("file changed while preparing")
            rgb = load_photo(data, max_pixels)
        except Exception as e:
            skip(source, e)
            continue
        split = "val" if source in val else "train"
        good_rgb = resize_photo(rgb, options.size)
        poor_rgb = degrade_photo(good_rgb, options)
        good, poor = to_color(good_rgb, options.color), to_color(poor_rgb, options.color)
        photo_rows = []
        pairs = zip(tiles(good, options.tile), tiles(poor, options.tile), strict=True)
        for (index, r, c, g), (_, _, _, p) in pairs:
            rel = f"{split}/{stems[source]}_{index:03d}.png"
            _save_png(out / rel, make_pair(g, p))
            photo_rows.append(
                {"split": split, "file": rel, "source": source, "source_sha256": sha,
                 "tile_index": index, "row": r, "col": c}
            )
        rows.extend(photo_rows)
        counts[f"{split}_photos"] += 1
        counts[f"{split}_tiles"] += len(photo_rows)

    def write_manifest(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(MANIFEST_COLUMNS))
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(out / "manifest.csv", write_manifest)
    summary = {
        "options": options.to_dict(),
        "pair_layout": "left half = good (clean) tile, right half = poor (degraded) tile",
        "tiles_per_photo": (options.size // options.tile) ** 2,
        "photos_found": len(paths),
        "photos_processed": counts["train_photos"] + counts["val_photos"],
        **counts,
        "skipped": [{"source": s, "reason": r} for s, r in skipped],
    }
    payload = (json.dumps(summary, indent=2) + "\n").encode("utf-8")
    write_bytes(out / "prepare.json", payload)
    return PrepareReport(
        out=out, photos_found=len(paths), skipped=tuple(skipped), **counts,
    )


# -------------------------------------------------------------------------------------------------- the CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add PHOTOS, OUT, --preset and per-option overrides (None = the preset's value), --force, --quiet."""
    parser.add_argument("photos", metavar="PHOTOS", type=Path, help="folder of photos (searched recursively)")
    parser.add_argument("out", metavar="OUT", type=Path, help="output folder (train/, val/, manifest.csv)")
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), default="seed", help="base options (default: seed)"
    )
    d = PrepareOptions()
    parser.add_argument("--size", type=int, help=f"resize each photo to SIZE x SIZE (seed: {d.size})")
    parser.add_argument("--tile", type=int, help=f"tile side in px; SIZE must be a multiple (seed: {d.tile})")
    parser.add_argument("--quality", type=int, help=f"JPEG quality, 0 = none (seed: {d.quality})")
    parser.add_argument("--scale", type=float, help=f"bicubic down/up factor, >= 1 (seed: {d.scale})")
    parser.add_argument("--blur", type=float, help=f"Gaussian blur sigma applied first (seed: {d.blur})")
    parser.add_argument("--color", choices=COLORS, help=f"gray (Pillow L) or rgb (seed: {d.color})")
    parser.add_argument(
        "--val-fraction", type=float, help=f"fraction of photos for validation (seed: {d.val_fraction})"
    )
    parser.add_argument("--seed", type=int, help=f"seed of the train/val split (seed: {d.seed})")
    parser.add_argument("--force", action="store_true", help="write into a non-empty OUT (replaces a run)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                        help=f"skip larger photos (default {DEFAULT_MAX_PIXELS:,})")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def options_from_args(args: argparse.Namespace) -> PrepareOptions:
    """The preset's options with every option given on the command line replacing its value."""
    base = PRESETS[args.preset]
    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(PrepareOptions)
        if getattr(args, f.name, None) is not None
    }
    return dataclasses.replace(base, **given)


def run(args: argparse.Namespace) -> int:
    """Run ``prepare`` from parsed args; exit code 0 all done, 1 some skipped or I/O error, 2 bad options."""
    try:
        options = options_from_args(args)
        report = prepare(args.photos, args.out, options, progress=not args.quiet, force=args.force,
                         max_pixels=getattr(args, "max_pixels", DEFAULT_MAX_PIXELS))
    except PrepareError as e:
        return fail(str(e), "srcnn prepare")
    except (OSError, ImageError) as e:  # e.g. disk full or an unwritable OUT
        return fail(str(e), "srcnn prepare", code=1)
    except KeyboardInterrupt:
        print("srcnn prepare: interrupted (written pairs are complete; no manifest)", file=sys.stderr)
        return 130
    if not args.quiet:
        print(
            f"{report.photos_processed} photos -> {report.train_tiles} train + {report.val_tiles} val pairs "
            f"in {report.out}" + (f"; {len(report.skipped)} skipped" if report.skipped else ""),
            file=sys.stderr,
        )
    return 0 if report.ok else 1
