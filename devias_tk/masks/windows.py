"""Which clip windows of a video get masks, and computing all of them from one decode.

Windows start on a grid of `hop` frames (0, hop, 2*hop, ... up to the last start whose clip fits)
and take `window` frames every `stride` frames, exactly as the trainer samples a clip whose start
is drawn from the same grid. A video shorter than one window gets a single window at 0 whose
indices past the end repeat the last frame ('repeat_last').
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from devias_tk.data import sampling
from devias_tk.masks import fame


@dataclass(frozen=True)
class WindowSpec:
    window: int = 16  # frames per clip
    stride: int = 4  # frame step inside a clip
    hop: int = 4  # step between window starts
    size: int = 112  # working short side for clip masks
    tubelet_size: int = 28  # short side for per-tubelet masks (they are pooled to patches in training)

    def validate(self) -> None:
        if self.window < 2 or self.window % 2:
            raise ValueError("window must be an even number of frames >= 2 (tubelets are frame pairs)")
        if min(self.stride, self.hop, self.size, self.tubelet_size) < 1:
            raise ValueError("stride, hop, size and tubelet_size must be positive")


SHORT_POLICY: sampling.ShortPolicy = "repeat_last"


def window_starts(num_frames: int, spec: WindowSpec) -> tuple[list[int], bool]:
    """Start frames of the cached windows and whether the video is shorter than one window."""
    last = sampling.max_start(num_frames, spec.window, spec.stride)
    padded = num_frames < sampling.clip_span(spec.window, spec.stride)
    return list(range(0, last + 1, spec.hop)), padded


def window_indices(num_frames: int, starts: list[int], spec: WindowSpec) -> np.ndarray:
    """(num_windows, window) source frame indices."""
    return np.stack([
        sampling.clip_indices(num_frames, spec.window, spec.stride, s, SHORT_POLICY) for s in starts
    ])


def resize_frames(frames: np.ndarray, short: int) -> np.ndarray:
    """uint8 (T, H, W, 3) -> float32 in [0, 1] with the short side `short` (area interpolation)."""
    from devias_tk.data.transforms import short_side_size

    h, w = short_side_size(frames.shape[1], frames.shape[2], short)
    out = np.empty((frames.shape[0], h, w, 3), np.float32)
    for i, f in enumerate(frames):
        out[i] = cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA)
    out *= 1.0 / 255.0
    return out


def compute_windows(
    decoded: np.ndarray, positions: np.ndarray, spec: WindowSpec, params: fame.FameParams = fame.FameParams()
) -> tuple[np.ndarray, np.ndarray]:
    """Soft masks of every window from frames decoded once.

    `decoded` holds the distinct frames the windows need (uint8, (F, H, W, 3)); `positions[k, i]` is
    the row of `decoded` holding frame i of window k. Returns uint8 clip masks (K, h, w) at the
    working size and uint8 per-tubelet masks (K, window // 2, ht, wt) at the tubelet size.
    """
    big = resize_frames(decoded, spec.size)
    small = resize_frames(decoded, spec.tubelet_size)
    clip_masks = np.stack([fame.to_uint8(fame.fame_soft_mask(big[p], params)) for p in positions])
    tubelets = np.stack([fame.to_uint8(fame.fame_tubelet_masks(small[p], params)) for p in positions])
    return clip_masks, tubelets
