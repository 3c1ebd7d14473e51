"""`features`: a run's action and scene features for every video of a list, into a store.

Root attributes (besides VideoStore's `format`): kind "features", format_version, toolkit_version, run,
checkpoint, checkpoint_sha (first 16 hex digits of the checkpoint file's SHA-256: the run's identity),
method, class_names {actions, scenes}, features (which feature arrays exist and what they are), dim,
views [clips, crops], per_clip, frames, stride, size, source_list, list_sha256, num_videos.

Per video group `videos/<key>` (float32; the arrays a method lacks are absent):

- ``action`` (D,) / ``scene`` (D,): the view-averaged action and scene features (DEVIAS: the action and
  the scene slot as the unified head assigns them per view; One-/Two-Token: the action and scene
  tokens; Naive Action / Scene: the mean-pooled tokens, under the task the model has);
- ``action_probs`` (A,) / ``scene_probs`` (S,): the view-averaged class probabilities;
- with `per_clip`: ``action_views`` / ``scene_views`` (V, D), every view's features (temporal-major:
  clip 0 crop 0, clip 0 crop 1, ...), and for DEVIAS ``slots`` (V, K, D) and ``action_slot`` /
  ``scene_slot`` (V,) int8;
- attrs: path, action, scene (the list's labels, -1 when unknown), and for a partly decodable video
  ``warning`` (decoded N of M declared frames: its features are of the frames that decode).

Resumable and atomic like every store (devias_tk.cache.store): a killed run keeps finished videos;
re-running with another checkpoint, views or list is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import numpy as np
import torch

from devias_tk.cache.kinds import FEATURES
from devias_tk.cache.store import StageSummary, finish_run, open_for_run
from devias_tk.data.dataset import ClipDataset
from devias_tk.data.guarded import GuardedItems, GuardedLoader, collate_clips
from devias_tk.data.lists import check_labels, read_list
from devias_tk.evaluate.metrics import softmax
from devias_tk.evaluate.predict import RunModel
from devias_tk.evaluate.videos import clip_spec
from devias_tk.models.factory import METHODS
from devias_tk.utils.progress import progress_bar

IDENTITY = ("kind", "format_version", "checkpoint_sha", "views", "per_clip", "frames", "stride", "size",
            "list_sha256")


def store_attributes(run: RunModel, views: tuple[int, int], per_clip: bool, list_path: Path, num_videos: int,
                     dim: int) -> dict:
    data = run.config["data"]
    return FEATURES.stamp(
        list_path, num_videos, run=str(run.checkpoint.parent.parent), checkpoint=str(run.checkpoint),
        checkpoint_sha=run.checkpoint_sha, method=run.method,
        class_names={"actions": list(run.actions), "scenes": list(run.scenes)},
        features=METHODS[run.method].features if run.method in METHODS else "action / scene features of the model",
        dim=dim, views=list(views), per_clip=per_clip, frames=data["frames"], stride=data["stride"], size=data["size"],
    )


def video_arrays(pred: dict[str, torch.Tensor | None], row: int, views: int, per_clip: bool) -> dict[str, np.ndarray]:
    """One video's arrays from a batch's per-view predictions (rows row*views .. row*views + views - 1)."""
    out: dict[str, np.ndarray] = {}
    part = slice(row * views, (row + 1) * views)
    for task in ("action", "scene"):
        feat = pred.get(f"{task}_feat")
        if feat is not None:
            per_view = feat[part].float().cpu().numpy()
            out[task] = per_view.mean(axis=0)
            if per_clip:
                out[f"{task}_views"] = per_view
        logits = pred.get(f"{task}_logits")
        if logits is not None:
            out[f"{task}_probs"] = softmax(logits[part].float().cpu().numpy().astype(np.float64)).mean(axis=0)
    if per_clip and pred.get("slots") is not None:
        out["slots"] = pred["slots"][part].float().cpu().numpy()
        out["action_slot"] = pred["action_slot"][part].cpu().numpy().astype(np.int8)
        out["scene_slot"] = pred["scene_slot"][part].cpu().numpy().astype(np.int8)
    return {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in out.items()}


@torch.no_grad()
def _forward(run: RunModel, clips: torch.Tensor) -> dict[str, torch.Tensor | None]:
    model = run.model
    out = model(clips)
    pred = dict(model.predict_from_output(out))
    if "slots" in out and out["slots"] is not None and "action_slot" in pred:
        pred["slots"] = out["slots"]
    return pred


def batch_arrays(run: RunModel, clips: torch.Tensor, views: int, per_clip: bool,
                 device: torch.device) -> list[dict[str, np.ndarray]]:
    """Every video's arrays (`video_arrays`) of a batch of clips (B, V, C, T, H, W), V = `views`, in one forward
    pass (bfloat16 autocast on CUDA): what the store keeps per video, and what `devias_tk.api` returns."""
    flat = clips.to(device, non_blocking=True).flatten(0, 1)  # (B * V, C, T, H, W)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        pred = _forward(run, flat)
    return [video_arrays(pred, row, views, per_clip) for row in range(clips.shape[0])]


def extract_features(run: RunModel, root: Path, list_path: Path, out: Path, views: tuple[int, int] = (1, 1),
                     per_clip: bool = False, device: torch.device | None = None, batch: int = 8,
                     workers: int = 2, shard: tuple[int, int] = (0, 1), retry_failed: bool = True,
                     log: Callable[[str], None] = lambda _m: None) -> StageSummary:
    """Fill `out` with the features of every video of `list_path` (this shard); resumes finished work."""
    started = time.perf_counter()
    device = device or torch.device("cpu")
    entries = read_list(list_path)
    # the labels are stored beside the features: a label past the class list is refused, as `train` does
    check_labels(list_path, entries, len(run.actions) or None, len(run.scenes) or None)
    spec = clip_spec(run, views)
    dim = run.model.backbone.embed_dim
    store, mine, todo = open_for_run(out, store_attributes(run, views, per_clip, Path(list_path), len(entries), dim),
                                     IDENTITY, entries, shard, retry_failed, log)
    summary = StageSummary(Path(out), len(mine), len(mine) - len(todo))
    num_views = views[0] * views[1]
    if todo:
        # unreadable, hung or crashing videos are recorded as failures (devias_tk.data.guarded)
        items = GuardedItems(ClipDataset(root, todo, spec, train=False), [e.path for e in todo], "report")
        loader = GuardedLoader(items, batch, workers=workers, collate_fn=collate_clips, context="forkserver",
                               persistent=False, prefetch=2)
        with progress_bar("features", len(todo), "videos", show_failures=True) as advance, closing(loader):
            for item in loader:
                for index, reason in item["failed"]:
                    store.record_failure(todo[index].path, reason)
                notes = dict(item["warnings"])
                if item["clip"] is not None:
                    found = batch_arrays(run, item["clip"], num_views, per_clip, device)
                    for index, arrays in zip(item["index"], found, strict=True):
                        entry = todo[index]
                        note = {"warning": notes[index]} if index in notes else {}
                        store.commit(entry.path, {k: (v, v.shape) for k, v in arrays.items()},
                                     {"action": entry.action, "scene": entry.scene, **note})
                        if note:
                            summary.partial[entry.path] = note["warning"]
                        summary.done += 1
                advance(len(item["index"]) + len(item["failed"]), len(item["failed"]))
    return finish_run(store, summary, mine, {}, started)
