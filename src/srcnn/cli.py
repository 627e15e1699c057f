"""The ``srcnn`` command: each subcommand parses its options and calls the library; errors are one line."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main", "build_parser"]


def _fail(message: str, code: int = 2) -> int:
    print(f"srcnn: error: {message}", file=sys.stderr)
    return code


def _cmd_train(args: argparse.Namespace) -> int:
    from .checkpoint import WeightsError
    from .config import ConfigError, load_config
    from .train import TrainError, train

    try:
        cfg = load_config(args.config, args.overrides)
        if args.device:
            cfg.train.device = args.device
        if args.out:
            cfg.train.out = args.out
        out = train(cfg, resume=args.resume, progress=not args.quiet)
    except (ConfigError, TrainError, WeightsError) as e:
        return _fail(str(e))
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    print(f"run folder: {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser with every subcommand."""
    p = argparse.ArgumentParser(prog="srcnn", description="Restore detail in photos with SRCNN.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    t = sub.add_parser("train", help="train a model from a TOML config", description=(
        "Train per CONFIG.toml; override any key with table.key=value (e.g. optim.lr=5e-4 train.steps=2000)."))
    t.add_argument("config", metavar="CONFIG.toml")
    t.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    t.add_argument("--resume", action="store_true", help="continue the run in the run folder (exact)")
    t.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], help="overrides train.device")
    t.add_argument("--out", help="run folder (overrides train.out; default runs/<name>)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_cmd_train)

    try:
        from . import prepare
    except ImportError:  # pragma: no cover
        prepare = None
    if prepare is not None:
        pp = sub.add_parser("prepare", help="cut photos into the seed's good|poor pair tiles")
        prepare.add_arguments(pp)
        pp.set_defaults(func=prepare.run)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``srcnn`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)
