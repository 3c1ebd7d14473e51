"""HVU (Holistic Video Understanding): the paper's action/scene subset lists and the official CSVs.

(a) Subset lists, as the DEVIAS paper uses HVU: one clip per line, '<clip> <action> <scene>', with
    0-based indices into 739 action and 248 scene classes (-1: unknown). `<clip>` is a path
    relative to the video folder, or a clip name found in it.
(b) The official release: `HVU_Train_V1.0.csv` / `HVU_Val_V1.0.csv` with the header
    `Tags,youtube_id,time_start,time_end` (tags separated by '|') and the tag-category file
    `HVU_Tags_Categories_V1.0.csv` with the header `Tag,Category`. Tags whose category is
    `action` (case-insensitive) are the action classes and those of category `scene` the scene
    classes, each in the category file's order (739 and 248 in HVU 1.0). A clip is kept when it
    carries exactly one action tag and exactly one scene tag; the others are counted, not listed.

Clip files are named like Kinetics clips, `<youtube_id>_<start:06d>_<end:06d>.mp4`, found anywhere
under the video folder (or as a frame folder of that name).
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devias_tk.data.formats.common import (
    VIDEO_EXTENSIONS,
    Conversion,
    join,
    locate,
    numbered_lines,
    parse_int,
    read_text,
)
from devias_tk.data.formats.kinetics400 import clip_stem, index_clips
from devias_tk.data.lists import VideoEntry
from devias_tk.errors import DeviasError, ListFormatError

NUM_ACTIONS = 739
NUM_SCENES = 248


@dataclass(frozen=True)
class SubsetRow:
    line: int
    clip: str
    action: int
    scene: int


def parse_subset(text: str, source: str, num_actions: int = NUM_ACTIONS,
                 num_scenes: int = NUM_SCENES) -> list[SubsetRow]:
    """'<clip> <action> <scene>' lines; indices must be -1 or within the class counts."""
    rows = []
    for line_no, line in numbered_lines(text):
        parts = line.rsplit(maxsplit=2)
        if len(parts) != 3:
            raise ListFormatError(source, line_no, f"expected '<clip> <action> <scene>', got {line!r}")
        clip, action, scene = parts
        values = []
        for token, what, count in ((action, "action", num_actions), (scene, "scene", num_scenes)):
            value = parse_int(token, source, line_no, f"{what} index")
            if not -1 <= value < count:
                raise ListFormatError(source, line_no, f"{what} index {value} is outside 0..{count - 1} (or -1)")
            values.append(value)
        rows.append(SubsetRow(line_no, clip, *values))
    return rows


def parse_categories(text: str, source: str) -> list[tuple[str, str]]:
    """(tag, lower-case category) pairs in file order, from 'Tag,Category' rows (header optional)."""
    pairs = []
    for line_no, record in enumerate(csv.reader(text.splitlines()), start=1):
        if not record or not "".join(record).strip():
            continue
        if len(record) < 2:
            raise ListFormatError(source, line_no, f"expected 'Tag,Category', got {','.join(record)!r}")
        tag, category = record[0].strip(), record[1].strip().lower()
        if line_no == 1 and (tag.lower(), category) == ("tag", "category"):
            continue
        pairs.append((tag, category))
    return pairs


def classes_by_category(pairs: Sequence[tuple[str, str]], source: str) -> tuple[list[str], list[str]]:
    actions = [t for t, c in pairs if c == "action"]
    scenes = [t for t, c in pairs if c == "scene"]
    if not actions or not scenes:
        found = ", ".join(sorted({c for _, c in pairs})) or "none"
        raise DeviasError(f"{source}: needs tags of category 'action' and 'scene' (found categories: {found})")
    for kind, names in (("action", actions), ("scene", scenes)):
        repeated = [t for t, n in Counter(names).items() if n > 1]
        if repeated:
            raise DeviasError(f"{source}: {kind} tag {repeated[0]!r} appears twice")
    return actions, scenes


@dataclass(frozen=True)
class HvuRow:
    line: int
    tags: tuple[str, ...]
    youtube_id: str
    start: int
    end: int


def parse_official_csv(text: str, source: str) -> list[HvuRow]:
    """Rows of `Tags,youtube_id,time_start,time_end` (header required: it names the columns)."""
    records = list(csv.reader(text.splitlines()))
    if not records:
        return []
    header = [c.strip().lower() for c in records[0]]
    needed = ("tags", "youtube_id", "time_start", "time_end")
    if any(c not in header for c in needed):
        raise ListFormatError(source, 1, f"expected the header Tags,youtube_id,time_start,time_end, got {records[0]}")
    at = {c: header.index(c) for c in needed}
    rows = []
    for line_no, record in enumerate(records[1:], start=2):
        if not record or not "".join(record).strip():
            continue
        if len(record) <= max(at.values()):
            raise ListFormatError(source, line_no, f"expected 4 columns, got {','.join(record)!r}")
        tags = tuple(t.strip() for t in record[at["tags"]].split("|") if t.strip())
        youtube_id = record[at["youtube_id"]].strip()
        if not youtube_id:
            raise ListFormatError(source, line_no, "empty youtube_id")
        rows.append(HvuRow(line_no, tags, youtube_id,
                           parse_int(record[at["time_start"]], source, line_no, "time_start"),
                           parse_int(record[at["time_end"]], source, line_no, "time_end")))
    return rows


def pick_labels(tags: Sequence[str], actions: dict[str, int], scenes: dict[str, int]) -> tuple[int, int] | str:
    """(action, scene) of a clip with exactly one tag of each, else why it is left out."""
    a = [actions[t] for t in tags if t in actions]
    s = [scenes[t] for t in tags if t in scenes]
    for found, kind in ((a, "action"), (s, "scene")):
        if not found:
            return f"no {kind} tag"
        if len(set(found)) > 1:
            return f"several {kind} tags"
    return a[0], s[0]


class _ClipFinder:
    """Find a clip by path or by name under the video folder (indexed once, on first need)."""

    def __init__(self, root: Path, videos: str) -> None:
        self.root, self.videos = root, videos
        self._index: dict[str, list[str]] | None = None

    def find(self, clip: str) -> str | None:
        direct = locate(self.root, join(self.videos, clip))
        if direct is not None:
            return direct
        if self._index is None:
            self._index = index_clips(self.root, self.videos)
        name = os.path.basename(clip)
        stem, ext = os.path.splitext(name)
        hits = self._index.get(stem if ext.lower() in VIDEO_EXTENSIONS else name, [])
        return hits[0] if hits else None


def convert_subset(root: str | Path, list_files: Sequence[str | Path], videos: str = "",
                   actions: Sequence[str] | None = None, scenes: Sequence[str] | None = None,
                   keep_missing: bool = False) -> Conversion:
    """One list per subset file (named after it); class names written when given."""
    root = Path(root)
    num_actions = len(actions) if actions is not None else NUM_ACTIONS
    num_scenes = len(scenes) if scenes is not None else NUM_SCENES
    conv = Conversion(actions=list(actions) if actions is not None else None,
                      scenes=list(scenes) if scenes is not None else None)
    finder = _ClipFinder(root, videos)
    for f in map(Path, list_files):
        conv.lists[f.stem] = []
        for row in parse_subset(read_text(f), str(f), num_actions, num_scenes):
            found = finder.find(row.clip)
            conv.add(f.stem, VideoEntry(found or join(videos, row.clip), row.action, row.scene), found is not None,
                     f"{f.name}:{row.line}", keep_missing)
    return conv


def convert_official(root: str | Path, csv_files: Sequence[str | Path], categories: str | Path, videos: str = "",
                     keep_missing: bool = False) -> Conversion:
    """One list per official CSV (HVU_Train_V1.0.csv -> lists/HVU_Train_V1.0.txt) plus both class files."""
    root = Path(root)
    action_names, scene_names = classes_by_category(parse_categories(read_text(categories), str(categories)),
                                                    str(categories))
    actions = {t: i for i, t in enumerate(action_names)}
    scenes = {t: i for i, t in enumerate(scene_names)}
    conv = Conversion(actions=action_names, scenes=scene_names)
    finder = _ClipFinder(root, videos)
    for f in map(Path, csv_files):
        conv.lists[f.stem] = []
        left_out: Counter[str] = Counter()
        for row in parse_official_csv(read_text(f), str(f)):
            labels = pick_labels(row.tags, actions, scenes)
            if isinstance(labels, str):
                left_out[labels] += 1
                continue
            stem = clip_stem(row.youtube_id, row.start, row.end)
            found = finder.find(f"{stem}.mp4")
            conv.add(f.stem, VideoEntry(found or join(videos, f"{stem}.mp4"), *labels), found is not None,
                     f"{f.name}:{row.line}", keep_missing)
        for reason, count in sorted(left_out.items()):
            conv.notes.append(f"{f.name}: {count} clips left out ({reason})")
    return conv


def split_by_combination(conv: Conversion, reference: str) -> None:
    """Add `<name>-seen` and `<name>-unseen` for every list but `reference`: its clips whose (action, scene)
    pair occurs in the reference (training) list, and those whose pair does not, the paper's seen and
    unseen action-scene combinations (4.3)."""
    if reference not in conv.lists:
        raise DeviasError(f"--seen-from {reference}: no such list (converted: {', '.join(conv.lists) or 'none'})")
    seen_pairs = {(e.action, e.scene) for e in conv.lists[reference]}
    for name in [n for n in conv.lists if n != reference]:
        entries = conv.lists[name]
        conv.lists[f"{name}-seen"] = [e for e in entries if (e.action, e.scene) in seen_pairs]
        conv.lists[f"{name}-unseen"] = [e for e in entries if (e.action, e.scene) not in seen_pairs]
        conv.notes.append(f"{name}: {len(conv.lists[f'{name}-seen'])} clips of action-scene pairs seen in "
                          f"{reference}, {len(conv.lists[f'{name}-unseen'])} of unseen pairs")
