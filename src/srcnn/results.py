"""``make results``: evaluate every shipped model on the test sets and write docs/results.md and figures.

    python -m srcnn.results --data ../shared/data --out docs

Tables: per task (SR x2/x3/x4, JPEG q10-q40, the blind photo model), baseline | ours | paper reference, PSNR and
SSIM on Y with the SRCNN protocol. Figures: crops side by side, input (bicubic or JPEG) | srcnn | ground truth.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .checkpoint import atomic_write
from .degrade import jpeg, modcrop
from .demo import side_by_side
from .enhance import Enhancer, load_model
from .evaluate import DatasetResult, enhance_plane, evaluate_dataset
from .images import Picture, quantize, read, write
from .metrics import to_y_uint8
from .resize import imresize
from .zoo import ModelCard, available

__all__ = ["PAPER", "main", "real_figure", "real_figures"]

# Published references (shared/REFERENCE.md): SRCNN 9-5-5 ImageNet (TPAMI 2016, Tables 2-3) and AR-CNN (as
# re-evaluated in the DnCNN paper), PSNR dB / SSIM.
PAPER: dict[tuple[str, str], tuple[float, float]] = {
    ("Set5", "x2"): (36.66, 0.9542), ("Set5", "x3"): (32.75, 0.9090), ("Set5", "x4"): (30.49, 0.8628),
    ("Set14", "x2"): (32.45, 0.9067), ("Set14", "x3"): (29.30, 0.8215), ("Set14", "x4"): (27.50, 0.7513),
    ("LIVE1", "q10"): (28.96, 0.8076), ("LIVE1", "q20"): (31.29, 0.8733), ("LIVE1", "q30"): (32.67, 0.9043),
    ("LIVE1", "q40"): (33.63, 0.9198), ("Classic5", "q10"): (29.03, 0.7929), ("Classic5", "q20"): (31.15, 0.8517),
    ("Classic5", "q30"): (32.51, 0.8806), ("Classic5", "q40"): (33.34, 0.8953),
}

SR_SETS = ["Set5", "Set14"]
JPEG_SETS = ["LIVE1", "Classic5"]
QUALITIES = [10, 20, 30, 40]


def _task_key(r: DatasetResult) -> str:
    return f"q{r.jpeg_quality}" if r.jpeg_quality else f"x{r.scale}"


def _rows(model: str, results: list[DatasetResult], reference: str) -> list[str]:
    out = []
    for r in results:
        ref = PAPER.get((r.dataset, _task_key(r)))
        ref_s = f"{ref[0]:.2f} / {ref[1]:.4f}" if ref else "–"
        base = f"JPEG q{r.jpeg_quality}" if r.jpeg_quality else "bicubic"
        out.append(f"| {model} | {r.dataset} | {_task_key(r)} | {base} {r.baseline_psnr:.2f} / {r.baseline_ssim:.4f} "
                   f"| **{r.psnr:.2f} / {r.ssim:.4f}** | {r.psnr - r.baseline_psnr:+.2f} | {reference} {ref_s} |")
    return out


def _header() -> list[str]:
    return ["| model | set | task | baseline PSNR / SSIM | ours PSNR / SSIM | gain dB | paper PSNR / SSIM |",
            "|---|---|---|---|---|---|---|"]


def _figure(enhancer: Enhancer, gt_path: Path, scale: int, quality: int | None, out: Path) -> None:
    px = read(gt_path).pixels
    px = px[:, :, 0] if px.shape[2] == 1 else to_y_uint8(px)
    gt = modcrop(px, scale).astype(np.float64) / 255.0
    small = imresize(gt, 1 / scale)
    inp = jpeg(gt, quality) if quality else imresize(small, scale)
    post = enhancer.upsampling == "post" and not quality  # it takes the low-resolution picture itself
    res = enhance_plane(enhancer, small, scale) if post else enhance_plane(enhancer, inp)

    def u8(a: np.ndarray) -> np.ndarray:
        g = quantize(a, 8)
        return np.stack([g] * 3, -1)

    h, w = gt.shape
    ch, cw = min(120, h), min(120, w)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    label = f"JPEG q{quality}" if quality else f"bicubic x{scale}"
    im = side_by_side([(label, u8(inp)), (enhancer.name, u8(res)), ("ground truth", u8(gt))],
                      (y0, y0 + ch, x0, x0 + cw), zoom=2)
    out.parent.mkdir(parents=True, exist_ok=True)
    write(out, Picture(np.asarray(im)))


def real_figure(photo: Path, models: list[tuple[str, Enhancer]], scale: int, out: Path, crop: int = 200) -> None:
    """One real photo (no ground truth): input (nearest) | bicubic | each model, a crop at 100 % of the output.

    The crop (``crop`` x ``crop`` output px) is the window where the bicubic enlargement has the most detail
    (gradient energy), so the figure shows edges, texture and noise rather than flat sky; flat areas show up
    too, since real photos mix both.
    """
    from PIL import Image

    pic = read(photo)
    pic = Picture(pixels=pic.pixels if pic.pixels.dtype == np.uint8 else quantize(pic.pixels / 65535.0, 8))
    if pic.pixels.shape[2] == 1:
        pic = Picture(pixels=np.repeat(pic.pixels, 3, axis=2))
    h, w = pic.height * scale, pic.width * scale
    nearest = np.asarray(Image.fromarray(pic.pixels).resize((w, h), Image.NEAREST))
    bic = load_model("bicubic").enhance_picture(pic, scale=scale).pixels
    g = bic.astype(np.float32).mean(2)
    energy = np.abs(np.diff(g, axis=0))[:, :-1] + np.abs(np.diff(g, axis=1))[:-1]
    c = min(crop, h - 1, w - 1)
    sums = np.cumsum(np.cumsum(np.pad(energy, ((1, 0), (1, 0))), 0), 1)
    win = sums[c:, c:] - sums[:-c, c:] - sums[c:, :-c] + sums[:-c, :-c]
    y0, x0 = np.unravel_index(int(np.argmax(win)), win.shape)
    panels = [(f"input (x{scale} nearest)", nearest), (f"bicubic x{scale}", bic)]
    panels += [(f"{label} x{scale}", enh.enhance_picture(pic, scale=scale).pixels) for label, enh in models]
    im = side_by_side(panels, (int(y0), int(y0) + c, int(x0), int(x0) + c), zoom=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    write(out, Picture(np.asarray(im)))


def real_figures(folder: Path, models: list[tuple[str, Enhancer]], out: Path, scales: tuple[int, ...] = (2, 4)
                 ) -> list[Path]:
    """``real-<photo>-x<s>.png`` in ``out`` for every photo of ``folder`` (RealSRSet-dev) at each scale."""
    from .data import list_images

    paths = []
    for photo in list_images([folder], recursive=False):
        for s in scales:
            paths.append(out / f"real-{photo.stem}-x{s}.png")
            real_figure(photo, models, s, paths[-1])
    return paths


def _cell(r: DatasetResult | None) -> str:
    return f"{r.psnr:.2f} / {r.ssim:.4f}" if r else "–"


BEGIN, END = "<!-- results:begin (make results) -->", "<!-- results:end -->"


def _update_readme(path: Path, block: list[str]) -> None:
    """Replace the text between BEGIN and END in ``path`` by ``block`` (a README that lacks them is left alone)."""
    text = path.read_text()
    if BEGIN not in text or END not in text:
        print(f"srcnn.results: note: {path} has no results markers; left as it is", file=sys.stderr)
        return
    head, rest = text.split(BEGIN, 1)
    new = head + BEGIN + "\n" + "\n".join(block) + "\n" + END + rest.split(END, 1)[1]
    atomic_write(path, lambda tmp: Path(tmp).write_text(new))


def _wall(c: ModelCard) -> str:
    s = c.raw.get("wall_time_s")
    return f"{s / 3600:.1f} h" if s else "–"


def _base(r: DatasetResult) -> str:
    return f"{r.baseline_psnr:.2f} / {r.baseline_ssim:.4f}"


def main(argv: list[str] | None = None) -> int:
    """Write <out>/results.md and <out>/figures/*.png for every shipped model."""
    p = argparse.ArgumentParser(description="Regenerate docs/results.md and docs/figures.")
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--out", default="docs")
    p.add_argument("--readme", help="also refresh the block between the results markers of this README")
    p.add_argument("--real", nargs="*", metavar="NAME=MODEL", default=None,
                   help="only the real-photo figures (RealSRSet-dev): srcnn-photo and these models, e.g. "
                        "new=runs/real-x2/best.safetensors")
    a = p.parse_args(argv)
    if a.real is not None:
        models = [("srcnn-photo", load_model("srcnn-photo"))]
        for spec in a.real:
            label, _, src = spec.partition("=")
            models.append((label, load_model(src or label)))
        done = real_figures(Path(a.data) / "RealSRSet-dev", models, Path(a.out) / "figures")
        print(f"wrote {len(done)} real-photo figure(s) in {Path(a.out) / 'figures'}")
        return 0
    data, out = Path(a.data), Path(a.out)
    missing = [s for s in SR_SETS + JPEG_SETS if not (data / s).is_dir()]
    if missing:
        print(f"srcnn.results: error: {', '.join(missing)} not found under {data} (use --data)", file=sys.stderr)
        return 2
    # (set, "x3" or "q20") -> results: the baseline, each shipped model, and the specialist for that task.
    tasks = [(d, f"x{s}") for s in (2, 3, 4) for d in SR_SETS] + [(d, f"q{q}") for d in JPEG_SETS for q in QUALITIES]

    def run(enh: Enhancer, d: str, key: str) -> DatasetResult:
        if key[0] == "q":
            return evaluate_dataset(enh, data / d, scale=1, jpeg_quality=int(key[1:]))
        return evaluate_dataset(enh, data / d, scale=int(key[1:]))

    bicubic = load_model("bicubic")
    base = {t: run(bicubic, *t) for t in tasks}
    cards = available()
    specialist: dict[tuple[str, str], tuple[str, DatasetResult]] = {}
    per_model: dict[str, list[DatasetResult]] = {}
    for c in cards:
        enh = load_model(c.name)
        if c.task == "jpeg":
            mine = [t for t in tasks if t[1][0] == "q"]
        elif c.task == "photo":
            mine = [t for t in tasks if t[1] != "q10" and t[1] != "q30"]
        else:
            mine = [t for t in tasks if t[1] == f"x{c.scale}"]
        per_model[c.name] = [run(enh, *t) for t in mine]
        if c.task != "photo":
            specialist.update({t: (c.name, r) for t, r in zip(mine, per_model[c.name], strict=True)})
        gt = sorted((data / "Classic5").iterdir())[0] if c.task == "jpeg" else data / "Set5" / "butterfly.png"
        scale = 1 if c.task == "jpeg" else (3 if c.task == "photo" else c.scale)
        _figure(enh, gt, scale, 20 if c.task == "jpeg" else None, out / "figures" / f"{c.name}.png")

    intro = ["# Results", "", "Generated by `make results` (`python -m srcnn.results`). Y channel of BT.601, "
             "the SRCNN protocol: ground truth mod-cropped, `scale` px shaved, outputs rounded to uint8, "
             "per-image PSNR averaged per set. Paper columns: SRCNN 9-5-5 (ImageNet, TPAMI 2016) for SR, AR-CNN "
             "(as re-evaluated in the DnCNN paper) for JPEG. Test sets were never used to train or select a "
             "model: each was chosen on photos held out of its training folders.", ""]
    headline = ["| set | task | baseline (bicubic or JPEG input) | ours | model | paper | ours − paper dB |",
                "|---|---|---|---|---|---|---|"]
    for t in tasks:
        name, r = specialist.get(t, ("–", None))
        ref = PAPER.get(t)
        ref_s = f"{ref[0]:.2f} / {ref[1]:.4f}" if ref else "–"
        diff = f"{r.psnr - ref[0]:+.2f}" if r and ref else "–"
        headline.append(f"| {t[0]} | {t[1]} | {_base(base[t])} | **{_cell(r)}** | {name} | {ref_s} | {diff} |")
    models = ["| model | task | default scale | state | wall time here | summary |", "|---|---|---|---|---|---|"]
    models += [f"| `{c.name}` | {c.task} | {c.scale} | {c.state} | {_wall(c)} | {c.summary} |" for c in cards]
    models.append("| `bicubic` | sr | any | baseline | – | the MATLAB-compatible bicubic (no network) |")
    lines = [*intro, "## Headline: each task's specialised model", "", *headline, "", "## Shipped models", "",
             *models]
    if not cards:
        lines += ["", "No trained model ships with this version yet; see the README for the training status."]
    for c in cards:
        lines += ["", f"## {c.name} ({c.task}, {c.state})", "", c.summary, ""]
        if c.task == "photo":
            lines += ["One blind model against the specialised ones on their own tasks: what the default gives "
                      "up for handling any scale, blur and JPEG at once.", "",
                      "| set | task | baseline | srcnn-photo | specialised | model | photo − specialised dB |",
                      "|---|---|---|---|---|---|---|"]
            for r in per_model[c.name]:
                t = (r.dataset, _task_key(r))
                name, sr = specialist.get(t, ("–", None))
                diff = f"{r.psnr - sr.psnr:+.2f}" if sr else "–"
                lines.append(f"| {t[0]} | {t[1]} | {base[t].baseline_psnr:.2f} | **{_cell(r)}** | "
                             f"{_cell(sr)} | {name} | {diff} |")
        else:
            lines += _header() + _rows(c.name, per_model[c.name], "AR-CNN" if c.task == "jpeg" else "SRCNN")
        lines += ["", f"![{c.name}](figures/{c.name}.png)"]
    out.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + "\n"
    atomic_write(out / "results.md", lambda tmp: Path(tmp).write_text(text))
    if a.readme:
        _update_readme(Path(a.readme), [*headline, "", "Shipped models (`srcnn models`):", "", *models])
    print(f"wrote {out / 'results.md'} and {len(cards)} figure(s) in {out / 'figures'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
