"""``srcnn demo``: enhance the bundled example photo and write a side-by-side comparison.

The photo (public domain, see assets/SOURCES.md) is shrunk by the model's scale with the bicubic and then
enhanced back, so the comparison shows bicubic | srcnn | the original photo, like the seed's output example.
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .degrade import downscale
from .images import Picture, quantize, read, write

__all__ = ["example_photo", "side_by_side", "run_demo", "add_arguments", "run"]


def example_photo() -> Path:
    """Path of the bundled public-domain example photo."""
    return Path(str(resources.files("srcnn") / "assets" / "rocket.jpg"))


def side_by_side(panels: list[tuple[str, np.ndarray]], crop: tuple[int, int, int, int] | None = None,
                 zoom: int = 2) -> Image.Image:
    """Label and join HxWx3 uint8 panels left to right (optionally a (y0, y1, x0, x1) crop, nearest zoom)."""
    tiles = []
    for label, arr in panels:
        a = arr if crop is None else arr[crop[0]:crop[1], crop[2]:crop[3]]
        im = Image.fromarray(a).resize((a.shape[1] * zoom, a.shape[0] * zoom), Image.NEAREST)
        canvas = Image.new("RGB", (im.width, im.height + 22), "white")
        canvas.paste(im, (0, 22))
        ImageDraw.Draw(canvas).text((6, 5), label, fill="black")
        tiles.append(canvas)
    gap = 6
    out = Image.new("RGB", (sum(t.width for t in tiles) + gap * (len(tiles) - 1), tiles[0].height), "white")
    x = 0
    for t in tiles:
        out.paste(t, (x, 0))
        x += t.width + gap
    return out


def run_demo(out_dir: Path, model_name: str | None = None) -> tuple[Path, Path, str]:
    """Write <out>/rocket_srcnn.png and <out>/comparison.png; returns (result, comparison, model used)."""
    from .enhance import load_model
    from .zoo import default_name

    name = model_name or default_name()
    enhancer = load_model(name)
    scale = enhancer.scale if enhancer.scale > 1 else 2
    photo = read(example_photo())
    h, w = photo.height - photo.height % scale, photo.width - photo.width % scale
    original = photo.pixels[:h, :w]
    small_u8 = quantize(downscale(original.astype(np.float64) / 255.0, scale), 8)
    low = Picture(small_u8, None, photo.icc, photo.exif, "PNG")
    result = enhancer.enhance_picture(low, scale=scale)
    bicubic = load_model("bicubic").enhance_picture(low, scale=scale)
    out_dir.mkdir(parents=True, exist_ok=True)
    result_path = out_dir / "rocket_srcnn.png"
    write(result_path, result)
    write(out_dir / "rocket_input.png", low)
    ch, cw = min(160, h), min(200, w)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    crop = (y0, y0 + ch, x0, x0 + cw)
    comp = side_by_side([(f"bicubic x{scale}", bicubic.pixels), (f"{name} x{scale}", result.pixels),
                         ("original", original)], crop)
    comp_path = out_dir / "comparison.png"
    write(comp_path, Picture(np.asarray(comp)))
    return result_path, comp_path, name


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `srcnn demo`."""
    p.add_argument("--out", default="demo-out", help="output folder (default demo-out)")
    p.add_argument("-m", "--model", help="model to show (default: srcnn-photo, else the best shipped one)")


def run(args: argparse.Namespace) -> int:
    """Run the demo and print where the files are."""
    from .checkpoint import WeightsError
    from .errors import fail
    from .images import ImageError

    try:
        result, comp, name = run_demo(Path(args.out), args.model)
    except (WeightsError, ImageError, OSError) as e:
        return fail(str(e))
    print(f"model: {name}")
    if name == "bicubic":
        print("note: no trained model ships with this version yet, so the demo shows the bicubic baseline")
    print(f"enhanced photo: {result}")
    print(f"side-by-side:   {comp}")
    return 0
