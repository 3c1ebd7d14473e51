"""Where `predict` writes a video's outputs, chosen so that two videos can never share a file.

A video's overlay keeps its name's folders (`x/y/c.avi` -> `OUT/x/y/c.avi.mp4`), so `x/y/c.avi` and
`x__y/c.avi` stay apart. A name that had to change to become a path (spaces and odd characters replaced, an
absolute path, `..`) gets a short hash of the original name beside it, so `a b.avi` and `a_b.avi` differ too.
Existing outputs are refused before any work: predictions are never computed only to be lost.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from devias_tk.errors import DeviasError

_ODD = re.compile(r"[^\w.\-]+")
_HASHED = re.compile(r"-[0-9a-f]{8}$")  # what a hashed name ends with: an original ending so is hashed too


def overlay_stem(name: str) -> PurePosixPath:
    """The video's output path below the overlay folder, without the .mp4 / .png suffix."""
    original = name.replace("\\", "/")
    parts = [p for p in original.split("/") if p not in ("", ".", "..")]
    safe = [_ODD.sub("_", p) for p in parts] or ["video"]
    changed = "/".join(safe) != original or bool(_HASHED.search(safe[-1]))
    if changed:
        safe[-1] += "-" + hashlib.sha1(name.encode()).hexdigest()[:8]
    return PurePosixPath(*safe)


def overlay_files(out_dir: Path, name: str) -> tuple[Path, Path]:
    """(mp4, png) a video's overlay is written to."""
    stem = out_dir / overlay_stem(name)
    return stem.with_name(stem.name + ".mp4"), stem.with_name(stem.name + ".png")


def check_outputs(files: dict[str, Path | None], overlay: Path | None, names: Iterable[str]) -> None:
    """Refuse, before any work, an output file that exists (`files`: option -> path) and an --overlay that is a
    file or already holds one of these videos' overlays."""
    for option, path in files.items():
        if path is None:
            continue
        if path.is_dir():
            raise DeviasError(f"{option} {path} is a folder; give a file path")
        if path.exists():
            raise DeviasError(f"{option} {path} already exists; remove it or give another path")
    if overlay is None:
        return
    if overlay.exists() and not overlay.is_dir():
        raise DeviasError(f"--overlay {overlay} is a file; give a folder (created when missing)")
    for name in names:
        for path in overlay_files(overlay, name):
            if path.exists():
                raise DeviasError(f"--overlay: {path} (of {name}) already exists; remove it or give another folder")
