"""Multi-view predictions of a trained run on a list of videos, saved per split and resumable."""

from __future__ import annotations

import hashlib
import json
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from devias_tk.data.dataset import ClipDataset, ClipSpec
from devias_tk.data.guarded import DEFAULT_TIMEOUT, GuardedItems, GuardedLoader, collate_clips
from devias_tk.data.lists import VideoEntry
from devias_tk.engine.checkpoint import load_checkpoint, run_checkpoint
from devias_tk.evaluate.metrics import average_views
from devias_tk.models.factory import build_model
from devias_tk.utils.atomic import atomic_path, atomic_write_text
from devias_tk.utils.progress import progress_bar


@dataclass
class RunModel:
    model: nn.Module
    method: str
    actions: list[str]
    scenes: list[str]
    config: dict[str, Any]
    checkpoint: Path
    checkpoint_sha: str


def load_run(run_dir: str | Path, which: str = "auto", device: str | torch.device = "cpu") -> RunModel:
    """The model of a run directory: checkpoints/best.pt if present ('auto'), else last.pt."""
    path = run_checkpoint(run_dir, which)
    state = load_checkpoint(path)
    actions, scenes = state["class_names"]["actions"], state["class_names"]["scenes"]
    model = build_model(state["method"], num_actions=len(actions), num_scenes=len(scenes), **state["model_config"])
    model.load_state_dict(state["model"])
    model.to(device).eval()
    sha = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return RunModel(model, state["method"], actions, scenes, state["config"], path, sha)


@torch.no_grad()
def predict_entries(run: RunModel, root: Path, entries: list[VideoEntry], spec: ClipSpec, device: torch.device,
                    batch_size: int, workers: int, description: str, show_progress: bool = True,
                    timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """View-averaged class probabilities and features for every readable video.

    Returns arrays aligned with `entries` (rows of unreadable videos are zero / NaN and listed in
    'failed'): action_probs (N, A), scene_probs (N, S), action_feat / scene_feat (N, D) (None where the
    method lacks the branch), plus 'failed': {list index: reason} and 'warnings': {list index: note} for the
    videos scored from fewer frames than their container declares (`VideoInfo.read_note`). With worker
    processes, a video whose decode hangs past `timeout` seconds or crashes its worker is failed too
    (devias_tk.data.guarded).
    """
    views = spec.num_clips * spec.num_crops
    items = GuardedItems(ClipDataset(root, entries, spec, train=False), [e.path for e in entries], "report",
                         timeout=timeout)
    loader = GuardedLoader(items, batch_size, workers=workers, collate_fn=collate_clips, context="forkserver",
                           persistent=False, prefetch=2)
    out: dict[str, np.ndarray | None] = {}
    failed: dict[int, str] = {}
    warnings: dict[int, str] = {}
    autocast = device.type == "cuda"
    with progress_bar(description, len(entries), "videos", show_failures=True, disable=not show_progress) as advance, \
            closing(loader):
        for batch in loader:
            for index, reason in batch["failed"]:
                failed[index] = reason
            warnings.update(batch["warnings"])
            if batch["clip"] is not None:
                clips = batch["clip"].to(device, non_blocking=True).flatten(0, 1)  # (B * V, C, T, H, W)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                    pred = run.model.predict(clips)
                rows = np.asarray(batch["index"])
                for key in ("action_logits", "scene_logits", "action_feat", "scene_feat"):
                    value = pred.get(key)
                    if value is None:
                        out.setdefault(key, None)
                        continue
                    value = value.float().cpu().numpy().reshape(len(rows), views, -1)
                    value = average_views(value) if key.endswith("logits") else value.mean(axis=1)
                    if out.get(key) is None:
                        out[key] = np.full((len(entries), value.shape[1]), np.nan, np.float32)
                    out[key][rows] = value
            advance(len(batch["index"]) + len(batch["failed"]), len(batch["failed"]))
    return {
        "action_probs": out.get("action_logits"), "scene_probs": out.get("scene_logits"),
        "action_feat": out.get("action_feat"), "scene_feat": out.get("scene_feat"), "failed": failed,
        "warnings": warnings,
    }


def cached_predictions(path: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """Saved predictions if they were made with the same checkpoint, views and list; else None."""
    meta = path.with_suffix(".json")
    if not (path.is_file() and meta.is_file()):
        return None
    saved = json.loads(meta.read_text())
    # saved before partly decodable videos were noted: which were is unknown, so they are predicted again
    if saved.get("key") != key or "warnings" not in saved:
        return None
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    result: dict[str, Any] = {k: arrays.get(k) for k in ("action_probs", "scene_probs", "action_feat", "scene_feat")}
    result["failed"] = {int(k): v for k, v in saved.get("failed", {}).items()}
    result["warnings"] = {int(k): v for k, v in saved["warnings"].items()}
    return result


def save_predictions(path: Path, key: dict[str, Any], result: dict[str, Any], entries: list[VideoEntry]) -> None:
    arrays = {k: v for k, v in result.items() if isinstance(v, np.ndarray)}
    arrays["actions"] = np.array([e.action for e in entries])
    arrays["scenes"] = np.array([e.scene for e in entries])
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)
    atomic_write_text(path.with_suffix(".json"), json.dumps({
        "key": key, "paths": [e.path for e in entries], "failed": {str(k): v for k, v in result["failed"].items()},
        "warnings": {str(k): v for k, v in result.get("warnings", {}).items()},
    }, indent=1) + "\n")
