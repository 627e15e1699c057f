"""The two kinds of network: SRCNN (upsampling first, by bicubic); FSRCNN and CompactSR (upsampling at the end).

Every model declares three things, and the Enhancer, the exact tiler, the runners and the ONNX export use these
and nothing else:

- ``upsampling``: ``"pre"`` -- the input is the picture bicubic-upscaled to the output size and the network
  keeps the size (SRCNN); ``"post"`` -- the input is the picture at its own size and the last layer (transposed
  convolution or pixel shuffle) makes it ``scale`` times larger (FSRCNN, CompactSR).
- ``scale``: the network's own integer factor, output side / input side (1 for pre-upsampling networks).
- ``receptive_radius``: input pixels of context on each side that the output of one input pixel depends on.
- ``align`` (1 unless said): tile boundaries must fall on multiples of it, in input px (a CompactSR that works
  on 2x2 cells of its input, ``unshuffle`` = 2, is exact on tiles only when they start on the cell grid).

Tensor contract: input (N, C, H, W) float32 in [0, 1]; output (N, C, scale H, scale W) float32, roughly [0, 1],
not clipped. Every layer zero-pads, so H and W may be anything >= 1.

SRCNN (Dong, Loy, He, Tang, TPAMI 2016): three convolutions, ReLU after the first two. With ``residual=True``
the network predicts a correction that is added to its input (the bicubic image), which trains faster; the
layer shapes, parameter count and FLOP count are the same.

FSRCNN (Dong, Loy, Tang, ECCV 2016): feature extraction 5x5 (d), shrink 1x1 (s), m mapping layers 3x3 (s),
expand 1x1 (d), PReLU after each, and a 9x9 transposed convolution of stride ``scale`` to the output. The
paper's FSRCNN is d, s, m = 56, 12, 4; FSRCNN-s is 32, 5, 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .hparams import CompactConfig, FSRCNNConfig, ModelConfig

__all__ = ["SRCNN", "ModelConfig", "FSRCNN", "FSRCNNConfig", "CompactSR", "CompactConfig", "ARCHS", "build_model",
           "config_from_state_dict"]


class SRCNN(nn.Module):
    """SRCNN f1-f2-f3 with n1, n2 filters; see the module docstring for the tensor contract."""

    arch = "srcnn"
    upsampling = "pre"
    scale = 1

    def __init__(
        self,
        channels: int = 1,
        f1: int = 9,
        f2: int = 5,
        f3: int = 5,
        n1: int = 64,
        n2: int = 32,
        residual: bool = False,
    ) -> None:
        super().__init__()
        self.config = ModelConfig(channels, f1, f2, f3, n1, n2, residual)
        self.conv1 = nn.Conv2d(channels, n1, f1, padding=f1 // 2)
        self.conv2 = nn.Conv2d(n1, n2, f2, padding=f2 // 2)
        self.conv3 = nn.Conv2d(n2, channels, f3, padding=f3 // 2)
        self.relu = nn.ReLU(inplace=True)

    @property
    def receptive_radius(self) -> int:
        """Pixels of context on each side that one output pixel depends on: (f1 + f2 + f3 - 3) / 2."""
        c = self.config
        return (c.f1 + c.f2 + c.f3 - 3) // 2

    @property
    def flops_per_pixel(self) -> int:
        """Multiply-adds x 2 per output pixel by the direct-convolution count (biases excluded)."""
        c = self.config
        macs = c.channels * c.n1 * c.f1**2 + c.n1 * c.n2 * c.f2**2 + c.n2 * c.channels * c.f3**2
        return 2 * macs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) float32 in [0, 1] -> (N, C, H, W) float32, roughly [0, 1], not clipped."""
        y = self.relu(self.conv1(x))
        y = self.relu(self.conv2(y))
        y = self.conv3(y)
        return x + y if self.config.residual else y


def config_from_state_dict(state: Mapping[str, torch.Tensor], residual: bool = False) -> ModelConfig:
    """Infer channels, f1-f2-f3, n1, n2 from the conv weight shapes of an SRCNN state dict.

    The shapes must chain as SRCNN's do: (n1, C, f1, f1) -> (n2, n1, f2, f2) -> (C, n2, f3, f3), square
    kernels, C of 1 or 3, a bias of the right length per layer; anything else is refused (ValueError). (Even
    kernels are refused by SRCNN itself.)
    """
    try:
        w1, w2, w3 = state["conv1.weight"], state["conv2.weight"], state["conv3.weight"]
    except KeyError as e:
        raise ValueError(f"not an SRCNN state dict (missing {e.args[0]})") from None
    if w1.dim() != 4 or w2.dim() != 4 or w3.dim() != 4:
        raise ValueError("not an SRCNN state dict (conv weights must be 4-D)")
    n1, channels, f1, _ = w1.shape
    n2, _, f2, _ = w2.shape
    _, _, f3, _ = w3.shape
    shapes = [tuple(w.shape) for w in (w1, w2, w3)]
    chained = (
        shapes[1][1] == n1 and shapes[2][0] == channels and shapes[2][1] == n2 and channels in (1, 3)
        and all(w.shape[2] == w.shape[3] for w in (w1, w2, w3))
        and all(tuple(state[f"conv{i}.bias"].shape) == (int(shapes[i - 1][0]),) for i in (1, 2, 3)
                if f"conv{i}.bias" in state)
    )
    if not chained:
        raise ValueError(f"not an SRCNN: its three convolutions {shapes} do not chain as SRCNN's (n1, C, f1, f1) -> "
                         "(n2, n1, f2, f2) -> (C, n2, f3, f3) with C = 1 or 3 and square kernels")
    try:
        return ModelConfig(int(channels), int(f1), int(f2), int(f3), int(n1), int(n2), residual)
    except ValueError as e:  # chained, but a shape SRCNN cannot have (an even kernel)
        raise ValueError(f"not a usable SRCNN ({e})") from None


class FSRCNN(nn.Module):
    """FSRCNN-(d, s, m) at an integer ``scale``; see the module docstring for the tensor contract."""

    arch = "fsrcnn"
    upsampling = "post"

    def __init__(self, channels: int = 1, d: int = 56, s: int = 12, m: int = 4, scale: int = 3) -> None:
        super().__init__()
        self.config = FSRCNNConfig(channels, d, s, m, scale)
        self.scale = scale
        layers: list[nn.Module] = [nn.Conv2d(channels, d, 5, padding=2), nn.PReLU(d),
                                   nn.Conv2d(d, s, 1), nn.PReLU(s)]
        for _ in range(m):
            layers += [nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s)]
        layers += [nn.Conv2d(s, d, 1), nn.PReLU(d)]
        self.body = nn.Sequential(*layers)
        self.deconv = nn.ConvTranspose2d(d, channels, 9, stride=scale, padding=4, output_padding=scale - 1)
        for mod in self.body:
            if isinstance(mod, nn.Conv2d):  # He init as the paper (PReLU), biases zero
                nn.init.normal_(mod.weight, std=math.sqrt(2 / (mod.out_channels * mod.kernel_size[0] ** 2)))
                nn.init.zeros_(mod.bias)
        nn.init.normal_(self.deconv.weight, std=1e-3)
        nn.init.zeros_(self.deconv.bias)

    @property
    def receptive_radius(self) -> int:
        """Input px of context per side: 2 (5x5) + m (3x3 each) + ceil(4 / scale) (the 9x9 transposed conv)."""
        return 2 + self.config.m + -(-4 // self.scale)

    @property
    def flops_per_pixel(self) -> int:
        """Multiply-adds x 2 per output pixel (biases and PReLU excluded)."""
        c = self.config
        per_input = c.channels * c.d * 25 + c.d * c.s + c.m * c.s * c.s * 9 + c.s * c.d
        return 2 * (per_input // (c.scale * c.scale) + c.d * c.channels * 81 // (c.scale * c.scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) float32 in [0, 1] -> (N, C, scale H, scale W) float32, roughly [0, 1], not clipped.

        Under bf16 autocast only the 3x3 mapping layers (the bulk of the work) run in bf16; the first conv and
        the shrink, the expand and the transposed conv stay in float32: bf16's 8-bit mantissa cannot hold the
        input's 8-bit levels, and the last layer makes the picture itself (no residual) from the expanded
        features (Set5 x3 -0.02 dB with the first and last in bf16; fsrcnn-x2 -0.015 dB with the shrink and the
        expand in bf16 too, against the 0.01 dB bf16 allows)."""
        last = self.deconv if self.training else self._deconv_as_conv
        if not torch.is_autocast_enabled(x.device.type):
            return last(self.body(x))
        with torch.autocast(x.device.type, enabled=False):
            h = self.body[:4](x.float())
        h = self.body[4:-2](h)
        with torch.autocast(x.device.type, enabled=False):
            return last(self.body[-2:](h.float()))

    def _deconv_as_conv(self, h: torch.Tensor) -> torch.Tensor:
        """The transposed conv as what it computes: a conv at the input resolution to C scale^2 phases, then a
        pixel shuffle (the same sums in another order; 2.5-5x faster on a CPU than ConvTranspose2d)."""
        key = (self.deconv.weight._version, self.deconv.weight.data_ptr(), h.device, self.deconv.bias._version)
        if getattr(self, "_conv_key", None) != key:
            self._conv_weights, self._conv_key = deconv_phases(self.deconv), key
        w, b, r = self._conv_weights
        return F.pixel_shuffle(F.conv2d(h, w.to(h.device), b.to(h.device), padding=r), self.scale)


def deconv_phases(deconv: nn.ConvTranspose2d) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(weight, bias, padding) of the conv whose pixel shuffle by the stride s equals ``deconv`` (square kernel
    K, padding p, output_padding s - 1): output px s q + r takes kernel tap r + p - s o from input px q + o."""
    s, p = deconv.stride[0], deconv.padding[0]
    wt = deconv.weight.detach()  # (C_in, C_out, K, K)
    cin, cout, k, _ = wt.shape
    r = max(-(-p // s), (s - 1 + p) // s)
    w = torch.zeros(cout, s, s, cin, 2 * r + 1, 2 * r + 1, dtype=wt.dtype, device=wt.device)
    for phase in range(s):
        for off in range(-r, r + 1):
            tap = phase + p - s * off
            if 0 <= tap < k:  # rows: phase, offset -> tap; columns the same
                for phase_x in range(s):
                    for off_x in range(-r, r + 1):
                        tap_x = phase_x + p - s * off_x
                        if 0 <= tap_x < k:
                            w[:, phase, phase_x, :, r + off, r + off_x] = wt[:, :, tap, tap_x].T
    bias = deconv.bias.detach().repeat_interleave(s * s)
    return w.reshape(cout * s * s, cin, 2 * r + 1, 2 * r + 1).contiguous(), bias, r


class CompactSR(nn.Module):
    """A compact VGG-style network at the input resolution that ends in a pixel shuffle (ESPCN-like).

    head conv (``head`` x ``head``, C -> width), ``depth`` 3x3 convs (width -> width), each followed by PReLU,
    then a 3x3 conv to C scale^2 channels and a pixel shuffle by ``scale``. With ``anchor`` the input, repeated
    scale^2 times, is added before the shuffle (Du et al., "Anchor-based Plain Net", 2021): the network learns
    the difference from a nearest-neighbour enlargement. With ``unshuffle`` = u > 1 the network works on u x u
    cells of its input (a pixel unshuffle first, as Real-ESRGAN's x2 model and FFDNet do; the right and bottom
    edges repeated to a whole cell) and shuffles by u scale at its end: u^2 times fewer positions, so for the
    same compute per output pixel it can be far wider or deeper, and it sees u times farther. Tensor contract as
    in the module docstring.
    """

    arch = "compact"
    upsampling = "post"

    def __init__(self, channels: int = 1, head: int = 3, width: int = 48, depth: int = 6, scale: int = 2,
                 anchor: bool = True, unshuffle: int = 1) -> None:
        super().__init__()
        self.config = CompactConfig(channels, head, width, depth, scale, anchor, unshuffle)
        self.scale = scale
        u = unshuffle
        layers: list[nn.Module] = [nn.Conv2d(channels * u * u, width, head, padding=head // 2), nn.PReLU(width)]
        for _ in range(depth):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.PReLU(width)]
        self.body = nn.Sequential(*layers)
        self.tail = nn.Conv2d(width, channels * (scale * u) ** 2, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale * u)

    @property
    def receptive_radius(self) -> int:
        """Input px of context per side: head // 2 + depth + 1 (the 3x3 tail) cells, plus one cell when
        ``unshuffle`` > 1 (a px may sit anywhere in its cell), times the cell side: a multiple of ``align``."""
        c = self.config
        cells = c.head // 2 + c.depth + 1
        return cells if c.unshuffle == 1 else (cells + 1) * c.unshuffle

    @property
    def align(self) -> int:
        """Tile boundaries (input px) must be multiples of this: the cell side."""
        return self.config.unshuffle

    @property
    def flops_per_pixel(self) -> int:
        """Multiply-adds x 2 per output pixel (biases and PReLU excluded)."""
        c = self.config
        k = c.scale * c.unshuffle  # output px per cell side
        per_cell = (c.channels * c.unshuffle**2 * c.width * c.head**2 + c.depth * c.width * c.width * 9
                    + c.width * c.channels * k * k * 9)
        return 2 * per_cell // (k * k)

    def load_other_scale(self, other: CompactSR) -> None:
        """Take the weights of a CompactSR of the same shape but another scale: the body as it is, the tail's
        sub-pixel outputs mapped to this scale (nearest sub-position when enlarging, the mean when reducing), so
        the result starts as ``other`` followed by a nearest-neighbour (or box) resize."""
        a, b = other.config, self.config
        if (a.channels, a.head, a.width, a.depth, a.anchor, a.unshuffle) != (b.channels, b.head, b.width, b.depth,
                                                                           b.anchor, b.unshuffle):
            raise ValueError(f"load_other_scale: {a} and {b} differ in more than the scale")
        if a.scale % b.scale and b.scale % a.scale:
            raise ValueError(f"load_other_scale: scales {a.scale} and {b.scale} are not multiples of each other")
        state = {k: v for k, v in other.state_dict().items() if not k.startswith("tail.")}
        w, bias = other.tail.weight.detach(), other.tail.bias.detach()  # channel c*r*r + i*r + j -> (c, i, j)
        r, q, c = a.scale * a.unshuffle, b.scale * b.unshuffle, b.channels
        w = w.reshape(c, r, r, *w.shape[1:])
        bias = bias.reshape(c, r, r)
        if q >= r:
            idx = torch.arange(q) * r // q
            w, bias = w[:, idx][:, :, idx], bias[:, idx][:, :, idx]
        else:
            k = r // q
            w = w.reshape(c, q, k, q, k, *w.shape[3:]).mean(dim=(2, 4))
            bias = bias.reshape(c, q, k, q, k).mean(dim=(2, 4))
        state["tail.weight"] = w.reshape(c * q * q, *w.shape[3:]).contiguous()
        state["tail.bias"] = bias.reshape(c * q * q).contiguous()
        self.load_state_dict(state)

    def grow_from(self, other: CompactSR) -> None:
        """Take the weights of a narrower and/or shallower CompactSR of the same scale so that this network starts
        as exactly the same function (net2net): new units see every unit of the layer below (default init) while
        no old unit or the tail sees them yet (zero weights), and the extra layers, after the old ones, start as
        identities (a Dirac 3x3 conv, zero bias, PReLU slope 1). Gradients reach every new weight within two steps."""
        a, b = other.config, self.config
        if (a.channels, a.head, a.scale, a.anchor, a.unshuffle) != (b.channels, b.head, b.scale, b.anchor,
                                                                    b.unshuffle) \
                or a.width > b.width or a.depth > b.depth:
            raise ValueError(f"grow_from: {a} is not a narrower or shallower {b}")
        wa = a.width
        with torch.no_grad():
            convs_b = [m for m in self.body if isinstance(m, nn.Conv2d)]
            acts_b = [m for m in self.body if isinstance(m, nn.PReLU)]
            convs_a = [m for m in other.body if isinstance(m, nn.Conv2d)]
            acts_a = [m for m in other.body if isinstance(m, nn.PReLU)]
            for i, (cb, pb) in enumerate(zip(convs_b, acts_b, strict=True)):
                if i < len(convs_a):  # an old layer: its weights in the corner, old units blind to new ones
                    ca, pa = convs_a[i], acts_a[i]
                    cin = ca.weight.shape[1]
                    cb.weight[:wa, cin:] = 0
                    cb.weight[:wa, :cin] = ca.weight
                    cb.bias[:wa] = ca.bias
                    pb.weight[:wa] = pa.weight
                else:  # an extra layer: the identity on every unit
                    cb.weight.zero_()
                    cb.weight[torch.arange(b.width), torch.arange(b.width), 1, 1] = 1
                    cb.bias.zero_()
                    pb.weight.fill_(1)
            self.tail.weight.zero_()
            self.tail.weight[:, :wa] = other.tail.weight
            self.tail.bias.copy_(other.tail.bias)

    def load_cells_from(self, other: CompactSR) -> None:
        """Take the weights of a CompactSR of the same shape that works on every px (``unshuffle`` 1) at this
        network's scale x unshuffle: its body and tail as they are, its head spread evenly over each cell's
        u^2 px. So the result starts as ``other`` on the cell means (a u x u box downscale), with this network's
        anchor: what a net trained at x4 knows, handed to a net that turns x2 input into cells of x4 px."""
        a, b = other.config, self.config
        u = b.unshuffle
        if a.unshuffle != 1 or a.scale != b.scale * u or (a.channels, a.head, a.width, a.depth, a.anchor) != (
                b.channels, b.head, b.width, b.depth, b.anchor):
            raise ValueError(f"load_cells_from: {a} is not {b} at scale {b.scale * u} without cells")
        state = other.state_dict()
        w = state["body.0.weight"]  # (width, C, k, k) -> (width, C u^2, k, k): channel c u^2 + i u + j
        state["body.0.weight"] = (w.repeat_interleave(u * u, dim=1) / (u * u)).contiguous()
        self.load_state_dict(state)

    def load_from(self, other: CompactSR) -> None:
        """Start from ``other``: another scale (load_other_scale), cells from a per-px net (load_cells_from),
        and/or narrower or shallower (grow_from)."""
        a, b = other.config, self.config
        if a == b:
            self.load_state_dict(other.state_dict())
            return
        if a.unshuffle != b.unshuffle:
            if a.unshuffle != 1:
                raise ValueError(f"load_from: cannot start a net on {b.unshuffle}-px cells from one on "
                                 f"{a.unshuffle}-px cells")
            k = b.scale * b.unshuffle
            if a.scale != k:
                rescaled = CompactSR(a.channels, a.head, a.width, a.depth, k, a.anchor)
                rescaled.load_other_scale(other)
                other = rescaled
            celled = CompactSR(a.channels, a.head, a.width, a.depth, b.scale, a.anchor, b.unshuffle)
            celled.load_cells_from(other)
            other, a = celled, celled.config
        if a.scale != b.scale:
            rescaled = CompactSR(a.channels, a.head, a.width, a.depth, b.scale, a.anchor, a.unshuffle)
            rescaled.load_other_scale(other)
            other = rescaled
        if other.config != b:
            self.grow_from(other)
        else:
            self.load_state_dict(other.state_dict())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) float32 in [0, 1] -> (N, C, scale H, scale W) float32, roughly [0, 1], not clipped."""
        u = self.config.unshuffle
        if u == 1:
            y = self.tail(self.body(x))
            if self.config.anchor:
                y = y + x.repeat_interleave(self.scale * self.scale, dim=1)
            return self.shuffle(y)
        h, w = x.shape[-2:]
        ph, pw = -h % u, -w % u
        cells = F.pixel_unshuffle(F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x, u)
        y = self.shuffle(self.tail(self.body(cells)))[..., : h * self.scale, : w * self.scale]
        if self.config.anchor:
            y = y + x.repeat_interleave(self.scale, dim=2).repeat_interleave(self.scale, dim=3)
        return y


ARCHS: dict[str, tuple[type[nn.Module], type]] = {
    "srcnn": (SRCNN, ModelConfig),
    "fsrcnn": (FSRCNN, FSRCNNConfig),
    "compact": (CompactSR, CompactConfig),
}


def build_model(arch: str, config: Mapping) -> nn.Module:
    """A fresh network of ``arch`` ("srcnn" or "fsrcnn") from its config fields; ValueError for unknown ones."""
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r} (known: {', '.join(ARCHS)})")
    cls, cfg_cls = ARCHS[arch]
    fields = set(cfg_cls.__dataclass_fields__)
    unknown = set(config) - fields
    if unknown:
        raise ValueError(f"unknown {arch} config keys: {', '.join(sorted(unknown))}")
    return cls(**dict(config))
