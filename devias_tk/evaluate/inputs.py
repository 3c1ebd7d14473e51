"""What `predict` is pointed at, expanded into videos: files, frame folders, directories, list files.

- a video file (any extension: the decoder judges it) or a HAT swap description (.json);
- a frame folder (numbered images, `devias_tk.data.frame_folder`);
- a directory: searched recursively for video files (by extension) and frame folders; hidden
  entries are skipped; a directory without any is reported;
- a list file (.txt, the toolkit's format): its paths are relative to `root` (default: the folder
  holding `lists/` when the list sits in one, else the list's own folder).

Each video is a `VideoEntry` whose path is absolute (so `resolve` leaves it alone) plus the name it is
shown under (the argument as given, or the path below the searched directory / the list's path).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devias_tk.data.formats.common import VIDEO_EXTENSIONS
from devias_tk.data.frame_folder import frame_names
from devias_tk.data.lists import VideoEntry, read_list
from devias_tk.errors import DeviasError

LIST_SUFFIXES = (".txt",)


@dataclass(frozen=True)
class InputVideo:
    name: str  # how the video is named in the output
    entry: VideoEntry  # absolute path; labels from a list, else -1


@dataclass
class Expanded:
    videos: list[InputVideo]
    failed: dict[str, str]  # name -> reason (an argument that names nothing usable)


def is_frame_folder(path: Path) -> bool:
    try:
        return isinstance(frame_names(os.listdir(path)), list)
    except OSError:
        return False


def list_root(list_path: Path) -> Path:
    """Where a list's paths start: the folder above `lists/` (the toolkit's layout), else the list's folder."""
    parent = list_path.resolve().parent
    return parent.parent if parent.name == "lists" else parent


def _walk(directory: Path) -> list[Path]:
    """Video files and frame folders under `directory`, sorted; a frame folder is not searched further."""
    found = []
    for dirpath, dirnames, filenames in os.walk(directory):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        keep = []
        for d in dirnames:
            (found if is_frame_folder(here / d) else keep).append(here / d)
        dirnames[:] = [d.name for d in keep]
        found += [here / f for f in filenames if not f.startswith(".") and Path(f).suffix.lower() in VIDEO_EXTENSIONS]
    return sorted(found)


def expand_inputs(inputs: Sequence[str | os.PathLike], root: str | os.PathLike | None = None) -> Expanded:
    """Expand the arguments in order; a video reached twice is kept once (its first name)."""
    out = Expanded([], {})
    seen: set[str] = set()

    def add(name: str, path: Path, action: int = -1, scene: int = -1) -> None:
        key = str(path.resolve())
        if key not in seen:
            seen.add(key)
            out.videos.append(InputVideo(name, VideoEntry(key, action, scene)))

    for raw in inputs:
        path = Path(raw)
        name = str(raw)
        if not path.exists():
            out.failed[name] = "file not found"
        elif path.is_dir():
            if is_frame_folder(path):
                add(name, path)
                continue
            videos = _walk(path)
            if not videos:
                out.failed[name] = (f"no video files ({', '.join(VIDEO_EXTENSIONS)}) or frame folders in this "
                                    "directory (searched recursively)")
            for video in videos:
                add(str(Path(name) / video.relative_to(path)), video)
        elif path.suffix.lower() in LIST_SUFFIXES:
            base = Path(root) if root is not None else list_root(path)
            try:
                entries = read_list(path)
            except DeviasError as exc:
                out.failed[name] = f"not a readable list: {exc}"
                continue
            for e in entries:
                add(e.path, Path(e.path) if Path(e.path).is_absolute() else base / e.path, e.action, e.scene)
        else:
            add(name, path)
    return out
