"""Shipped models: every card has its weights file, the sha256 matches, and the model loads by name."""

from __future__ import annotations

import json

import pytest
import torch

from srcnn.enhance import load_model
from srcnn.files import sha256_file
from srcnn.zoo import available, weights_dir

CARDS = sorted(weights_dir().glob("*.json"))


def test_every_card_names_a_shipped_file_under_1_mb():
    names = {json.loads(p.read_text())["name"] for p in CARDS}
    for path in CARDS:
        card = json.loads(path.read_text())
        if "family" in card:  # a family card names its members, each a card of its own
            assert {"purpose", "scales", "scale"} <= set(card) and set(card["family"].values()) <= names
            continue
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
    assert model.name == card.member()
    x = torch.rand(1, model.model.config.channels, 40, 40)
    y = model(x)
    k = model.net_scale
    assert y.shape == (*x.shape[:2], 40 * k, 40 * k) and 0 <= float(y.min()) and float(y.max()) <= 1


def test_a_family_runs_the_member_of_the_nearest_scale_and_exists_only_when_all_ship(tmp_path, monkeypatch):
    """"real" is one name for real-x1/x2/x4: -s 3 runs the x4 net (then the bicubic down), -s 1.4 the x1 net."""
    import srcnn.zoo as zoo
    from srcnn.checkpoint import save_weights
    from srcnn.model import CompactSR

    for k in (1, 2, 4):
        m = CompactSR(3, 3, 4, 1, k, True)
        save_weights(tmp_path / f"fam-x{k}.safetensors", m, {"scale": k, "task": "photo"})
        (tmp_path / f"fam-x{k}.json").write_text(json.dumps({
            "name": f"fam-x{k}", "file": f"fam-x{k}.safetensors", "task": "photo", "scale": k,
            "sha256": sha256_file(tmp_path / f"fam-x{k}.safetensors")}))
    (tmp_path / "fam.json").write_text(json.dumps({
        "name": "fam", "family": {"1": "fam-x1", "2": "fam-x2", "4": "fam-x4"}, "scale": 2,
        "scales": {"min": 1, "max": 4}, "purpose": "Clean and enlarge a real photo"}))
    monkeypatch.setattr(zoo, "weights_dir", lambda: tmp_path)
    fam = zoo.card("fam")
    assert fam is not None and fam.scales.allows(3) and not fam.scales.allows(5)
    assert [fam.member(s) for s in (None, 1, 1.4, 1.5, 2, 2.9, 3, 4)] == [
        "fam-x2", "fam-x1", "fam-x1", "fam-x2", "fam-x2", "fam-x4", "fam-x4", "fam-x4"]
    enh = load_model("fam", device="cpu", scale=3)
    assert enh.name == "fam-x4" and enh.net_scale == 4
    assert load_model("fam", device="cpu").name == "fam-x2"
    (tmp_path / "fam-x4.safetensors").unlink()
    assert zoo.card("fam") is None and zoo.card("fam-x2") is not None


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


def test_one_default_scale_rule_for_files_cards_and_bicubic():
    from srcnn.zoo import default_scale

    assert default_scale(None) == 2 and default_scale(3) == 3 and default_scale(1.0) == 1
    assert default_scale([1.0, 4.0]) == 2  # a blind model: x2, as for a phone photo
    assert default_scale([3.0, 4.0]) == 3 and default_scale([1.0, 1.0]) == 1  # held within its range
