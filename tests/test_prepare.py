"""Tests of srcnn.prepare: seed pair layout, JPEG artefacts, per-photo split, bad photos, CLI exit codes."""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srcnn.metrics import psnr
from srcnn.prepare import (
    PrepareError,
    PrepareOptions,
    add_arguments,
    degrade_photo,
    find_photos,
    load_photo,
    options_from_args,
    prepare,
    resize_photo,
    split_photos,
    tiles,
    to_color,
)

SMALL = PrepareOptions(size=256, tile=64, val_fraction=0.34)  # 16 tiles per photo


def _photo_pixels(seed: int, w: int = 300, h: int = 200) -> np.ndarray:
    """Smooth colour gradients plus hard-edged rectangles and thin 'text-like' strokes, (h, w, 3) uint8."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([x / w * 200 + 20, y / h * 180 + 40, (x + y) / (w + h) * 150 + 60], axis=-1)
    for _ in range(4):
        x0, y0 = int(rng.integers(0, w - 60)), int(rng.integers(0, h - 40))
        img[y0 : y0 + 40, x0 : x0 + 60] = rng.integers(0, 256, 3)
    for k in range(6):  # strokes 1-2 px wide, like glyphs
        r0 = 20 + 25 * k
        img[r0 : r0 + 2, 30:270:7] = 10
        img[r0 : r0 + 12, 40 + 30 * k] = 245
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _write_photo(path: Path, seed: int, **save) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_photo_pixels(seed)).save(path, **save)
    return path


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    d = tmp_path / "photos"
    _write_photo(d / "alpha.png", 1)
    _write_photo(d / "beta.jpg", 2, quality=95)
    _write_photo(d / "sub" / "gamma.png", 3)
    return d


def _manifest(out: Path) -> list[dict]:
    with open(out / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def _blockiness(img: np.ndarray) -> float:
    """Mean |difference| across 8-px block boundaries divided by the mean inside blocks (rows and columns)."""
    x = img.astype(np.float64)
    ratios = []
    for d in (np.abs(np.diff(x, axis=1)), np.abs(np.diff(x, axis=0)).T):
        boundary = (np.arange(d.shape[1]) % 8) == 7
        ratios.append(d[:, boundary].mean() / max(d[:, ~boundary].mean(), 1e-9))
    return float(np.mean(ratios))


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_seed_defaults_on_one_photo(tmp_path: Path) -> None:
    src = _write_photo(tmp_path / "photos" / "one.jpg", 7, quality=95)
    out = tmp_path / "out"
    report = prepare(src.parent, out, PrepareOptions(), progress=False)
    assert (report.train_photos, report.val_photos, report.train_tiles, report.val_tiles) == (1, 0, 64, 0)
    assert report.ok and report.photos_processed == 1
    files = sorted((out / "train").iterdir())
    assert [f.name for f in files] == [f"one_{i:03d}.png" for i in range(64)]
    assert not any((out / "val").iterdir())

    good = to_color(resize_photo(load_photo(src), 1024), "gray")
    poor = to_color(degrade_photo(resize_photo(load_photo(src), 1024), PrepareOptions()), "gray")
    assert good.shape == (1024, 1024) and good.dtype == np.uint8
    lefts, rights = np.zeros_like(good), np.zeros_like(good)
    for (i, r, c, g), (_, _, _, p) in zip(tiles(good, 128), tiles(poor, 128), strict=True):
        with Image.open(out / "train" / f"one_{i:03d}.png") as im:
            assert im.size == (256, 128) and im.mode == "L"
            pair = np.asarray(im)
        np.testing.assert_array_equal(pair[:, :128], g)  # left: the clean resized gray tile
        np.testing.assert_array_equal(pair[:, 128:], p)  # right: its JPEG-q20 copy
        lefts[r * 128 : (r + 1) * 128, c * 128 : (c + 1) * 128] = pair[:, :128]
        rights[r * 128 : (r + 1) * 128, c * 128 : (c + 1) * 128] = pair[:, 128:]
    clean = good / 255.0
    assert psnr(clean, rights / 255.0) < psnr(clean, lefts / 255.0)
    assert psnr(clean, rights / 255.0) < 45  # visibly degraded
    assert _blockiness(rights) > 1.3 * _blockiness(lefts)
    assert _blockiness(rights) > 1.3

    rows = _manifest(out)
    assert len(rows) == 64 and list(rows[0]) == ["split", "file", "source", "source_sha256", "tile_index",
                                                 "row", "col"]
    assert rows[9] == {"split": "train", "file": "train/one_009.png", "source": "one.jpg",
                       "source_sha256": hashlib.sha256(src.read_bytes()).hexdigest(),
                       "tile_index": "9", "row": "1", "col": "1"}
    meta = json.loads((out / "prepare.json").read_text())
    assert meta["options"] == PrepareOptions().to_dict()
    assert meta["tiles_per_photo"] == 64 and meta["train_tiles"] == 64 and meta["skipped"] == []
    leftovers = [p for p in out.rglob("*") if p.is_file() and p.suffix not in (".png", ".csv", ".json")]
    assert leftovers == []  # no temporary files left behind


def test_small_run_counts_split_and_sha(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = prepare(photos, out, SMALL, progress=False)
    assert report.photos_found == 3 and report.ok
    assert (report.train_photos, report.val_photos) == (2, 1)  # round(3 * 0.34) = 1 val photo
    assert len(list((out / "train").glob("*.png"))) == 32
    assert len(list((out / "val").glob("*.png"))) == 16
    rows = _manifest(out)
    assert len(rows) == 48
    split_of: dict[str, set[str]] = {}
    for row in rows:
        split_of.setdefault(row["source"], set()).add(row["split"])
        assert row["file"].startswith(row["split"] + "/") and (out / row["file"]).is_file()
        assert row["source_sha256"] == hashlib.sha256((photos / row["source"]).read_bytes()).hexdigest()
    assert set(split_of) == {"alpha.png", "beta.jpg", "sub/gamma.png"}
    assert all(len(s) == 1 for s in split_of.values())  # every photo lies in one split only
    val_source = next(s for s, v in split_of.items() if v == {"val"})
    assert {s for s in split_of if s != val_source} == {s for s, v in split_of.items() if v == {"train"}}
    for f in (out / "val").glob("*.png"):
        with Image.open(f) as im:
            assert im.size == (128, 64) and im.mode == "L"
    assert sorted(int(r["tile_index"]) for r in rows if r["source"] == "alpha.png") == list(range(16))


def test_split_is_deterministic(photos: Path, tmp_path: Path) -> None:
    prepare(photos, tmp_path / "a", SMALL, progress=False)
    prepare(photos, tmp_path / "b", SMALL, progress=False)
    assert (tmp_path / "a" / "manifest.csv").read_bytes() == (tmp_path / "b" / "manifest.csv").read_bytes()
    names = [f"p{i:02d}.jpg" for i in range(20)]
    assert split_photos(names, 0.2, 0) == split_photos(list(reversed(names)), 0.2, 0)
    assert len(split_photos(names, 0.2, 0)) == 4
    assert split_photos(names, 0.2, 0) != split_photos(names, 0.2, 1)
    assert len(split_photos(["a", "b"], 0.1, 0)) == 1  # at least one val photo when n >= 2
    assert split_photos(["a"], 0.2, 0) == set() and split_photos(names, 0.0, 0) == set()
    assert len(split_photos(["a", "b"], 0.9, 0)) == 1  # and at least one train photo


def test_bad_photos_are_skipped_and_reported(photos: Path, tmp_path: Path, capsys) -> None:
    (photos / "empty.jpg").write_bytes(b"")
    (photos / "notes.jpg").write_text("not an image\n")
    whole = _write_photo(tmp_path / "whole.jpg", 9, quality=90).read_bytes()
    (photos / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    out = tmp_path / "out"
    code = _run(["--size", "256", "--tile", "64", "--quiet", str(photos), str(out)])
    assert code == 1
    err = capsys.readouterr().err.splitlines()
    for name in ("empty.jpg", "notes.jpg", "cut.jpg"):
        assert sum(line.startswith(f"skipped {name}: ") for line in err) == 1
    rows = _manifest(out)
    assert {r["source"] for r in rows} == {"alpha.png", "beta.jpg", "sub/gamma.png"}
    assert len(rows) == 48
    meta = json.loads((out / "prepare.json").read_text())
    assert {s["source"] for s in meta["skipped"]} == {"empty.jpg", "notes.jpg", "cut.jpg"}
    assert meta["photos_found"] == 6 and meta["photos_processed"] == 3


def _run(argv: list[str]) -> int:
    from srcnn.prepare import run

    return run(_parse(argv))


def test_run_exit_codes_and_messages(photos: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert _run(["--quiet", str(tmp_path / "missing"), str(out)]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _run(["--quiet", str(empty), str(out)]) == 2
    assert _run(["--quiet", "--size", "250", "--tile", "64", str(photos), str(out)]) == 2
    assert _run(["--quiet", "--quality", "101", str(photos), str(out)]) == 2
    assert _run(["--quiet", "--scale", "0.5", str(photos), str(out)]) == 2
    assert _run(["--quiet", "--val-fraction", "1", str(photos), str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 6 and all(line.startswith("srcnn prepare: error: ") for line in err)
    assert "Traceback" not in "".join(err)

    assert _run(["--quiet", "--size", "128", "--tile", "64", str(photos), str(out)]) == 0
    assert _run(["--quiet", "--size", "128", "--tile", "64", str(photos), str(out)]) == 2  # not empty
    assert "--force" in capsys.readouterr().err
    # --force replaces the previous run: no stale pairs from the 128 px run remain
    assert _run(["--quiet", "--force", "--size", "256", "--tile", "128", str(photos), str(out)]) == 0
    assert len(_manifest(out)) == 12
    assert len(list(out.rglob("*.png"))) == 12


def test_options_override_preset() -> None:
    args = _parse(["p", "o"])
    assert options_from_args(args) == PrepareOptions()
    args = _parse(["p", "o", "--preset", "seed", "--tile", "64", "--color", "rgb", "--scale", "2",
                   "--seed", "3"])
    assert options_from_args(args) == PrepareOptions(tile=64, color="rgb", scale=2.0, seed=3)


def test_rgb_scale_blur_no_jpeg(photos: Path, tmp_path: Path) -> None:
    opts = PrepareOptions(size=128, tile=64, quality=0, scale=2, blur=1.0, color="rgb", val_fraction=0.0)
    out = tmp_path / "out"
    report = prepare(photos, out, opts, progress=False)
    assert (report.train_tiles, report.val_tiles) == (12, 0)
    good = resize_photo(load_photo(photos / "alpha.png"), 128)
    poor = degrade_photo(good, opts)
    assert np.abs(poor.astype(int) - good.astype(int)).mean() > 1  # blurred and down/up-sampled
    with Image.open(out / "train" / "alpha_003.png") as im:
        assert im.mode == "RGB" and im.size == (128, 64)
        pair = np.asarray(im)
    np.testing.assert_array_equal(pair[:, :64], good[64:, 64:])
    np.testing.assert_array_equal(pair[:, 64:], poor[64:, 64:])


def test_exif_orientation_and_duplicate_stems(tmp_path: Path) -> None:
    d = tmp_path / "photos"
    img = Image.fromarray(_photo_pixels(4))  # 300 wide, 200 high
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    d.mkdir()
    img.save(d / "x.jpg", quality=95, exif=exif)
    _write_photo(d / "x.png", 5)
    assert load_photo(d / "x.jpg").shape == (300, 200, 3)
    report = prepare(d, tmp_path / "out", PrepareOptions(size=64, tile=64, val_fraction=0.0), progress=False)
    assert report.train_tiles == 2
    names = sorted(p.name for p in (tmp_path / "out" / "train").iterdir())
    assert names == ["x_jpg_000.png", "x_png_000.png"]


def test_output_inside_photos_is_not_walked(photos: Path, tmp_path: Path) -> None:
    out = photos / "dataset"
    prepare(photos, out, SMALL, progress=False)
    assert len(find_photos(photos, exclude=out)) == 3
    report = prepare(photos, out, SMALL, progress=False, force=True)
    assert report.photos_found == 3 and report.train_tiles + report.val_tiles == 48
    with pytest.raises(PrepareError):
        prepare(photos, photos, SMALL, progress=False, force=True)


def test_force_removes_the_temp_files_of_a_killed_run(photos: Path, tmp_path: Path) -> None:
    """A run killed mid-write leaves images.write's ``.<tile>.png.tmp-<hex>``; --force clears them with the rest."""
    out = tmp_path / "out"
    prepare(photos, out, SMALL, progress=False)
    stale = out / "train" / ".photo_png_000.png.tmp-0a1b2c3d4e5f"
    stale.write_bytes(b"half a png")
    prepare(photos, out, SMALL, progress=False, force=True)
    assert not stale.exists()
    assert not [p.name for p in (out / "train").iterdir() if p.name.startswith(".")]
