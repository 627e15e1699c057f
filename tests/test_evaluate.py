"""`srcnn evaluate` reproduces the paper's bicubic baselines and writes the documented JSON and Markdown."""

from __future__ import annotations

import json

import pytest

from srcnn.cli import main

# SRCNN TPAMI 2016, Tables 2-3 (bicubic rows): Y-PSNR (dB) per data set and scale.
PAPER_BICUBIC_PSNR = {
    ("Set5", 2): 33.66, ("Set5", 3): 30.39, ("Set5", 4): 28.42,
    ("Set14", 2): 30.23, ("Set14", 3): 27.54, ("Set14", 4): 26.00,
}  # fmt: skip
PAPER_BICUBIC_SSIM_SET5_X3 = 0.8682

RESULT_KEYS = {"dataset", "scale", "jpeg_quality", "images", "psnr", "ssim", "baseline_psnr", "baseline_ssim",
               "per_image"}
IMAGE_KEYS = {"name", "psnr", "ssim", "baseline_psnr", "baseline_ssim"}


def check_schema(report: dict) -> None:
    assert set(report) == {"model", "results"} and isinstance(report["model"], str)
    assert isinstance(report["results"], list) and report["results"]
    for r in report["results"]:
        assert set(r) == RESULT_KEYS
        assert isinstance(r["dataset"], str) and type(r["scale"]) is int and type(r["images"]) is int
        assert r["jpeg_quality"] is None or type(r["jpeg_quality"]) is int
        for k in ("psnr", "ssim", "baseline_psnr", "baseline_ssim"):
            assert type(r[k]) is float
        assert len(r["per_image"]) == r["images"]
        for row in r["per_image"]:
            assert set(row) == IMAGE_KEYS and isinstance(row["name"], str)
            assert all(type(row[k]) is float for k in IMAGE_KEYS - {"name"})


@pytest.fixture(scope="module")
def bicubic_reports(data_dir, tmp_path_factory) -> dict[int, dict]:
    """One `srcnn evaluate -m bicubic Set5 Set14 -s S --json` run per scale."""
    out = tmp_path_factory.mktemp("eval")
    reports = {}
    for s in (2, 3, 4):
        path = out / f"x{s}.json"
        assert main(["evaluate", "-m", "bicubic", str(data_dir / "Set5"), str(data_dir / "Set14"), "-s", str(s),
                     "--device", "cpu", "--json", str(path)]) == 0
        reports[s] = json.loads(path.read_text())
    return reports


@pytest.mark.parametrize("dataset,scale", sorted(PAPER_BICUBIC_PSNR))
def test_bicubic_psnr_matches_the_paper(bicubic_reports, dataset, scale):
    (r,) = [r for r in bicubic_reports[scale]["results"] if r["dataset"] == dataset]
    assert r["scale"] == scale and r["jpeg_quality"] is None
    assert r["images"] == {"Set5": 5, "Set14": 14}[dataset]
    assert r["baseline_psnr"] == pytest.approx(PAPER_BICUBIC_PSNR[dataset, scale], abs=0.02)
    assert r["psnr"] == r["baseline_psnr"] and r["ssim"] == r["baseline_ssim"]  # the model is the baseline


def test_bicubic_ssim_matches_the_paper(bicubic_reports):
    (r,) = [r for r in bicubic_reports[3]["results"] if r["dataset"] == "Set5"]
    assert r["baseline_ssim"] == pytest.approx(PAPER_BICUBIC_SSIM_SET5_X3, abs=0.002)


def test_json_schema(bicubic_reports):
    report = bicubic_reports[2]
    check_schema(report)
    assert report["model"] == "bicubic"
    assert [r["dataset"] for r in report["results"]] == ["Set5", "Set14"]
    names = [row["name"] for row in report["results"][0]["per_image"]]
    assert names == sorted(names) and "butterfly.png" in names
    r = report["results"][0]
    assert r["psnr"] == pytest.approx(sum(row["psnr"] for row in r["per_image"]) / r["images"])


def test_markdown_table_and_stdout(data_dir, tmp_path, capsys):
    md = tmp_path / "report" / "bicubic.md"
    assert main(["evaluate", "-m", "bicubic", str(data_dir / "Set5"), "-s", "3", "--device", "cpu",
                 "--markdown", str(md)]) == 0
    out = capsys.readouterr().out
    assert "Set5" in out and "30.39" in out
    lines = md.read_text().splitlines()
    assert lines[0].startswith("| dataset |") and "bicubic" in lines[0]
    assert set(lines[1].replace("|", "")) == {"-"}
    (row,) = [line for line in lines[2:] if line.startswith("| Set5 ")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:4] == ["Set5", "x3", "5", "bicubic x3"] and cells[4].startswith("30.39 / 0.868")
    assert len(cells) == len(lines[0].strip("|").split("|"))


def test_report_labels_and_tables_have_one_home():
    """The task and baseline labels and the Markdown rows that `srcnn evaluate --markdown` and `make results` write."""
    from srcnn.evaluate import DatasetResult, baseline_label, markdown_table, task_label, to_markdown, to_table
    from srcnn.results import model_table

    assert [task_label(3, None), task_label(1, 20), task_label(1, 20, jpeg_word=True)] == ["x3", "q20", "JPEG q20"]
    assert [baseline_label(3, None), baseline_label(3, None, with_scale=False), baseline_label(1, 20)] == [
        "bicubic x3", "bicubic", "JPEG q20"]
    assert markdown_table(["a", "b"], [["1", "2"]]) == ["| a | b |", "|---|---|", "| 1 | 2 |"]
    sr = DatasetResult("Set5", 3, None, 5, 31.234, 0.88121, 30.39, 0.8682)
    jp = DatasetResult("LIVE1", 1, 20, 29, 31.5, 0.87, 30.1, 0.85)
    assert to_markdown("m", [sr, jp]).splitlines()[2:] == [
        "| Set5 | x3 | 5 | bicubic x3 | 30.39 / 0.8682 | 31.23 / 0.8812 | +0.84 |",
        "| LIVE1 | JPEG q20 | 29 | JPEG q20 | 30.10 / 0.8500 | 31.50 / 0.8700 | +1.40 |"]
    assert [line.split()[1] for line in to_table("m", [sr, jp]).splitlines()[2:]] == ["x3", "q20"]
    assert model_table("m", [sr, jp], "SRCNN")[2:] == [
        "| m | Set5 | x3 | bicubic 30.39 / 0.8682 | **31.23 / 0.8812** | +0.84 | SRCNN 32.75 / 0.9090 |",
        "| m | LIVE1 | q20 | JPEG q20 30.10 / 0.8500 | **31.50 / 0.8700** | +1.40 | SRCNN 31.29 / 0.8733 |"]


def test_jpeg_task_on_classic5(data_dir, tmp_path):
    path = tmp_path / "q20.json"
    assert main(["evaluate", "-m", "bicubic", str(data_dir / "Classic5"), "--jpeg-quality", "20",
                 "--device", "cpu", "--json", str(path)]) == 0
    report = json.loads(path.read_text())
    check_schema(report)
    (r,) = report["results"]
    assert r["dataset"] == "Classic5" and r["jpeg_quality"] == 20 and r["images"] == 5 and r["scale"] == 1
    assert r["psnr"] == r["baseline_psnr"] and r["ssim"] == r["baseline_ssim"]
    assert 29.0 < r["baseline_psnr"] < 31.0
    assert 0.75 < r["baseline_ssim"] < 0.9


def test_evaluate_errors_are_one_line(tmp_path, capsys):
    assert main(["evaluate", "-m", "bicubic", str(tmp_path / "nope"), "-s", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a folder" in err
    assert main(["evaluate", "-m", "no-such-model", str(tmp_path), "-s", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown model" in err
    assert main(["evaluate", "-m", "bicubic", str(tmp_path), "-s", "2"]) == 2  # a folder with no images
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no images" in err and "Traceback" not in err


def test_evaluate_a_weights_file(data_dir, tmp_path):
    """A network model: the baseline is still bicubic, the model's own numbers differ, the name is the file stem."""
    import torch

    from srcnn.checkpoint import save_weights
    from srcnn.model import SRCNN

    torch.manual_seed(0)
    w = tmp_path / "tiny.safetensors"
    save_weights(w, SRCNN(f2=1, n1=16, n2=8, residual=True), {"scale": 3, "task": "sr"})
    path = tmp_path / "r.json"
    assert main(["evaluate", "-m", str(w), str(data_dir / "Set5"), "--device", "cpu", "--json", str(path)]) == 0
    report = json.loads(path.read_text())
    check_schema(report)
    (r,) = report["results"]
    assert report["model"] == "tiny" and r["scale"] == 3
    assert r["baseline_psnr"] == pytest.approx(PAPER_BICUBIC_PSNR["Set5", 3], abs=0.02)
    assert r["psnr"] != r["baseline_psnr"]


def test_rgb_networks_are_evaluated_on_rgb_as_in_training(data_dir):
    """A 3-channel network gets the RGB image (as training and validation feed it), not gray copied to RGB."""
    import torch

    from srcnn.enhance import Enhancer
    from srcnn.evaluate import evaluate_dataset
    from srcnn.model import ModelConfig

    class RedEverywhere(torch.nn.Module):  # its output's every channel is the input's red
        arch, upsampling, scale, receptive_radius = "test", "pre", 1, 0
        config = ModelConfig(channels=3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, :1].expand(-1, 3, -1, -1)

    class Identity(RedEverywhere):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    cpu = torch.device("cpu")
    same = evaluate_dataset(Enhancer("identity", Identity(), 3, {}, cpu), data_dir / "Set5", 3)
    assert same.psnr == pytest.approx(same.baseline_psnr, abs=1e-9)
    assert same.baseline_psnr == pytest.approx(30.39, abs=0.01)  # the protocol's bicubic x3, from RGB
    red = evaluate_dataset(Enhancer("red", RedEverywhere(), 3, {}, cpu), data_dir / "Set5", 3)
    assert red.psnr < red.baseline_psnr - 1  # gray copied to RGB would hide it: R = G = B = Y in, Y out
