"""The bf16 path: chosen at run time where the CPU has bf16 units, within 0.01 dB of fp32 for every shipped model."""

from __future__ import annotations

import pytest
import torch

from srcnn.device import cpu_bf16, resolve_precision
from srcnn.enhance import load_model
from srcnn.evaluate import evaluate_dataset
from srcnn.tiling import forward_whole
from srcnn.zoo import available

CPU = torch.device("cpu")


def test_auto_picks_bf16_only_where_the_cpu_has_it():
    assert resolve_precision("auto", CPU) == ("bf16" if cpu_bf16() else "fp32")
    assert resolve_precision("fp32", CPU) == "fp32" and resolve_precision("bf16", CPU) == "bf16"
    assert load_model("srcnn-x3", device="cpu").precision == "fp32"  # the library's default: the same everywhere
    assert load_model("bicubic", precision="bf16").precision == "fp32"  # nothing to run in bf16


def test_fp32_is_exactly_the_plain_forward_pass():
    """fp32 keeps today's numbers: the fast runner equals the network's own forward pass (on the picture extended by
    its edge px, as the tiler does) to float rounding."""
    e = load_model("srcnn-x3", device="cpu", precision="fp32")
    x = torch.rand(1, 1, 70, 90)
    ref = forward_whole(e.model, x, e.receptive_radius).clamp(0, 1)
    assert (e(x, tile=32) - ref).abs().max().item() < 1e-5


def _tasks(card) -> list[tuple[str, int, int | None]]:
    if card.task == "jpeg" or card.scale == 1:  # a same-size model: on JPEG artefacts
        return [("Set5", 1, 20), ("Set14", 1, 20)]
    return [("Set5", int(card.scale), None), ("Set14", int(card.scale), None)]


@pytest.mark.slow
@pytest.mark.skipif(not cpu_bf16(), reason="this CPU has no bf16 units (AMX or AVX512-BF16): bf16 would be emulated")
@pytest.mark.parametrize("name", [c.name for c in available() if not c.members])  # a family: its members
def test_bf16_changes_y_psnr_by_at_most_001_db(name, data_dir):
    card = next(c for c in available() if c.name == name)
    fp32 = load_model(name, device="cpu", precision="fp32")
    bf16 = load_model(name, device="cpu", precision="bf16")
    for folder, scale, q in _tasks(card):
        a = evaluate_dataset(fp32, data_dir / folder, scale, q).psnr
        b = evaluate_dataset(bf16, data_dir / folder, scale, q).psnr
        assert abs(a - b) <= 0.01, f"{name} {folder}: fp32 {a:.4f} dB, bf16 {b:.4f} dB"
