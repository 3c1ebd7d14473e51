"""HAT (Chung et al., NeurIPS 2022): Scene-Only videos and Action-Swap pairs.

Layout of a HAT root (the folder names are options):

- `ori/<class>/<vid>/000001.jpg`: original frames; `seg/<class>/<vid>/000001.png`: person masks
  (> 128 = person); `inp/<class>/<vid>/000001.jpg`: inpainted frames (the person removed);
- `list.csv`: '<class>/<vid> <num frames> <label>' per video (space or comma separated);
- `labels.csv`: '<idx>,<classname>' per class (a header row is skipped); indices from 0 or from 1,
  the same base as list.csv's labels;
- `actionswap_<kind>_<split>.pickle` (kind rand / close / far, split 1-3): a dict
  {'<fg class>/<fg vid>': [<bg class>/<bg vid>, <bg frame count>, <bg label>]}.

Scene-Only: every list.csv video's inpainted frames, action -1 (no actor), scene -1 (pseudo labels
come from the scene model). Action-Swap: one JSON description per pair
(`hat_swaps/<list name>/<fg class>/<fg vid>.json`, read by devias_tk.data.swap_video), action =
the foreground's class, scene -1; the background's class label is kept in the description.
"""

from __future__ import annotations

import io
import os
import pickle
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devias_tk.data import swap_video
from devias_tk.data.formats.common import Conversion, join, parse_int, parse_rawframe_list, read_text
from devias_tk.data.lists import VideoEntry
from devias_tk.errors import DeviasError, ListFormatError

SWAP_FILE = re.compile(r"^actionswap_(?P<kind>[A-Za-z]+)_(?P<split>\d+)\.pickle$")
DESCRIPTIONS = "hat_swaps"


def parse_labels(text: str, source: str) -> tuple[list[str], int]:
    """('<idx>,<classname>' lines) -> (names ordered by index, index base 0 or 1)."""
    by_index: dict[int, str] = {}
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        idx, sep, name = line.partition(",")
        if not sep or not name.strip():
            raise ListFormatError(source, line_no, f"expected '<idx>,<classname>', got {line!r}")
        if line_no == 1 and not idx.strip().lstrip("-").isdigit():
            continue  # header row
        index = parse_int(idx, source, line_no, "class index")
        if index in by_index:
            raise ListFormatError(source, line_no, f"class index {index} appears twice")
        by_index[index] = name.strip()
    if not by_index:
        raise DeviasError(f"{source}: no classes")
    base = min(by_index)
    if base not in (0, 1) or sorted(by_index) != list(range(base, base + len(by_index))):
        raise DeviasError(f"{source}: class indices must run from 0 (or 1) without gaps")
    return [by_index[i] for i in range(base, base + len(by_index))], base


@dataclass(frozen=True)
class SwapRow:
    key: str  # '<fg class>/<fg vid>'
    background: str  # '<bg class>/<bg vid>'
    background_frames: int
    background_label: int


class _PlainUnpickler(pickle.Unpickler):
    """Unpickle plain containers and numbers only: a pickle from the web must not run code."""

    ALLOWED = frozenset({("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"), ("numpy", "dtype")})

    def find_class(self, module: str, name: str):  # type: ignore[override]
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def load_swaps(path: str | os.PathLike) -> object:
    path = Path(path)
    if not path.is_file():
        raise DeviasError(f"{path}: file not found")
    try:
        return _PlainUnpickler(io.BytesIO(path.read_bytes())).load()
    except Exception as exc:  # truncated file, not a pickle, forbidden class
        raise DeviasError(f"{path}: not a readable Action-Swap pickle ({type(exc).__name__}: {exc})") from None


def parse_swaps(mapping: object, source: str) -> list[SwapRow]:
    """Validate {fg: [bg, bg_frames, bg_label]} and return rows sorted by foreground key."""
    if not isinstance(mapping, dict):
        raise DeviasError(f"{source}: expected a dict of swap pairs, got {type(mapping).__name__}")
    rows = []
    for key in sorted(mapping, key=str):
        value = mapping[key]
        ok = (isinstance(key, str) and "/" in key and isinstance(value, list | tuple) and len(value) == 3
              and isinstance(value[0], str))
        try:
            frames, label = int(value[1]), int(value[2])  # numpy integers too
        except (TypeError, ValueError, IndexError, KeyError):
            ok = False
        if not ok or frames <= 0:
            raise DeviasError(f"{source}: entry {key!r}: expected '<class>/<video>': [<bg video>, <bg frames>, "
                              f"<bg label>], got {value!r}")
        rows.append(SwapRow(key.strip("/"), str(value[0]).strip("/"), frames, label))
    return rows


def swap_list_name(path: Path) -> str:
    """actionswap_rand_1.pickle -> hat-rand-1 (any other name: hat-<stem>)."""
    match = SWAP_FILE.match(path.name)
    return f"hat-{match['kind']}-{match['split']}" if match else f"hat-{path.stem}"


def find_swap_files(paths: Sequence[str | Path]) -> list[Path]:
    """Pickle files given directly, or every actionswap_<kind>_<split>.pickle in given folders."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(sorted(f for f in p.iterdir() if SWAP_FILE.match(f.name)))
        elif p.is_file():
            found.append(p)
        else:
            raise DeviasError(f"{p}: not found")
    names = [swap_list_name(f) for f in found]
    if len(set(names)) != len(names):
        raise DeviasError(f"two swap files give the same list name: {names}")
    return found


def convert(root: str | Path, labels_csv: str | Path, list_csv: str | Path | None = None,
            swap_files: Sequence[str | Path] = (), out: str | Path | None = None, frames: str = "ori",
            masks: str = "seg", inpainted: str = "inp", keep_missing: bool = False) -> Conversion:
    """Scene-Only list (with list.csv), one Action-Swap list per pickle, actions.txt from labels.csv."""
    root = Path(root)
    out = Path(out) if out is not None else root
    names, base = parse_labels(read_text(labels_csv), str(labels_csv))
    conv = Conversion(actions=names)
    by_folder = {name: i for i, name in enumerate(names)}
    listed: dict[str, int] = {}
    if list_csv is not None:
        conv.lists["hat-scene-only"] = []
        for row in parse_rawframe_list(read_text(list_csv), str(list_csv)):
            if not 0 <= row.label - base < len(names):
                raise ListFormatError(str(list_csv), row.line, f"label {row.label} is not a class of labels.csv")
            vid = row.path.strip("/")
            listed[vid] = row.label - base
            rel = join(inpainted, vid)
            conv.add("hat-scene-only", VideoEntry(rel), (root / rel).is_dir(), f"{Path(list_csv).name}:{row.line}",
                     keep_missing)
    for swap_file in map(Path, swap_files):
        name = swap_list_name(swap_file)
        conv.lists[name] = []
        unlabelled = 0
        for row in parse_swaps(load_swaps(swap_file), str(swap_file)):
            action = listed.get(row.key, by_folder.get(row.key.split("/")[0]))
            if action is None:
                unlabelled += 1  # neither in list.csv nor in a folder named after a class
                continue
            parts = {"fg": root / frames / row.key, "fg_masks": root / masks / row.key,
                     "bg": root / inpainted / row.background, "bg_masks": root / masks / row.background}
            absent = [k for k, p in parts.items() if not p.is_dir()]
            description = Path(DESCRIPTIONS) / name / f"{row.key}.json"
            if keep_missing or not absent:
                conv.descriptions[description.as_posix()] = swap_video.describe(
                    out / description, parts["fg"], parts["fg_masks"], parts["bg"], parts["bg_masks"],
                    row.background_frames, row.background_label - base, swap_file.name, row.key)
            rel = Path(os.path.relpath(out / description, root)).as_posix()
            conv.add(name, VideoEntry(rel, action), not absent,
                     f"{swap_file.name}[{row.key!r}] ({', '.join(absent)} missing)" if absent else swap_file.name,
                     keep_missing)
        if unlabelled:
            conv.notes.append(f"{name}: {unlabelled} pairs left out (foreground class not found in list.csv "
                              f"or labels.csv)")
    return conv
