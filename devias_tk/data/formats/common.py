"""Pieces shared by the converters: numbered lines, rawframe lists, finding videos, writing results."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devias_tk.data.lists import VideoEntry, read_class_names, write_class_names, write_list
from devias_tk.errors import DeviasError, ListFormatError
from devias_tk.utils.atomic import atomic_write_text

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v")


@dataclass
class Conversion:
    """What a converter found: lists by name, class names, and what it could not place."""

    lists: dict[str, list[VideoEntry]] = field(default_factory=dict)
    actions: list[str] | None = None
    scenes: list[str] | None = None
    # list name -> "source:line: path" of rows whose video is not on disk
    missing: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # counts of rows left out, and why
    # path relative to the output folder -> JSON video description (HAT Action-Swap)
    descriptions: dict[str, dict] = field(default_factory=dict)

    def add(self, name: str, entry: VideoEntry, found: bool, where: str, keep_missing: bool) -> None:
        """Add an entry to list `name`; one whose video is absent is reported and kept only on request."""
        entries = self.lists.setdefault(name, [])
        if not found:
            self.missing.setdefault(name, []).append(f"{where}: {entry.path}")
            if not keep_missing:
                return
        entries.append(entry)


def read_text(path: str | os.PathLike) -> str:
    path = Path(path)
    if not path.is_file():
        raise DeviasError(f"{path}: file not found")
    # utf-8-sig: some published CSVs start with a byte-order mark
    return path.read_text(encoding="utf-8-sig")


def read_json(path: str | os.PathLike) -> Any:
    """A JSON file's content; invalid JSON is an error naming the file, line and column."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise DeviasError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})") from None


def json_entries(data: Any, source: str, required: Sequence[str]) -> Iterator[tuple[int, dict]]:
    """(1-based entry number, entry) of a JSON list of objects that each hold the `required` keys."""
    if not isinstance(data, list):
        raise DeviasError(f"{source}: expected a list of entries, got a JSON {type(data).__name__}")
    for number, entry in enumerate(data, start=1):
        if not isinstance(entry, dict):
            raise DeviasError(f"{source}: entry {number} is {entry!r}, not an object")
        missing = [k for k in required if k not in entry]
        if missing:
            raise DeviasError(f"{source}: entry {number} lacks {', '.join(repr(k) for k in missing)}: {entry}")
        yield number, entry


def numbered_lines(text: str) -> Iterator[tuple[int, str]]:
    """(1-based line number, stripped line) of non-blank, non-'#' lines."""
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            yield line_no, line


def parse_int(token: str, source: str, line_no: int, what: str) -> int:
    token = token.strip()
    try:
        return int(token)
    except ValueError:
        pass
    try:  # "11.0" in CSVs written by spreadsheet tools
        value = float(token)
    except ValueError:
        value = float("nan")
    if value == value and value.is_integer():
        return int(value)
    raise ListFormatError(source, line_no, f"{what} {token!r} is not an integer")


@dataclass(frozen=True)
class RawFrameRow:
    line: int
    path: str
    num_frames: int
    label: int


def parse_rawframe_list(text: str, source: str) -> list[RawFrameRow]:
    """mmaction2 rawframe lists: '<frame dir> <num frames> <label>' (space or comma separated).

    The folder may contain spaces ('bending back/05mZ... 300 20'): the two integers are split off
    the right.
    """
    rows = []
    for line_no, line in numbered_lines(text):
        parts = line.rsplit(maxsplit=2)
        if len(parts) != 3 and line.count(",") >= 2:
            parts = [p.strip() for p in line.rsplit(",", 2)]
        if len(parts) != 3:
            raise ListFormatError(source, line_no, f"expected '<frame dir> <num frames> <label>', got {line!r}")
        path, frames, label = parts
        rows.append(RawFrameRow(line_no, path, parse_int(frames, source, line_no, "frame count"),
                                parse_int(label, source, line_no, "label")))
    return rows


def join(*parts: str) -> str:
    """A list path from pieces (empty pieces dropped), always with '/'."""
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def locate(root: Path, rel: str) -> str | None:
    """`rel` if it exists under root; else the frame folder with the same name minus extension; else None."""
    if (root / rel).exists():
        return rel
    stem, ext = os.path.splitext(rel)
    if ext.lower() in VIDEO_EXTENSIONS and (root / stem).is_dir():
        return stem
    return None


def check_names(path: Path, names: Sequence[str] | None) -> None:
    """Refuse to replace an existing class-name file that holds other names (another dataset's)."""
    if names is None or not path.is_file():
        return
    existing = read_class_names(path)
    if existing != list(names):
        raise DeviasError(
            f"{path} exists with other class names ({len(existing)} classes, first {existing[:1]}; "
            f"this conversion has {len(names)}, first {list(names[:1])}); choose another --out or remove it"
        )


def write_conversion(out: str | os.PathLike, conv: Conversion) -> list[Path]:
    """Write lists/<name>.txt, actions.txt / scenes.txt, descriptions and lists/missing/<name>.txt."""
    out = Path(out)
    check_names(out / "actions.txt", conv.actions)
    check_names(out / "scenes.txt", conv.scenes)
    written = []
    for rel, spec in conv.descriptions.items():
        atomic_write_text(out / rel, json.dumps(spec, indent=1) + "\n")
    for name, entries in conv.lists.items():
        path = out / "lists" / f"{name}.txt"
        write_list(path, entries)
        written.append(path)
        # Under lists/missing/, not lists/*.txt, so `data inspect` does not take it for a split.
        report = out / "lists" / "missing" / f"{name}.txt"
        if conv.missing.get(name):
            atomic_write_text(report, "".join(f"{m}\n" for m in conv.missing[name]))
        elif report.exists():
            report.unlink()  # stale: everything is found now
    for filename, names in (("actions.txt", conv.actions), ("scenes.txt", conv.scenes)):
        if names is not None:
            write_class_names(out / filename, names)
            written.append(out / filename)
    return written
