"""srcnn: restore detail in photos with SRCNN (Dong, Loy, He, Tang, TPAMI 2016).

Python API::

    import srcnn
    model = srcnn.load_model(scale=2)                # the default "real" family; a name, a .safetensors / .pth
                                                     # path, or "bicubic"
    big = model.enhance(pil_image, scale=2)          # PIL in, PIL out; gray stays gray, alpha kept
    y = model(x)                     # (N, C, H, W) float32 in [0, 1] -> (N, C, kH, kW), k = model.net_scale

Data conventions: tensors are float32 in [0, 1], (N, C, H, W); the network sees Y of BT.601 (MATLAB rgb2ycbcr)
unless it has 3 channels; metrics follow the SRCNN protocol (Y, ``scale`` px shaved, uint8, float64).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "SRCNN",
    "Enhancer",
    "load_model",
    "psnr",
    "psnr_y",
    "ssim_y",
    "imresize",
    "rgb_to_ycbcr",
    "ycbcr_to_rgb",
    "read",
    "write",
    "__version__",
]

_LAZY = {
    "SRCNN": ("model", "SRCNN"),
    "Enhancer": ("enhance", "Enhancer"),
    "load_model": ("enhance", "load_model"),
    "psnr": ("metrics", "psnr"),
    "psnr_y": ("metrics", "psnr_y"),
    "ssim_y": ("metrics", "ssim_y"),
    "imresize": ("resize", "imresize"),
    "rgb_to_ycbcr": ("color", "rgb_to_ycbcr"),
    "ycbcr_to_rgb": ("color", "ycbcr_to_rgb"),
    "read": ("images", "read"),
    "write": ("images", "write"),
}

if TYPE_CHECKING:
    from .color import rgb_to_ycbcr, ycbcr_to_rgb
    from .enhance import Enhancer, load_model
    from .images import read, write
    from .metrics import psnr, psnr_y, ssim_y
    from .model import SRCNN
    from .resize import imresize


def __getattr__(name: str) -> Any:
    """Import the public names on first use, so that `import srcnn` stays cheap."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'srcnn' has no attribute {name!r}")
