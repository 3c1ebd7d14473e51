"""Places365-Standard: the official file lists -> the image lists `scenes train` reads.

Official files (filelist_places365-standard.tar):

- `categories_places365.txt`: '<name> <index>' lines, '/a/airfield 0' ... '/y/youth_hostel 364'.
- `places365_train_standard.txt`: '<path> <index>', the path under the training image folder with a leading
  '/': '/a/airfield/00000001.jpg 0'; the class folder is the category's name.
- `places365_val.txt`: '<file> <index>', a bare file name in the validation folder: 'Places365_val_00000001.jpg 165'.

Images: the training tree under `data_256/` (small images) or `data_large/` (high resolution), the validation
images under `val_256/` or `val_large/`. Written: OUT/train.txt and OUT/val.txt ('<path under ROOT> <index>',
e.g. 'data_256/a/airfield/00000001.jpg 0') and OUT/scenes.txt ('<index> <name>', the names as Places365 spells
them, so a CSAIL model read with `--classes categories_places365.txt` names its classes the same way).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from devias_tk.data.formats.common import join, numbered_lines, parse_int, read_text
from devias_tk.data.lists import write_class_names
from devias_tk.errors import DeviasError, ListFormatError
from devias_tk.utils.atomic import atomic_write_text

TRAIN_DIRS = ("data_256", "data_large")
VAL_DIRS = ("val_256", "val_large")


@dataclass
class Places365Lists:
    lists: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # "train" / "val" -> (path, index)
    classes: list[str] = field(default_factory=list)
    missing: dict[str, list[str]] = field(default_factory=dict)  # "file:line: path" of images not on disk
    notes: list[str] = field(default_factory=list)


def parse_categories(text: str, source: str) -> list[str]:
    """Class names by index from '<name> <index>' lines; indices 0..N-1, each once."""
    by_index: dict[int, str] = {}
    for line_no, line in numbered_lines(text):
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2:
            raise ListFormatError(source, line_no, f"expected '<category> <index>' ('/a/airfield 0'), got {line!r}")
        index = parse_int(parts[1], source, line_no, "class index")
        if index in by_index:
            raise ListFormatError(source, line_no, f"class index {index} appears twice")
        by_index[index] = parts[0]
    if not by_index or sorted(by_index) != list(range(len(by_index))):
        raise DeviasError(f"{source}: class indices must be 0..{len(by_index) - 1} without gaps")
    return [by_index[i] for i in range(len(by_index))]


def parse_image_list(text: str, source: str, classes: Sequence[str], in_class_folders: bool
                     ) -> list[tuple[int, str, int]]:
    """(line, path, index) of '<path> <index>' lines; indices must name a class, and (`in_class_folders`, the
    training list) each image must sit in its class's folder: a mismatch means another categories file."""
    rows = []
    for line_no, line in numbered_lines(text):
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2:
            raise ListFormatError(source, line_no, f"expected '<image> <class index>', got {line!r}")
        index = parse_int(parts[1], source, line_no, "class index")
        if not 0 <= index < len(classes):
            raise ListFormatError(source, line_no, f"class index {index} is outside the {len(classes)} categories")
        path = parts[0]
        if in_class_folders and str(PurePosixPath("/" + path.lstrip("/")).parent) != "/" + classes[index].strip("/"):
            raise ListFormatError(source, line_no, f"{path} is labelled {index} ({classes[index]}), not its folder's "
                                                   "class: is this the categories file of these lists?")
        rows.append((line_no, path, index))
    if not rows:
        raise DeviasError(f"{source}: no images listed")
    return rows


def image_dir(root: Path, given: str | None, candidates: Sequence[str], what: str) -> str:
    """The image folder under root: `given`, else the first of the official names that exists."""
    if given is not None:
        if not (root / given).is_dir():
            raise DeviasError(f"{root / given}: the {what} image folder is not there")
        return given
    for name in candidates:
        if (root / name).is_dir():
            return name
    raise DeviasError(f"{root}: no {what} image folder ({' or '.join(candidates)}); give it with --{what}-dir")


def convert(root: str | os.PathLike, categories: str | os.PathLike, train: str | os.PathLike | None = None,
            val: str | os.PathLike | None = None, train_dir: str | None = None, val_dir: str | None = None,
            per_class: int | None = None, keep_missing: bool = False) -> Places365Lists:
    """Read the official files; `per_class` keeps the first N training images of each class (a quick subset)."""
    root = Path(root)
    if train is None and val is None:
        raise DeviasError("give --train-list and/or --val-list (places365_train_standard.txt, places365_val.txt)")
    if per_class is not None and per_class < 1:
        raise DeviasError(f"--per-class {per_class}: keep at least one image per class")
    out = Places365Lists(classes=parse_categories(read_text(categories), str(categories)))
    for name, source, folder, candidates, in_class_folders in (("train", train, train_dir, TRAIN_DIRS, True),
                                                               ("val", val, val_dir, VAL_DIRS, False)):
        if source is None:
            continue
        rows = parse_image_list(read_text(source), str(source), out.classes, in_class_folders)
        prefix = image_dir(root, folder, candidates, name)
        kept, taken = out.lists.setdefault(name, []), [0] * len(out.classes)
        for line_no, path, index in rows:
            if per_class is not None and name == "train":
                if taken[index] >= per_class:
                    continue
                taken[index] += 1
            rel = join(prefix, path)
            if not (root / rel).is_file():
                out.missing.setdefault(name, []).append(f"{Path(source).name}:{line_no}: {rel}")
                if not keep_missing:
                    continue
            kept.append((rel, index))
        if per_class is not None and name == "train":
            out.notes.append(f"train: the first {per_class} images of each class ({len(kept)} of {len(rows)})")
    return out


def write(out: str | os.PathLike, lists: Places365Lists) -> list[Path]:
    """OUT/<name>.txt per list, OUT/scenes.txt, and OUT/missing-<name>.txt for images not found."""
    out = Path(out)
    written = []
    for name, rows in lists.lists.items():
        path = out / f"{name}.txt"
        atomic_write_text(path, "".join(f"{p} {i}\n" for p, i in rows))
        written.append(path)
        report = out / f"missing-{name}.txt"
        if lists.missing.get(name):
            atomic_write_text(report, "".join(f"{m}\n" for m in lists.missing[name]))
        elif report.exists():
            report.unlink()  # stale: everything is found now
    write_class_names(out / "scenes.txt", lists.classes)
    written.append(out / "scenes.txt")
    return written
