"""The one error and warning line of every command: ``srcnn: error: <message>`` on stderr (stdlib only, no torch)."""

from __future__ import annotations

import sys

__all__ = ["fail", "warn", "ImageError"]


class ImageError(Exception):
    """One-line user-facing error about an image file: str(e) names the file and the reason."""


def fail(message: str, prog: str = "srcnn", *, code: int = 2) -> int:
    """Print ``<prog>: error: <message>`` (one line) on stderr and return ``code``, the exit status to give back."""
    print(f"{prog}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return code


def warn(message: str, prog: str = "srcnn") -> None:
    """Print ``<prog>: warning: <message>`` (one line) on stderr."""
    print(f"{prog}: warning: {' '.join(str(message).split())}", file=sys.stderr)
