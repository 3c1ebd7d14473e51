"""Evaluation suites: which splits, where their labels come from, which metrics, how many views.

A suite is YAML::

    name: synthetic
    definition: what the means cover and where that comes from (written into every report)
    root: data/synthetic          # relative to the working directory
    views: [2, 3]                 # temporal clips x spatial crops (overridden by --views)
    scene_labels: list            # default label source for scenes: "list" or "store"
    splits:
      - {name: test, list: lists/test.txt, seen: true, action: top1, scene: top1}
      - {name: scuba-places, list: lists/scuba-places.txt, action: top1}
      - {name: hat-scene-only, list: lists/hat-scene-only.txt, scene: top5,
         scene_labels: store, scene_store: caches/scenes-hat-scene-only.zarr}

A split may give its own `root` (SCUBA and HAT live beside the action dataset) and `optional: true`
(evaluated when its list exists, so one suite serves whichever unseen sets are present; an absent one
is kept in `Suite.missing`, and a mean it belongs to is reported as partial, naming it).
`${VAR}` in paths is replaced from the environment (the `*-all` make targets set them); `${VAR:-default}`
falls back to the default when VAR is unset.
Exactly one split is `seen: true`. The suite DEFINES the means: unseen action = mean over all its
unseen splits with an action metric; unseen scene = mean over all its unseen splits with a scene
metric (present or not: `Suite.means`); H.M. = harmonic mean of seen action, unseen action, seen
scene, unseen scene. With `scene_labels: store` a video's scene label is the argmax of the store's
`video_probs` (the scene model's pseudo label).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from devias_tk.errors import DeviasError
from devias_tk.utils.yamlfile import read_mapping

METRICS = {"top1": 1, "top5": 5}
_VAR = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")  # ${NAME} or ${NAME:-default}


def _expand(text: str, where: str) -> Path:
    def value(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name not in os.environ and default is not None:
            return default
        if name not in os.environ:
            raise DeviasError(f"{where}: ${{{name}}} is not set in the environment")
        return os.environ[name]

    return Path(_VAR.sub(value, str(text)))


@dataclass(frozen=True)
class SplitSpec:
    name: str
    list: Path
    seen: bool = False
    action: str | None = None  # "top1" | "top5" | None
    scene: str | None = None
    scene_labels: str = "list"  # "list" | "store"
    scene_store: Path | None = None
    root: Path | None = None  # where the list's paths are relative to (default: the suite's root)


@dataclass(frozen=True)
class Suite:
    name: str
    root: Path
    views: tuple[int, int]
    splits: tuple[SplitSpec, ...]  # the splits to evaluate (optional ones whose list exists)
    definition: str = ""  # the suite's own words on what its means cover (default: `means_text()`)
    missing: tuple[SplitSpec, ...] = ()  # optional splits whose list is absent
    order: tuple[str, ...] = ()  # every split name as the suite declares them (present or missing)

    @property
    def seen(self) -> SplitSpec:
        return next(s for s in self.splits if s.seen)

    def means(self) -> dict[str, list[str]]:
        """{'unseen_action': [...], 'unseen_scene': [...]}: the unseen splits each mean is defined over,
        in the suite's order, whether or not their lists are present."""
        declared = {s.name: s for s in (*self.splits, *self.missing)}
        names = [n for n in (self.order or declared) if n in declared and not declared[n].seen]
        return {f"unseen_{task}": [n for n in names if getattr(declared[n], task)] for task in ("action", "scene")}

    def means_text(self) -> str:
        means = self.means()
        return (f"unseen action = mean({', '.join(means['unseen_action']) or '-'}); unseen scene = "
                f"mean({', '.join(means['unseen_scene']) or '-'}); H.M. = harmonic mean of seen action, unseen "
                "action, seen scene, unseen scene")

    def describe(self) -> str:
        return self.definition or self.means_text()


def _check_text(mapping: dict, keys: tuple[str, ...], where: str) -> None:
    """Keys that hold a name or a path must hold text (a bare number is taken as text too), not a list or mapping."""
    for key in keys:
        value = mapping.get(key)
        if (value is not None and not isinstance(value, str | int | float)) or isinstance(value, bool):
            raise DeviasError(f"{where}: {key} must be a name or path (got {value!r})")


def parse_views(text: str | list | tuple) -> tuple[int, int]:
    """'2x3' or [2, 3] -> (temporal clips, spatial crops)."""
    try:
        clips, crops = (int(v) for v in (text.lower().split("x") if isinstance(text, str) else text))
    except (ValueError, TypeError):
        raise DeviasError(f"views must look like 2x3 (temporal clips x spatial crops), got {text!r}") from None
    if clips < 1 or crops not in (1, 3):
        raise DeviasError(f"views {text!r}: need at least 1 temporal clip and 1 or 3 spatial crops")
    return clips, crops


def load_suite(path: str | Path) -> Suite:
    path = Path(path)
    if not path.is_file():
        raise DeviasError(f"{path}: suite not found")
    data = read_mapping(path, "a suite is a mapping (name, root, views, splits, ...)")
    known = {"name", "definition", "root", "views", "scene_labels", "splits"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise DeviasError(f"{path}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    if "root" not in data or not data.get("splits"):
        raise DeviasError(f"{path}: a suite needs 'root' and a non-empty 'splits' list")
    if not isinstance(data["splits"], list):
        raise DeviasError(f"{path}: 'splits' must be a list of splits, one `- {{name: ..., list: ...}}` each "
                          f"(got {data['splits']!r})")
    _check_text(data, ("root", "name", "scene_labels"), str(path))
    root = _expand(data["root"], f"{path}: root")
    default_labels = data.get("scene_labels", "list")
    splits, missing = [], []
    split_keys = {"name", "list", "seen", "action", "scene", "scene_labels", "scene_store", "root", "optional"}
    for i, raw in enumerate(data["splits"]):
        where = f"{path}: splits[{i}]"
        if not isinstance(raw, dict) or "name" not in raw or "list" not in raw:
            raise DeviasError(f"{where}: each split needs 'name' and 'list'")
        bad = sorted(set(raw) - split_keys)
        if bad:
            raise DeviasError(f"{where} ({raw['name']}): unknown key(s) {', '.join(bad)}")
        _check_text(raw, ("name", "list", "root", "scene_store", "scene_labels", "action", "scene"),
                    f"{where} ({raw['name']})")
        for flag in ("seen", "optional"):  # `seen: yes-please` must not count as true
            if flag in raw and not isinstance(raw[flag], bool):
                raise DeviasError(f"{where} ({raw['name']}): {flag} must be true or false (got {raw[flag]!r})")
        for metric in ("action", "scene"):
            if raw.get(metric) is not None and raw[metric] not in METRICS:
                raise DeviasError(f"{where} ({raw['name']}): {metric} metric must be top1 or top5")
        if not raw.get("action") and not raw.get("scene"):
            raise DeviasError(f"{where} ({raw['name']}): give an action and/or a scene metric")
        labels = raw.get("scene_labels", default_labels)
        if labels not in ("list", "store"):
            raise DeviasError(f"{where} ({raw['name']}): scene_labels must be 'list' or 'store'")
        store = raw.get("scene_store")
        if raw.get("scene") and labels == "store" and not store:
            raise DeviasError(f"{where} ({raw['name']}): scene_labels: store needs a scene_store")
        split_root = _expand(raw["root"], where) if raw.get("root") else root
        list_path = _expand(raw["list"], where)
        list_path = list_path if list_path.is_absolute() else split_root / list_path
        spec = SplitSpec(
            name=str(raw["name"]), list=list_path, seen=bool(raw.get("seen", False)), action=raw.get("action"),
            scene=raw.get("scene"), scene_labels=labels, scene_store=_expand(store, where) if store else None,
            root=split_root,
        )
        (missing if raw.get("optional") and not list_path.is_file() else splits).append(spec)
    names = [str(raw["name"]) for raw in data["splits"]]
    if len(set(names)) != len(names):
        raise DeviasError(f"{path}: split names must be unique")
    seen = [s for s in splits if s.seen]
    if len(seen) != 1:
        raise DeviasError(f"{path}: exactly one split must be 'seen: true' (found {len(seen)})")
    definition = data.get("definition") or ""
    if not isinstance(definition, str):
        raise DeviasError(f"{path}: 'definition' is a sentence on what the suite's means cover")
    return Suite(str(data.get("name", path.stem)), root, parse_views(data.get("views", [2, 3])), tuple(splits),
                 " ".join(definition.split()), tuple(missing), tuple(names))
