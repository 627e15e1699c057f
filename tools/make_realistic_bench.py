"""Build the realistic benchmark (issue 17, item 3): Set14, LIVE1, Classic5 ground truth degraded at x1, x2, x4.

Every image (modcropped to the scale) is degraded once by ``RealisticDegradation(scale)`` (the Real-ESRGAN
second-order chain, defaults of srcnn.degrade) with a seed fixed by (set, image, scale): the first 8 bytes of
sha256("<base seed>:<set>:<file stem>:<scale>"). HR and LR are written as 8-bit PNGs under
``<out>/<scale>/<set>/HR/<stem>.png`` and ``.../LR/<stem>.png`` (git-ignored); the recipe (the degradation's
fields, the seed rule, library versions, the machine, every image's drawn Params and the sha256 and pixel
fingerprint (shape, mean, std) of every file) goes to a committed JSON manifest. ``--check`` rebuilds everything
in memory and compares it with the manifest (and with the files, when present) without writing anything. The
degradation runs in float32, so bytes are reproducible only with the manifest's library versions on a machine like
its own (``machine``: torch's CPU kernel level and bf16 units); elsewhere a few pixels round the other way, and a file
passes when its fingerprint matches. Never train on these images.

    python tools/make_realistic_bench.py [--data ../shared/data] [--out bench-data/realistic] [--check]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image

from srcnn.degrade import RealisticDegradation, modcrop
from srcnn.files import write_bytes, write_text
from srcnn.images import quantize, read, to_8bit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _common import machine, png_fingerprint, same_fingerprint  # noqa: E402

SETS = ("Set14", "LIVE1", "Classic5")
SCALES = (1, 2, 4)
EXTENSIONS = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")


def image_seed(base: int, set_name: str, stem: str, scale: int) -> int:
    """The seed of one (set, image, scale): first 8 bytes of sha256, as an unsigned int below 2**63."""
    digest = hashlib.sha256(f"{base}:{set_name}:{stem}:{scale}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def png_bytes(u8: np.ndarray) -> bytes:
    """(H, W) or (H, W, 3) uint8 -> PNG bytes (Pillow, default zlib level, no metadata)."""
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, format="PNG")
    return buf.getvalue()


def versions() -> dict[str, str]:
    import PIL
    import scipy
    import torch

    return {"python": platform.python_version(), "numpy": np.__version__, "Pillow": PIL.__version__,
            "scipy": scipy.__version__, "torch": torch.__version__}


def build(data: Path, base_seed: int, sets: tuple[str, ...] = SETS, scales: tuple[int, ...] = SCALES,
          limit: int | None = None):
    """Yield (set, stem, scale, seed, params, hr_png, lr_png) for every image and scale, in a fixed order.

    ``sets``, ``scales`` and ``limit`` (the first images of each set) only select: an image's bytes do not
    depend on them (tests build a small part of the benchmark that way).
    """
    for set_name in sets:
        files = sorted(p for p in (data / set_name).iterdir() if p.suffix.lower() in EXTENSIONS)
        if not files:
            raise SystemExit(f"{data / set_name}: no images")
        for path in files[:limit]:
            px = to_8bit(read(path).pixels)
            img = (px[:, :, 0] if px.shape[2] == 1 else px).astype(np.float32) / 255.0
            for scale in scales:
                hr = modcrop(img, scale)
                seed = image_seed(base_seed, set_name, path.stem, scale)
                deg = RealisticDegradation(scale=scale)
                rng = np.random.default_rng(seed)
                params = deg.sample(rng)
                lr = deg.apply(hr, params)  # noise from params.noise_seed: the params alone replay it
                yield set_name, path.stem, scale, seed, params, png_bytes(quantize(hr, 8)), png_bytes(quantize(lr, 8))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("SRCNN_DATA", ROOT.parent / "shared" / "data")))
    ap.add_argument("--out", type=Path, default=ROOT / "bench-data" / "realistic")
    ap.add_argument("--manifest", type=Path, default=ROOT / "benchmarks" / "realistic-bench.json")
    ap.add_argument("--seed", type=int, default=17, help="base seed (default 17)")
    ap.add_argument("--check", action="store_true", help="rebuild in memory and compare with the manifest")
    args = ap.parse_args()

    entries = []
    for set_name, stem, scale, seed, params, hr_png, lr_png in build(args.data, args.seed):
        rel = Path(str(scale)) / set_name
        files = {}
        for kind, blob in (("hr", hr_png), ("lr", lr_png)):
            p = rel / kind.upper() / f"{stem}.png"
            files[kind] = {"path": p.as_posix(), "sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob),
                           **png_fingerprint(blob)}
            if not args.check:
                (args.out / p).parent.mkdir(parents=True, exist_ok=True)
                write_bytes(args.out / p, blob)
        entries.append({"set": set_name, "image": stem, "scale": scale, "seed": seed, **files,
                        "params": params.to_dict()})

    manifest = {
        "about": "Realistic benchmark of issue 17 (test sets degraded once; never train on them). "
                 "Rebuild: python tools/make_realistic_bench.py; verify: --check.",
        "sets": list(SETS),
        "scales": list(SCALES),
        "base_seed": args.seed,
        "seed_rule": "int.from_bytes(sha256(f'{base_seed}:{set}:{stem}:{scale}').digest()[:8], 'big') >> 1",
        "recipe": {
            "hr": "srcnn.images.read, 8-bit, gray kept gray (Classic5), modcrop to the scale",
            "degradation": "srcnn.degrade.RealisticDegradation(scale) with its defaults; params = "
                           "sample(default_rng(seed)); lr = apply(hr, params) (noise from params.noise_seed)",
            "fields": {k: v for k, v in asdict(RealisticDegradation()).items() if k != "scale"},
            "png": "Pillow PNG, default compression, no metadata",
        },
        "versions": versions(),
        "machine": machine(),
        "images": entries,
    }
    if args.check:
        old = json.loads(args.manifest.read_text())
        exact = old["versions"] == manifest["versions"] and old.get("machine") == manifest["machine"]
        bad = rounded = 0
        old_by_key = {(e["set"], e["image"], e["scale"]): e for e in old["images"]}
        for e in entries:
            o = old_by_key.get((e["set"], e["image"], e["scale"]))
            if o is None or o["params"] != e["params"]:
                bad += 2
                print(f"recipe differs: {e['set']}/{e['image']} x{e['scale']}", file=sys.stderr)
                continue
            for kind in ("hr", "lr"):
                f = args.out / e[kind]["path"]
                if f.exists() and hashlib.sha256(f.read_bytes()).hexdigest() != e[kind]["sha256"]:
                    bad += 1
                    print(f"file differs from this rebuild: {f}", file=sys.stderr)
                elif o[kind]["sha256"] != e[kind]["sha256"]:
                    if not exact and same_fingerprint(o[kind], e[kind]):
                        rounded += 1
                    else:
                        bad += 1
                        print(f"differs: {e[kind]['path']}", file=sys.stderr)
        if not exact:
            print(f"built elsewhere: manifest {old['versions']} {old.get('machine')}, "
                  f"here {manifest['versions']} {manifest['machine']}", file=sys.stderr)
        n = len(entries) * 2
        print(f"{n - bad - rounded} of {n} files rebuild byte for byte"
              + (f", {rounded} more with the manifest's pixels up to float rounding" if rounded else ""))
        return 1 if bad or len(entries) != len(old["images"]) else 0
    write_text(args.manifest, json.dumps(manifest, indent=1) + "\n")
    print(f"{len(entries)} image/scale pairs, {len(entries) * 2} PNGs under {args.out}; manifest {args.manifest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
