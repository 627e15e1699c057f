"""Fast exact SRCNN runners for tiles: PyTorch (default) and ONNX Runtime (optional, imported lazily).

A runner is called as ``run(crop, missing)`` by :func:`srcnn.tiling.forward_tiled_valid`: ``crop`` is
(N, C, h + 2r, w + 2r) float32 with r = the receptive radius, ``missing`` = (top, bottom, left, right) px of the
crop that lie outside the image (zeros); it returns the (N, C, h, w) float32 network output of the box, equal to
the untiled forward pass (not clipped). How, and why it is fast on a CPU:

- "valid" (unpadded) convolutions consume the context layer by layer, so layer k runs on the tile plus the
  radius still needed after it ((T + 4)^2 px for the dominant 5x5 layer of 9-5-5) instead of (T + 2r)^2;
- where the crop reaches past the image, the activations outside it are zeroed after each ReLU: that is what
  each layer's zero padding does in the untiled pass, so the result is identical at borders too;
- channels_last (NHWC) tensors: oneDNN's direct convolution kernels, ~2x the NCHW speed here;
- a crop larger than ``sub_tile`` output px a side is run as near-equal sub-crops of at most that (each with its
  own context and its share of the crop's outside px): with a 1x1 middle layer (9-1-5) a 128 px tile runs
  ~15 % faster per px than a 256 px one here (its activations and last-layer partial products stay in cache),
  which outweighs the +3 % of recomputed overlap;
- the last layer (n2 -> C channels, f3 x f3) has 1 or 3 output channels, where oneDNN runs at ~7 % of peak;
  it is computed as one GEMM (C f3^2 x n2) @ (n2 x pixels) followed by f3^2 shifted adds of contiguous rows
  (each output pixel sums its f3^2 partial products; the wrap-around columns are dropped).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from .choices import BACKENDS

if TYPE_CHECKING:
    import numpy as np

    from .model import SRCNN

__all__ = ["BACKENDS", "TorchRunner", "OrtRunner", "make_runner"]

Missing = tuple[int, int, int, int]
_FUSED = getattr(getattr(torch.ops, "mkldnn", None), "_convolution_pointwise", None)
_SUB_TILE_1X1 = 128  # sub-tile of models with a 1x1 middle layer (9-1-5)


def _zero_outside(a: torch.Tensor, missing: Missing, consumed: int) -> None:
    """Zero the rows/columns of activation ``a`` outside the image, ``consumed`` px of context used so far."""
    top, bottom, left, right = (max(0, m - consumed) for m in missing)
    h, w = a.shape[-2], a.shape[-1]
    if top:
        a[:, :, :top].zero_()
    if bottom:
        a[:, :, h - bottom :].zero_()
    if left:
        a[:, :, :, :left].zero_()
    if right:
        a[:, :, :, w - right :].zero_()


class TorchRunner:
    """SRCNN on tiles with PyTorch on the CPU: valid channels_last convolutions, last layer as GEMM + shifts."""

    name = "torch"

    def __init__(self, model: SRCNN, channels_last: bool = True, sub_tile: int | None = None,
                 bf16: bool = False, fused: bool = True) -> None:
        cfg = model.config
        # bf16: layers 2 and 3 in bfloat16 (oneDNN's bf16 kernels: AMX / AVX512-BF16). The first layer (9 % of the
        # work) stays float32, since bf16's 8-bit mantissa cannot hold the input's 8-bit levels (about one level
        # of error near white); the last layer's partial products are summed, and the residual added, in float32
        self.dtype = torch.bfloat16 if bf16 else torch.float32
        # largest box run in one piece (0: no limit); see the module docstring
        self.sub_tile = (_SUB_TILE_1X1 if cfg.f2 == 1 else 0) if sub_tile is None else sub_tile
        # clone, not contiguous(): a 1-channel weight counts as "contiguous" in both formats, and only its real
        # strides make oneDNN pick the NHWC kernels
        cl = torch.channels_last if channels_last else torch.contiguous_format
        self.memory_format = cl
        self.channels = cfg.channels
        self.residual = cfg.residual
        self.radius = model.receptive_radius
        self.r1, self.r2, self.r3 = cfg.f1 // 2, cfg.f2 // 2, cfg.f3 // 2
        self.f3 = cfg.f3
        get = lambda t: t.detach().to("cpu", self.dtype)  # noqa: E731
        self.w1 = model.conv1.weight.detach().to("cpu", torch.float32).clone(memory_format=cl)
        self.b1 = model.conv1.bias.detach().to("cpu", torch.float32).contiguous()
        self.w2 = get(model.conv2.weight).clone(memory_format=cl)
        self.b2 = get(model.conv2.bias).contiguous()
        w3 = get(model.conv3.weight)  # (C, n2, f3, f3)
        self.w3t = w3.permute(0, 2, 3, 1).reshape(cfg.channels * cfg.f3 * cfg.f3, cfg.n2).contiguous()
        self.b3 = model.conv3.bias.detach().to("cpu", torch.float32).reshape(cfg.channels, 1).contiguous()
        # oneDNN's convolution with the ReLU fused (the op inductor uses); saves a pass over the activations
        # (fused=False: the plain convolution + ReLU, the fallback path, also where the fused op is missing)
        self._fused = fused and _FUSED is not None and channels_last and torch.backends.mkldnn.is_available()

    def __call__(self, crop: torch.Tensor, missing: Missing = (0, 0, 0, 0), single: bool = False) -> torch.Tensor:
        """(N, C, h + 2r, w + 2r) float32 crop, ``missing`` px outside the image -> (N, C, h, w) float32.

        ``single``: the caller runs tiles in parallel (this thread's torch thread count is already 1).
        """
        r, sub = self.radius, self.sub_tile
        h, w = crop.shape[2] - 2 * r, crop.shape[3] - 2 * r
        if not sub or (h <= sub and w <= sub):
            return self._run(crop, missing)
        from .tiling import split_even

        y = torch.empty((crop.shape[0], self.channels, h, w), dtype=torch.float32)
        rows, cols = split_even(h, sub), split_even(w, sub)
        for y0, y1 in rows:
            for x0, x1 in cols:
                # the crop's outside px that fall in this sub-crop (none unless it is near the crop's edge)
                m = (
                    max(0, missing[0] - y0),
                    max(0, missing[1] - (h - y1)),
                    max(0, missing[2] - x0),
                    max(0, missing[3] - (w - x1)),
                )
                y[:, :, y0:y1, x0:x1] = self._run(crop[:, :, y0 : y1 + 2 * r, x0 : x1 + 2 * r], m)
        return y

    def _run(self, crop: torch.Tensor, missing: Missing) -> torch.Tensor:
        """One piece: (N, C, h + 2r, w + 2r) float32 crop, ``missing`` px outside the image -> (N, C, h, w)."""
        x = crop.to(torch.float32).contiguous(memory_format=self.memory_format)
        a = self._conv_relu(x, self.w1, self.b1)
        if self.dtype != torch.float32:
            a = a.to(self.dtype)
        if any(m > self.r1 for m in missing):
            _zero_outside(a, missing, self.r1)
        a = self._conv_relu(a, self.w2, self.b2)
        if any(m > self.r1 + self.r2 for m in missing):
            _zero_outside(a, missing, self.r1 + self.r2)
        y = self._last(a)
        if self.residual:
            r = self.radius
            y.add_(x[:, :, r : x.shape[2] - r, r : x.shape[3] - r])
        return y

    def _conv_relu(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """relu(valid conv(x, w) + b), (N, Ci, H, W) -> (N, Co, H - f + 1, W - f + 1) in x's memory format."""
        if self._fused:
            try:
                return _FUSED(x, w, b, [0, 0], [1, 1], [1, 1], 1, "relu", [None], "")
            except RuntimeError:  # not this build's oneDNN after all: the unfused ops give the same numbers
                self._fused = False
        return F.conv2d(x, w, b).relu_()

    def _last(self, a: torch.Tensor) -> torch.Tensor:
        """conv3 (valid) of channels_last (N, n2, H2, W2) -> (N, C, H2 - 2 r3, W2 - 2 r3), a strided view."""
        n, n2, h2, w2 = a.shape
        f, c = self.f3, self.channels
        ho, wo = h2 - f + 1, w2 - f + 1
        rows = a.permute(0, 2, 3, 1).reshape(n * h2 * w2, n2)  # a view of the NHWC memory (a copy if not NHWC)
        z = torch.mm(self.w3t, rows.t()).view(c, f * f, n * h2 * w2)  # partial products, one row per tap
        total = n * h2 * w2
        span = total - ((f - 1) * w2 + (f - 1))  # outputs whose taps all lie inside z
        y = torch.empty((c, total), dtype=torch.float32)
        acc = y[:, :span]
        torch.add(z[:, 0, :span], self.b3, out=acc)
        for k in range(1, f * f):
            d = (k // f) * w2 + (k % f)
            acc.add_(z[:, k, d : d + span])
        return y.view(c, n, h2, w2)[:, :, :ho, :wo].permute(1, 0, 2, 3)


class OrtRunner:
    """SRCNN on tiles with ONNX Runtime (CPU): valid graph; border tiles feed masks that zero outside pixels."""

    name = "onnxruntime"

    def __init__(self, model: SRCNN, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise RuntimeError("the onnxruntime backend needs onnxruntime (pip install 'srcnn[onnx]')") from None
        from ._onnx import build_onnx

        cfg = model.config
        self.radius = model.receptive_radius
        self.r1, self.r2 = cfg.f1 // 2, cfg.f2 // 2
        self.threads = int(threads or torch.get_num_threads())
        self._ort, self._model, self._build = ort, model, build_onnx
        self._sessions: dict[tuple[bool, int], Any] = {}
        self._lock = threading.Lock()

    def _session(self, masked: bool, threads: int) -> Any:
        """The (masked or plain) valid-graph session with ``threads`` intra-op threads, made on first use."""
        key = (masked, threads)
        with self._lock:
            if key not in self._sessions:
                ort = self._ort
                opts = ort.SessionOptions()
                opts.intra_op_num_threads = threads
                opts.inter_op_num_threads = 1
                opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
                opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                # Spinning pool threads would steal the cores from the PyTorch work between tiles.
                opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
                graph = self._build(self._model, valid=True, masked=masked, split_last=True).SerializeToString()
                self._sessions[key] = ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])
            return self._sessions[key]

    def _mask(self, h: int, w: int, missing: Missing, consumed: int) -> np.ndarray:
        """1 inside the image, 0 outside: the graph multiplies an activation by it (as _zero_outside zeroes)."""
        m = torch.ones((1, 1, h, w), dtype=torch.float32)
        _zero_outside(m, missing, consumed)
        return m.numpy()

    def __call__(self, crop: torch.Tensor, missing: Missing = (0, 0, 0, 0), single: bool = False) -> torch.Tensor:
        """(N, C, h + 2r, w + 2r) float32 crop, ``missing`` px outside the image -> (N, C, h, w) float32.

        ``single``: the caller runs tiles in parallel, so use a one-thread session.
        """
        import numpy as np

        threads = 1 if single else self.threads
        x = np.ascontiguousarray(crop.detach().to("cpu", torch.float32).numpy())
        if any(m > self.r1 for m in missing):
            h, w = x.shape[2], x.shape[3]
            c1, c2 = self.r1, self.r1 + self.r2  # context consumed after layers 1 and 2
            feeds: dict[str, Any] = {
                "input": x,
                "mask1": self._mask(h - 2 * c1, w - 2 * c1, missing, c1),
                "mask2": self._mask(h - 2 * c2, w - 2 * c2, missing, c2),
            }
            out = self._session(True, threads).run(["output"], feeds)[0]
        else:
            out = self._session(False, threads).run(["output"], {"input": x})[0]
        return torch.from_numpy(out)


class OrtPaddedRunner:
    """Any zero-padded network (e.g. FSRCNN) on tiles with ONNX Runtime: the plain graph on the crop's image px."""

    name = "onnxruntime"

    def __init__(self, model: torch.nn.Module, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise RuntimeError("the onnxruntime backend needs onnxruntime (pip install 'srcnn[onnx]')") from None
        from ._onnx import build_onnx

        self.radius, self.scale = int(model.receptive_radius), int(model.scale)
        self.threads = int(threads or torch.get_num_threads())
        self._graph = build_onnx(model).SerializeToString()
        self._ort = ort
        self._sessions: dict[int, Any] = {}
        self._lock = threading.Lock()

    def _session(self, threads: int) -> Any:
        with self._lock:
            if threads not in self._sessions:
                opts = self._ort.SessionOptions()
                opts.intra_op_num_threads = threads
                opts.inter_op_num_threads = 1
                opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
                self._sessions[threads] = self._ort.InferenceSession(self._graph, opts,
                                                                     providers=["CPUExecutionProvider"])
            return self._sessions[threads]

    def __call__(self, crop: torch.Tensor, missing: Missing = (0, 0, 0, 0), single: bool = False) -> torch.Tensor:
        """(N, C, h + 2r, w + 2r) float32 crop, ``missing`` px outside the image -> (N, C, s h, s w) float32."""
        import numpy as np

        r, s = self.radius, self.scale
        top, bottom, left, right = missing
        h, w = crop.shape[2] - 2 * r, crop.shape[3] - 2 * r
        x = crop[:, :, top : crop.shape[2] - bottom, left : crop.shape[3] - right]
        x = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        y = self._session(1 if single else self.threads).run(["output"], {"input": x})[0]
        y0, x0 = (r - top) * s, (r - left) * s
        return torch.from_numpy(np.ascontiguousarray(y[:, :, y0 : y0 + h * s, x0 : x0 + w * s]))


def make_runner(model: torch.nn.Module, backend: str = "torch", bf16: bool = False) -> Any:
    """The tile runner for ``backend`` ("torch" or "onnxruntime") and the model's kind (see srcnn.model).

    ``bf16`` (torch only): bfloat16 convolutions, for CPUs with AMX or AVX512-BF16.
    """
    srcnn = getattr(model, "arch", "srcnn") == "srcnn"
    if backend == "torch":
        if srcnn:
            return TorchRunner(model, bf16=bf16)
        from .tiling import PaddedRunner

        return PaddedRunner(model, torch.device("cpu"), bf16=bf16)
    if backend == "onnxruntime":
        return OrtRunner(model) if srcnn else OrtPaddedRunner(model)
    raise ValueError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
