"""Video lists: the toolkit's own format and the UCF-101 split files.

Toolkit list format (one video per line, space separated, no header)::

    <path relative to the dataset root> <action index> <scene index>

Indices are 0-based; -1 means unknown. The path may contain spaces (the two integers are
split off the right). Blank lines and lines starting with '#' are ignored.

Class-name files hold one class per line as ``<index> <name>`` (0-based, the toolkit's own),
or ``<name> <index>`` (Places365's ``categories_places365.txt``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from devias_tk.errors import DeviasError, ListFormatError
from devias_tk.utils.atomic import atomic_write_text
from devias_tk.utils.words import plural

UNKNOWN = -1


@dataclass(frozen=True)
class VideoEntry:
    """One video of a list: where it is and what it shows (-1 when unknown)."""

    path: str
    action: int = UNKNOWN
    scene: int = UNKNOWN


def _content_lines(path: Path) -> Iterable[tuple[int, str]]:
    if not path.is_file():
        raise DeviasError(f"{path}: list file not found")
    with open(path, encoding="utf-8") as handle:
        for line_no, raw in enumerate(handle, start=1):
            line = raw.strip()
            if line and not line.startswith("#"):
                yield line_no, line


def _parse_index(token: str, path: Path, line_no: int, what: str) -> int:
    try:
        value = int(token)
    except ValueError:
        raise ListFormatError(str(path), line_no, f"{what} index {token!r} is not an integer") from None
    if value < UNKNOWN:
        raise ListFormatError(str(path), line_no, f"{what} index {value} is below -1")
    return value


def read_list(path: str | os.PathLike) -> list[VideoEntry]:
    """Read a toolkit list file; a malformed line raises ListFormatError naming file:line."""
    path = Path(path)
    entries = []
    for line_no, line in _content_lines(path):
        parts = line.rsplit(maxsplit=2)
        if len(parts) != 3:
            raise ListFormatError(
                str(path), line_no, f"expected '<path> <action> <scene>', got {line!r}"
            )
        video, action, scene = parts
        entries.append(
            VideoEntry(
                video,
                _parse_index(action, path, line_no, "action"),
                _parse_index(scene, path, line_no, "scene"),
            )
        )
    return entries


def write_list(path: str | os.PathLike, entries: Iterable[VideoEntry]) -> None:
    """Write a toolkit list file atomically."""
    text = "".join(f"{e.path} {e.action} {e.scene}\n" for e in entries)
    atomic_write_text(path, text)


def read_class_names(path: str | os.PathLike) -> list[str]:
    """Read '<index> <name>' (0-based) or Places365-style '<name> <index>' lines, ordered by index."""
    path = Path(path)
    by_index: dict[int, str] = {}
    for line_no, line in _content_lines(path):
        parts = line.split()
        if len(parts) < 2:
            raise ListFormatError(str(path), line_no, f"expected '<index> <name>', got {line!r}")
        if parts[0].lstrip("-").isdigit():
            index, name = int(parts[0]), " ".join(parts[1:])
        elif parts[-1].lstrip("-").isdigit():
            index, name = int(parts[-1]), " ".join(parts[:-1])
        else:
            raise ListFormatError(str(path), line_no, f"no class index in {line!r}")
        if index in by_index:
            raise ListFormatError(str(path), line_no, f"class index {index} appears twice")
        by_index[index] = name
    expected = list(range(len(by_index)))
    if sorted(by_index) != expected:
        raise DeviasError(f"{path}: class indices must be 0..{len(by_index) - 1} without gaps")
    return [by_index[i] for i in expected]


def write_class_names(path: str | os.PathLike, names: Sequence[str]) -> None:
    atomic_write_text(path, "".join(f"{i} {name}\n" for i, name in enumerate(names)))


def read_ucf101_class_index(path: str | os.PathLike) -> list[str]:
    """Read UCF-101's classInd.txt ('1 ApplyEyeMakeup', 1-based) into 0-based class names."""
    path = Path(path)
    names: dict[int, str] = {}
    for line_no, line in _content_lines(path):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise ListFormatError(str(path), line_no, f"expected '<1-based index> <ClassName>', got {line!r}")
        index = int(parts[0])
        if index < 1:
            raise ListFormatError(str(path), line_no, "classInd indices start at 1")
        names[index - 1] = parts[1]
    if sorted(names) != list(range(len(names))):
        raise DeviasError(f"{path}: class indices must be 1..{len(names)} without gaps")
    return [names[i] for i in range(len(names))]


def read_ucf101_split(
    list_path: str | os.PathLike, class_names: Sequence[str], prefix: str = ""
) -> list[VideoEntry]:
    """Read a UCF-101 trainlist/testlist file.

    Train lists carry a 1-based label ('Class/v_X.avi 1'); test lists carry none and the label
    comes from the class folder. `prefix` is prepended to each path (the folder holding the class
    folders, relative to the dataset root). Scene indices are unknown (-1).
    """
    list_path = Path(list_path)
    lookup = {name: i for i, name in enumerate(class_names)}
    entries = []
    for line_no, line in _content_lines(list_path):
        parts = line.split()
        if len(parts) not in (1, 2):
            raise ListFormatError(str(list_path), line_no, f"expected 'Class/video.avi [label]', got {line!r}")
        video = parts[0]
        folder = video.split("/")[0] if "/" in video else None
        if folder is None or folder not in lookup:
            raise ListFormatError(str(list_path), line_no, f"class folder of {video!r} is not in classInd")
        action = lookup[folder]
        if len(parts) == 2:
            label = _parse_index(parts[1], list_path, line_no, "label") - 1
            if label != action:
                raise ListFormatError(
                    str(list_path), line_no,
                    f"label {label + 1} disagrees with folder {folder!r} (class {action + 1})",
                )
        entries.append(VideoEntry(f"{prefix}{video}", action, UNKNOWN))
    return entries


def resolve(root: str | os.PathLike, entry: VideoEntry) -> Path:
    """Absolute location of an entry's video."""
    path = Path(entry.path)
    return path if path.is_absolute() else Path(root) / path


def check_labels(path: str | os.PathLike, entries: Sequence[VideoEntry], num_actions: int | None,
                 num_scenes: int | None, unknown_ok: bool = True) -> None:
    """Every label of `entries` (read from `path`) is an index into its class list: out of range would be
    scored as a miss, or stored, without a word. `num_actions` / `num_scenes` None: that column is not used.
    -1 (unknown) passes unless `unknown_ok` is False. ListFormatError naming the first offending line."""
    columns = [(what, n) for what, n in (("action", num_actions), ("scene", num_scenes)) if n is not None]
    low = UNKNOWN if unknown_ok else 0
    bad = [(e, what, n) for e in entries for what, n in columns if not low <= getattr(e, what) < n]
    if not bad:
        return
    entry, what, n = bad[0]
    line_no = _line_of(Path(path), entries.index(entry))
    more = f"; {len(bad) - 1} more label(s) like it" if len(bad) > 1 else ""
    classes = f"0..{n - 1}" if n else "none: the class list is empty"
    if getattr(entry, what) == UNKNOWN:
        raise ListFormatError(str(path), line_no, f"{entry.path} has no {what} label (-1), and every video needs "
                              f"one here{more}")
    raise ListFormatError(str(path), line_no, f"{entry.path}: {what} index {getattr(entry, what)} is not one of the "
                          f"{plural(n, f'{what} class', f'{what} classes')} ({classes}"
                          f"{', or -1 for unknown' if unknown_ok else ''}){more}; fix the list or the class file")


def _line_of(path: Path, index: int) -> int:
    """The file line of the list's `index`-th entry (comments and blank lines counted)."""
    for i, (line_no, _line) in enumerate(_content_lines(path)):
        if i == index:
            return line_no
    return 0

