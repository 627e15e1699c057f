"""`srcnn export`: ONNX with dynamic batch/height/width, the requested opset, metadata; equal to PyTorch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from srcnn.checkpoint import read_metadata
from srcnn.cli import main

from .conftest import make_weights

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def session(path: Path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("residual", [False, True])
def test_export_runs_in_onnxruntime_at_any_size(tmp_path, residual, capsys):
    weights = tmp_path / "tiny.safetensors"
    model = make_weights(weights, residual, seed=1, f2=3, scale=3, note="test")
    out = tmp_path / "tiny.onnx"
    assert main(["export", "-m", str(weights), "-o", str(out)]) == 0
    assert "opset 17" in capsys.readouterr().out
    sess = session(out)
    for shape in [(1, 1, 37, 53), (1, 1, 64, 20), (2, 1, 9, 1)]:
        x = torch.rand(*shape, generator=torch.Generator().manual_seed(sum(shape)))
        with torch.no_grad():
            ref = model(x).numpy()
        got = sess.run(["output"], {"input": x.numpy()})[0]
        assert got.shape == ref.shape
        assert np.abs(got - ref).max() <= 1e-4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.onnx", "tiny.safetensors"]  # no temp file left


def test_metadata_opset_and_dynamic_axes(tmp_path):
    weights = tmp_path / "rgb.safetensors"
    model = make_weights(weights, True, seed=1, channels=3, f2=3, scale=3, note="test")
    out = tmp_path / "rgb.onnx"
    assert main(["export", "-m", str(weights), "-o", str(out), "--opset", "13"]) == 0
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto)
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", 13)]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["srcnn"]) == read_metadata(weights)
    assert meta["scale"] == "3" and meta["channels"] == "3" and meta["residual"] == "true"
    assert meta["receptive_radius"] == str(model.receptive_radius) == "7"
    assert json.loads(meta["config"]) == model.config.to_dict()
    assert "(N, C, H, W) float32 in [0, 1]" in meta["contract"]
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "height", "width"]
    x = torch.rand(1, 3, 21, 30)
    with torch.no_grad():
        ref = model(x).numpy()
    assert np.abs(session(out).run(None, {"input": x.numpy()})[0] - ref).max() <= 1e-4


def test_bicubic_is_refused_in_one_line(tmp_path, capsys):
    out = tmp_path / "b.onnx"
    assert main(["export", "-m", "bicubic", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bicubic" in err and err.startswith("srcnn: error:")
    assert not out.exists()


def test_bad_opset_and_missing_model_are_one_line_errors(tmp_path, capsys):
    weights = tmp_path / "w.safetensors"
    make_weights(weights, False, seed=1, f2=3, scale=3, note="test")
    assert main(["export", "-m", str(weights), "-o", str(tmp_path / "x.onnx"), "--opset", "5"]) == 2
    assert main(["export", "-m", str(tmp_path / "nope.safetensors"), "-o", str(tmp_path / "y.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("srcnn: error:") for line in err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.safetensors"]
