"""Features of a run on two lists (centre view), or read from two `features` stores, and the k-NN table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from devias_tk.cache.kinds import FEATURES
from devias_tk.cache.store import VideoStore
from devias_tk.data.dataset import ClipSpec
from devias_tk.data.lists import VideoEntry, read_list
from devias_tk.data.scene_labels import with_store_scenes
from devias_tk.errors import DeviasError
from devias_tk.evaluate.knn import knn_table
from devias_tk.evaluate.predict import load_run, predict_entries
from devias_tk.utils.device import resolve_device

Features = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # action, scene, action labels, scene labels


def _labelled(entries: list[VideoEntry], name: str, where: Path, scene_store: Path | None,
              scenes: list[str]) -> list[VideoEntry]:
    """The entries with both labels (scene labels from `scene_store` when given)."""
    if scene_store is not None:
        entries = with_store_scenes(entries, scene_store, scenes)
    entries = [e for e in entries if e.action >= 0 and e.scene >= 0]
    if not entries:
        hint = "" if scene_store is not None else f"; give --{name}-scene-store for pseudo scene labels"
        raise DeviasError(f"{where}: k-NN needs videos with both action and scene labels{hint}")
    return entries


def _report(feats: dict[str, Features], num_actions: int, num_scenes: int, k: int, temperature: float,
            sources: list[str]) -> dict[str, Any]:
    (ta, ts, la, ls), (qa, qs, qla, qls) = feats["train"], feats["test"]
    table: dict[str, Any] = knn_table(ta, ts, la, ls, qa, qs, qla, qls, num_actions, num_scenes, k, temperature)
    counts = {f"{name}_videos": len(f[0]) for name, f in feats.items()}
    return {**table, **counts, "scene_labels": f"train {sources[0]}, test {sources[1]}"}


def knn_report(run_dir: Path, root: Path, train_list: Path, test_list: Path, k: int = 10, temperature: float = 0.07,
               device: str = "auto", batch: int = 16, train_scene_store: Path | None = None,
               test_scene_store: Path | None = None) -> dict[str, Any]:
    """The k-NN table plus the video counts. Scene labels come from each list's scene column, or, where a
    scene store is given for a list, from its video-level pseudo labels (UCF-101 / Kinetics lists carry -1)."""
    dev = resolve_device(device)  # auto: cuda when available, else cpu (as `pretrain probe`)
    run = load_run(run_dir, "auto", dev)
    data = run.config["data"]
    spec = ClipSpec(clip_len=data["frames"], stride=data["stride"], size=data["size"], num_clips=1, num_crops=1,
                    short="repeat_last")
    feats = {}
    for name, path, store in (("train", train_list, train_scene_store), ("test", test_list, test_scene_store)):
        entries = _labelled(read_list(path), name, path, store, run.scenes)
        pred = predict_entries(run, root, entries, spec, dev, batch, 2, f"features {name}")
        if pred["action_feat"] is None or pred["scene_feat"] is None:
            raise DeviasError(f"{run.method} has no separate action and scene features")
        ok = ~np.isnan(pred["action_feat"]).any(axis=1)
        feats[name] = (pred["action_feat"][ok], pred["scene_feat"][ok],
                       np.array([e.action for e in entries])[ok], np.array([e.scene for e in entries])[ok])
    sources = [("store" if s is not None else "list") for s in (train_scene_store, test_scene_store)]
    return _report(feats, len(run.actions), len(run.scenes), k, temperature, sources)


def store_features(path: Path, name: str, scene_store: Path | None = None) -> tuple[Features, dict[str, Any]]:
    """(features and labels, root attributes) of a `features` store's finished videos, in path order."""
    if not Path(path).exists():
        raise DeviasError(f"{path}: feature store not found")
    store = VideoStore(path)
    if store.attrs.get("kind") != FEATURES.name:
        raise DeviasError(f"{path}: is a {store.attrs.get('kind')!r} store, not a features store "
                          "(`devias-tk features`)")
    videos = sorted(store.done())
    attrs = [store.video_attrs(v) for v in videos]
    entries = [VideoEntry(v, int(a.get("action", -1)), int(a.get("scene", -1))) for v, a in zip(videos, attrs,
                                                                                               strict=True)]
    entries = _labelled(entries, name, Path(path), scene_store, store.attrs["class_names"]["scenes"])
    groups = [store.group(e.path) for e in entries]
    missing = [t for t in ("action", "scene") if t not in groups[0]]
    if missing:
        raise DeviasError(f"{path}: {store.attrs.get('method')} features have no {' or '.join(missing)} feature")
    feats = (np.stack([g["action"][...] for g in groups]), np.stack([g["scene"][...] for g in groups]),
             np.array([e.action for e in entries]), np.array([e.scene for e in entries]))
    return feats, store.attrs


def knn_from_stores(train_store: Path, test_store: Path, k: int = 10, temperature: float = 0.07,
                    train_scene_store: Path | None = None, test_scene_store: Path | None = None) -> dict[str, Any]:
    """The k-NN table from two feature stores of the same run (same checkpoint)."""
    train, train_attrs = store_features(train_store, "train", train_scene_store)
    test, test_attrs = store_features(test_store, "test", test_scene_store)
    if train_attrs["checkpoint_sha"] != test_attrs["checkpoint_sha"]:
        raise DeviasError(f"{train_store} and {test_store} hold features of different checkpoints "
                          f"({train_attrs['checkpoint_sha']} vs {test_attrs['checkpoint_sha']})")
    names = train_attrs["class_names"]
    sources = [("store" if s is not None else "list") for s in (train_scene_store, test_scene_store)]
    return _report({"train": train, "test": test}, len(names["actions"]), len(names["scenes"]), k, temperature,
                   sources)
