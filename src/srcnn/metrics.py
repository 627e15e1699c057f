"""Image-quality metrics.

Two families, one implementation each:
- ``psnr(label, outputs, max_val=1.)``: the seed project's PSNR on float data, 20·log10(max_val / RMSE),
  returning 100 when the images are identical.
- The field's protocol (SRCNN/BasicSR conventions): Y of BT.601 rounded to uint8, ``crop_border`` pixels
  shaved from every side, float64 arithmetic; ``psnr_y`` = 10·log10(255² / MSE); ``ssim_y`` = Wang et al.'s
  SSIM (Gaussian 11x11, σ 1.5, K1 0.01, K2 0.03, data range 255, population covariance) via scikit-image.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from skimage.metrics import structural_similarity

from .color import y_uint8 as to_y_uint8  # the protocol's Y (its home is color)

__all__ = ["psnr", "to_y_uint8", "psnr_y", "ssim_y", "shave"]


def psnr(label: torch.Tensor | np.ndarray, outputs: torch.Tensor | np.ndarray, max_val: float = 1.0) -> float:
    """Seed semantics: 20·log10(max_val / RMSE) over all elements of float data in [0, max_val]; 100 if equal."""
    a = torch.as_tensor(np.asarray(label) if not isinstance(label, torch.Tensor) else label).double()
    b = torch.as_tensor(np.asarray(outputs) if not isinstance(outputs, torch.Tensor) else outputs).double()
    rmse = torch.sqrt(torch.mean((a - b) ** 2)).item()
    if rmse == 0:
        return 100.0
    return 20.0 * math.log10(max_val / rmse)


def shave(image: np.ndarray, border: int) -> np.ndarray:
    """Remove ``border`` pixels from each side of the first two axes."""
    if border <= 0:
        return image
    return image[border:-border, border:-border, ...]


def psnr_y(reference: np.ndarray, test: np.ndarray, crop_border: int = 0) -> float:
    """Protocol PSNR (dB) of two HxW uint8 Y images after shaving ``crop_border``; inf if identical."""
    a = shave(reference, crop_border).astype(np.float64)
    b = shave(test, crop_border).astype(np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def ssim_y(reference: np.ndarray, test: np.ndarray, crop_border: int = 0) -> float:
    """Protocol SSIM of two HxW uint8 Y images after shaving ``crop_border`` (Wang et al. 2004 settings)."""
    a = shave(reference, crop_border).astype(np.float64)
    b = shave(test, crop_border).astype(np.float64)
    return float(
        structural_similarity(
            a, b, data_range=255.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
            K1=0.01, K2=0.03,
        )
    )
