"""The temporal grid that cached stages (masks, scene labels) and the trainer share.

Clip windows of `window` frames every `stride` frames start at 0, hop, 2*hop, ... up to the last
start whose clip fits. A trainer that draws its clip start from the same grid finds the cached
entries of exactly the clip it reads. A video shorter than one window gets a single window at 0
whose indices past the end repeat the last frame ('repeat_last').
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from devias_tk.data import sampling
from devias_tk.errors import OptionError

SHORT_POLICY: sampling.ShortPolicy = "repeat_last"


class GridLike(Protocol):
    window: int
    stride: int
    hop: int


@dataclass(frozen=True)
class ClipGrid:
    window: int = 16  # frames per clip
    stride: int = 4  # frame step inside a clip
    hop: int = 4  # step between window starts

    def validate(self) -> None:
        bad = [f"{k} {v}" for k, v in (("window", self.window), ("stride", self.stride), ("hop", self.hop)) if v < 1]
        if bad:
            raise OptionError(f"{', '.join(bad)}: window, stride and hop are frame counts, 1 or more")


def window_starts(num_frames: int, grid: GridLike) -> tuple[list[int], bool]:
    """Start frames of the grid's windows and whether the video is shorter than one window."""
    last = sampling.max_start(num_frames, grid.window, grid.stride)
    padded = num_frames < sampling.clip_span(grid.window, grid.stride)
    return list(range(0, last + 1, grid.hop)), padded


def window_indices(num_frames: int, starts: list[int], grid: GridLike) -> np.ndarray:
    """(num_windows, window) source frame indices."""
    return np.stack([
        sampling.clip_indices(num_frames, grid.window, grid.stride, s, SHORT_POLICY) for s in starts
    ])


def nearest_window(start: int, starts: list[int]) -> int:
    """Index of the cached window whose start is closest to `start` (ties: the earlier one)."""
    return int(np.argmin(np.abs(np.asarray(starts) - start)))
