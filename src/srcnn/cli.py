"""The ``srcnn`` command: each subcommand parses its options and calls the library; errors are one line."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

from .argtypes import int_in
from .batch import EXTENSIONS, plan_outputs
from .choices import BACKENDS, DEVICES, PRECISION_HELP, PRECISIONS, check_scale
from .errors import fail, warn

__all__ = ["main", "build_parser"]


def _command_line(args: argparse.Namespace) -> str:
    """The command line of this call as a user would type it (``srcnn ...``), for the run's record."""
    import shlex

    return shlex.join(["srcnn", *getattr(args, "argv", sys.argv[1:])])


def _cmd_train(args: argparse.Namespace) -> int:
    from .checkpoint import WeightsError
    from .config import ConfigError, load_config
    from .train import TrainError, TrainInterrupted, train

    try:
        cfg = load_config(args.config, args.overrides)
        if args.device:
            cfg.train.device = args.device
        if args.out:
            cfg.train.out = args.out
        out = train(cfg, resume=args.resume, progress=not args.quiet, command=_command_line(args))
    except (ConfigError, TrainError, WeightsError) as e:
        return fail(str(e))
    except TrainInterrupted as e:
        print(f"srcnn: {e}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        return fail("interrupted before training started", code=130)
    print(f"run folder: {out}")
    return 0


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError("--shard takes I/N, e.g. 0/4") from None
    if n < 1 or not 0 <= i < n:
        raise argparse.ArgumentTypeError("--shard I/N needs 0 <= I < N")
    return i, n


MAX_ENHANCE_SCALE = 8
DEFAULT_MAX_OUTPUT_PIXELS = 400_000_000  # PNG, TIFF: written band by band (peak RSS under 1 GiB at this size)
DEFAULT_MAX_HELD_PIXELS = 100_000_000  # JPEG, WebP, BMP: the result is held whole (4 bytes a pixel) until encoded
_quality = int_in(1, 100)
_positive = int_in(1)


def _enhance_scale(text: str) -> float:
    """-s/--scale: a number from 1 to MAX_ENHANCE_SCALE (choices.check_scale)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (give one from 1 to {MAX_ENHANCE_SCALE})") from None
    try:
        return check_scale(value, MAX_ENHANCE_SCALE, repr(text))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def default_model(quiet: bool = False) -> str:
    """The default model name (zoo.default_name), with a note on stderr when that is only the bicubic."""
    from .zoo import DEFAULT_MODEL, default_name

    name = default_name()
    if name == "bicubic" and not quiet:
        print(f"srcnn: note: {DEFAULT_MODEL} is not shipped in this version yet; using {name}", file=sys.stderr)
    return name


def _cmd_enhance(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from .bandfile import STREAMED_FORMATS
    from .checkpoint import WeightsError
    from .enhance import load_model
    from .images import INPUT_FORMAT_NAMES, ImageError, format_for_path, read
    from .resize import output_size

    planned = plan_outputs(args.inputs, args.output, args.recursive, args.ext, args.suffix, args.shard)
    if isinstance(planned, str):
        return fail(planned)
    if not planned.pairs and not planned.refused:
        return fail(f"no images found in the inputs (supported: {INPUT_FORMAT_NAMES})")
    plan = planned.pairs
    try:
        # -s may be fractional (1.5): it is passed per picture; for a family it also picks the member
        enhancer = load_model(args.model or default_model(quiet=args.quiet), device=args.device, backend=args.backend,
                              precision=args.precision, scale=args.scale)
    except WeightsError as e:
        return fail(str(e))
    if args.verbose:
        kind = {"pre": "bicubic first", "post": f"upsamples x{enhancer.net_scale} at its end"}[enhancer.upsampling]
        print(f"srcnn: model {enhancer.name} ({kind}), device {enhancer.device}, backend {enhancer.backend}, "
              f"precision {enhancer.precision}", file=sys.stderr)
    scale = args.scale if args.scale is not None else enhancer.scale
    refusal = _scale_refusal(args.model or default_model(quiet=True), scale)
    if refusal and not args.force:
        return fail(f"{refusal}; --force does it anyway")
    if refusal and not args.quiet:
        warn(f"{refusal} (going on: --force)")
    for line in planned.renamed + planned.refused:  # before the work, so that they are seen
        print(line, file=sys.stderr)
    done = skipped = failed = 0
    show = not args.quiet and sys.stderr.isatty()
    bar = tqdm(plan, desc="enhance", unit="img", disable=not show or len(plan) == 1, file=sys.stderr)
    try:
        for src, dst in bar:
            if dst.exists() and not args.force:
                skipped += 1
                continue
            try:
                pic = read(src, max_pixels=args.max_pixels)
                oh, ow = output_size(pic.height, scale), output_size(pic.width, scale)
                held = format_for_path(dst) not in STREAMED_FORMATS
                limit = args.max_output_pixels or (DEFAULT_MAX_HELD_PIXELS if held else DEFAULT_MAX_OUTPUT_PIXELS)
                if oh * ow > limit:
                    gib = oh * ow * 4 / 2**30
                    why = (f" (a {dst.suffix[1:].upper()} result is held whole in memory, about {gib:.1f} GiB; "
                           "write .png or .tif, which go out band by band)"
                           if held and not args.max_output_pixels else "")
                    raise ImageError(f"{src}: the output would be {ow} x {oh} ({oh * ow / 1e6:.0f} MP), over "
                                     f"--max-output-pixels {limit:,}{why}; raise it, or use a smaller -s")
                tile = args.tile or None
                tiles_total = enhancer.tile_count(pic.height, pic.width, scale, tile)
                tbar = tqdm(total=tiles_total, desc=src.name, unit="tile", leave=False, file=sys.stderr,
                            disable=not show or tiles_total < 16)
                try:
                    dst.parent.mkdir(parents=True, exist_ok=True)
                except OSError as e:
                    raise ImageError(f"{dst}: cannot create folder {dst.parent} ({e.strerror or e})") from e
                # written band by band as it is produced (PNG, TIFF): memory is bounded by the band, not the photo
                enhancer.enhance_to_file(pic, dst, scale=scale, tile=tile, quality=args.quality,
                                         progress=lambda n, tb=tbar: tb.update(n - tb.n))
                tbar.close()
                done += 1
                if not show:
                    print(f"{src} -> {dst}", file=sys.stderr) if not args.quiet else None
            except ImageError as e:
                failed += 1
                tqdm.write(f"srcnn: skipped {e}", file=sys.stderr)
            except (MemoryError, torch.OutOfMemoryError):
                failed += 1
                tqdm.write(f"srcnn: skipped {src}: out of memory (use a smaller --tile)", file=sys.stderr)
            except RuntimeError as e:  # e.g. a device error: report this file, go on with the others
                failed += 1
                tqdm.write(f"srcnn: skipped {src}: {str(e).splitlines()[0][:200]}", file=sys.stderr)
    except KeyboardInterrupt:
        bar.close()
        print(f"srcnn: interrupted: {done} written, {len(plan) - done - skipped - failed} not started; "
              "rerun to continue (finished outputs are skipped)", file=sys.stderr)
        return 130
    bar.close()
    failed += len(planned.refused)
    summary = f"{done} enhanced, {skipped} skipped (output exists; --force to redo), {failed} failed"
    if planned.renamed:
        summary += f", {len(planned.renamed)} renamed (inputs that share a name; see above)"
    if failed or planned.renamed:
        print(f"srcnn: {summary}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(summary, file=sys.stderr)
    return 0


def _scale_refusal(model: str, scale: float) -> str | None:
    """Why a shipped model should not run at ``scale`` (its card's "scales"), or None when it is made for it."""
    from .zoo import available, card

    c = card(model)
    if c is None or c.scales.allows(scale):
        return None
    others = [o.name for o in available() if o.name != model and o.scales.allows(scale)]
    return (f"{model} is made for {c.scales.text()}, not {scale:g}x (it would damage the photo): choose -s to "
            "match" + (f", or a model made for {scale:g}x: -m {' / '.join(others)}" if others else ""))


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .checkpoint import WeightsError
    from .enhance import load_model
    from .evaluate import evaluate_dataset, to_json, to_markdown, to_table
    from .images import ImageError

    try:
        enhancer = load_model(args.model, device=args.device, scale=args.scale, precision=args.precision)
    except WeightsError as e:
        return fail(str(e))
    scale = 1 if args.jpeg_quality else (args.scale or enhancer.scale)
    results = []
    for d in args.dirs:
        if not Path(d).is_dir():
            return fail(f"{d}: not a folder of images")
        for q in args.jpeg_quality or [None]:
            try:
                results.append(evaluate_dataset(enhancer, d, scale=scale, jpeg_quality=q))
            except (ImageError, FileNotFoundError) as e:
                return fail(str(e))
    name = Path(args.model).stem if Path(args.model).suffix else args.model
    print(to_table(name, results))
    from .files import write_text

    try:
        if args.json:
            write_text(args.json, to_json(name, results))
        if args.markdown:
            write_text(args.markdown, to_markdown(name, results) + "\n")
    except OSError as e:
        return fail(f"cannot write the report: {e}", code=1)
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from .zoo import available, card, default_name

    if args.name:
        c = card(args.name)
        if c is None:
            names = ", ".join(m.name for m in available()) or "none ship yet"
            return fail(f"unknown model {args.name!r} (shipped: {names}; `srcnn models` lists them)")
        raw = c.raw
        print(f"{c.name}: {c.summary}")
        print(f"  task {c.task}, default scale {c.scale}; {c.state}"
              f"{'; the default of srcnn enhance' if c.name == default_name() else ''}")
        for k, v in c.metrics.items():
            print(f"  {k:<14} {v}")
        if raw.get("wall_time"):
            print(f"  trained: {raw['wall_time']}")
        if raw.get("hardware"):
            print(f"  on: {raw['hardware']}")
        for cmd in raw.get("commands", []):
            print(f"  command {cmd}")
        if c.members:
            print("  runs, by scale: " + ", ".join(f"x{k} {m}" for k, m in sorted(c.members.items()))
                  + " (other scales: the nearest, then the bicubic); `srcnn models NAME` for each")
        else:
            print(f"  weights: {c.path} (sha256 {c.sha256})")
        return 0
    cards = available()
    print(f"{'name':<12} {'task':<6} {'scale':>5}  {'state':<31} headline (PSNR dB / SSIM; `srcnn models NAME`: all)")
    for c in cards:
        metrics = ", ".join(f"{k} {v}" for k, v in list(c.metrics.items())[:2])
        default = " (default)" if c.name == default_name() else ""
        print(f"{c.name:<12} {c.task:<6} {c.scale:>5}  {c.state:<31} {metrics}{default}")
    print(f"{'bicubic':<12} {'sr':<6} {'any':>5}  {'':<31} the MATLAB-compatible bicubic baseline (no network)")
    if not cards:
        print("(no trained models ship with this version yet; train one with `srcnn train`)")
    return 0


class _SubParser(argparse.ArgumentParser):
    """A subcommand's parser; with ``module=``, its options come from ``module.add_arguments`` and it runs
    ``module.run``, both loaded when the subcommand is parsed or its help is shown: building the whole parser
    (``srcnn --help``, ``srcnn enhance ...``) imports none of those modules, so no torch."""

    def __init__(self, *args, module: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._module = module

    def _load(self) -> None:
        if self._module is not None:
            module, self._module = importlib.import_module(self._module), None
            module.add_arguments(self)
            self.set_defaults(func=module.run)

    def parse_known_args(self, args=None, namespace=None):
        self._load()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._load()
        return super().format_usage()

    def format_help(self) -> str:
        self._load()
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser with every subcommand (each imports its library only when it runs)."""
    p = argparse.ArgumentParser(prog="srcnn", description="Restore detail in photos with SRCNN.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_SubParser)
    sub.required = True

    from .images import DEFAULT_MAX_PIXELS
    from .zoo import DEFAULT_MODEL

    e = sub.add_parser("enhance", help="enhance photos (files or folders)", description=(
        "Enhance images. Outputs go beside the inputs with SUFFIX, or into -o OUT (a folder, or a file name for "
        "one input). Existing outputs are skipped unless --force; inputs are never overwritten."))
    e.add_argument("inputs", nargs="+", metavar="INPUT")
    e.add_argument("-o", "--output", metavar="OUT")
    e.add_argument("-m", "--model", help=f"model name, weights file or 'bicubic' (default {DEFAULT_MODEL}; "
                   "`srcnn models` lists them)")
    e.add_argument("-s", "--scale", type=_enhance_scale, metavar="S",
                   help=f"upscale factor from 1 to {MAX_ENHANCE_SCALE}, e.g. 1.5 or 2; each side becomes "
                        "ceil(side x S) (default: the model's)")
    e.add_argument("--tile", type=_positive, help="tile size in pixels of the network's input (memory bound; exact)")
    e.add_argument("--device", default="auto", choices=DEVICES)
    e.add_argument("--backend", default="torch", choices=BACKENDS,
                   help="CPU inference engine (default torch; onnxruntime needs the onnx extra)")
    e.add_argument("--precision", default="auto", choices=PRECISIONS, help=PRECISION_HELP)
    e.add_argument("--suffix", default="_srcnn", help="added to output names (default _srcnn)")
    e.add_argument("--ext", default="auto", choices=["auto", *EXTENSIONS])
    e.add_argument("--quality", type=_quality, default=95, help="JPEG/WebP quality 1-100 (default 95)")
    e.add_argument("--recursive", action="store_true", help="descend into sub-folders")
    e.add_argument("--force", action="store_true", help="redo outputs that exist")
    e.add_argument("--max-pixels", type=_positive, default=DEFAULT_MAX_PIXELS,
                   help=f"refuse larger inputs (default {DEFAULT_MAX_PIXELS:,})")
    e.add_argument("--max-output-pixels", type=_positive, default=None,
                   help=f"refuse inputs whose output would be larger (default {DEFAULT_MAX_OUTPUT_PIXELS:,} for PNG "
                        f"and TIFF, written band by band; {DEFAULT_MAX_HELD_PIXELS:,} for JPEG, WebP and BMP, held "
                        "whole: about 4 bytes per output pixel)")
    e.add_argument("--shard", type=_shard, metavar="I/N", help="process only slice I of N of the sorted inputs")
    e.add_argument("--quiet", action="store_true")
    e.add_argument("-v", "--verbose", action="store_true", help="say which model, device, backend and precision run")
    e.set_defaults(func=_cmd_enhance)

    v = sub.add_parser("evaluate", help="PSNR/SSIM on Y with the paper's protocol", description=(
        "Per-dataset mean PSNR and SSIM (Y of BT.601, `scale` px shaved, uint8) for the model and its baseline."))
    v.add_argument("dirs", nargs="+", metavar="DIR")
    v.add_argument("-m", "--model", required=True, help="model name, weights file or 'bicubic'")
    v.add_argument("-s", "--scale", type=_positive)
    v.add_argument("--jpeg-quality", type=_quality, nargs="+", metavar="Q", help="JPEG task at these qualities (1-100)")
    v.add_argument("--device", default="auto", choices=DEVICES)
    v.add_argument("--precision", default="auto", choices=PRECISIONS, help=PRECISION_HELP)
    v.add_argument("--json", metavar="FILE")
    v.add_argument("--markdown", metavar="FILE")
    v.set_defaults(func=_cmd_evaluate)

    ms = sub.add_parser("models", help="list the shipped models, or show one model's card")
    ms.add_argument("name", nargs="?", metavar="NAME", help="show this model's card: metrics, training, sha256")
    ms.set_defaults(func=_cmd_models)

    t = sub.add_parser("train", help="train a model from a TOML config", description=(
        "Train per CONFIG.toml; override any key with table.key=value (e.g. optim.lr=5e-4 train.steps=2000)."))
    t.add_argument("config", metavar="CONFIG.toml")
    t.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    t.add_argument("--resume", action="store_true", help="continue the run in the run folder (exact)")
    t.add_argument("--device", choices=DEVICES, help="overrides train.device")
    t.add_argument("--out", help="run folder (overrides train.out; default runs/<name>)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_cmd_train)

    # options and run() of these four live in their modules (loaded when the subcommand is used)
    sub.add_parser("prepare", help="cut photos into the seed's good|poor pair tiles", module="srcnn.prepare")
    sub.add_parser("demo", help="enhance the bundled example photo and write a comparison", module="srcnn.demo")
    sub.add_parser("export", help="export a model to ONNX (dynamic batch, height, width)", module="srcnn.export")
    sub.add_parser("serve", help="web page + HTTP API to enhance photos in the browser (needs the web extra)",
                   module="srcnn.web")
    return p


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: object = None, line: str | None = None) -> None:
    """warnings.showwarning for the command line: one line on stderr."""
    warn(str(message))


@contextlib.contextmanager
def _quiet_decoders() -> Iterator[None]:
    """Pillow's own notes on a corrupt file (warnings, log records) stay quiet: srcnn reports the file in one line.

    Other warnings print as one ``srcnn: warning:`` line. Everything is restored on exit (in-process callers).
    """
    pil = logging.getLogger("PIL")
    level = pil.level
    pil.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"PIL(\.|$)")
            warnings.showwarning = _one_line_warning
            yield
    finally:
        pil.setLevel(level)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``srcnn`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        with _quiet_decoders():
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return fail("interrupted", code=130)
