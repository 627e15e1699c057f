"""Machinery: hides how a network becomes an ONNX graph, node by node with ``onnx.helper`` (read :mod:`srcnn.export`).

The graph of an SRCNN (Conv, Relu, Add; any opset from 11 up to the installed onnx's) and of a layered network
(Conv, ConvTranspose, PRelu, Relu, DepthToSpace), plus the variants the ONNX Runtime backend runs on tiles (see
:mod:`srcnn.backends`): "valid" convolutions that consume the tile's context, optionally with border masks, that
keep the tiled result identical to the untiled one. Enhance layer: imports nothing above the model.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import onnx

    from .model import SRCNN

__all__ = ["DEFAULT_OPSET", "MIN_OPSET", "CONTRACT", "build_onnx", "model_metadata"]

DEFAULT_OPSET = 17
MIN_OPSET = 11
CONTRACT = ("input 'input' (N, C, H, W) float32 in [0, 1]; output 'output' (N, C, kH, kW) float32, roughly [0, 1], "
            "not clipped (clip to [0, 1] before quantizing); k = network_scale (1: upsampling 'pre', the input is "
            "the bicubic-upscaled image; k > 1: upsampling 'post', the input is the image itself); C = channels "
            "(1: Y of BT.601, MATLAB rgb2ycbcr; 3: RGB); batch, height and width are dynamic")


def _max_opset() -> int:
    import onnx.defs

    return int(onnx.defs.onnx_opset_version())


def build_onnx(
    model: SRCNN,
    opset: int = DEFAULT_OPSET,
    *,
    valid: bool = False,
    masked: bool = False,
    split_last: bool = False,
    metadata: dict[str, str] | None = None,
) -> onnx.ModelProto:
    """The ONNX graph of ``model`` (float32 weights; input/output (N, C, H, W) float32, dynamic N, H, W).

    ``valid=False``: the exported contract (same size out, zero padding per layer). ``valid=True``: no padding,
    the output is the input's centre, ``receptive_radius`` px smaller on every side (for tiles with context);
    ``masked=True`` adds inputs ``mask1`` (1, 1, H - 2 r1, W - 2 r1) and ``mask2`` that zero the first two
    layers' activations outside the image, which makes a border tile exact. ``split_last=True`` (valid only)
    computes the last layer as a 1x1 convolution to C f3^2 partial products and a Sum of their f3^2 shifted
    slices: the same numbers to float rounding, but no convolution with 1 or 3 output channels (slow in MLAS).
    """
    import numpy as np
    import torch
    from onnx import TensorProto, helper, numpy_helper

    if (masked or split_last) and not valid:
        raise ValueError("masked and split_last need valid")
    top = _max_opset()
    if not MIN_OPSET <= opset <= top:
        raise ValueError(f"opset {opset} not supported (this onnx builds {MIN_OPSET}..{top})")
    if getattr(model, "arch", "srcnn") != "srcnn":
        if valid:
            raise ValueError("valid graphs are built for SRCNN only (other networks run padded on tiles)")
        return _finish(_layer_graph(model), opset, metadata)
    cfg = model.config
    convs = [model.conv1, model.conv2, model.conv3]
    inits, nodes = [], []
    dims: list[Any] = ["batch", cfg.channels, "height", "width"]
    out_dims: list[Any] = ["batch", cfg.channels, "out_height", "out_width"] if valid else dims
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, dims)]
    x = "input"
    for i, conv in enumerate(convs, start=1):
        w = conv.weight.detach().to("cpu", dtype=torch.float32).numpy()
        b = conv.bias.detach().to("cpu", dtype=torch.float32).numpy()
        f = int(w.shape[-1])
        y = f"conv{i}" if i < 3 else ("delta" if cfg.residual else "output")
        if i == 3 and split_last:
            nodes += _split_last_nodes(w, b, x, y, inits)
            break
        inits += [numpy_helper.from_array(np.ascontiguousarray(w), f"conv{i}.weight"),
                  numpy_helper.from_array(np.ascontiguousarray(b), f"conv{i}.bias")]
        pad = 0 if valid else f // 2
        nodes.append(helper.make_node("Conv", [x, f"conv{i}.weight", f"conv{i}.bias"], [y], name=f"conv{i}",
                                      kernel_shape=[f, f], pads=[pad] * 4, strides=[1, 1], dilations=[1, 1]))
        if i < 3:
            nodes.append(helper.make_node("Relu", [y], [f"relu{i}"], name=f"relu{i}"))
            y = f"relu{i}"
            if masked:
                inputs.append(helper.make_tensor_value_info(f"mask{i}", TensorProto.FLOAT,
                                                            [1, 1, f"mask{i}_height", f"mask{i}_width"]))
                nodes.append(helper.make_node("Mul", [y, f"mask{i}"], [f"masked{i}"], name=f"mask{i}"))
                y = f"masked{i}"
        x = y
    if cfg.residual:
        skip = "input"
        if valid and model.receptive_radius > 0:
            r = model.receptive_radius
            inits += [numpy_helper.from_array(np.array([r, r], np.int64), "crop_starts"),
                      numpy_helper.from_array(np.array([-r, -r], np.int64), "crop_ends"),
                      numpy_helper.from_array(np.array([2, 3], np.int64), "crop_axes")]
            nodes.append(helper.make_node("Slice", ["input", "crop_starts", "crop_ends", "crop_axes"], ["centre"],
                                          name="centre"))
            skip = "centre"
        nodes.append(helper.make_node("Add", [skip, "delta"], ["output"], name="residual"))
    graph = helper.make_graph(nodes, "srcnn", inputs,
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, out_dims)], inits)
    return _finish(graph, opset, metadata)


def _finish(graph: Any, opset: int, metadata: dict[str, str] | None) -> onnx.ModelProto:
    """The checked model of ``graph`` at ``opset`` with ``metadata`` as metadata_props."""
    import onnx
    from onnx import helper

    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="srcnn",
                              doc_string=CONTRACT)
    proto.ir_version = _ir_version(opset)
    for k, v in (metadata or {}).items():
        proto.metadata_props.add(key=str(k), value=str(v))
    onnx.checker.check_model(proto)
    return proto


def _layer_graph(model: Any) -> Any:
    """The graph of a network made of Conv2d, ConvTranspose2d, PReLU, ReLU and PixelShuffle layers, in order."""
    import numpy as np
    import torch
    from onnx import TensorProto, helper, numpy_helper
    from torch import nn

    def arr(t: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(t.detach().to("cpu", torch.float32).numpy())

    c, k = model.config.channels, int(model.scale)
    u = int(getattr(model.config, "unshuffle", 1))
    inits, nodes, x = [], [], "input"
    if u > 1:  # the right and bottom edges repeated to whole cells, then SpaceToDepth (see _cell_nodes)
        x = _cell_nodes(u, nodes, inits)
    leaves = [m for m in model.modules() if not list(m.children())]
    for i, mod in enumerate(leaves):
        y = "output" if i == len(leaves) - 1 else f"t{i}"
        name = f"layer{i}"
        if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d)):
            weight = arr(mod.weight)
            if i == 0 and u > 1:  # SpaceToDepth's channel (i u + j) C + c is pixel_unshuffle's c u^2 + i u + j
                weight = weight[:, [cc * u * u + p for p in range(u * u) for cc in range(c)]]
            inits += [numpy_helper.from_array(np.ascontiguousarray(weight), f"{name}.weight"),
                      numpy_helper.from_array(arr(mod.bias), f"{name}.bias")]
            attrs: dict[str, Any] = {"kernel_shape": list(mod.kernel_size), "strides": list(mod.stride),
                                     "pads": [mod.padding[0], mod.padding[1]] * 2, "dilations": list(mod.dilation)}
            op = "Conv"
            if isinstance(mod, nn.ConvTranspose2d):
                op, attrs["output_padding"] = "ConvTranspose", list(mod.output_padding)
            nodes.append(helper.make_node(op, [x, f"{name}.weight", f"{name}.bias"], [y], name=name, **attrs))
        elif isinstance(mod, nn.PReLU):
            inits.append(numpy_helper.from_array(arr(mod.weight).reshape(-1, 1, 1), f"{name}.slope"))
            nodes.append(helper.make_node("PRelu", [x, f"{name}.slope"], [y], name=name))
        elif isinstance(mod, nn.ReLU):
            nodes.append(helper.make_node("Relu", [x], [y], name=name))
        elif isinstance(mod, nn.PixelShuffle) and u > 1:
            nodes += _uncell_nodes(x, y, c, k, u, bool(model.config.anchor), inits)
        elif isinstance(mod, nn.PixelShuffle):
            if getattr(model.config, "anchor", False):  # + the input repeated k^2 times per channel, then shuffle
                inits.append(numpy_helper.from_array(_copies(c, k), "anchor.weight"))
                nodes += [helper.make_node("Conv", ["input", "anchor.weight"], ["anchor"], name="anchor",
                                           kernel_shape=[1, 1]),
                          helper.make_node("Add", [x, "anchor"], [f"{x}.anchored"], name="anchor_add")]
                x = f"{x}.anchored"
            nodes.append(helper.make_node("DepthToSpace", [x], [y], name=name, blocksize=mod.upscale_factor,
                                          mode="CRD"))
        else:
            raise ValueError(f"cannot export a {type(mod).__name__} layer to ONNX")
        x = y
    dims: list[Any] = ["batch", c, "height", "width"]
    out_dims: list[Any] = ["batch", c, f"height*{k}", f"width*{k}"] if k != 1 else dims
    return helper.make_graph(nodes, model.arch, [helper.make_tensor_value_info("input", TensorProto.FLOAT, dims)],
                             [helper.make_tensor_value_info("output", TensorProto.FLOAT, out_dims)], inits)


def _copies(c: int, k: int) -> Any:
    """(C k^2, C, 1, 1) float32 0/1 weights of a 1x1 conv that repeats each channel k^2 times: exact copies."""
    import numpy as np

    rep = np.zeros((c * k * k, c, 1, 1), np.float32)
    for ch in range(c):
        rep[ch * k * k : (ch + 1) * k * k, ch] = 1
    return rep


def _cell_nodes(u: int, nodes: list, inits: list) -> str:
    """Nodes from 'input' to its u x u cells: Pad (edge) of the right and bottom to multiples of u, SpaceToDepth."""
    import numpy as np
    from onnx import helper, numpy_helper

    inits += [numpy_helper.from_array(np.array([2], np.int64), "hw.start"),
              numpy_helper.from_array(np.array([4], np.int64), "hw.end"),
              numpy_helper.from_array(np.array([u], np.int64), "cell"),
              numpy_helper.from_array(np.zeros(6, np.int64), "pads.zeros")]
    nodes += [helper.make_node("Shape", ["input"], ["shape"], name="shape"),
              helper.make_node("Slice", ["shape", "hw.start", "hw.end"], ["hw"], name="hw"),
              helper.make_node("Mod", ["hw", "cell"], ["hw.rem"], name="hw_rem"),
              helper.make_node("Sub", ["cell", "hw.rem"], ["hw.short"], name="hw_short"),
              helper.make_node("Mod", ["hw.short", "cell"], ["hw.pad"], name="hw_pad"),
              helper.make_node("Concat", ["pads.zeros", "hw.pad"], ["pads"], name="pads", axis=0),
              helper.make_node("Pad", ["input", "pads"], ["padded"], name="pad", mode="edge"),
              helper.make_node("SpaceToDepth", ["padded"], ["cells"], name="cells", blocksize=u)]
    return "cells"


def _uncell_nodes(x: str, y: str, c: int, k: int, u: int, anchor: bool, inits: list) -> list:
    """Nodes from the tail's C (k u)^2 channels ``x`` to ``y``: DepthToSpace by k u, the crop to k H x k W, and
    with ``anchor`` the input enlarged k times by nearest neighbour (a 1x1 conv of copies, DepthToSpace) added."""
    import numpy as np
    from onnx import helper, numpy_helper

    inits += [numpy_helper.from_array(np.array([k], np.int64), "scale"),
              numpy_helper.from_array(np.zeros(2, np.int64), "crop.starts"),
              numpy_helper.from_array(np.array([2, 3], np.int64), "crop.axes")]
    crop = y if not anchor else f"{y}.delta"
    nodes = [helper.make_node("DepthToSpace", [x], [f"{x}.big"], name="shuffle", blocksize=k * u, mode="CRD"),
             helper.make_node("Mul", ["hw", "scale"], ["out.hw"], name="out_hw"),
             helper.make_node("Slice", [f"{x}.big", "crop.starts", "out.hw", "crop.axes"], [crop], name="crop")]
    if anchor:
        inits.append(numpy_helper.from_array(_copies(c, k), "anchor.weight"))
        nodes += [helper.make_node("Conv", ["input", "anchor.weight"], ["anchor.rep"], name="anchor",
                                   kernel_shape=[1, 1]),
                  helper.make_node("DepthToSpace", ["anchor.rep"], ["anchor"], name="anchor_big", blocksize=k,
                                   mode="CRD"),
                  helper.make_node("Add", [crop, "anchor"], [y], name="anchor_add")]
    return nodes


def _split_last_nodes(w: Any, b: Any, x: str, y: str, inits: list) -> list:
    """Nodes computing valid conv(x, w) + b as a 1x1 Conv to (tap, channel) partial products + Sum of slices."""
    import numpy as np
    from onnx import helper, numpy_helper

    c, n2, f, _ = w.shape
    taps = np.ascontiguousarray(w.transpose(2, 3, 0, 1).reshape(f * f * c, n2, 1, 1))  # channel k * c + o
    bias = np.zeros(f * f * c, np.float32)
    bias[:c] = b  # added once, with tap 0
    inits += [numpy_helper.from_array(taps, "conv3.taps"), numpy_helper.from_array(bias, "conv3.taps_bias")]
    nodes = [helper.make_node("Conv", [x, "conv3.taps", "conv3.taps_bias"], ["partial"], name="conv3_taps",
                              kernel_shape=[1, 1], pads=[0] * 4, strides=[1, 1], dilations=[1, 1])]
    big = np.iinfo(np.int64).max
    parts = []
    for k in range(f * f):
        i, j = divmod(k, f)
        starts = np.array([k * c, i, j], np.int64)
        ends = np.array([(k + 1) * c, i - (f - 1) if i < f - 1 else big, j - (f - 1) if j < f - 1 else big],
                        np.int64)
        inits += [numpy_helper.from_array(starts, f"tap{k}.starts"), numpy_helper.from_array(ends, f"tap{k}.ends")]
        if k == 0:
            inits.append(numpy_helper.from_array(np.array([1, 2, 3], np.int64), "tap.axes"))
        nodes.append(helper.make_node("Slice", ["partial", f"tap{k}.starts", f"tap{k}.ends", "tap.axes"],
                                      [f"tap{k}"], name=f"tap{k}"))
        parts.append(f"tap{k}")
    nodes.append(helper.make_node("Sum", parts, [y], name="conv3_sum"))
    return nodes


def _ir_version(opset: int) -> int:
    """The lowest IR version that carries ``opset``, so that older runtimes load the file."""
    from onnx import helper

    return int(helper.find_min_ir_version_for([helper.make_opsetid("", opset)]))


def model_metadata(model: SRCNN, stored: dict, scale: int) -> dict[str, str]:
    """The metadata_props of an exported model: stored JSON plus scale, channels, radius, residual, contract."""
    cfg = model.config
    return {
        "srcnn": json.dumps(stored, sort_keys=True),
        "arch": getattr(model, "arch", "srcnn"),
        "upsampling": getattr(model, "upsampling", "pre"),
        "network_scale": str(getattr(model, "scale", 1)),
        "scale": str(scale),
        "channels": str(cfg.channels),
        "receptive_radius": str(model.receptive_radius),
        "residual": str(bool(getattr(cfg, "residual", False))).lower(),
        "flops_per_pixel": str(model.flops_per_pixel),
        "config": json.dumps(cfg.to_dict(), sort_keys=True),
        "contract": CONTRACT,
    }
