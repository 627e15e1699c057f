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

from .demo import side_by_side
from .enhance import Enhancer, load_model
from .errors import fail
from .evaluate import (
    DatasetResult,
    baseline_label,
    evaluate_dataset,
    ground_truth_y,
    markdown_table,
    protocol_input,
    protocol_output,
    psnr_ssim,
    task_label,
)
from .files import write_text
from .images import Picture, quantize, read, to_8bit, write
from .zoo import ModelCard, available

__all__ = ["PAPER", "main", "model_table", "real_figure", "real_figures"]

# Published references (shared/REFERENCE.md): SRCNN 9-5-5 ImageNet (TPAMI 2016, Tables 2-3) and AR-CNN (as
# re-evaluated in the DnCNN paper), PSNR dB / SSIM.
PAPER: dict[tuple[str, str], tuple[float, float]] = {
    ("Set5", "x2"): (36.66, 0.9542), ("Set5", "x3"): (32.75, 0.9090), ("Set5", "x4"): (30.49, 0.8628),
    ("Set14", "x2"): (32.45, 0.9067), ("Set14", "x3"): (29.30, 0.8215), ("Set14", "x4"): (27.50, 0.7513),
    ("LIVE1", "q10"): (28.96, 0.8076), ("LIVE1", "q20"): (31.29, 0.8733), ("LIVE1", "q30"): (32.67, 0.9043),
    ("LIVE1", "q40"): (33.63, 0.9198), ("Classic5", "q10"): (29.03, 0.7929), ("Classic5", "q20"): (31.15, 0.8517),
    ("Classic5", "q30"): (32.51, 0.8806), ("Classic5", "q40"): (33.34, 0.8953),
}

# FSRCNN d, s, m = 56, 12, 4 (ECCV 2016, 91 images), Set5 PSNR dB (shared/REFERENCE.md); its Set14 target is the
# SRCNN paper's (above).
FSRCNN_PAPER: dict[tuple[str, str], float] = {("Set5", "x2"): 36.94, ("Set5", "x3"): 33.06, ("Set5", "x4"): 30.55}

SR_SETS = ["Set5", "Set14"]
JPEG_SETS = ["LIVE1", "Classic5"]
QUALITIES = [10, 20, 30, 40]


def _is_fast(card: ModelCard) -> bool:
    """True for an FSRCNN card (its architecture has d, s, m)."""
    return "d" in card.raw.get("architecture", {})


def _task_key(r: DatasetResult) -> str:
    return task_label(r.scale, r.jpeg_quality)


def _paper(key: tuple[str, str]) -> str:
    ref = PAPER.get(key)
    return psnr_ssim(*ref) if ref else "–"


def model_table(model: str, results: list[DatasetResult], reference: str) -> list[str]:
    """One model's Markdown table: per set and task, baseline | ours | gain | the paper's (``reference``) figure."""
    head = ["model", "set", "task", "baseline PSNR / SSIM", "ours PSNR / SSIM", "gain dB", "paper PSNR / SSIM"]
    return markdown_table(head, (
        [model, r.dataset, _task_key(r),
         f"{baseline_label(r.scale, r.jpeg_quality, with_scale=False)} {psnr_ssim(r.baseline_psnr, r.baseline_ssim)}",
         f"**{psnr_ssim(r.psnr, r.ssim)}**", f"{r.psnr - r.baseline_psnr:+.2f}",
         f"{reference} {_paper((r.dataset, _task_key(r)))}"] for r in results))


def _figure(enhancer: Enhancer, gt_path: Path, scale: int, quality: int | None, out: Path) -> None:
    """A crop of the protocol's input | the model's output | the ground truth (Y as gray), zoomed 2x."""
    ref, low, inp = protocol_input(ground_truth_y(gt_path), scale, quality)
    res = protocol_output(enhancer, low, inp, 1 if quality else scale)

    panels = [(baseline_label(scale, quality), quantize(inp, 8)), (enhancer.name, quantize(res, 8)),
              ("ground truth", ref)]
    h, w = ref.shape
    ch, cw = min(120, h), min(120, w)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    im = side_by_side([(label, np.stack([y] * 3, -1)) for label, y in panels], (y0, y0 + ch, x0, x0 + cw), zoom=2)
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
    pic = Picture(pixels=to_8bit(pic.pixels))
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
    panels = [(f"input (x{scale} nearest)" if scale != 1 else "input", nearest)]
    panels += [(f"bicubic x{scale}", bic)] if scale != 1 else []
    panels += [(f"{label} x{scale}", enh.enhance_picture(pic, scale=scale).pixels) for label, enh in models]
    im = side_by_side(panels, (int(y0), int(y0) + c, int(x0), int(x0) + c), zoom=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    write(out, Picture(np.asarray(im)))


def real_figures(folder: Path, models: list[tuple[str, Enhancer | str]], out: Path,
                 scales: tuple[int, ...] = (2, 4)) -> list[Path]:
    """``real-<photo>-x<s>.png`` in ``out`` for every photo of ``folder`` (RealSRSet-dev) at each scale.

    A model given by name is loaded once per scale (a family runs its member for that scale)."""
    from .data import list_images

    paths = []
    photos = list_images([folder], recursive=False)
    for s in scales:
        at = [(label, load_model(m, scale=s) if isinstance(m, str) else m) for label, m in models]
        for photo in photos:
            paths.append(out / f"real-{photo.stem}-x{s}.png")
            real_figure(photo, at, s, paths[-1])
    return paths


def _cell(r: DatasetResult | None) -> str:
    return psnr_ssim(r.psnr, r.ssim) if r else "–"


BEGIN, END = "<!-- results:begin (make results) -->", "<!-- results:end -->"


def _update_readme(path: Path, block: list[str]) -> None:
    """Replace the text between BEGIN and END in ``path`` by ``block`` (a README that lacks them is left alone)."""
    text = path.read_text()
    if BEGIN not in text or END not in text:
        print(f"srcnn.results: note: {path} has no results markers; left as it is", file=sys.stderr)
        return
    head, rest = text.split(BEGIN, 1)
    new = head + BEGIN + "\n" + "\n".join(block) + "\n" + END + rest.split(END, 1)[1]
    write_text(path, new)


def _wall(c: ModelCard) -> str:
    s = c.raw.get("wall_time_s")
    return f"{s / 3600:.1f} h" if s else "–"


def main(argv: list[str] | None = None) -> int:
    """Write <out>/results.md and <out>/figures/*.png for every shipped model."""
    p = argparse.ArgumentParser(description="Regenerate docs/results.md and docs/figures.")
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--out", default="docs")
    p.add_argument("--readme", help="also refresh the block between the results markers of this README")
    p.add_argument("--real", nargs="*", metavar="NAME=MODEL", default=None,
                   help="only the real-photo figures (RealSRSet-dev): srcnn-photo and these models, e.g. "
                        "new=runs/real-x2/best.safetensors")
    p.add_argument("--real-scales", default="2,4", help="scales of the real-photo figures (default 2,4)")
    a = p.parse_args(argv)
    if a.real is not None:
        models: list[tuple[str, Enhancer | str]] = [("srcnn-photo", "srcnn-photo")]
        for spec in a.real:
            label, _, src = spec.partition("=")
            models.append((label, src or label))
        scales = tuple(int(v) for v in a.real_scales.split(","))
        done = real_figures(Path(a.data) / "RealSRSet-dev", models, Path(a.out) / "figures", scales)
        print(f"wrote {len(done)} real-photo figure(s) in {Path(a.out) / 'figures'}")
        return 0
    data, out = Path(a.data), Path(a.out)
    missing = [s for s in SR_SETS + JPEG_SETS if not (data / s).is_dir()]
    if missing:
        return fail(f"{', '.join(missing)} not found under {data} (use --data)", "srcnn.results")
    # (set, "x3" or "q20") -> results: the baseline, each shipped model, and the specialist for that task.
    settings = {(d, task_label(s, None)): (s, None) for s in (2, 3, 4) for d in SR_SETS}
    settings |= {(d, task_label(1, q)): (1, q) for d in JPEG_SETS for q in QUALITIES}
    tasks = list(settings)

    def run(enh: Enhancer, d: str, key: str) -> DatasetResult:
        scale, quality = settings[d, key]
        return evaluate_dataset(enh, data / d, scale=scale, jpeg_quality=quality)

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
            mine = [t for t in tasks if t[1] == task_label(c.scale, None)]
        per_model[c.name] = [run(enh, *t) for t in mine]
        if c.task != "photo" and not _is_fast(c):
            specialist.update({t: (c.name, r) for t, r in zip(mine, per_model[c.name], strict=True)})
        gt = sorted((data / "Classic5").iterdir())[0] if c.task == "jpeg" else data / "Set5" / "butterfly.png"
        scale = 1 if c.task == "jpeg" else (3 if c.task == "photo" else c.scale)
        _figure(enh, gt, scale, 20 if c.task == "jpeg" else None, out / "figures" / f"{c.name}.png")

    intro = ["# Results", "", "Generated by `make results` (`python -m srcnn.results`). Y channel of BT.601, "
             "the SRCNN protocol: ground truth mod-cropped, `scale` px shaved, outputs rounded to uint8, "
             "per-image PSNR averaged per set. Paper columns: SRCNN 9-5-5 (ImageNet, TPAMI 2016) for SR, AR-CNN "
             "(as re-evaluated in the DnCNN paper) for JPEG. Test sets were never used to train or select a "
             "model: each was chosen on photos held out of its training folders.", ""]
    rows = []
    for t in tasks:
        name, r = specialist.get(t, ("–", None))
        ref = PAPER.get(t)
        diff = f"{r.psnr - ref[0]:+.2f}" if r and ref else "–"
        rows.append([t[0], t[1], psnr_ssim(base[t].baseline_psnr, base[t].baseline_ssim), f"**{_cell(r)}**", name,
                     _paper(t), diff])
    headline = markdown_table(["set", "task", "baseline (bicubic or JPEG input)", "ours", "model", "paper",
                               "ours − paper dB"], rows)
    fast_rows = []
    for c in cards:
        if not _is_fast(c):
            continue
        for r in per_model[c.name]:
            t = (r.dataset, _task_key(r))
            ref, label = (FSRCNN_PAPER[t], "FSRCNN") if t in FSRCNN_PAPER else (PAPER[t][0], "SRCNN")
            fast_rows.append([t[0], t[1], f"{base[t].baseline_psnr:.2f}", f"**{_cell(r)}**", c.name,
                              f"{label} {ref:.2f}", f"{r.psnr - ref:+.2f}"])
    if fast_rows:
        headline += ["", "The fast models (FSRCNN, upsampling at their end) against the FSRCNN paper (Set5) and the "
                     "SRCNN paper (Set14, the target there):", "",
                     *markdown_table(["set", "task", "bicubic", "ours", "model", "paper dB", "ours − paper dB"],
                                     fast_rows)]
    models = markdown_table(["model", "task", "default scale", "state", "wall time here", "summary"],
                            [[f"`{c.name}`", c.task, str(c.scale), c.state, _wall(c), c.summary] for c in cards])
    models.append("| `bicubic` | sr | any | baseline | – | the MATLAB-compatible bicubic (no network) |")
    lines = [*intro, "## Headline: each task's specialised model", "", *headline, "", "## Shipped models", "",
             *models]
    if not cards:
        lines += ["", "No trained model ships with this version yet; see the README for the training status."]
    for c in cards:
        lines += ["", f"## {c.name} ({c.task}, {c.state})", "", c.summary, ""]
        if c.task == "photo":
            lines += ["One blind model against the specialised ones on their own tasks: what the default gives "
                      "up for handling any scale, blur and JPEG at once.", ""]
            rows = []
            for r in per_model[c.name]:
                t = (r.dataset, _task_key(r))
                name, sr = specialist.get(t, ("–", None))
                diff = f"{r.psnr - sr.psnr:+.2f}" if sr else "–"
                rows.append([t[0], t[1], f"{base[t].baseline_psnr:.2f}", f"**{_cell(r)}**", _cell(sr), name, diff])
            lines += markdown_table(["set", "task", "baseline", "srcnn-photo", "specialised", "model",
                                     "photo − specialised dB"], rows)
        else:
            lines += model_table(c.name, per_model[c.name], "AR-CNN" if c.task == "jpeg" else "SRCNN")
        lines += ["", f"![{c.name}](figures/{c.name}.png)"]
    out.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + "\n"
    write_text(out / "results.md", text)
    if a.readme:
        _update_readme(Path(a.readme), [*headline, "", "Shipped models (`srcnn models`):", "", *models])
    print(f"wrote {out / 'results.md'} and {len(cards)} figure(s) in {out / 'figures'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
