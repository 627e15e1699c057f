"""benchmarks/realistic.py on a tiny realistic benchmark built here (2 Set14 images) by the tool's own functions.

bench-data/ is git-ignored (absent on a clean clone, as in CI), so the test builds its part of the benchmark in
tmp_path with tools/make_realistic_bench.py's ``build`` and checks those bytes against the committed manifest
(byte for byte with the manifest's library versions and machine, else up to float rounding), then runs the
evaluation for bicubic and srcnn-photo.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    """A script (not part of the package) as a module."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


tool = _load("srcnn_make_realistic_bench", ROOT / "tools" / "make_realistic_bench.py")
bench = _load("srcnn_realistic_bench", ROOT / "benchmarks" / "realistic.py")


@pytest.fixture(scope="module")
def tiny(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 2 images of Set14 at x1, x2, x4, written as the tool writes them; checked against the manifest."""
    out = tmp_path_factory.mktemp("realistic")
    manifest = json.loads((ROOT / "benchmarks" / "realistic-bench.json").read_text())
    known = {(e["set"], e["image"], e["scale"]): e for e in manifest["images"]}
    # Bytes are the manifest's only with its library versions on a machine like its own: the degradation runs in
    # float32 and another CPU rounds a few pixels the other way. Elsewhere the pixels must still match.
    exact = tool.versions() == manifest["versions"] and tool.machine() == manifest["machine"]
    for set_name, stem, scale, seed, params, hr_png, lr_png in tool.build(
            data_dir, manifest["base_seed"], sets=("Set14",), limit=2):
        entry = known[(set_name, stem, scale)]
        assert seed == entry["seed"] and params.to_dict() == entry["params"]
        for kind, blob in (("hr", hr_png), ("lr", lr_png)):
            if exact:
                assert hashlib.sha256(blob).hexdigest() == entry[kind]["sha256"], entry[kind]["path"]
            assert tool.same_fingerprint(tool.png_fingerprint(blob), entry[kind]), entry[kind]["path"]
            f = out / entry[kind]["path"]
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(blob)
    return out


def test_samples_and_input_baseline(tiny: Path) -> None:
    from srcnn.images import read
    from srcnn.metrics import psnr_y, to_y_uint8

    for scale in (1, 2, 4):
        samples = bench.load_set(tiny, scale, "Set14")
        assert [s.name for s in samples] == ["baboon", "barbara"]
        for s in samples:
            assert s.lr.dtype == np.uint8 and s.lr.shape[2] == 3 and not s.gray
            assert (s.lr.shape[0] * scale, s.lr.shape[1] * scale) == s.hr_y.shape
    assert len(bench.load_set(tiny, 2, "Set14", limit=1)) == 1
    # x1: the input row is the degraded PNG itself against the HR, no border shaved
    samples = bench.load_set(tiny, 1, "Set14")
    q = bench.evaluate(bench.make_runner(bench.Method("input", "input", 1)), samples, 1)
    hr = to_y_uint8(read(tiny / "1" / "Set14" / "HR" / "baboon.png").pixels)
    lr = to_y_uint8(read(tiny / "1" / "Set14" / "LR" / "baboon.png").pixels)
    assert q["per_image"][0]["psnr"] == pytest.approx(psnr_y(hr, lr, 0))
    assert 10 < q["psnr"] < 40 and 0 < q["ssim"] < 1


def test_bicubic_and_srcnn_photo_table(tiny: Path, capsys: pytest.CaptureFixture) -> None:
    assert [(m.name, m.scale) for m in bench.list_methods([1, 2, 4], [], peers=None)] == [
        ("input", 1), ("srcnn-photo", 1), ("bicubic (ours)", 2), ("srcnn-photo", 2),
        ("bicubic (ours)", 4), ("srcnn-photo", 4)]
    methods = bench.list_methods([1, 4], [], peers=None)  # x2 below, through the command line
    report = bench.run_benchmark(tiny, methods, ["Set14"], with_ssim=False)
    assert set(report) == {"1", "4"}
    for key, rows in report.items():
        for r in rows:
            q = r["quality"]["Set14"]
            assert len(q["per_image"]) == 2 and all(math.isfinite(x["psnr"]) for x in q["per_image"])
            assert 10 < q["psnr"] < 40 and q["ssim"] is None
        # srcnn-photo differs from its baseline (it ran), but not by a wild amount on a degraded input
        assert 0 < abs(rows[1]["quality"]["Set14"]["psnr"] - rows[0]["quality"]["Set14"]["psnr"]) < 3, key
        table = bench.format_table(int(key), rows, ["Set14"])
        assert table.count("\n| ") == 3 and "| +0.00 |" in table
    # no --models entry: every target is "not checked"
    text = bench.format_targets(bench.check_targets(report, ["Set14"]))
    assert text.count("not checked") == 2 + 3
    # the command line on the same folder (no manifest check: the tiny benchmark is a part of it)
    out = tiny / "r.json"
    assert bench.main(["--bench", str(tiny), "--scales", "2", "--sets", "Set14", "--no-opencv", "--no-ssim",
                       "--no-verify", "--json", str(out)]) == 0
    saved = json.loads(out.read_text())
    rows = saved["results"]["2"]
    assert [r["name"] for r in rows] == ["bicubic (ours)", "srcnn-photo"]
    assert 0 < abs(rows[1]["quality"]["Set14"]["psnr"] - rows[0]["quality"]["Set14"]["psnr"]) < 3
    printed = capsys.readouterr().out
    assert "| bicubic (ours) |" in printed and "x2 vs bicubic (ours) (target +1.5 dB): not checked" in printed


def test_targets_verdicts() -> None:
    def row(name: str, kind: str, *psnr: float) -> dict:
        return {"name": name, "kind": kind,
                "quality": {s: {"psnr": p, "ssim": None} for s, p in zip(("A", "B"), psnr, strict=True)}}

    report = {"2": [row("bicubic (ours)", "bicubic", 20.0, 20.0), row("srcnn-photo", "ours", 20.5, 20.1),
                    row("OpenCV FSRCNN", "opencv", 20.2, 20.0), row("weak", "ours", 20.1, 20.1),
                    row("new", "ours", 22.0, 21.2)]}
    items = bench.check_targets(report, ["A", "B"])
    assert [(i["against"], i["model"], i["met"]) for i in items] == [
        ("bicubic (ours)", "new", True), ("srcnn-photo", "new", True), ("OpenCV FSRCNN", "new", True)]
    assert items[0]["gain"] == pytest.approx(1.6) and items[0]["per_set"] == pytest.approx({"A": 2.0, "B": 1.2})
    text = bench.format_targets(items).splitlines()
    assert text[0].endswith("met on the mean (not on B)") and "+1.60 dB" in text[0]
    assert text[1].endswith("met (on every set too)")
    assert text[2].startswith("x2 vs OpenCV FSRCNN (target +1.0 dB): new +1.50 dB")
    report["2"][-1]["quality"]["A"]["psnr"] = 20.6
    assert [i["met"] for i in bench.check_targets(report, ["A", "B"])] == [False, False, False]


def test_opencv_gray_in_gray_out() -> None:
    if not bench.has_cv2():
        pytest.skip("cv2 with dnn_superres is not installed (pip install -e '.[bench]'): OpenCV rows not tested")
    pb = bench.PEERS_DIR / "FSRCNN_x2.pb"
    if not pb.is_file():
        pytest.skip(f"{pb} not found")
    run = bench.make_runner(bench.Method("OpenCV FSRCNN", "opencv", 2, str(pb), "fsrcnn"))
    gray = (np.arange(24 * 20, dtype=np.uint8).reshape(24, 20, 1) * 3)
    out = run(gray)
    assert out.shape == (48, 40, 1) and out.dtype == np.uint8
    rgb = run(np.repeat(gray, 3, axis=2))
    assert rgb.shape == (48, 40, 3)
    assert np.array_equal(out[:, :, 0], np.round(rgb.mean(axis=2)).astype(np.uint8))
