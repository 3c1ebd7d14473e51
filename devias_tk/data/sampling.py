"""Which frames a clip takes: dense sampling of `clip_len` frames every `stride` frames.

Pure functions over integers; the same indices serve frames, cached masks and scene windows.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

ShortPolicy = Literal["loop", "repeat_last"]


def clip_span(clip_len: int, stride: int) -> int:
    """Number of source frames a clip covers from its first to its last sampled frame."""
    if clip_len < 1 or stride < 1:
        raise ValueError(f"clip_len and stride must be >= 1 (got {clip_len}, {stride})")
    return (clip_len - 1) * stride + 1


def max_start(num_frames: int, clip_len: int, stride: int) -> int:
    """Largest start index whose clip still fits (0 when the video is shorter than a clip)."""
    return max(0, num_frames - clip_span(clip_len, stride))


def clip_indices(
    num_frames: int, clip_len: int, stride: int, start: int, short: ShortPolicy = "loop"
) -> np.ndarray:
    """Frame indices of one clip starting at `start`.

    Indices past the end (a video shorter than the clip) either wrap around to the start
    ('loop') or repeat the last frame ('repeat_last').
    """
    if num_frames < 1:
        raise ValueError("a video needs at least one frame")
    idx = start + np.arange(clip_len, dtype=np.int64) * stride
    if short == "loop":
        return idx % num_frames
    if short == "repeat_last":
        return np.minimum(idx, num_frames - 1)
    raise ValueError(f"unknown short-video policy {short!r} (use 'loop' or 'repeat_last')")


def random_start(num_frames: int, clip_len: int, stride: int, rng: np.random.Generator) -> int:
    """A uniformly random start index for a training clip."""
    return int(rng.integers(0, max_start(num_frames, clip_len, stride) + 1))


def spread_starts(num_frames: int, clip_len: int, stride: int, num_clips: int) -> list[int]:
    """Start indices of `num_clips` test clips spread evenly over the video.

    One clip is centred; several start at round(k * max_start / (n - 1)), so the first touches
    the beginning and the last the end (the mmaction2/VideoMAE test convention).
    """
    if num_clips < 1:
        raise ValueError("num_clips must be >= 1")
    last = max_start(num_frames, clip_len, stride)
    if num_clips == 1:
        return [last // 2]
    return [int(round(k * last / (num_clips - 1))) for k in range(num_clips)]
