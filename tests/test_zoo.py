"""Shipped models: every card has its weights file, the sha256 matches, and the model loads by name."""

from __future__ import annotations

import json

import pytest
import torch

from srcnn.checkpoint import sha256_file
from srcnn.enhance import load_model
from srcnn.zoo import available, weights_dir

CARDS = sorted(weights_dir().glob("*.json"))


def test_every_card_names_a_shipped_file_under_1_mb():
    for path in CARDS:
        card = json.loads(path.read_text())
        f = weights_dir() / card["file"]
        assert f.is_file(), f"{path.name}: {card['file']} missing"
        assert f.stat().st_size < 1 << 20
        assert {"sha256", "task", "scale", "steps", "wall_time_s", "hardware", "commands", "metrics"} <= set(card)
    assert len(available()) == len(CARDS)


@pytest.mark.parametrize("card", available(), ids=lambda c: c.name)
def test_shipped_model_loads_by_name_and_matches_its_card(card):
    assert sha256_file(card.path) == card.sha256
    model = load_model(card.name, device="cpu")
    assert model.model is not None and model.scale == card.scale
    x = torch.rand(1, 1, 40, 40)
    y = model(x)
    assert y.shape == x.shape and 0 <= float(y.min()) and float(y.max()) <= 1


@pytest.mark.skipif(not any(c.name == "srcnn-x3" for c in available()), reason="srcnn-x3 is not shipped")
def test_srcnn_x3_reaches_the_paper_on_set5(data_dir):
    from srcnn.evaluate import evaluate_dataset

    r = evaluate_dataset(load_model("srcnn-x3", device="cpu"), data_dir / "Set5", scale=3)
    assert r.baseline_psnr == pytest.approx(30.39, abs=0.02)
    assert r.psnr >= 32.70, r.psnr


def _shipped(name: str) -> bool:
    return any(c.name == name for c in available())


@pytest.mark.skipif(not _shipped("srcnn-jpeg"), reason="srcnn-jpeg is not shipped")
def test_srcnn_jpeg_beats_the_jpeg_input_on_classic5_q20_by_1_db(data_dir):
    from srcnn.evaluate import evaluate_dataset

    r = evaluate_dataset(load_model("srcnn-jpeg", device="cpu"), data_dir / "Classic5", scale=1, jpeg_quality=20)
    assert r.psnr >= r.baseline_psnr + 1.0, (r.psnr, r.baseline_psnr)


@pytest.mark.skipif(not _shipped("srcnn-photo"), reason="srcnn-photo is not shipped")
@pytest.mark.parametrize("scale", [2, 3])
def test_srcnn_photo_beats_bicubic_on_set5(data_dir, scale):
    from srcnn.evaluate import evaluate_dataset

    r = evaluate_dataset(load_model("srcnn-photo", device="cpu"), data_dir / "Set5", scale=scale)
    assert r.psnr > r.baseline_psnr, (r.psnr, r.baseline_psnr)
