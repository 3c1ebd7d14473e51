"""The labelling stage's per-video worker task: decode each distinct frame the grid's windows need,
once, and cut the scene model's views from it (the eval view, then one per crop of the crop grid).
Torch-free, so worker processes start quickly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from devias_tk.data.video import Video
from devias_tk.data.windows import ClipGrid, window_indices, window_starts
from devias_tk.errors import VideoReadError
from devias_tk.scenes.preprocess import crop_views, eval_view
from devias_tk.utils.workers import inject_fault


@dataclass(frozen=True)
class DecodeTask:
    video: str  # path as written in the list (the store key)
    source: str  # file to decode
    grid: ClipGrid
    input_size: int
    resize_size: int
    crops: tuple[tuple[float, float, float, float], ...] = ()  # normalised boxes (devias_tk.data.crop_grid)


def decode_for_labels(task: DecodeTask) -> dict:
    """{'ok': True, views: uint8 (1 + C, F, S, S, 3): the eval view then the C crop views of the distinct
    frames in index order, positions: (K, window) rows of those frames per window, starts, padded,
    num_frames, decode_s, warning ('' or the note of a partly decodable video)} or {'ok': False, 'reason'}."""
    inject_fault(task.source)  # tests: DEVIAS_TK_FAULT=hang:<name> / crash:<name>, as in the mask stage
    started = time.perf_counter()
    try:
        video = Video(task.source)
        starts, padded = window_starts(len(video), task.grid)
        indices = window_indices(len(video), starts, task.grid)
        unique, positions = np.unique(indices, return_inverse=True)
        frames = video.frames(unique)
        views = np.concatenate([eval_view(frames, task.input_size, task.resize_size)[None],
                                crop_views(frames, task.crops, task.input_size)])
    except VideoReadError as exc:
        return {"ok": False, "reason": exc.reason}
    return {
        "ok": True, "views": views, "positions": positions.reshape(indices.shape).astype(np.int32),
        "starts": starts, "padded": padded, "num_frames": len(video), "decode_s": time.perf_counter() - started,
        "warning": video.info.read_note(padded),
    }
