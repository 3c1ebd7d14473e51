"""SCUBA (StillMix, ICCV 2023): actors pasted onto other backgrounds, as rawframe folders.

Per background source (Places365 images, VQGAN-CLIP images, sinusoidal stripes) a folder of frame
folders (`frame000001.jpg` or `000001.jpg`) and an mmaction2 rawframe list
'<frame dir> <num frames> <label>', frame dirs relative to that source's folder, labels 0-based
(the original dataset's classes). Each source becomes one list, `scuba-<name>`; scenes are -1
(a SCUBA background has no scene class of the training set's scene model).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devias_tk.data.formats.common import Conversion, join, parse_rawframe_list, read_text
from devias_tk.data.frame_folder import frame_names
from devias_tk.data.lists import VideoEntry
from devias_tk.errors import DeviasError, ListFormatError

DEFAULT_LIST = "testlist01.txt"


@dataclass(frozen=True)
class Source:
    name: str  # the list is written as lists/scuba-<name>.txt
    frames: str  # folder the list's frame dirs are relative to, relative to the root
    list_file: Path


def parse_source(spec: str, root: Path, list_name: str = DEFAULT_LIST) -> Source:
    """'NAME' (frames in ROOT/NAME, list ROOT/NAME/<list_name>) or 'NAME:FRAMES_DIR:LIST_FILE'."""
    parts = spec.split(":")
    if len(parts) == 1 and parts[0]:
        return Source(parts[0], parts[0], root / parts[0] / list_name)
    if len(parts) == 3 and parts[0] and parts[2]:
        return Source(parts[0], parts[1], Path(parts[2]))
    raise DeviasError(f"--source {spec!r}: use NAME or NAME:FRAMES_DIR:LIST_FILE")


def convert(root: str | Path, sources: Sequence[Source], actions: Sequence[str] | None = None,
            label_base: int = 0, keep_missing: bool = False) -> Conversion:
    """One list per source; `actions` (class names) checks label ranges and is written as actions.txt."""
    root = Path(root)
    conv = Conversion(actions=list(actions) if actions is not None else None)
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise DeviasError(f"SCUBA source names must differ: {names}")
    for source in sources:
        name = f"scuba-{source.name}"
        conv.lists[name] = []
        mismatched = []
        for row in parse_rawframe_list(read_text(source.list_file), str(source.list_file)):
            action = row.label - label_base
            if action < 0 or (actions is not None and action >= len(actions)):
                top = f"..{len(actions) - 1 + label_base}" if actions is not None else ""
                raise ListFormatError(str(source.list_file), row.line,
                                      f"label {row.label} is outside {label_base}{top}")
            rel = join(source.frames, row.path)
            folder = root / rel
            found = folder.is_dir()
            if found:
                frames = frame_names(os.listdir(folder))
                if isinstance(frames, list) and len(frames) != row.num_frames:
                    mismatched.append(f"{rel} ({len(frames)} frames, listed {row.num_frames})")
            conv.add(name, VideoEntry(rel, action), found, f"{source.list_file.name}:{row.line}", keep_missing)
        if mismatched:
            conv.notes.append(f"{name}: {len(mismatched)} frame folders hold another frame count than listed "
                              f"(first: {mismatched[0]}); the folder's count is used")
    return conv
