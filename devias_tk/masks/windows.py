"""Computing the masks of every window of a video from one decode.

The windows are those of the shared temporal grid (devias_tk.data.windows); `WindowSpec` adds the
mask resolutions to the grid's window / stride / hop.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from devias_tk.data.windows import SHORT_POLICY, window_indices, window_starts
from devias_tk.masks import fame

__all__ = ["SHORT_POLICY", "WindowSpec", "compute_windows", "resize_frames", "window_indices", "window_starts"]


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
    working size and uint8 per-tubelet masks (K, window // 2, ht, wt) at the tubelet size. Results
    equal `fame_soft_mask` / `fame_tubelet_masks` applied to each window; frame differences shared
    by overlapping windows are computed once.
    """
    big = resize_frames(decoded, spec.size)
    small = resize_frames(decoded, spec.tubelet_size)
    big_kernel = fame.blur_kernel_size(min(big.shape[1:3]), params.blur_fraction)
    small_kernel = fame.blur_kernel_size(min(small.shape[1:3]), params.blur_fraction)
    big_diffs: dict[tuple[int, int], np.ndarray] = {}
    small_diffs: dict[tuple[int, int], np.ndarray] = {}

    def diff(cache: dict, frames: np.ndarray, a: int, b: int) -> np.ndarray:
        if (a, b) not in cache:
            cache[(a, b)] = fame.abs_channel_sum(frames[b], frames[a])
        return cache[(a, b)]

    clip_masks, tubelets = [], []
    for p in positions:
        pairs = list(zip(p[:-1].tolist(), p[1:].tolist(), strict=True))
        motion = fame.motion_map(np.stack([diff(big_diffs, big, a, b) for a, b in pairs]), big_kernel)
        bins = fame.colour_bins(big[p].mean(axis=0))
        clip_masks.append(fame.to_uint8(fame.soft_mask_from(motion, bins, big_kernel, params)))
        small_bins = fame.colour_bins(small[p].mean(axis=0))
        tubelets.append(np.stack([
            fame.to_uint8(fame.soft_mask_from(
                fame.motion_map(diff(small_diffs, small, a, b)[None], small_kernel), small_bins, small_kernel, params))
            for a, b in pairs[0::2]
        ]))
    return np.stack(clip_masks), np.stack(tubelets)
