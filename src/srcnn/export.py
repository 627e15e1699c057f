"""``srcnn export``: an SRCNN as an ONNX graph with dynamic batch, height and width, metadata carried.

Tensor contract of the exported graph (same as :class:`srcnn.model.SRCNN`): input ``input`` (N, C, H, W) float32
in [0, 1], output ``output`` (N, C, H, W) float32, roughly [0, 1], not clipped; every convolution zero-pads by
f // 2, so H and W may be anything >= 1. The graph is built node by node with ``onnx.helper`` (Conv, Relu, Add),
so any opset from 11 up to the installed onnx's is available (the graph builders are machinery, in
:mod:`srcnn._onnx`; ``build_onnx`` and ``model_metadata`` are re-exported here).

Metadata (ONNX ``metadata_props``, all strings): ``srcnn`` (the safetensors metadata JSON as stored), ``scale``,
``channels``, ``receptive_radius``, ``residual``, ``flops_per_pixel``, ``config`` (JSON) and ``contract``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._onnx import CONTRACT, DEFAULT_OPSET, MIN_OPSET, build_onnx, model_metadata
from .errors import fail

__all__ = ["DEFAULT_OPSET", "MIN_OPSET", "CONTRACT", "build_onnx", "model_metadata", "export_onnx", "add_arguments",
           "run"]


def export_onnx(name_or_path: str | Path, out: str | Path, opset: int = DEFAULT_OPSET) -> Path:
    """Write the model (a shipped name or a weights file) as ONNX to ``out`` atomically; returns the path."""
    import onnx

    from .checkpoint import WeightsError
    from .enhance import load_model
    from .files import write_bytes

    if str(name_or_path) == "bicubic":
        raise WeightsError("bicubic is not a network: there is nothing to export (give a model name or weights)")
    enhancer = load_model(name_or_path, device="cpu")
    assert enhancer.model is not None
    proto = build_onnx(enhancer.model, opset, metadata=model_metadata(enhancer.model, enhancer.metadata,
                                                                       enhancer.scale))
    data = proto.SerializeToString()
    onnx.load_from_string(data)  # round-trips
    write_bytes(out, data)
    return Path(out)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `srcnn export`."""
    p.add_argument("-m", "--model", required=True, help="model name or weights file (.safetensors, .pth)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.onnx", help="where to write the ONNX file")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")


def run(args: argparse.Namespace) -> int:
    """Export and print where the file is; one-line errors, exit code 2."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        return fail("export needs the onnx package (pip install 'srcnn[onnx]')")
    from .checkpoint import WeightsError

    try:
        path = export_onnx(args.model, args.output, args.opset)
    except (WeightsError, ValueError, OSError) as e:
        return fail(str(e))
    print(f"{path} (opset {args.opset}, dynamic batch/height/width)")
    return 0
