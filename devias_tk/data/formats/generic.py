"""The generic lists of VideoMAE and mmaction2: '<relative/path.mp4> <label>' (space separated).

With `rawframes`, mmaction2's rawframe lists '<frame dir> <num frames> <label>' instead. Labels are
action indices (0-based unless `label_base` says otherwise); scenes are -1. Paths may contain spaces
(the integers are split off the right).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from devias_tk.data.formats.common import (
    Conversion,
    join,
    locate,
    numbered_lines,
    parse_int,
    parse_rawframe_list,
    read_text,
)
from devias_tk.data.lists import VideoEntry
from devias_tk.errors import ListFormatError


def parse_list(text: str, source: str, rawframes: bool = False) -> list[tuple[int, str, int]]:
    """(line, path, label) per line."""
    if rawframes:
        return [(r.line, r.path, r.label) for r in parse_rawframe_list(text, source)]
    rows = []
    for line_no, line in numbered_lines(text):
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2:
            raise ListFormatError(source, line_no, f"expected '<path> <label>', got {line!r}")
        rows.append((line_no, parts[0], parse_int(parts[1], source, line_no, "label")))
    return rows


def convert(root: str | Path, list_files: Sequence[str | Path], prefix: str = "", label_base: int = 0,
            rawframes: bool = False, actions: Sequence[str] | None = None, keep_missing: bool = False) -> Conversion:
    """One list per input file (named after it); `prefix` is prepended to every path."""
    root = Path(root)
    conv = Conversion(actions=list(actions) if actions is not None else None)
    for f in map(Path, list_files):
        conv.lists[f.stem] = []
        for line_no, path, label in parse_list(read_text(f), str(f), rawframes):
            action = label - label_base
            if action < 0 or (actions is not None and action >= len(actions)):
                raise ListFormatError(str(f), line_no, f"label {label} is outside the classes "
                                      f"({label_base}..{len(actions) - 1 + label_base})" if actions is not None
                                      else f"label {label} is below {label_base}")
            rel = join(prefix, path)
            found = locate(root, rel)
            conv.add(f.stem, VideoEntry(found or rel, action), found is not None, f"{f.name}:{line_no}", keep_missing)
    return conv
