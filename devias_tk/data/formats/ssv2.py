"""Something-Something v2: the labels JSON, the train / validation / test JSONs and `<id>.webm` videos.

- `something-something-v2-labels.json`: {"<class name>": "<index>", ...}, the 174 templates with the
  placeholders' brackets removed ("Putting something on a surface") mapped to 0-based indices (as strings).
- `something-something-v2-train.json` / `-validation.json`: a list of {"id": "78687", "label": "<the caption
  with the objects filled in>", "template": "Putting [something] on a surface", "placeholders": [...]}; the
  class is the template without its brackets. `-test.json`: only {"id": ...} (action -1).
- Videos `<id>.webm` in one folder (a frame folder named `<id>` is taken too).

Each input JSON becomes one list named after it (`something-something-v2-validation.json` ->
`lists/validation.txt`). `first_classes` keeps the classes 0..N-1 only: the paper's SSv2 transfer uses the
first 88 (supp. F.3: "the first 88 classes (0 to 87) out of the 174").
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devias_tk.data.formats.common import Conversion, join, json_entries, locate, read_json
from devias_tk.data.lists import VideoEntry
from devias_tk.errors import DeviasError

PREFIX = "something-something-v2-"


def class_name(template: str) -> str:
    """A template as the labels JSON names its class: the placeholders' brackets removed."""
    return template.replace("[", "").replace("]", "")


def parse_labels(data: Any, source: str) -> list[str]:
    """Class names by index from the labels JSON ({name: "index"}); indices must be 0..N-1 once each."""
    if not isinstance(data, dict) or not data:
        raise DeviasError(f"{source}: expected an object {{\"<class name>\": \"<index>\", ...}}")
    by_index: dict[int, str] = {}
    for name, raw in data.items():
        try:
            index = int(raw)
        except (TypeError, ValueError):
            raise DeviasError(f"{source}: class {name!r} has index {raw!r}, not an integer") from None
        if index in by_index:
            raise DeviasError(f"{source}: index {index} is given to {by_index[index]!r} and {name!r}")
        by_index[index] = name
    if sorted(by_index) != list(range(len(by_index))):
        raise DeviasError(f"{source}: class indices must be 0..{len(by_index) - 1} without gaps")
    return [by_index[i] for i in range(len(by_index))]


def parse_entries(data: Any, source: str) -> list[tuple[int, str, str | None]]:
    """(entry number, video id, class name or None for the test set) of a train / validation / test JSON."""
    rows = []
    for number, entry in json_entries(data, source, ("id",)):
        template = entry.get("template")
        if template is not None and not isinstance(template, str):
            raise DeviasError(f"{source}: entry {number} (id {entry['id']}): 'template' is not a string")
        rows.append((number, str(entry["id"]), None if template is None else class_name(template)))
    return rows


def list_name(path: Path) -> str:
    """`something-something-v2-train.json` -> "train"; another file name -> its stem."""
    return path.stem.removeprefix(PREFIX) or path.stem


def convert(root: str | Path, labels: str | Path, json_files: Sequence[str | Path], videos: str = "",
            first_classes: int | None = None, keep_missing: bool = False) -> Conversion:
    """One list per JSON plus actions.txt (the labels JSON's classes, or its first `first_classes`)."""
    root = Path(root)
    names = parse_labels(read_json(labels), str(labels))
    if first_classes is not None and not 1 <= first_classes <= len(names):
        raise DeviasError(f"--first-classes {first_classes}: {labels} has {len(names)} classes")
    kept = names[:first_classes] if first_classes else names
    lookup = {name: i for i, name in enumerate(names)}
    conv = Conversion(actions=kept)
    for f in map(Path, json_files):
        name = list_name(f)
        if name in conv.lists:
            raise DeviasError(f"{f}: a second input named {name!r}; give each split once")
        conv.lists[name] = []
        dropped = 0
        for number, vid, cls in parse_entries(read_json(f), str(f)):
            if cls is not None and cls not in lookup:
                raise DeviasError(f"{f}: entry {number} (id {vid}): template class {cls!r} is not in {labels}")
            action = -1 if cls is None else lookup[cls]
            if action >= len(kept):
                dropped += 1
                continue
            rel = join(videos, f"{vid}.webm")
            found = locate(root, rel)
            conv.add(name, VideoEntry(found or rel, action), found is not None, f"{f.name} entry {number}",
                     keep_missing)
        if dropped:
            conv.notes.append(f"{name}: {dropped} videos of classes {len(kept)}..{len(names) - 1} left out "
                              f"(--first-classes {len(kept)})")
    return conv
