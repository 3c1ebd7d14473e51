"""Diving48: the JSON annotations (`Diving48_V2_train.json`, `Diving48_V2_test.json`, or the V1 files) and
`<vid_name>.mp4` clips.

An annotation file is a list of {"vid_name": "-mmq0PT-u8k_00155", "label": 0, "start_frame": 0,
"end_frame": 184}: a trimmed clip, its 0-based class and its frame range. Class names come from
`Diving48_vocab.json` (48 lists [takeoff, somersaults, twists, flight position], e.g.
["Back", "15som", "05Twis", "FREE"], written joined by '_'), else "class_<index>". The clips are the
files themselves: the toolkit samples every frame of a file, so an entry whose range does not start at
frame 0 is counted in a note (the published files start at 0).

Each JSON becomes one list named after it (`Diving48_V2_test.json` -> `lists/test.txt`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devias_tk.data.formats.common import Conversion, join, json_entries, locate, read_json
from devias_tk.data.lists import VideoEntry
from devias_tk.errors import DeviasError

VOCAB = "Diving48_vocab.json"


@dataclass(frozen=True)
class DiveRow:
    number: int  # 1-based entry number in the file
    vid_name: str
    label: int
    start_frame: int
    end_frame: int


def _int(entry: dict, key: str, source: str, number: int) -> int:
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise DeviasError(f"{source}: entry {number} ({entry.get('vid_name')}): {key} {value!r} is not an integer")
    return int(value)


def parse_entries(data: Any, source: str) -> list[DiveRow]:
    """The rows of an annotation JSON; a missing key, a non-integer or an empty frame range is an error."""
    rows = []
    for number, entry in json_entries(data, source, ("vid_name", "label", "start_frame", "end_frame")):
        row = DiveRow(number, str(entry["vid_name"]), *(_int(entry, k, source, number)
                                                      for k in ("label", "start_frame", "end_frame")))
        if row.label < 0 or row.start_frame < 0 or row.end_frame <= row.start_frame:
            raise DeviasError(f"{source}: entry {number} ({row.vid_name}): label {row.label}, frames "
                              f"{row.start_frame}..{row.end_frame} (need label >= 0 and 0 <= start < end)")
        rows.append(row)
    return rows


def parse_vocab(data: Any, source: str) -> list[str]:
    """Class names from the vocabulary JSON: each entry's parts joined by '_'."""
    if not isinstance(data, list) or not data:
        raise DeviasError(f"{source}: expected a list of [takeoff, somersaults, twists, flight position] lists")
    names = []
    for i, parts in enumerate(data):
        if not isinstance(parts, list) or not parts or not all(isinstance(p, str) for p in parts):
            raise DeviasError(f"{source}: class {i} is {parts!r}, not a list of names")
        names.append("_".join(p.strip().replace(" ", "-") for p in parts))
    return names


def list_name(path: Path) -> str:
    """`Diving48_V2_train.json` / `Diving48_train.json` -> "train"; another file name -> its stem."""
    stem = path.stem
    for prefix in ("Diving48_V2_", "Diving48_"):
        if stem.startswith(prefix) and len(stem) > len(prefix):
            return stem[len(prefix):]
    return stem


def convert(root: str | Path, json_files: Sequence[str | Path], videos: str = "rgb", vocab: str | Path | None = None,
            keep_missing: bool = False) -> Conversion:
    """One list per annotation JSON plus actions.txt (from `vocab`, else ROOT/Diving48_vocab.json when present,
    else numbered names covering the largest label)."""
    root = Path(root)
    parsed = {Path(f): parse_entries(read_json(f), str(f)) for f in json_files}
    vocab = Path(vocab) if vocab is not None else (root / VOCAB if (root / VOCAB).is_file() else None)
    top = max((r.label for rows in parsed.values() for r in rows), default=-1)
    if vocab is not None:
        names = parse_vocab(read_json(vocab), str(vocab))
        if top >= len(names):
            raise DeviasError(f"label {top} is beyond the {len(names)} classes of {vocab}")
    else:
        names = [f"class_{i:02d}" for i in range(top + 1)]
    conv = Conversion(actions=names)
    for f, rows in parsed.items():
        name = list_name(f)
        if name in conv.lists:
            raise DeviasError(f"{f}: a second input named {name!r}; give each split once")
        conv.lists[name] = []
        for row in rows:
            rel = join(videos, f"{row.vid_name}.mp4")
            found = locate(root, rel)
            conv.add(name, VideoEntry(found or rel, row.label), found is not None, f"{f.name} entry {row.number}",
                     keep_missing)
        late = sum(r.start_frame > 0 for r in rows)
        if late:
            conv.notes.append(f"{name}: {late} entries start after frame 0 (start_frame); their whole file is "
                              "sampled")
    if vocab is None:
        conv.notes.append(f"no {VOCAB}: classes named class_00..class_{top:02d} (give --vocab for the dive names)")
    return conv
