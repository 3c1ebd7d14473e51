"""Validation during training: which videos (a seeded held-out part of the training list, or a given
list), a quick single-view top-1 on them, and the score best.pt is chosen on.

The held-out part is drawn per action class (largest-remainder shares of `fraction`, so the total is
round(N * fraction)), never takes a class's last training video, and depends only on the list and
the seed: every process of a distributed run, and a resumed run, hold out the same videos.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from devias_tk.cache.store import file_sha256
from devias_tk.data.lists import VideoEntry, read_list
from devias_tk.data.scene_labels import with_store_scenes
from devias_tk.engine.checkpoint import unwrap
from devias_tk.errors import DeviasError
from devias_tk.evaluate.metrics import harmonic_mean
from devias_tk.train.config import TrainConfig

SELECTION = "val_hm"  # the logged score best.pt is chosen on
# list names of evaluation splits: UCF-101 testlist0N, Kinetics-400 val, HVU val_seen / val_unseen, any *test*
_EVAL_NAME = re.compile(r"test|^val", re.IGNORECASE)


def holdout_counts(class_sizes: Sequence[int], fraction: float, limit: int, rng: np.random.Generator) -> list[int]:
    """Videos to hold out per class: largest-remainder shares of min(round(N * fraction), limit), at most
    size - 1 per class (a class keeps a training video); ties broken by `rng`."""
    sizes = np.asarray(class_sizes, dtype=np.int64)
    total = min(math.floor(sizes.sum() * fraction + 0.5), limit, int(np.maximum(sizes - 1, 0).sum()))
    if total <= 0:
        return [0] * len(sizes)
    share = sizes * (total / sizes.sum())
    counts = np.minimum(np.floor(share).astype(np.int64), np.maximum(sizes - 1, 0))
    order = np.lexsort((rng.random(len(sizes)), -(share - np.floor(share))))  # largest remainder first
    while counts.sum() < total:
        for c in order:
            if counts.sum() == total:
                break
            if counts[c] < sizes[c] - 1:
                counts[c] += 1
    return counts.tolist()


def holdout_split(entries: Sequence[VideoEntry], fraction: float, seed: int,
                  limit: int = 1_000_000) -> tuple[list[VideoEntry], list[VideoEntry]]:
    """(train, held out), both in list order: a seeded, action-stratified part of a training list."""
    if not 0 <= fraction < 1:
        raise DeviasError(f"data.val_fraction must be in [0, 1) (got {fraction})")
    by_class: dict[int, list[int]] = {}
    for i, e in enumerate(entries):
        by_class.setdefault(e.action, []).append(i)
    classes = sorted(by_class)
    rng = np.random.default_rng([seed, 0x5EED])
    counts = holdout_counts([len(by_class[c]) for c in classes], fraction, limit, rng)
    held = set()
    for c, k in zip(classes, counts, strict=True):
        held.update(np.asarray(by_class[c])[rng.permutation(len(by_class[c]))[:k]].tolist())
    return ([e for i, e in enumerate(entries) if i not in held], [e for i, e in enumerate(entries) if i in held])


def val_list_warnings(val_list: Path, train_list: Path, val: Sequence[VideoEntry],
                      train: Sequence[VideoEntry]) -> list[str]:
    """Warnings about a given data.val_list: the training list itself, videos it shares with the training
    list, or a name of an evaluation split (best.pt would be selected on test data)."""
    warnings = []
    if file_sha256(val_list) == file_sha256(train_list):
        warnings.append(f"data.val_list {val_list} is the training list: best.pt is selected on training videos")
    else:
        shared = {e.path for e in val} & {e.path for e in train}
        if shared:
            warnings.append(f"data.val_list {val_list} shares {len(shared)} videos with the training list "
                            f"(e.g. {sorted(shared)[0]})")
    if _EVAL_NAME.search(val_list.stem):
        warnings.append(f"data.val_list {val_list.name} looks like an evaluation split: best.pt would be selected "
                        "on test data; leave data.val_list unset to hold out data.val_fraction of the training list")
    return warnings


def selection_score(scores: Mapping[str, float]) -> float | None:
    """The harmonic mean of the seen action and scene top-1 a quick validation measured (either alone for
    a model with one branch); None when it measured nothing. Picking on the H.M. keeps best.pt from
    trading one task for the other, as the paper's main metric does."""
    values = [scores[k] for k in ("val_action_top1", "val_scene_top1") if k in scores]
    return harmonic_mean(values) if values else None


@torch.no_grad()
def quick_eval(model: nn.Module, loader: Iterable, device: torch.device, video_scenes: Mapping[int, int] | None,
               autocast: bool, dtype: torch.dtype = torch.bfloat16) -> dict[str, float]:
    """Top-1 accuracies over the loader's videos (centre view); a task without a labelled video is left
    out. `video_scenes` maps a list index to its scene label; None: the items' scene column. A batch of None
    (no readable video: devias_tk.data.guarded.collate_readable) is passed over. `dtype`: the autocast dtype
    (the run's)."""
    net = unwrap(model)
    was_training = net.training
    net.eval()
    hits = {"action": 0, "scene": 0}
    counts = {"action": 0, "scene": 0}
    for batch in loader:
        if batch is None:
            continue
        clips = batch["clip"].to(device, non_blocking=True).flatten(0, 1) if batch["clip"].dim() == 6 \
            else batch["clip"].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=dtype, enabled=autocast):
            pred = net.predict(clips)
        index = batch["index"].tolist()
        if pred.get("action_logits") is not None:
            action = batch["action"].to(device)
            ok = action >= 0
            hits["action"] += int((pred["action_logits"].argmax(1)[ok] == action[ok]).sum())
            counts["action"] += int(ok.sum())
        if pred.get("scene_logits") is not None:
            scene = torch.tensor([video_scenes[i] for i in index] if video_scenes is not None
                                 else batch["scene"].tolist(), device=device)
            ok = scene >= 0
            hits["scene"] += int((pred["scene_logits"].argmax(1)[ok] == scene[ok]).sum())
            counts["scene"] += int(ok.sum())
    net.train(was_training)
    return {f"val_{k}_top1": hits[k] / counts[k] for k in hits if counts[k]}


def validation_set(cfg: TrainConfig, train_list: Path, entries: list[VideoEntry], scenes: Sequence[str],
                   scene_branch: bool) -> tuple[list[VideoEntry], list[VideoEntry], list[str]]:
    """(training videos, validation videos, warnings) of a configuration.

    data.val_list given: it is the validation set and the whole training list trains (with warnings
    when it looks like test data). Otherwise data.val_fraction of the training list is held out (seeded
    by run.seed) and removed from training. Validation scene labels: the list's column, or with
    scene_source = store (or online, when a scene store is given) the scene store's video-level pseudo labels.
    """
    warnings: list[str] = []
    if cfg.data.val_list:
        val_path = cfg.resolve(cfg.data.val_list, True)
        val = read_list(val_path)
        warnings += val_list_warnings(val_path, train_list, val, entries)
        train = entries
    else:
        train, val = holdout_split(entries, cfg.data.val_fraction, cfg.run.seed, cfg.data.val_max)
    # online targets come from the scene model in the step; a store given beside it still labels the held-out videos
    if val and scene_branch and cfg.data.scene_source in ("store", "online") and cfg.data.scene_store:
        val = with_store_scenes(val, cfg.data.scene_store, scenes)
    if val and scene_branch and not any(e.scene >= 0 for e in val):
        warnings.append("no validation video has a scene label: best.pt is selected on action top-1 only")
    return train, val, warnings
