"""Evaluation with the field's protocol (SRCNN TPAMI 2016 / its MATLAB code; see shared REFERENCE.md).

SR (scale s): ground truth mod-cropped to s; Y of BT.601 rounded to uint8 (gray images: values as Y);
LR = imresize(Y, 1/s); input = imresize(LR, s) (float, unrounded); baseline = input rounded;
output clipped and rounded to uint8; s px shaved; PSNR and SSIM per image, averaged per dataset.
JPEG (quality q): the Y/gray uint8 image encoded with Pillow's IJG tables at q and decoded = input and baseline;
nothing shaved. Networks on RGB (3 channels) get RGB, as in their training: see ``_evaluate_rgb``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .color import y_uint8
from .degrade import jpeg, modcrop, sr_pair
from .enhance import Enhancer
from .images import quantize, read, to_8bit
from .metrics import psnr_y, ssim_y

__all__ = ["ImageResult", "DatasetResult", "ground_truth_y", "protocol_input", "protocol_output", "enhance_plane",
           "evaluate_image", "evaluate_dataset", "task_label", "baseline_label", "psnr_ssim", "markdown_table",
           "to_json", "to_markdown", "to_table"]


@dataclass
class ImageResult:
    """Per-image metrics: model and baseline PSNR (dB) and SSIM on Y."""

    name: str
    psnr: float
    ssim: float
    baseline_psnr: float
    baseline_ssim: float


@dataclass
class DatasetResult:
    """Per-dataset means and the per-image rows."""

    dataset: str
    scale: int
    jpeg_quality: int | None
    images: int
    psnr: float
    ssim: float
    baseline_psnr: float
    baseline_ssim: float
    per_image: list[ImageResult] = field(default_factory=list)


def ground_truth_y(path: Path) -> np.ndarray:
    """The protocol's ground truth of an image file: its Y rounded to uint8 (a gray image: its values)."""
    return y_uint8(to_8bit(read(path).pixels))


def protocol_input(gt: np.ndarray, scale: int, jpeg_quality: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The protocol's degradation of an HxW (Y) or HxWx3 (RGB) uint8 ground truth: (reference uint8, low-resolution,
    input) floats.

    SR: reference = ``gt`` mod-cropped to ``scale``, low = imresize(reference, 1/scale), input = imresize(low,
    scale) (float, unrounded). JPEG: reference = ``gt``, low = input = ``gt`` encoded at the quality and decoded.
    """
    if jpeg_quality:
        inp = jpeg(gt.astype(np.float64) / 255.0, jpeg_quality)
        return gt, inp, inp
    ref = modcrop(gt, scale)
    return (ref, *sr_pair(ref.astype(np.float64) / 255.0, scale))


def protocol_output(enhancer: Enhancer, low: np.ndarray, inp: np.ndarray, scale: int) -> np.ndarray:
    """The network's float output for :func:`protocol_input`'s ``low`` and ``inp``: a post-upsampling network gets
    the low-resolution image itself and ``scale`` (1 for JPEG), a pre-upsampling one the input."""
    if enhancer.upsampling == "post":
        return enhance_plane(enhancer, low, scale)
    return enhance_plane(enhancer, inp)


def enhance_plane(enhancer: Enhancer, x: np.ndarray, scale: float = 1) -> np.ndarray:
    """(H, W) float in [0, 1] -> (sH, sW) float32 network output in [0, 1] (gray for RGB models).

    A pre-upsampling network gets ``x`` at the output size (``scale`` 1: already bicubic-upscaled); a
    post-upsampling one gets the low-resolution ``x`` and ``scale`` (its own factor, or the bicubic after it).
    """
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None]
    if enhancer.channels == 3:
        t = t.expand(3, -1, -1).clone()
    if enhancer.upsampling == "post" or scale != 1:
        out = enhancer.enhance_planes(t, scale, None, None)
    else:
        out = enhancer(t[None])[0]
    return out.mean(0).numpy() if out.shape[0] == 3 else out[0].numpy()


def _evaluate_rgb(enhancer: Enhancer, path: Path, scale: int, jpeg_quality: int | None) -> ImageResult:
    """A 3-channel network sees RGB, as in training and validation: the RGB ground truth degraded (bicubic down
    on RGB, or JPEG of RGB), the network's RGB output rounded to uint8, then Y (gray images: their own values,
    fed as R = G = B, the output's gray is the mean of its channels), scored as the protocol scores Y."""
    px = to_8bit(read(path).pixels)
    gray = px.shape[2] == 1
    ref_rgb, low, inp = protocol_input(np.repeat(px, 3, axis=2) if gray else px, scale, jpeg_quality)

    def y_of(rgb: np.ndarray) -> np.ndarray:
        return y_uint8(quantize(np.clip(rgb, 0, 1), 8), gray=gray)

    ref, base, border = y_uint8(ref_rgb, gray=gray), y_of(inp), 0 if jpeg_quality else scale
    post = enhancer.upsampling == "post"
    src = torch.from_numpy(np.ascontiguousarray((low if post else inp).transpose(2, 0, 1))).float()
    out = y_of(enhancer.enhance_planes(src, scale if post and not jpeg_quality else 1, None, None).numpy()
               .transpose(1, 2, 0))
    return ImageResult(path.name, psnr_y(ref, out, border), ssim_y(ref, out, border), psnr_y(ref, base, border),
                       ssim_y(ref, base, border))


def evaluate_image(enhancer: Enhancer, path: Path, scale: int, jpeg_quality: int | None) -> ImageResult:
    """Protocol metrics of one ground-truth image for the model and its baseline (RGB networks: on RGB)."""
    if enhancer.model is not None and enhancer.channels == 3:
        return _evaluate_rgb(enhancer, path, scale, jpeg_quality)
    ref, low, inp = protocol_input(ground_truth_y(path), scale, jpeg_quality)
    base = quantize(inp, 8)
    border = 0 if jpeg_quality else scale
    if enhancer.model is None:
        out = base
    else:
        out = quantize(protocol_output(enhancer, low, inp, 1 if jpeg_quality else scale), 8)
    return ImageResult(path.name, psnr_y(ref, out, border), ssim_y(ref, out, border), psnr_y(ref, base, border),
                       ssim_y(ref, base, border))


def evaluate_dataset(
    enhancer: Enhancer,
    folder: str | Path,
    scale: int = 1,
    jpeg_quality: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> DatasetResult:
    """Evaluate every image in ``folder`` (sorted) and average per the protocol."""
    from .data import list_images

    folder = Path(folder)
    rows = []
    for p in list_images([folder], recursive=False):
        rows.append(evaluate_image(enhancer, p, scale, jpeg_quality))
        if progress:
            progress(p.name)
    if not rows:
        raise FileNotFoundError(f"{folder}: no images")

    def mean(key: str) -> float:
        return float(np.mean([getattr(r, key) for r in rows]))

    return DatasetResult(folder.name, scale, jpeg_quality, len(rows), mean("psnr"), mean("ssim"),
                         mean("baseline_psnr"), mean("baseline_ssim"), rows)


def to_json(model: str, results: Sequence[DatasetResult]) -> str:
    """The JSON report: {"model", "results": [...]} as documented in the CLI help."""
    return json.dumps({"model": model, "results": [asdict(r) for r in results]}, indent=2)


def task_label(scale: int, jpeg_quality: int | None, jpeg_word: bool = False) -> str:
    """The task of a result in reports: "x3" (SR at that scale) or "q20" (JPEG at that quality; "JPEG q20")."""
    if jpeg_quality:
        return f"JPEG q{jpeg_quality}" if jpeg_word else f"q{jpeg_quality}"
    return f"x{scale}"


def baseline_label(scale: int, jpeg_quality: int | None, with_scale: bool = True) -> str:
    """What the model is compared with: "bicubic x3" (or "bicubic") or "JPEG q20" (the decoded JPEG itself)."""
    if jpeg_quality:
        return task_label(scale, jpeg_quality, jpeg_word=True)
    return f"bicubic x{scale}" if with_scale else "bicubic"


def psnr_ssim(psnr: float, ssim: float) -> str:
    """A report cell: "31.23 / 0.8812" (PSNR dB, SSIM)."""
    return f"{psnr:.2f} / {ssim:.4f}"


def markdown_table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """The lines of a Markdown table: the header, the ``|---|`` rule, one line per row of cells."""
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(r) + " |" for r in rows)]


def to_table(model: str, results: Sequence[DatasetResult]) -> str:
    """A plain-text table: dataset, scale/quality, images, baseline and model PSNR/SSIM."""
    head = f"{'dataset':<10} {'task':<8} {'n':>3}  {'baseline PSNR/SSIM':>20}  {model + ' PSNR/SSIM':>24}  {'gain':>6}"
    lines = [head, "-" * len(head)]
    lines += [f"{r.dataset:<10} {task_label(r.scale, r.jpeg_quality):<8} {r.images:>3}  {r.baseline_psnr:>11.2f} / "
              f"{r.baseline_ssim:.4f}  {r.psnr:>15.2f} / {r.ssim:.4f}  {r.psnr - r.baseline_psnr:>+6.2f}"
              for r in results]
    return "\n".join(lines)


def to_markdown(model: str, results: Sequence[DatasetResult]) -> str:
    """A Markdown table of the same figures."""
    head = ["dataset", "task", "images", "baseline", "baseline PSNR / SSIM", f"{model} PSNR / SSIM", "gain (dB)"]
    rows = [[r.dataset, task_label(r.scale, r.jpeg_quality, jpeg_word=True), str(r.images),
             baseline_label(r.scale, r.jpeg_quality), psnr_ssim(r.baseline_psnr, r.baseline_ssim),
             psnr_ssim(r.psnr, r.ssim), f"{r.psnr - r.baseline_psnr:+.2f}"] for r in results]
    return "\n".join(markdown_table(head, rows))
