"""Features of a run on two lists (centre view) and the k-NN table over them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from devias_tk.data.dataset import ClipSpec
from devias_tk.data.lists import read_list
from devias_tk.errors import DeviasError
from devias_tk.evaluate.knn import knn_table
from devias_tk.evaluate.predict import load_run, predict_entries


def knn_report(run_dir: Path, root: Path, train_list: Path, test_list: Path, k: int = 10, temperature: float = 0.07,
               device: str = "auto", batch: int = 16) -> dict[str, float]:
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    run = load_run(run_dir, "auto", dev)
    data = run.config["data"]
    spec = ClipSpec(clip_len=data["frames"], stride=data["stride"], size=data["size"], num_clips=1, num_crops=1,
                    short="repeat_last")
    feats = {}
    for name, path in (("train", train_list), ("test", test_list)):
        entries = [e for e in read_list(path) if e.action >= 0 and e.scene >= 0]
        if not entries:
            raise DeviasError(f"{path}: k-NN needs videos with both action and scene labels")
        pred = predict_entries(run, root, entries, spec, dev, batch, 2, f"features {name}")
        if pred["action_feat"] is None or pred["scene_feat"] is None:
            raise DeviasError(f"{run.method} has no separate action and scene features")
        ok = ~np.isnan(pred["action_feat"]).any(axis=1)
        feats[name] = (pred["action_feat"][ok], pred["scene_feat"][ok],
                       np.array([e.action for e in entries])[ok], np.array([e.scene for e in entries])[ok])
    (ta, ts, la, ls), (qa, qs, qla, qls) = feats["train"], feats["test"]
    return knn_table(ta, ts, la, ls, qa, qs, qla, qls, len(run.actions), len(run.scenes), k, temperature)
