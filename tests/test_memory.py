"""Memory bounded by the band, not by the photo (issue 19 item 1).

enhance_picture runs bicubic, colour, network and quantization band by band; the result must be the very same,
bit for bit, as with the whole picture in one band, on every path; RowResize must equal slicing imresize's whole
result; a big output stays under 1 GiB of peak RSS; the streamed output path (enhance_to_file, the CLI's) has a
peak that does not grow with the output size; the CLI refuses outputs over --max-output-pixels up front.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import srcnn._bands as bands_mod
from srcnn.checkpoint import save_weights
from srcnn.enhance import load_model
from srcnn.images import Picture
from srcnn.model import FSRCNN, SRCNN, CompactSR
from srcnn.resize import RowResize, imresize

from .reference_enhance import enhance_gray


@pytest.mark.parametrize("seed", range(4))
def test_row_resize_equals_slices_of_imresize(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(12):
        h, w, planes = int(rng.integers(1, 400)), int(rng.integers(1, 300)), int(rng.integers(1, 4))
        kind = int(rng.integers(0, 3))
        kw: dict = ({"scale": float(rng.choice([1.5, 2, 3, 1.25]))} if kind == 0 else
                    {"size": (int(rng.integers(1, 2 * h + 2)), int(rng.integers(1, 2 * w + 2)))} if kind == 1 else
                    {"size": (2 * h // 3 + 1, w)})
        x = torch.rand(h, w, planes).movedim(-1, 0)  # the layout of rgb_to_ycbcr's planes
        whole = imresize(x, **kw)
        plan = RowResize((h, w), **kw)
        assert plan.out_size == tuple(whole.shape[-2:])
        for _ in range(3):
            o0 = int(rng.integers(0, plan.out_size[0]))
            o1 = int(rng.integers(o0 + 1, plan.out_size[0] + 1))
            i0, i1 = plan.source_rows(o0, o1)
            got = plan.resize(x[:, i0:i1], i0, o0, o1)
            assert torch.equal(got, whole[:, o0:o1]), (h, w, planes, kw, o0, o1)


def _picture(h: int, w: int, channels: int, bits: int, alpha: bool, seed: int = 0) -> Picture:
    rng = np.random.default_rng(seed)
    top = 65535 if bits == 16 else 255
    yy, xx = np.mgrid[0:h, 0:w]
    base = (0.5 + 0.3 * np.sin(xx / 5.0) * np.cos(yy / 4.0))[..., None] + 0.1 * rng.standard_normal((h, w, channels))
    dtype = np.uint16 if bits == 16 else np.uint8
    px = np.clip(base * top, 0, top).round().astype(dtype)
    a = np.clip(xx / w * top + rng.integers(0, top // 8, (h, w)), 0, top).astype(dtype) if alpha else None
    return Picture(px, alpha=a)


@pytest.fixture(scope="module")
def enhancers(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    nets = {"fsrcnn2": (FSRCNN(d=8, s=4, m=1, scale=2), {}), "compact3": (CompactSR(width=8, depth=1, scale=3), {}),
            "srcnn": (SRCNN(n1=8, n2=4), {}), "srcnn_rgb": (SRCNN(channels=3, n1=8, n2=4), {}),
            "srcnn_gray": (SRCNN(n1=8, n2=4), {"color": "gray"})}
    out = {"bicubic": load_model("bicubic", device="cpu"), "srcnn-x2": load_model("srcnn-x2", device="cpu",
                                                                                  precision="fp32")}
    for name, (net, meta) in nets.items():
        save_weights(folder / f"{name}.safetensors", net, {"scale": 2, "task": "sr", **meta})
        out[name] = load_model(str(folder / f"{name}.safetensors"), device="cpu", precision="fp32")
    return out


PICTURES = {"rgb8": (37, 29, 3, 8, False), "gray8": (29, 37, 1, 8, False), "rgb16": (31, 23, 3, 16, False),
            "gray16a": (23, 31, 1, 16, True), "rgba8": (27, 33, 3, 8, True)}


@pytest.mark.parametrize("model", ["bicubic", "srcnn-x2", "fsrcnn2", "compact3", "srcnn", "srcnn_rgb", "srcnn_gray"])
def test_bands_equal_the_whole_picture(model: str, enhancers: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    enh = enhancers[model]
    for name, spec in PICTURES.items():
        pic = _picture(*spec)
        for s in (1, 1.5, 2, 3):
            monkeypatch.setattr(bands_mod, "BAND_PIXELS", 1 << 40)  # one band: the whole picture
            whole = enh.enhance_picture(pic, scale=s, tile=9)
            monkeypatch.setattr(bands_mod, "BAND_PIXELS", 1)  # a band per tile row (and per output row)
            ticks: list[int] = []
            banded = enh.enhance_picture(pic, scale=s, tile=9, progress=ticks.append)
            assert np.array_equal(banded.pixels, whole.pixels), (model, name, s)
            assert (banded.alpha is None) == (whole.alpha is None)
            if whole.alpha is not None:
                assert np.array_equal(banded.alpha, whole.alpha), (model, name, s)
            if enh.model is not None:
                assert ticks == list(range(1, enh.tile_count(*pic.pixels.shape[:2], s, 9) + 1))


def test_bands_equal_enhance_planes(enhancers: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Against the whole-image path that enhance_array keeps (bicubic on all planes at once, then the network)."""
    monkeypatch.setattr(bands_mod, "BAND_PIXELS", 1)
    pic = _picture(41, 35, 1, 8, False)
    for model in ("srcnn_gray", "fsrcnn2", "bicubic"):
        enh = enhancers[model]
        for s in (1.5, 2):
            got = enh.enhance_picture(pic, scale=s, tile=10).pixels[..., 0]
            ref = enhance_gray(enh, torch.from_numpy(pic.pixels[..., 0].astype(np.float32) / 255)[None], s, 10, None)
            want = (ref[0] * 255).round_().clamp_(0, 255).to(torch.uint8).numpy()
            assert np.array_equal(got, want), (model, s)


CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    from srcnn.enhance import load_model
    from srcnn.images import Picture
    rng = np.random.default_rng(0)
    px = np.empty((4000, 6000, 3), np.uint8)
    for y in range(0, 4000, 500):
        px[y : y + 500] = rng.integers(0, 256, (500, 6000, 3), dtype=np.uint8)
    out = load_model("bicubic", device="cpu").enhance_picture(Picture(px), scale=2)
    assert out.pixels.shape == (8000, 12000, 3)
    with open("/proc/self/status") as f:
        print([int(line.split()[1]) for line in f if line.startswith("VmHWM:")][0] // 1024)
""")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
def test_peak_rss_of_a_96_mp_output_stays_under_1_gib() -> None:
    r = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    peak_mib = int(r.stdout.split()[-1])
    assert peak_mib < 1024, f"peak RSS {peak_mib} MiB"


STREAM_CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    from srcnn.enhance import load_model
    from srcnn.images import Picture

    def mib(field):
        with open("/proc/self/status") as f:
            return [int(line.split()[1]) for line in f if line.startswith(field + ":")][0] / 1024

    height, out = int(sys.argv[1]), sys.argv[2]
    width = int(sys.argv[3]) if len(sys.argv) > 3 else 1024
    yy, xx = np.mgrid[0:height, 0:width]
    px = np.empty((height, width, 3), np.uint8)
    for c in range(3):
        px[:, :, c] = ((xx * (c + 1) + yy * 3) % 256).astype(np.uint8)  # cheap to deflate: the test stays quick
    del yy, xx
    enhancer = load_model("bicubic", device="cpu")
    enhancer.enhance_to_file(Picture(px[:64, :64]), out, scale=2)  # warm up: imports, thread pools
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # peak RSS (VmHWM) := the resident set now
    except OSError:
        print("no-clear-refs")
        sys.exit(0)
    before = mib("VmRSS")
    enhancer.enhance_to_file(Picture(px), out, scale=2)
    print(mib("VmHWM") - before)
""")


def _stream_peaks(shapes: list[tuple[int, int]], out: Path) -> list[float]:
    """STREAM_CHILD's peak RSS above the source (MiB) for each (height, width) source, in a fresh process each.

    glibc's dynamic mmap threshold is fixed for the child, so that heap fragmentation (which varies by tens of
    MiB from run to run) is not measured, only what the path holds.
    """
    import os

    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    peaks = []
    for height, width in shapes:
        r = subprocess.run([sys.executable, "-c", STREAM_CHILD, str(height), str(out), str(width)],
                           capture_output=True, text=True, timeout=600, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        if r.stdout.split()[-1] == "no-clear-refs":
            pytest.skip("/proc/self/clear_refs is not writable here")
        peaks.append(float(r.stdout.split()[-1]))
    return peaks


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
def test_streamed_output_peak_rss_does_not_grow_with_the_output_size(tmp_path: Path) -> None:
    """enhance_to_file (the CLI's path) at 4 MP and 17 MP PNG outputs: the same peak above the source.

    The output is 2048 px wide, so every band is the same 4 tile rows (2 MP) at both sizes; the source is made
    before the measurement. A result held whole would add 3 bytes per output pixel (+36 MiB here).
    """
    peaks = _stream_peaks([(1024, 1024), (4096, 1024)], tmp_path / "out.png")
    assert peaks[1] - peaks[0] < 16, f"peak RSS above the source: {peaks[0]:.0f} MiB at 4 MP, {peaks[1]:.0f} at 17 MP"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
def test_streamed_output_peak_rss_does_not_grow_with_the_width(tmp_path: Path) -> None:
    """A 20-MP PNG output 2,048 px wide and one 16,384 px wide: the same peak above the source (tiles are made
    lower for a wide picture, tiling.tile_shape; a band of one 256-px tile row would hold 4 MP, not 2)."""
    peaks = _stream_peaks([(4800, 1024), (600, 8192)], tmp_path / "out.png")
    assert peaks[1] - peaks[0] < 16, f"peak RSS above the source: {peaks[0]:.0f} MiB narrow, {peaks[1]:.0f} wide"


def test_cli_refuses_outputs_over_max_output_pixels(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from PIL import Image

    from srcnn.cli import main

    src = tmp_path / "p.png"
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(src)
    assert main(["enhance", str(src), "-m", "bicubic", "-s", "2", "--max-output-pixels", "7999", "--quiet"]) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "--max-output-pixels" in line]
    assert len(lines) == 1 and "100 x 80" in lines[0], err
    assert not (tmp_path / "p_srcnn.png").exists()
    assert main(["enhance", str(src), "-m", "bicubic", "-s", "2", "--max-output-pixels", "8000", "--quiet"]) == 0


def test_reading_a_large_photo_does_not_hold_its_pixels_twice(tmp_path: Path) -> None:
    """images.read of a 20-MP RGB PNG peaks at Pillow's image (4 bytes a px) plus the array (3): under 8 bytes a
    pixel over the process's baseline (Pillow's whole-image tobytes, joined from chunks, took about 10)."""
    from PIL import Image

    h, w = 4000, 5000
    y, x = np.mgrid[0:h, 0:w]
    Image.fromarray(np.stack([x % 256, y % 256, (x + y) % 256], -1).astype(np.uint8)).save(tmp_path / "big.png",
                                                                                          compress_level=1)
    code = textwrap.dedent(f"""
        def hwm():
            return int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) * 1024
        from srcnn.images import read
        base = hwm()
        pic = read({str(tmp_path / 'big.png')!r})
        print(hwm() - base, pic.pixels.flags.writeable)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    grown, writeable = out.stdout.split()
    assert int(grown) < 8 * h * w, f"read took {int(grown) / (h * w):.1f} bytes a pixel at its peak"
    assert writeable == "True"  # the Enhancer reads rows in place (a read-only source is copied by rows)


def test_reading_a_large_16_bit_photo_builds_its_samples_in_place(tmp_path: Path) -> None:
    """A 16-bit colour PNG is decoded by Pillow twice (high and low bytes, 4 bytes a px each) and joined strip by
    strip into the 6-byte array: under 18 bytes a pixel over the baseline (whole-image arrays and shifts took 26)."""
    from srcnn.images import Picture, read, write

    h, w = 2000, 3000
    y, x = np.mgrid[0:h, 0:w]
    px = np.stack([x * 21, y * 32, (x + y) * 13], -1).astype(np.uint16)
    write(tmp_path / "deep.png", Picture(px))
    code = textwrap.dedent(f"""
        def hwm():
            return int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) * 1024
        import numpy as np
        from srcnn.images import read
        base = hwm()
        pic = read({str(tmp_path / 'deep.png')!r})
        print(hwm() - base)
        np.save({str(tmp_path / 'got.npy')!r}, pic.pixels)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    grown = int(out.stdout.split()[-1])
    assert grown < 18 * h * w, f"read took {grown / (h * w):.1f} bytes a pixel at its peak"
    assert np.array_equal(np.load(tmp_path / "got.npy"), px) and read(tmp_path / "deep.png").bits == 16


def test_cli_holds_a_jpeg_result_whole_only_up_to_its_own_default(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """JPEG, WebP and BMP results are held whole until encoded: by default they stop at DEFAULT_MAX_HELD_PIXELS
    (100 MP: about 950 MiB peak at x2), with a line that says to write PNG or TIFF; PNG goes on to 400 MP."""
    from PIL import Image

    import srcnn.cli as cli

    monkeypatch.setattr(cli, "DEFAULT_MAX_HELD_PIXELS", 7999)  # the same rule on a 100 x 80 output
    src = tmp_path / "p.png"
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(src)
    jpg = tmp_path / "p.jpg"
    assert cli.main(["enhance", str(src), "-m", "bicubic", "-s", "2", "-o", str(jpg), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "held whole in memory" in err and "write .png or .tif" in err and not jpg.exists(), err
    assert cli.main(["enhance", str(src), "-m", "bicubic", "-s", "2", "-o", str(tmp_path / "p.png2.png"),
                     "--quiet"]) == 0
    assert cli.main(["enhance", str(src), "-m", "bicubic", "-s", "2", "-o", str(jpg), "--quiet",
                     "--max-output-pixels", "8000"]) == 0 and jpg.exists()
