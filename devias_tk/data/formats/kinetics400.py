"""Kinetics-400: the annotation CSVs and clip files named `<youtube_id>_<start:06d>_<end:06d>.mp4`.

CSV columns `label,youtube_id,time_start,time_end,split[,is_cc]`, with a header row (columns are
found by name; a file without a header is read in that order). A row without a label (the original
test CSV) gets action -1. Clip files may sit in class folders (any folder naming) or flat: the
video folder is indexed once by file name. A folder named like a clip is taken as its frame folder.
Class indices: the sorted labels (the order mmaction2 and VideoMAE use), or a given class list.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devias_tk.data.formats.common import VIDEO_EXTENSIONS, Conversion, join, parse_int, read_text
from devias_tk.data.lists import VideoEntry
from devias_tk.errors import DeviasError, ListFormatError

COLUMNS = ("label", "youtube_id", "time_start", "time_end", "split", "is_cc")
CLIP_STEM = re.compile(r"^.+_\d{6}_\d{6}$")


def clip_stem(youtube_id: str, start: int, end: int) -> str:
    return f"{youtube_id}_{start:06d}_{end:06d}"


@dataclass(frozen=True)
class KineticsRow:
    line: int
    label: str  # "" when the CSV has none
    youtube_id: str
    start: int
    end: int
    split: str

    @property
    def stem(self) -> str:
        return clip_stem(self.youtube_id, self.start, self.end)


def parse_csv(text: str, source: str) -> list[KineticsRow]:
    """Rows of a Kinetics annotation CSV; malformed rows raise ListFormatError (file:line)."""
    lines = text.splitlines()
    records = list(csv.reader(lines))
    if not records:
        return []
    header = [c.strip().lower() for c in records[0]]
    if "youtube_id" in header:
        missing = [c for c in ("youtube_id", "time_start", "time_end") if c not in header]
        if missing:
            raise ListFormatError(source, 1, f"header lacks column(s) {', '.join(missing)}")
        columns, body, first_line = header, records[1:], 2
    else:
        columns, body, first_line = list(COLUMNS), records, 1
    position = {name: i for i, name in enumerate(columns)}
    required = max(position[c] for c in ("youtube_id", "time_start", "time_end")) + 1
    rows = []
    for line_no, record in enumerate(body, start=first_line):
        if not record or not "".join(record).strip():
            continue
        if len(record) < required:
            raise ListFormatError(source, line_no, f"expected columns {','.join(columns)}, got {','.join(record)!r}")

        def get(name: str, record: list[str] = record) -> str:
            i = position.get(name)
            return record[i].strip() if i is not None and i < len(record) else ""

        youtube_id = get("youtube_id")
        if not youtube_id:
            raise ListFormatError(source, line_no, "empty youtube_id")
        start = parse_int(get("time_start"), source, line_no, "time_start")
        end = parse_int(get("time_end"), source, line_no, "time_end")
        rows.append(KineticsRow(line_no, get("label"), youtube_id, start, end, get("split")))
    return rows


def index_clips(root: Path, folder: str = "") -> dict[str, list[str]]:
    """Clip name (file name without extension) -> paths relative to root, for every video file or
    clip-named frame folder under root/folder."""
    found: dict[str, list[str]] = {}
    base = root / folder
    if not base.is_dir():
        raise DeviasError(f"{base}: video folder not found")
    for current, dirs, files in os.walk(base):
        rel_dir = Path(current).relative_to(root)
        clip_dirs = [d for d in dirs if CLIP_STEM.match(d)]
        for d in clip_dirs:
            found.setdefault(d, []).append((rel_dir / d).as_posix())
        dirs[:] = sorted(d for d in dirs if d not in clip_dirs)  # no need to look inside frame folders
        for name in files:
            stem, ext = os.path.splitext(name)
            if ext.lower() in VIDEO_EXTENSIONS:
                found.setdefault(stem, []).append((rel_dir / name).as_posix())
    return {stem: sorted(paths) for stem, paths in found.items()}


def convert(root: str | Path, csv_files: Sequence[str | Path], videos: str = "",
            classes: Sequence[str] | None = None, keep_missing: bool = False) -> Conversion:
    """One list per CSV (named after the file: train.csv -> lists/train.txt) plus actions.txt."""
    root = Path(root)
    parsed = {Path(f): parse_csv(read_text(f), str(f)) for f in csv_files}
    names = list(classes) if classes is not None else sorted({r.label for rows in parsed.values() for r in rows
                                                              if r.label})
    lookup = {name: i for i, name in enumerate(names)}
    clips = index_clips(root, videos)
    conv = Conversion(actions=names)
    duplicates = 0
    for path, rows in parsed.items():
        conv.lists[path.stem] = []
        for row in rows:
            if row.label and row.label not in lookup:
                raise ListFormatError(str(path), row.line, f"label {row.label!r} is not in the class list")
            where = clips.get(row.stem, [])
            duplicates += len(where) > 1
            rel = where[0] if where else join(videos, f"{row.stem}.mp4")
            conv.add(path.stem, VideoEntry(rel, lookup[row.label] if row.label else -1), bool(where),
                     f"{path.name}:{row.line}", keep_missing)
    if duplicates:
        conv.notes.append(f"{duplicates} clips exist in more than one place; the first path (sorted) is listed")
    return conv
