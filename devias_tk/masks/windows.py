"""Computing the masks of every window of a video from one decode.

The windows are those of the shared temporal grid (devias_tk.data.windows); `WindowSpec` adds the
mask resolutions to the grid's window / stride / hop.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from devias_tk.data.transforms import short_side_size
from devias_tk.data.windows import SHORT_POLICY, window_indices, window_starts
from devias_tk.errors import OptionError
from devias_tk.masks import fame

__all__ = ["SHORT_POLICY", "WindowSpec", "compute_windows", "resize_frames", "window_indices", "window_starts"]


@dataclass(frozen=True)
class WindowSpec:
    window: int = 16  # frames per clip
    stride: int = 4  # frame step inside a clip
    hop: int = 4  # step between window starts
    size: int = 112  # working short side: clip and per-tubelet masks are computed at this size
    tubelet_size: int = 28  # short side the per-tubelet masks are area-pooled to for storage

    def validate(self) -> None:
        if self.window < 2 or self.window % 2:
            raise OptionError(f"window {self.window}: give an even number of frames, 2 or more (tubelets are "
                              "frame pairs)")
        values = {"stride": self.stride, "hop": self.hop, "size": self.size, "tubelet_size": self.tubelet_size}
        bad = [f"{k} {v}" for k, v in values.items() if v < 1]
        if bad:
            raise OptionError(f"{', '.join(bad)}: stride, hop, size and tubelet_size must be 1 or more")
        if self.tubelet_size > self.size:
            raise OptionError(f"tubelet_size {self.tubelet_size} exceeds size {self.size}: the per-tubelet masks "
                             "are computed at the working size and pooled down to tubelet_size")


def resize_frames(frames: np.ndarray, short: int) -> np.ndarray:
    """uint8 (T, H, W, 3) -> float32 in [0, 1] with the short side `short` (area interpolation)."""
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
    working size and uint8 per-tubelet masks (K, window // 2, ht, wt): computed at the working size
    too, then area-pooled to the grid whose short side is `tubelet_size`. Results equal
    `fame_soft_mask` / `fame_tubelet_masks(..., pooled_shape=(ht, wt))` applied to each window's
    resized frames; a frame pair's difference, motion map and seeds are computed once however many
    overlapping windows use the pair.
    """
    big = resize_frames(decoded, spec.size)
    pooled = short_side_size(decoded.shape[1], decoded.shape[2], spec.tubelet_size)
    kernel = fame.blur_kernel_size(min(big.shape[1:3]), params.blur_fraction)
    diffs: dict[tuple[int, int], np.ndarray] = {}
    seeds: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def diff(a: int, b: int) -> np.ndarray:
        if (a, b) not in diffs:
            diffs[(a, b)] = fame.pair_difference(big[a], big[b], params.motion_comp)
        return diffs[(a, b)]

    def pair_seeds(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        if (a, b) not in seeds:
            seeds[(a, b)] = fame.motion_seeds(fame.motion_map(diff(a, b)[None], kernel), params)
        return seeds[(a, b)]

    def tubelet_map(a: int, b: int, bins: np.ndarray) -> np.ndarray:
        if not params.colour_model:
            return fame.motion_map(diff(a, b)[None], kernel)
        return fame.soft_mask_from_seeds(pair_seeds(a, b), bins, kernel)

    clip_masks, tubelets = [], []
    for p in positions:
        pairs = list(zip(p[:-1].tolist(), p[1:].tolist(), strict=True))
        motion = fame.motion_map(np.stack([diff(a, b) for a, b in pairs]), kernel)
        bins = fame.colour_bins(big[p].mean(axis=0))
        clip_masks.append(fame.to_uint8(fame.soft_mask_from(motion, bins, kernel, params)))
        maps = np.stack([tubelet_map(a, b, bins) for a, b in pairs[0::2]])
        tubelets.append(fame.to_uint8(fame.area_pool(maps, pooled)))
    return np.stack(clip_masks), np.stack(tubelets)
