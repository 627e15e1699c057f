"""Files on disk: the one atomic write, its temporary names, stale-temp cleaning, file hashes and the one
listing of the images in folders.

Every file srcnn writes (images, weights, training state, logs, reports, ONNX graphs) goes through
:class:`AtomicFile`: a temporary ``.<name>.tmp-<12 hex digits>`` in the target's folder (the name cut short to fit
255 bytes), written, fsynced, given the mode of the file it replaces, renamed over the target with
``os.replace`` and the folder fsynced. Any failure (KeyboardInterrupt too) removes the temporary file, so a
target is never half-written; what a killed process leaves is recognised by :func:`is_temp_name` and removed by
:func:`remove_stale_temps`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "AtomicFile",
    "atomic_open",
    "atomic_write",
    "write_bytes",
    "write_text",
    "is_temp_name",
    "temp_name",
    "remove_stale_temps",
    "fsync_dir",
    "sha256_file",
    "inside",
    "list_images",
]

_NAME_MAX = 255  # bytes in one file name on Linux, macOS and Windows file systems alike
_MARK = ".tmp-"


def is_temp_name(name: str) -> bool:
    """True for the name of a temporary file of :class:`AtomicFile` (``.<name>.tmp-<12 hex digits>``)."""
    head, sep, tail = name.rpartition(_MARK)
    return bool(sep) and name.startswith(".") and len(tail) == 12 and all(c in "0123456789abcdef" for c in tail)


def temp_name(name: str) -> str:
    """``.<name>.tmp-<random>``, the name cut short so that the whole stays within a file name's 255 bytes."""
    tail = f"{_MARK}{secrets.token_hex(6)}"
    room = _NAME_MAX - 1 - len(tail)
    while len(os.fsencode(name)) > room:
        name = name[: -max(1, (len(os.fsencode(name)) - room) // 4)]
    return f".{name}{tail}"


def fsync_dir(folder: Path) -> None:
    """Best effort: make a rename in ``folder`` durable (POSIX only)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class AtomicFile:
    """A file that appears at ``path`` whole or not at all: write to ``.file``, then :meth:`commit` or :meth:`abort`.

    The folder must exist (OSError otherwise). The temporary file is opened with mode 0666 less the umask, as a
    plain ``open()`` would; :meth:`commit` flushes, fsyncs, copies the mode of a file it replaces, renames and
    fsyncs the folder; :meth:`abort` closes and removes the temporary file (idempotent).
    """

    def __init__(self, path: str | os.PathLike[str], buffering: int = -1) -> None:
        self.path = Path(path)
        self.tmp: Path | None = self.path.parent / temp_name(self.path.name)
        fd = os.open(self.tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        self.file: BinaryIO | None = os.fdopen(fd, "w+b", buffering=buffering)

    def commit(self) -> None:
        """Make the written bytes the file at ``path``; on any error the temporary file is removed."""
        if self.file is None or self.tmp is None:
            raise ValueError(f"{self.path}: already closed")
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            self.file = None
            if self.path.exists():
                with contextlib.suppress(OSError):
                    shutil.copymode(self.path, self.tmp)
            os.replace(self.tmp, self.path)
            self.tmp = None
        except BaseException:
            self.abort()
            raise
        fsync_dir(self.path.parent)

    def abort(self) -> None:
        """Drop the temporary file; ``path`` is left as it was."""
        if self.file is not None:
            with contextlib.suppress(OSError):
                self.file.close()
            self.file = None
        if self.tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.tmp)
            self.tmp = None


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """``with atomic_open(path) as f: f.write(...)``: committed when the block ends, dropped on an exception."""
    target = AtomicFile(path)
    try:
        yield target.file  # type: ignore[misc]
    except BaseException:
        target.abort()
        raise
    target.commit()


def atomic_write(path: str | os.PathLike[str], write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` (for writers that take a file name), then commit; the folder is created if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    target = AtomicFile(path)
    try:
        target.file.close()  # type: ignore[union-attr]  # the writer opens the temporary file by its name
        write(str(target.tmp))
        target.file = open(target.tmp, "rb+")  # type: ignore[arg-type]  # noqa: SIM115 - commit() fsyncs, closes
    except BaseException:
        target.abort()
        raise
    target.commit()


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Atomically replace ``path`` with ``data`` (the folder is created if needed)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as f:
        f.write(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Atomically replace ``path`` with ``text`` in UTF-8 (the folder is created if needed)."""
    write_bytes(path, text.encode("utf-8"))


def remove_stale_temps(folder: str | os.PathLike[str], names: Iterable[str] | None = None) -> int:
    """Remove the temporary files a killed writer left in ``folder`` (only those of ``names`` when given); -> count."""
    folder = Path(folder)
    wanted = None if names is None else set(names)
    removed = 0
    with contextlib.suppress(OSError):
        for p in folder.iterdir():
            if not is_temp_name(p.name) or not p.is_file():
                continue
            if wanted is not None and p.name[1 : p.name.rindex(_MARK)] not in wanted:
                continue
            with contextlib.suppress(OSError):
                p.unlink()
                removed += 1
    return removed


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def inside(path: Path, folder: Path) -> bool:
    """True when ``path`` is ``folder`` or lies under it (both resolved)."""
    return path == folder or path.is_relative_to(folder)


def list_images(folders: Iterable[str | Path], extensions: Collection[str], recursive: bool = True,
                exclude: str | Path | None = None) -> list[Path]:
    """The image files of ``folders`` (a file given itself is taken as it is), sorted by path: by the suffix,
    lower-cased, in ``extensions`` (``srcnn.images.INPUT_EXTENSIONS``: what ``read`` opens); nothing hidden (no
    part of the path below its folder starts with "."); nothing under ``exclude`` when that lies inside a folder
    (the output folder of a run, whose files are never its input); symlinked folders are not entered."""
    skip = Path(exclude).resolve() if exclude is not None else None
    out: list[Path] = []
    for f in map(Path, folders):
        if f.is_file():
            out.append(f)
            continue
        top = f.resolve()
        away = skip if skip is not None and skip != top and inside(skip, top) else None
        it = f.rglob("*") if recursive else f.glob("*")
        out.extend(p for p in it if p.suffix.lower() in extensions and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(f).parts)
                   and not (away is not None and inside(p.parent.resolve(), away)))
    return sorted(out)
