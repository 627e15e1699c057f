"""Malformed images never crash, hang or leave half-written files: the crafted corpus plus a short seeded fuzz.

The engine is benchmarks/fuzz.py (``make fuzz`` runs it long: 10,000 inputs per path); here a few hundred inputs
per path run in the normal suite, plus hypothesis on raw bytes, structured PNGs and mutated seed files.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from srcnn.cli import main
from srcnn.images import INPUT_EXTENSIONS, OUTPUT_EXTENSIONS, ImageError, read

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "corpus"
EXPECT: dict[str, dict] = json.loads((CORPUS / "expect.json").read_text())
CLI_EXTENSIONS = set(INPUT_EXTENSIONS)  # folder mode takes what read() takes
TIME_LIMIT = 5.0  # seconds per input

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL")  # Pillow's notes on the corrupt files


def _load_engine():
    spec = importlib.util.spec_from_file_location("srcnn_fuzz_engine", ROOT / "benchmarks" / "fuzz.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


fuzz = _load_engine()


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread: these tests run many tiny ops, which extra threads only slow down on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def pool() -> list:
    return fuzz.seed_files() + fuzz.corpus_files(CORPUS)


def err_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def check_picture(pic, max_pixels: int | None = None) -> None:
    """What every caller relies on: HxWxC (C 1 or 3) uint8/uint16, a plain C array, alpha to match, limit kept."""
    px = pic.pixels
    assert px.ndim == 3 and px.shape[2] in (1, 3) and px.dtype in (np.uint8, np.uint16) and min(px.shape[:2]) >= 1
    assert px.flags.c_contiguous and min(px.strides) >= 0  # torch.from_numpy refuses negative strides
    if pic.alpha is not None:
        assert pic.alpha.shape == px.shape[:2] and pic.alpha.dtype == px.dtype
    if max_pixels is not None:
        assert px.shape[0] * px.shape[1] <= max_pixels


# --------------------------------------------------------------------------------------------------------------
# The crafted corpus


def test_corpus_is_small_and_described():
    files = sorted(p.name for p in CORPUS.iterdir() if p.name != "expect.json")
    assert files == sorted(EXPECT)
    assert sum(p.stat().st_size for p in CORPUS.iterdir()) < 300_000


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_corpus_file_reads_or_is_refused_in_one_line(name):
    expect, path = EXPECT[name], CORPUS / name
    try:
        pic = read(path)
    except ImageError as e:
        message = str(e)
        assert expect["outcome"] in ("refused", "either"), f"{name} refused: {message}"
        assert message.startswith(f"{path}: ") and "\n" not in message
        assert expect.get("reason", "") in message
        return
    assert expect["outcome"] in ("ok", "either"), f"{name} was accepted ({pic.width}x{pic.height})"
    check_picture(pic)
    if expect["outcome"] == "ok":
        assert [pic.width, pic.height] == expect["size"]
        assert pic.bits == expect.get("bits", pic.bits), f"{name}: {pic.bits}-bit"
        assert (pic.alpha is not None) == expect.get("alpha", pic.alpha is not None), f"{name}: alpha lost"


def test_corpus_has_the_round_2_cases():
    """Formats only folder mode used to miss, kept-as-promised formats, and a TIFF libtiff complains about."""
    for name in ("mode_p_gif.gif", "mode_rgb_tga.tga", "mode_rgb_ppm.ppm", "mode_rgb_psd.psd",
                 "mode_rgba128_bmp_ico.ico", "mode_rgba16_assoc_tif.tif", "mode_bw_trns_png.png",
                 "tiff_short_strip.tif"):
        assert name in EXPECT, name
        assert Path(name).suffix in CLI_EXTENSIONS
    assert EXPECT["mode_rgba16_assoc_tif.tif"]["bits"] == 16 and EXPECT["mode_bw_trns_png.png"]["alpha"]


def test_exif_orientations_turn_the_pixels_like_pillow():
    """All 8 orientations give the pixels Pillow's exif_transpose gives (and orientation 1 after)."""
    from PIL import ImageOps

    for o in range(1, 9):
        path = CORPUS / f"exif_orientation_{o}.jpg"
        want = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
        pic = read(path)
        assert np.array_equal(pic.pixels, want), o
        exif = Image.Exif()
        exif.load(pic.exif)
        assert exif.get(0x0112, 1) == 1 and exif.get(0x010F) == "srcnn-fuzz"


@pytest.mark.parametrize("name", ["anim.gif", "apng.png", "anim.webp", "pages.tif"])
def test_animations_and_pages_give_the_first_frame(name):
    want = np.asarray(Image.open(CORPUS / name).convert("RGB"))  # frame 0
    assert np.array_equal(read(CORPUS / name).pixels, want)


@pytest.mark.parametrize("fmt, side", [("JPEG", 65500), ("WEBP", 16383)])
def test_output_too_large_for_its_format_is_a_clear_refusal(fmt, side):
    """A 1 x 40000 photo at 2x is 80000 px tall: JPEG/WebP cannot hold it; say so instead of a codec error."""
    from srcnn.images import Picture, encode

    assert encode(Picture(np.zeros((side, 1, 3), np.uint8)), fmt)
    with pytest.raises(ImageError, match=f"too large for {fmt} .* write PNG or TIFF instead"):
        encode(Picture(np.zeros((side + 1, 1, 3), np.uint8)), fmt)


def _copy_corpus(dest: Path) -> dict[str, tuple[bytes, int]]:
    dest.mkdir()
    for name in EXPECT:
        shutil.copy2(CORPUS / name, dest / name)
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in dest.iterdir()}


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if p.is_file() and (p.name.startswith(".") or "tmp" in p.name)]


def test_enhance_on_the_corpus_folder(tmp_path, capsys):
    """One `srcnn enhance` over the whole corpus: good files give full 2x outputs, each bad one a single line."""
    src, out = tmp_path / "corpus", tmp_path / "out"
    before = _copy_corpus(src)
    rc = main(["enhance", str(src), "-o", str(out), "-m", "bicubic", "-s", "2", "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in src.iterdir()} == before  # inputs untouched
    assert _leftovers(out) == []
    for name, expect in EXPECT.items():
        if Path(name).suffix.lower() not in CLI_EXTENSIONS:
            continue
        stem, ext = Path(name).stem, Path(name).suffix.lower()
        out_ext = ext if ext in OUTPUT_EXTENSIONS and ext != ".bmp" else ".png"  # GIF, TGA, ... give PNG
        outputs = list(out.glob(f"{stem}_srcnn{out_ext}"))
        lines = [line for line in err_lines(err) if f"/{name}:" in line or f"/{stem}_srcnn{out_ext}" in line]
        if expect["outcome"] == "refused" or (expect["outcome"] == "either" and not outputs):
            assert outputs == [] and len(lines) == 1 and lines[0].startswith("srcnn: skipped"), (name, lines)
        else:
            assert len(outputs) == 1 and lines == [], (name, lines)
            pic = read(outputs[0])
            if expect["outcome"] == "ok":
                assert [pic.width, pic.height] == [2 * v for v in expect["size"]], name


def test_prepare_on_the_corpus_folder(tmp_path, capsys):
    """`srcnn prepare` over the corpus: each readable photo gives 4 whole pairs, each bad one a 'skipped' line."""
    src, out = tmp_path / "corpus", tmp_path / "pairs"
    before = _copy_corpus(src)
    rc = main(["prepare", str(src), str(out), "--size", "16", "--tile", "8", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in src.iterdir()} == before
    manifest = (out / "manifest.csv").read_text().splitlines()[1:]
    pairs = sorted(out.rglob("*.png"))
    assert len(pairs) == len(manifest) and _leftovers(out) == []
    assert all(read(p).pixels.shape[:2] == (8, 16) for p in pairs)
    skipped = {line.split(":")[0].removeprefix("skipped ") for line in err_lines(err)}
    assert all(line.startswith("skipped ") for line in err_lines(err))
    for name, expect in EXPECT.items():
        if Path(name).suffix.lower() not in CLI_EXTENSIONS:
            continue
        if expect["outcome"] == "refused":
            assert name in skipped, name
        elif expect["outcome"] == "ok":
            assert name not in skipped, name
            assert sum(f",{name}," in row for row in manifest) == 4, name


# --------------------------------------------------------------------------------------------------------------
# A short seeded mutation fuzz (the long one: `make fuzz`)


@pytest.mark.parametrize("path, n", [("read", 1500), ("enhance", 400), ("prepare", 300), ("folder", 20)])
def test_short_fuzz(path, n, pool, tmp_path):
    """Mutated files through each path: no traceback, no input over the time limit, no partial output, no raw
    C-library line on stderr. The folder path runs every pool file first (then n mutations), each in a folder with
    a twin of its stem, a 238-255-byte name, -o inside the input tree run twice, or a FIFO named directly."""
    start = 0 if path == "folder" else len(pool)
    n = n + len(pool) if path == "folder" else n
    tally = fuzz.fuzz_path(path, n, seed=1, limit=TIME_LIMIT, pool=pool, work=tmp_path, start=start)
    assert tally.inputs == n
    assert tally.c_stderr_lines == 0
    if path == "folder":
        assert all(tally.scenes.get(k, 0) >= 5 for k in ("twin", "long_name", "out_inside_tree", "fifo")), tally.scenes
    assert tally.failures == [], "\n".join(f"#{i} {kind}: {how} -> {detail}" for i, kind, how, detail in
                                           tally.failures)
    assert tally.accepted > n // 10 and tally.refused > n // 10  # the fuzz reaches both outcomes
    assert tally.slowest_cpu < TIME_LIMIT


# --------------------------------------------------------------------------------------------------------------
# Hypothesis: raw bytes, structured PNGs, mutated seeds

FUZZ_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                         derandomize=True)


def _read_or_refuse(data: bytes, max_pixels: int = 1_000_000) -> None:
    try:
        pic = read(data, max_pixels=max_pixels)
    except ImageError as e:
        assert str(e).startswith("<bytes>: ") and "\n" not in str(e)
        return
    check_picture(pic, max_pixels)


@FUZZ_SETTINGS
@given(st.binary(max_size=2048))
def test_any_bytes_read_or_refuse(data):
    _read_or_refuse(data)


@FUZZ_SETTINGS
@given(
    width=st.one_of(st.integers(0, 40), st.sampled_from([65535, 100000, 2**31 - 1, 2**32 - 1])),
    height=st.one_of(st.integers(0, 40), st.sampled_from([65535, 100000, 2**31 - 1, 2**32 - 1])),
    depth=st.sampled_from([1, 2, 4, 8, 16, 0, 3, 255]),
    color=st.sampled_from([0, 2, 3, 4, 6, 1, 5]),
    interlace=st.sampled_from([0, 1, 2]),
    rows=st.binary(max_size=600),
    compress=st.booleans(),
    extra=st.lists(st.tuples(st.sampled_from([b"PLTE", b"tRNS", b"eXIf", b"iCCP", b"acTL", b"fcTL", b"zzZZ"]),
                             st.binary(max_size=40)), max_size=3),
)
def test_structured_pngs_read_or_refuse(width, height, depth, color, interlace, rows, compress, extra):
    """PNGs with valid CRCs and any IHDR (sizes up to 2^32-1, bad depths/colour types) and odd chunks."""
    ihdr = fuzz.ihdr_data(width, height, depth, color, interlace)
    idat = zlib.compress(rows) if compress else rows
    _read_or_refuse(fuzz.png_bytes([(b"IHDR", ihdr), *extra, (b"IDAT", idat), (b"IEND", b"")]))


@FUZZ_SETTINGS
@given(st.data())
def test_mutated_seed_files_read_or_refuse(pool, data):
    base = data.draw(st.sampled_from(pool), label="seed")
    rng = data.draw(st.randoms(use_true_random=False), label="rng")
    mutated, _how = fuzz.mutate(rng, base.data)
    _read_or_refuse(mutated)
