"""Mask stores from ground-truth actor masks (the synthetic benchmark's `gt_masks/`, or any dataset
that has person masks), in the FAME store's format so training can use either.

A window's clip-level "soft" mask is the share of its frames in which each pixel is the actor; a
tubelet's is the share of its two frames, area-resized to the `tubelet_size` grid. The trainer's
top-beta cut then keeps the pixels the actor covers most. This is an upper bound for FAME, not part of the method.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from devias_tk.cache.store import VideoStore
from devias_tk.data.lists import read_list
from devias_tk.data.transforms import short_side_size
from devias_tk.errors import DeviasError
from devias_tk.masks.extract import IDENTITY, check_format_version, mask_attributes
from devias_tk.masks.fame import to_uint8
from devias_tk.masks.quality import gt_mask_path
from devias_tk.masks.windows import WindowSpec, window_indices, window_starts
from devias_tk.utils.progress import progress_bar

ALGORITHM = "ground truth: share of the window's (or tubelet's) frames in which a pixel is the actor"


def _resize(share: np.ndarray, short: int) -> np.ndarray:
    h, w = short_side_size(share.shape[0], share.shape[1], short)
    return cv2.resize(share.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)


def window_masks(gt: np.ndarray, spec: WindowSpec) -> tuple[list[int], bool, np.ndarray, np.ndarray]:
    """(starts, padded, clip masks uint8 (K, h, w), tubelet masks uint8 (K, window/2, ht, wt)) from (T, H, W) bool."""
    starts, padded = window_starts(len(gt), spec)
    indices = window_indices(len(gt), starts, spec)
    clips, tubelets = [], []
    for idx in indices:
        frames = gt[idx].astype(np.float32)
        clips.append(to_uint8(_resize(frames.mean(axis=0), spec.size)))
        pairs = frames.reshape(len(idx) // 2, 2, *frames.shape[1:]).mean(axis=1)
        tubelets.append(np.stack([to_uint8(_resize(p, spec.tubelet_size)) for p in pairs]))
    return starts, padded, np.stack(clips), np.stack(tubelets)


def import_ground_truth(list_path: str | Path, gt_dir: str | Path, out: str | Path,
                        spec: WindowSpec = WindowSpec()) -> int:
    """Write a mask store from `gt_dir/<video path without extension>.npz` ('mask', bool (T, H, W))."""
    spec.validate()
    entries = read_list(list_path)
    check_format_version(out, "masks import-gt")
    attrs = mask_attributes(spec, ALGORITHM, {"source": "ground truth"}, Path(list_path), len(entries))
    store = VideoStore.open_or_create(out, attrs, IDENTITY)
    done = store.done()
    todo = [e for e in entries if e.path not in done]
    with progress_bar("ground-truth masks", len(todo), "videos") as advance:
        for e in todo:
            path = gt_mask_path(Path(gt_dir), e.path)
            if not path.is_file():
                raise DeviasError(f"{path}: no ground-truth mask for {e.path}")
            gt = np.load(path)["mask"]
            starts, padded, clips, tubelets = window_masks(gt, spec)
            store.commit(e.path, {"soft": (clips, clips.shape), "tubelet": (tubelets, tubelets.shape)},
                         {"num_frames": len(gt), "starts": starts, "padded": padded, "fps": 0.0,
                          "source_height": int(gt.shape[1]), "source_width": int(gt.shape[2])})
            advance()
    return len(todo)
