"""Features of a run on two lists (centre view) and the k-NN table over them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from devias_tk.data.dataset import ClipSpec
from devias_tk.data.lists import read_list
from devias_tk.data.scene_labels import with_store_scenes
from devias_tk.errors import DeviasError
from devias_tk.evaluate.knn import knn_table
from devias_tk.evaluate.predict import load_run, predict_entries


def knn_report(run_dir: Path, root: Path, train_list: Path, test_list: Path, k: int = 10, temperature: float = 0.07,
               device: str = "auto", batch: int = 16, train_scene_store: Path | None = None,
               test_scene_store: Path | None = None) -> dict[str, Any]:
    """The k-NN table plus the video counts. Scene labels come from each list's scene column, or, where a
    scene store is given for a list, from its video-level pseudo labels (UCF-101 / Kinetics lists carry -1)."""
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    run = load_run(run_dir, "auto", dev)
    data = run.config["data"]
    spec = ClipSpec(clip_len=data["frames"], stride=data["stride"], size=data["size"], num_clips=1, num_crops=1,
                    short="repeat_last")
    feats, counts = {}, {}
    for name, path, store in (("train", train_list, train_scene_store), ("test", test_list, test_scene_store)):
        entries = read_list(path)
        if store is not None:
            entries = with_store_scenes(entries, store, run.scenes)
        entries = [e for e in entries if e.action >= 0 and e.scene >= 0]
        if not entries:
            hint = "" if store is not None else f"; give --{name}-scene-store for pseudo scene labels"
            raise DeviasError(f"{path}: k-NN needs videos with both action and scene labels{hint}")
        pred = predict_entries(run, root, entries, spec, dev, batch, 2, f"features {name}")
        if pred["action_feat"] is None or pred["scene_feat"] is None:
            raise DeviasError(f"{run.method} has no separate action and scene features")
        ok = ~np.isnan(pred["action_feat"]).any(axis=1)
        feats[name] = (pred["action_feat"][ok], pred["scene_feat"][ok],
                       np.array([e.action for e in entries])[ok], np.array([e.scene for e in entries])[ok])
        counts[f"{name}_videos"] = int(ok.sum())
    (ta, ts, la, ls), (qa, qs, qla, qls) = feats["train"], feats["test"]
    table: dict[str, Any] = knn_table(ta, ts, la, ls, qa, qs, qla, qls, len(run.actions), len(run.scenes), k,
                                      temperature)
    sources = [("store" if s is not None else "list") for s in (train_scene_store, test_scene_store)]
    return {**table, **counts, "scene_labels": f"train {sources[0]}, test {sources[1]}"}
