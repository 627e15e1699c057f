"""Folder runs of ``srcnn enhance``: the inputs found, one distinct output name each, the shard's slice.

Nothing here reads pixels or prints: :func:`plan_outputs` looks at names and folders only (``srcnn.images``'s one
list of readable extensions) and returns a :class:`Plan`, or the one-line message of a run that cannot start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .files import list_images

__all__ = ["Plan", "plan_outputs", "EXTENSIONS"]

EXTENSIONS = {"png": ".png", "jpg": ".jpg", "webp": ".webp", "tif": ".tif"}  # --ext choices


@dataclass
class Plan:
    """What `srcnn enhance` will do: (input, output) pairs, and one line for each renamed or refused input."""

    pairs: list[tuple[Path, Path]] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def plan_outputs(inputs: list[str], output: str | None, recursive: bool, ext: str, suffix: str,
                 shard: tuple[int, int] | None) -> Plan | str:
    """The plan for `srcnn enhance INPUTS -o OUTPUT`, or an error message that stops the whole run (bad arguments)."""
    from .images import INPUT_EXTENSIONS, OUTPUT_EXTENSIONS

    single_file = len(inputs) == 1 and Path(inputs[0]).is_file()
    out_arg = Path(output) if output else None
    out_tree = out_arg.resolve() if out_arg is not None else None
    roots: list[tuple[Path, Path, bool]] = []  # (file, path relative to its root, found in a folder)
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():  # -o inside this folder: what lies there is earlier output, never input (else *_srcnn_srcnn)
            files = list_images([p], INPUT_EXTENSIONS, recursive, exclude=out_tree)
            roots.extend((f, f.relative_to(p), True) for f in files)
        elif p.exists():
            roots.append((p, Path(p.name), False))
        else:
            return f"{raw}: no such file or folder"
    pairs = []
    listed = []
    for f, rel, in_folder in roots:
        out_ext = EXTENSIONS[ext] if ext != "auto" else f.suffix.lower()
        if out_ext not in OUTPUT_EXTENSIONS or out_ext == ".bmp":  # e.g. GIF, TGA in; BMP would drop alpha
            out_ext = ".png"
        if out_arg is not None and single_file and out_arg.suffix.lower() in (*INPUT_EXTENSIONS, *OUTPUT_EXTENSIONS):
            dst = out_arg
        elif out_arg is not None:
            dst = out_arg / rel.parent / f"{rel.stem}{suffix}{out_ext}"
        else:
            dst = f.with_name(f"{f.stem}{suffix}{out_ext}")
        pairs.append((f, dst))
        listed.append(in_folder)
    # A file found in a folder that is another input's output from an earlier run (whatever its extension, or
    # its renamed form) is not an input itself.
    outputs_of: dict[tuple[Path, str], set[Path]] = {}
    for f, dst in pairs:
        for stem in (dst.stem, f"{f.stem}_{ext_tag(f)}{suffix}"):
            outputs_of.setdefault((dst.parent.resolve(), stem), set()).add(f.resolve())
    pairs = [(f, dst) for (f, dst), in_folder in zip(pairs, listed, strict=True)
             if not (in_folder and suffix and outputs_of.get((f.parent.resolve(), f.stem), set()) - {f.resolve()})]
    resolved_inputs = {f.resolve() for f, _ in pairs}
    for _src, dst in pairs:
        if dst.resolve() in resolved_inputs:
            return f"{dst}: output would overwrite an input (use -o or --suffix)"
    return distinct_outputs(pairs, suffix, resolved_inputs, shard)


def ext_tag(f: Path) -> str:
    return f.suffix.lower().lstrip(".") or "noext"


def distinct_outputs(pairs: list[tuple[Path, Path]], suffix: str, inputs: set[Path],
                      shard: tuple[int, int] | None) -> Plan:
    """Inputs that share an output name (a.png, a.bmp -> a_srcnn.png) get their extension in it (a_png_srcnn.png);
    one that still has no name of its own is refused on one line. Then the shard's slice, sorted by input."""
    sharing: dict[Path, list[Path]] = {}
    for f, dst in pairs:
        sharing.setdefault(dst.resolve(), []).append(f)
    entries: list[tuple[Path, Path, str | None]] = []  # (input, output, how it was renamed)
    for f, dst in pairs:
        others = [o for o in sharing[dst.resolve()] if o != f]
        if not others:
            entries.append((f, dst, None))
            continue
        new = dst.with_name(f"{f.stem}_{ext_tag(f)}{suffix}{dst.suffix}")
        entries.append((f, new, f"{f} -> {new} ({', '.join(map(str, others))} would also be written to {dst})"))
    taken: dict[Path, int] = {}
    for _f, dst, _how in entries:
        taken[dst.resolve()] = taken.get(dst.resolve(), 0) + 1
    plan = Plan()
    if shard:
        i, n = shard
        entries = [e for k, e in enumerate(sorted(entries, key=lambda e: str(e[0]))) if k % n == i]
    for f, dst, how in entries:
        if how is not None and (taken[dst.resolve()] > 1 or dst.resolve() in inputs):
            plan.refused.append(f"srcnn: skipped {f}: it shares its output name with another input, and so does "
                                f"{dst.name} (rename it, or enhance it separately)")
            continue
        plan.pairs.append((f, dst))
        if how is not None:
            plan.renamed.append(f"srcnn: renamed {how}")
    return plan
