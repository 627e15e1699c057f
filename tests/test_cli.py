"""The `srcnn` command: where outputs go, what is skipped, bad files and options give one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srcnn.argtypes import float_in
from srcnn.cli import main
from srcnn.images import read
from srcnn.model import SRCNN
from srcnn.zoo import available

from .conftest import make_weights, smooth_image


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    make_weights(path)
    return path


def save_png(path: Path, h: int = 12, w: int = 16, seed: int = 0) -> Path:
    Image.fromarray(smooth_image(h, w, seed=seed)).save(path)
    return path


def err_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# --------------------------------------------------------------------------------------------------------------
# Where outputs go


def test_file_output_goes_beside_it(weights, tmp_path, capsys):
    src = save_png(tmp_path / "photo.png")
    assert main(["enhance", str(src), "-m", str(weights)]) == 0
    out = tmp_path / "photo_srcnn.png"
    assert read(out).pixels.shape == (24, 32, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png", "photo_srcnn.png"]
    assert "1 enhanced" in capsys.readouterr().err


def test_output_file_name_for_one_input(weights, tmp_path):
    src = save_png(tmp_path / "photo.png")
    assert main(["enhance", str(src), "-m", str(weights), "-o", str(tmp_path / "big.png"), "--quiet"]) == 0
    assert read(tmp_path / "big.png").pixels.shape == (24, 32, 3)
    assert not (tmp_path / "photo_srcnn.png").exists()


def test_output_folder_is_created(tmp_path):
    src_dir = tmp_path / "in"
    src_dir.mkdir()
    save_png(src_dir / "a.png")
    save_png(src_dir / "b.png", seed=1)
    out = tmp_path / "out" / "x2"
    assert main(["enhance", str(src_dir), "-m", "bicubic", "-o", str(out), "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a_srcnn.png", "b_srcnn.png"]


def test_jpg_input_gives_jpg_and_ext_overrides(tmp_path):
    Image.fromarray(smooth_image(12, 16)).save(tmp_path / "p.jpg", quality=95)
    assert main(["enhance", str(tmp_path / "p.jpg"), "-m", "bicubic", "--quiet"]) == 0
    assert read(tmp_path / "p_srcnn.jpg").format == "JPEG"
    assert main(["enhance", str(tmp_path / "p.jpg"), "-m", "bicubic", "--ext", "png", "--quiet"]) == 0
    assert read(tmp_path / "p_srcnn.png").format == "PNG"


# --------------------------------------------------------------------------------------------------------------
# Bad files in a batch


def test_folder_with_bad_files(weights, tmp_path, capsys):
    save_png(tmp_path / "good1.png")
    save_png(tmp_path / "good2.png", seed=1)
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.jpg").write_text("this is not a picture\n")
    buf = tmp_path / "whole.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf)
    data = buf.read_bytes()
    buf.unlink()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])

    rc = main(["enhance", str(tmp_path), "-m", str(weights)])
    err = capsys.readouterr().err
    assert rc == 1
    assert "Traceback" not in err
    assert (tmp_path / "good1_srcnn.png").exists() and (tmp_path / "good2_srcnn.png").exists()
    for bad in ("empty.png", "notes.jpg", "cut.png"):
        lines = [line for line in err_lines(err) if bad in line]
        assert len(lines) == 1, (bad, err)
        assert str(tmp_path / bad) in lines[0]
        stem = bad.rsplit(".", 1)[0]
        assert not list(tmp_path.glob(f"{stem}_srcnn*"))
    assert "truncated" in next(line for line in err_lines(err) if "cut.png" in line)
    assert "2 enhanced, 0 skipped" in err and "3 failed" in err
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary files left behind


def test_decompression_bomb_is_refused(tmp_path, capsys):
    src = save_png(tmp_path / "big.png", 20, 20)
    rc = main(["enhance", str(src), "-m", "bicubic", "--max-pixels", "100"])
    err = capsys.readouterr().err
    assert rc == 1
    lines = [line for line in err_lines(err) if "big.png" in line]
    assert len(lines) == 1 and "400" in lines[0] and "100" in lines[0] and "Traceback" not in err
    assert not (tmp_path / "big_srcnn.png").exists()


# --------------------------------------------------------------------------------------------------------------
# Skipping, forcing, never overwriting an input


def test_existing_output_is_skipped_unless_force(tmp_path, capsys):
    src = save_png(tmp_path / "p.png")
    dst = tmp_path / "p_srcnn.png"
    Image.new("RGB", (3, 3), (1, 2, 3)).save(dst)  # a previous (different) output
    before = dst.read_bytes()
    os.utime(dst, (1_000_000_000, 1_000_000_000))
    assert main(["enhance", str(src), "-m", "bicubic"]) == 0
    assert "0 enhanced, 1 skipped" in capsys.readouterr().err
    assert dst.read_bytes() == before and dst.stat().st_mtime == 1_000_000_000
    assert main(["enhance", str(src), "-m", "bicubic", "--force", "--quiet"]) == 0
    assert dst.stat().st_mtime != 1_000_000_000
    assert read(dst).pixels.shape == (24, 32, 3)


def test_rerun_on_a_folder_skips_done_work_and_leaves_outputs_alone(tmp_path, capsys):
    save_png(tmp_path / "a.png")
    save_png(tmp_path / "b.png", seed=1)
    assert main(["enhance", str(tmp_path), "-m", "bicubic"]) == 0
    capsys.readouterr()
    assert main(["enhance", str(tmp_path), "-m", "bicubic"]) == 0  # e.g. after an interruption
    assert "0 enhanced, 2 skipped" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a_srcnn.png", "b.png", "b_srcnn.png"]


@pytest.mark.parametrize("extra", [["--suffix", ""], ["-o", "SRC"]])
def test_an_input_is_never_overwritten(tmp_path, capsys, extra):
    src = save_png(tmp_path / "p.png")
    before = src.read_bytes()
    extra = [str(src) if a == "SRC" else a for a in extra]
    rc = main(["enhance", str(src), "-m", "bicubic", *extra])
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err_lines(err)) == 1 and "overwrite an input" in err
    assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png"]


# --------------------------------------------------------------------------------------------------------------
# Options


@pytest.mark.parametrize("bad", [["-s", "0"], ["--ext", "gif"], ["--tile", "x"], ["--shard", "2/2"]])
def test_bad_options_exit_2_with_usage(tmp_path, capsys, bad):
    src = save_png(tmp_path / "p.png")
    with pytest.raises(SystemExit) as e:
        main(["enhance", str(src), "-m", "bicubic", *bad])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and "error:" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png"]


def test_unknown_model_and_missing_input(tmp_path, capsys):
    src = save_png(tmp_path / "p.png")
    assert main(["enhance", str(src), "-m", "no-such-model"]) == 2
    err = capsys.readouterr().err
    assert err_lines(err) == [line for line in err_lines(err) if "unknown model 'no-such-model'" in line]
    assert len(err_lines(err)) == 1 and "bicubic" in err
    assert main(["enhance", str(tmp_path / "missing.png"), "-m", "bicubic"]) == 2
    err = capsys.readouterr().err
    assert len(err_lines(err)) == 1 and "missing.png" in err
    assert main(["enhance", str(tmp_path / "nothing"), "-m", "bicubic"]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["enhance", str(empty), "-m", "bicubic"]) == 2
    assert "no images found" in capsys.readouterr().err


def test_shards_split_the_work(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for k in range(5):
        save_png(src / f"img{k}.png", 6, 8, seed=k)
    for i in (0, 1):
        assert main(["enhance", str(src), "-m", "bicubic", "--shard", f"{i}/2", "-o", str(tmp_path / f"s{i}"),
                     "--quiet"]) == 0
    s0 = {p.name for p in (tmp_path / "s0").iterdir()}
    s1 = {p.name for p in (tmp_path / "s1").iterdir()}
    assert s0 and s1 and not s0 & s1
    assert s0 | s1 == {f"img{k}_srcnn.png" for k in range(5)}


def test_models_lists_bicubic(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("bicubic") for line in out.splitlines())


@pytest.mark.parametrize("card", available(), ids=lambda c: c.name)
def test_models_name_shows_the_card(card, capsys):
    assert main(["models", card.name]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{card.name}: ") and all(k in out for k in card.metrics)
    if card.members:  # a family: its members by scale, each with a card of its own
        assert all(f"x{k} {m}" in out for k, m in card.members.items())
    else:
        assert card.sha256 in out and "command " in out


def test_models_unknown_name_is_one_line(capsys):
    assert main(["models", "srcnn-x9"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'srcnn-x9'" in err and len(err.strip().splitlines()) == 1


# --------------------------------------------------------------------------------------------------------------
# Weights files: foreign .pth state dicts load; pickles with code are refused


@pytest.mark.parametrize("wrap", ["params_ema", "module", "plain"])
def test_foreign_pth_gives_the_same_output(tmp_path, wrap):
    st = tmp_path / "m.safetensors"
    m = make_weights(st, residual=False)  # a foreign .pth carries no metadata: plain (non-residual) SRCNN
    sd = {k: v.clone() for k, v in m.state_dict().items()}
    if wrap == "params_ema":
        obj = {"params_ema": sd}
    elif wrap == "module":
        obj = {"state_dict": {f"module.{k}": v for k, v in sd.items()}}
    else:
        obj = sd
    pth = tmp_path / "m.pth"
    torch.save(obj, pth)
    src = save_png(tmp_path / "p.png", 14, 18)
    for name, w in (("a.png", st), ("b.png", pth)):
        assert main(["enhance", str(src), "-m", str(w), "-s", "2", "-o", str(tmp_path / name), "--quiet"]) == 0
    a, b = read(tmp_path / "a.png").pixels, read(tmp_path / "b.png").pixels
    assert a.shape == (28, 36, 3)
    assert np.array_equal(a, b)


class Payload:
    """Unpickling this would run code (create a folder): weights_only=True must refuse it."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


class Plain:
    def __init__(self) -> None:
        self.value = 1


def _pickle_with(path: Path, obj: object) -> None:
    torch.manual_seed(0)
    sd = SRCNN(f2=1, n1=16, n2=8).state_dict()
    torch.save({"params": sd, "extra": obj}, path)


@pytest.mark.parametrize("kind", ["payload", "plain"])
def test_pickle_with_objects_is_refused(tmp_path, capsys, kind):
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.pth"
    _pickle_with(bad, Payload(str(marker)) if kind == "payload" else Plain())
    src = save_png(tmp_path / "p.png")
    rc = main(["enhance", str(src), "-m", str(bad)])
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err_lines(err)) == 1 and str(bad) in err and "Traceback" not in err
    assert not marker.exists()
    assert not (tmp_path / "p_srcnn.png").exists()


# --------------------------------------------------------------------------------------------------------------
# The installed entry points


def test_python_m_srcnn_help():
    r = subprocess.run([sys.executable, "-m", "srcnn", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0
    for cmd in ("enhance", "evaluate", "models", "train"):
        assert cmd in r.stdout


def test_console_script_error_is_one_line(tmp_path):
    script = Path(sys.executable).parent / "srcnn"
    if not script.exists():
        pytest.skip("the srcnn console script is not installed beside this Python")
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.pth"
    _pickle_with(bad, Payload(str(marker)))
    src = save_png(tmp_path / "p.png")
    r = subprocess.run([str(script), "enhance", str(src), "-m", str(bad)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert len(err_lines(r.stderr)) == 1 and r.stderr.startswith("srcnn: error:") and str(bad) in r.stderr
    assert not marker.exists()


def test_bad_quality_and_even_filter_weights_are_one_line_errors(tmp_path, capsys):
    img = tmp_path / "a.png"
    Image.fromarray(smooth_image(16, 16)).save(img)
    for args in (["enhance", str(img), "-m", "bicubic", "--quality", "0"],
                 ["evaluate", str(tmp_path), "-m", "bicubic", "--jpeg-quality", "101"]):
        with pytest.raises(SystemExit) as e:
            main(args)
        assert e.value.code == 2
    capsys.readouterr()
    even = {"conv1.weight": torch.zeros(8, 1, 8, 8), "conv1.bias": torch.zeros(8),
            "conv2.weight": torch.zeros(4, 8, 1, 1), "conv2.bias": torch.zeros(4),
            "conv3.weight": torch.zeros(1, 4, 5, 5), "conv3.bias": torch.zeros(1)}
    torch.save(even, tmp_path / "even.pth")
    assert main(["enhance", str(img), "-m", str(tmp_path / "even.pth"), "-o", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err
    assert "not a usable SRCNN" in err and "Traceback" not in err
    assert main(["demo", "--out", str(tmp_path / "d"), "-m", "no-such-model"]) == 2
    assert "unknown model" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------------------
# Fractional scales


def test_fractional_scale_writes_the_ceil_size(weights, tmp_path):
    src = save_png(tmp_path / "p.png", 17, 23)
    assert main(["enhance", str(src), "-m", str(weights), "-s", "1.5", "--quiet"]) == 0
    pic = read(tmp_path / "p_srcnn.png")
    assert pic.pixels.shape == (26, 35, 3)  # ceil(17 * 1.5) x ceil(23 * 1.5), MATLAB's rule
    assert main(["enhance", str(src), "-m", "bicubic", "-s", "2.0", "-o", str(tmp_path / "two.png"), "--quiet"]) == 0
    assert read(tmp_path / "two.png").pixels.shape == (34, 46, 3)
    assert main(["enhance", str(src), "-m", "bicubic", "--scale", "2.5", "-o", str(tmp_path / "b.png"), "--quiet"]) == 0
    assert read(tmp_path / "b.png").pixels.shape == (43, 58, 3)


@pytest.mark.parametrize("bad", ["0", "-1", "0.5", "nan", "inf", "9", "8.01", "1e9", "abc", ""])
def test_bad_scale_is_a_one_line_error(tmp_path, capsys, bad):
    src = save_png(tmp_path / "p.png")
    with pytest.raises(SystemExit) as e:
        main(["enhance", str(src), "-m", "bicubic", "-s", bad])
    assert e.value.code == 2
    err = capsys.readouterr().err
    errors = [line for line in err_lines(err) if "error:" in line]
    assert len(errors) == 1 and "Traceback" not in err
    assert "argument -s/--scale" in errors[0] and "from 1 to 8" in errors[0] and repr(bad) in errors[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png"]


def test_scale_validator_takes_the_range_ends():
    parse = float_in(1, 8)
    assert parse("1") == 1.0 and parse("8") == 8.0 and parse(" 1.5 ") == 1.5 and parse("2") == 2.0


def test_evaluate_scale_stays_whole(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["evaluate", str(tmp_path), "-m", "bicubic", "-s", "1.5"])
    assert e.value.code == 2
    assert "not a whole number" in capsys.readouterr().err
