"""Mask quality against ground-truth actor masks: IoU of the top-beta hard mask, and a centre-box prior."""

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


def window_ious(soft: np.ndarray, gt: np.ndarray, indices: np.ndarray, beta: float) -> tuple[list[float], list[float]]:
    """IoU of FAME's top-beta mask and of the same-area centre box, for each window.

    soft: uint8 (K, h, w) cached masks; gt: bool (T, H, W); indices: (K, window) source frames.
    Windows whose clip has no actor are skipped.
    """
    fame_scores, prior_scores = [], []
    prior = centre_box_mask(soft.shape[1], soft.shape[2], beta)
    for k in range(soft.shape[0]):
        truth = clip_ground_truth(gt, indices[k], soft.shape[1], soft.shape[2])
        if not truth.any():
            continue
        fame_scores.append(iou(top_fraction_mask(soft[k], beta), truth))
        prior_scores.append(iou(prior, truth))
    return fame_scores, prior_scores


def gt_mask_path(gt_dir: Path, video: str) -> Path:
    """The synthetic benchmark's convention: gt_masks/<video path without extension>.npz."""
    return gt_dir / Path(video).with_suffix(".npz")
