"""`predict`: a trained run on any videos -> action and scene top-k per video, JSON / CSV, overlays.

The multi-view prediction is `predict.predict_entries` (the same code `eval` scores with): T temporal
clips x S spatial crops, softmax probabilities averaged over the views. A video that cannot be read
is reported with its reason and the others go on.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from devias_tk.data.dataset import ClipDataset, ClipSpec
from devias_tk.data.lists import VideoEntry
from devias_tk.errors import VideoReadError
from devias_tk.evaluate.inputs import InputVideo
from devias_tk.evaluate.predict import RunModel, predict_entries
from devias_tk.utils.atomic import atomic_write_text

Ranked = list[tuple[str, float]]


@dataclass
class VideoPrediction:
    name: str
    path: str
    action: Ranked | None = None  # (label, probability), most probable first; None: the model has no such head
    scene: Ranked | None = None
    error: str | None = None  # why the video could not be read
    warning: str | None = None  # why the scores may not be the whole video's (partly decodable)
    overlay: list[str] | None = None  # files written by --overlay


def top_k(probs: np.ndarray, names: Sequence[str], k: int) -> Ranked:
    """The k most probable classes of one probability vector, most probable first (ties: lower index)."""
    order = np.argsort(-probs, kind="stable")[: max(1, k)]
    return [(names[i], float(probs[i])) for i in order]


def clip_spec(run: RunModel, views: tuple[int, int]) -> ClipSpec:
    """The run's clip shape (frames, stride, size) with `views` = (temporal clips, spatial crops)."""
    data = run.config["data"]
    return ClipSpec(clip_len=data["frames"], stride=data["stride"], size=data["size"], num_clips=views[0],
                    num_crops=views[1], short="repeat_last")


def predict_videos(run: RunModel, videos: list[InputVideo], views: tuple[int, int], device: torch.device,
                   top: int = 5, batch: int = 4, workers: int = 2, show_progress: bool = True) -> list[VideoPrediction]:
    """Top-k action and scene predictions per video, in input order; unreadable videos carry `error`."""
    if not videos:
        return []
    spec = clip_spec(run, views)
    pred = predict_entries(run, Path("."), [v.entry for v in videos], spec, device, batch, workers, "predict",
                           show_progress=show_progress)
    results = []
    for i, video in enumerate(videos):
        result = VideoPrediction(video.name, video.entry.path)
        if i in pred["failed"]:
            result.error = pred["failed"][i]
        else:
            result.warning = pred["warnings"].get(i)
            if pred["action_probs"] is not None:
                result.action = top_k(pred["action_probs"][i], run.actions, top)
            if pred["scene_probs"] is not None:
                result.scene = top_k(pred["scene_probs"][i], run.scenes, top)
        results.append(result)
    return results


def write_overlays(run: RunModel, results: list[VideoPrediction], out_dir: Path, device: torch.device,
                   advance: Callable[[], None] = lambda: None) -> None:
    """For every readable video, OUT/<name>.mp4 and OUT/<name>.png of its centre view (see `overlay`); the name
    keeps its folders (`output_names`)."""
    from devias_tk.evaluate.output_names import overlay_stem
    from devias_tk.evaluate.overlay import label_lines, slot_attention, write_overlay

    spec = clip_spec(run, (1, 1))
    readable = [r for r in results if r.error is None]
    dataset = ClipDataset(Path("."), [VideoEntry(r.path) for r in readable], spec, train=False)
    tubelet = run.model.backbone.tubelet_size if hasattr(run.model, "backbone") else 2
    for i, result in enumerate(readable):
        try:
            clip = dataset[i]["clip"][0]
        except VideoReadError as exc:  # readable a moment ago: the file changed under us
            result.error = exc.reason
            continue
        attention = slot_attention(run, clip, device)
        stem = out_dir / overlay_stem(result.name)
        stem.parent.mkdir(parents=True, exist_ok=True)
        # the file is named by the input's relative path; the picture shows the name the user gave
        files = write_overlay(stem, result.name, clip.numpy(), attention,
                              label_lines(result.action, result.scene), run.method, tubelet)
        result.overlay = [str(p) for p in files]
        advance()


def to_json(run: RunModel, views: tuple[int, int], results: list[VideoPrediction]) -> str:
    def ranked(values: Ranked | None) -> list[dict[str, Any]] | None:
        return None if values is None else [{"label": label, "prob": round(p, 6)} for label, p in values]

    videos = []
    for r in results:
        row = asdict(r)
        row["action"], row["scene"] = ranked(r.action), ranked(r.scene)
        videos.append(row)
    return json.dumps({"run": str(run.checkpoint.parent.parent), "checkpoint": str(run.checkpoint),
                       "checkpoint_sha": run.checkpoint_sha, "method": run.method, "views": list(views),
                       "videos": videos}, indent=1) + "\n"


def to_csv(results: list[VideoPrediction], top: int) -> str:
    """One row per video: name, path, error, warning, then action_1, action_1_prob, ... and scene_1, ... (blank
    where the model has no such head or the video failed)."""
    header = ["name", "path", "error", "warning"]
    for task in ("action", "scene"):
        for k in range(1, top + 1):
            header += [f"{task}_{k}", f"{task}_{k}_prob"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for r in results:
        row = [r.name, r.path, r.error or "", r.warning or ""]
        for ranked in (r.action, r.scene):
            cells = [c for label, p in (ranked or []) for c in (label, f"{p:.6f}")]
            row += cells + [""] * (2 * top - len(cells))
        writer.writerow(row)
    return buffer.getvalue()


def warning_line(results: list[VideoPrediction]) -> str | None:
    """The console's line naming the partly decodable videos (None when there are none)."""
    partly = [r for r in results if r.warning]
    if not partly:
        return None
    return (f"{len(partly)} of {len(results)} inputs scored from part of the video: "
            + "; ".join(f"{r.name}: {r.warning}" for r in partly))


def write_results(path: Path, text: str) -> None:
    atomic_write_text(path, text)
