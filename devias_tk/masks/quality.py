"""Mask quality against ground-truth actor masks: IoU of the top-beta hard mask, and a centre-box prior.

Clip masks are scored against the union of the actor masks over the window's frames, tubelet masks
against the union over their frame pair; both at the stored mask's resolution (nearest-neighbour
resize of the ground truth).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from devias_tk.masks.fame import top_fraction_mask


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def centre_box_mask(height: int, width: int, fraction: float) -> np.ndarray:
    """A centred box of the frame's aspect ratio covering `fraction` of the pixels."""
    scale = np.sqrt(fraction)
    h, w = max(1, round(height * scale)), max(1, round(width * scale))
    mask = np.zeros((height, width), bool)
    y, x = (height - h) // 2, (width - w) // 2
    mask[y : y + h, x : x + w] = True
    return mask


def clip_ground_truth(gt: np.ndarray, frame_indices: np.ndarray, height: int, width: int) -> np.ndarray:
    """Union of the actor masks over a clip's frames, resized to (height, width)."""
    union = gt[np.asarray(frame_indices)].any(axis=0).astype(np.uint8)
    return cv2.resize(union, (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)


def _scores(maps: list[np.ndarray], truths: list[np.ndarray], beta: float) -> tuple[list[float], list[float]]:
    """IoU of each map's top-beta mask and of the same-area centre box against its truth; empty truths skipped."""
    fame_scores, prior_scores = [], []
    for soft, truth in zip(maps, truths, strict=True):
        if not truth.any():
            continue
        fame_scores.append(iou(top_fraction_mask(soft, beta), truth))
        prior_scores.append(iou(centre_box_mask(soft.shape[0], soft.shape[1], beta), truth))
    return fame_scores, prior_scores


def window_ious(soft: np.ndarray, gt: np.ndarray, indices: np.ndarray, beta: float) -> tuple[list[float], list[float]]:
    """IoU of FAME's top-beta mask and of the same-area centre box, for each window.

    soft: uint8 (K, h, w) cached masks; gt: bool (T, H, W); indices: (K, window) source frames.
    Windows whose clip has no actor are skipped.
    """
    h, w = soft.shape[1:]
    return _scores(list(soft), [clip_ground_truth(gt, idx, h, w) for idx in indices], beta)


def tubelet_ious(tubelets: np.ndarray, gt: np.ndarray, indices: np.ndarray, beta: float
                 ) -> tuple[list[float], list[float]]:
    """Like `window_ious` for every per-tubelet mask: tubelets uint8 (K, window // 2, h, w); tubelet j of
    window k against the actor union over frames indices[k, 2j] and indices[k, 2j + 1]."""
    h, w = tubelets.shape[2:]
    pairs = np.asarray(indices).reshape(len(indices), -1, 2)
    return _scores([m for window in tubelets for m in window],
                   [clip_ground_truth(gt, pair, h, w) for window in pairs for pair in window], beta)


def gt_mask_path(gt_dir: Path, video: str) -> Path:
    """The synthetic benchmark's convention: gt_masks/<video path without extension>.npz."""
    return gt_dir / Path(video).with_suffix(".npz")
