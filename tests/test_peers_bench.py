"""benchmarks/peers.py: its quality function on a tiny image, and OpenCV's FSRCNN x3 on Set5 at the quoted figure."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import smooth_image

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT.parent / "shared" / "peers" / "opencv-dnn-superres"


def _load_script():
    """benchmarks/peers.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("srcnn_peers_bench", ROOT / "benchmarks" / "peers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


peers = _load_script()


@pytest.fixture(scope="module")
def fsrcnn_x3() -> object:
    """OpenCV's FSRCNN x3 graph as a peers.Method; skips without cv2.dnn_superres or the graphs."""
    if not peers.has_cv2():
        pytest.skip("cv2 with dnn_superres is not installed (pip install -e '.[bench]')")
    pb = PEERS / "FSRCNN_x3.pb"
    if not pb.is_file():
        if os.environ.get("SRCNN_REQUIRE_DATA") == "1":
            pytest.fail(f"SRCNN_REQUIRE_DATA=1 but {pb} is missing")
        pytest.skip(f"OpenCV graphs not found at {PEERS}")
    return peers.Method("OpenCV FSRCNN", "opencv", 3, str(pb), "fsrcnn")


def test_quality_tiny_image(tmp_path: Path, fsrcnn_x3: object) -> None:
    """Bicubic and an OpenCV graph both return RGB uint8 at the HR size and get finite protocol figures."""
    Image.fromarray(smooth_image(25, 31)).save(tmp_path / "a.png")  # mod-cropped to 24 x 30
    samples = peers.prepare([tmp_path / "a.png"], 3)
    assert samples[0].lr.shape == (8, 10, 3) and samples[0].lr.dtype == np.uint8
    for method in (peers.Method("bicubic (ours)", "bicubic", 3), fsrcnn_x3):
        run, _ = peers.build(method)
        assert run(samples[0].lr).shape == (24, 30, 3)
        q = peers.quality(run, samples, 3)
        assert np.isfinite(q["psnr"]) and 10 < q["psnr"] < 60 and 0 < q["ssim"] <= 1
        assert [r["name"] for r in q["per_image"]] == ["a.png"]


def test_opencv_fsrcnn_x3_set5(data_dir: Path, fsrcnn_x3: object) -> None:
    """OpenCV FSRCNN_x3 on Set5 x3 is about 30.6 dB (issue 16), our bicubic on the same inputs 30.39."""
    from srcnn.data import list_images

    samples = peers.prepare(list_images([data_dir / "Set5"], recursive=False), 3)
    fsrcnn = peers.quality(peers.build(fsrcnn_x3)[0], samples, 3, with_ssim=False)["psnr"]
    bicubic = peers.quality(peers.build(peers.Method("bicubic", "bicubic", 3))[0], samples, 3, with_ssim=False)
    assert abs(fsrcnn - 30.6) <= 0.3, fsrcnn
    assert abs(bicubic["psnr"] - 30.39) <= 0.05, bicubic["psnr"]
