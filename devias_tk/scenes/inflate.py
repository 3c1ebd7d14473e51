"""Inflating an image scene model to video clips.

Frame-average inflation (the toolkit's default, ``"frame-average"``): a clip's scene distribution is
the mean over its sampled frames of the image model's softmax. Because it is a mean of per-frame
terms, the windows of a video's temporal grid, which overlap, can share work: run the image model
once per distinct frame and average each window's rows (`window_probs`). That equals applying the
inflated model to each window's clip (`clip_probs`), up to float rounding, at a fraction of the cost
(with hop = stride, each further window adds one frame, not a whole clip).

Patch-kernel inflation (`inflate_patch_kernel`) is the other classic route for a ViT: a 2D patch
kernel tiled over a tubelet of T frames and divided by T, so a static clip embeds exactly as the
image does. `scenes train --video` starts a video scene model from an image ViT with it
(`devias_tk.models.teacher.map_image_vit`).

A clip model (the DEVIAS video scene teacher, `devias_tk.models.teacher`) needs no inflation: it takes
each window's T frames as one clip (``"clip-model"``, `clip_model_probs`). Overlapping windows then
share no work: every window costs a full clip forward (a ViT-B teacher on 16x224: about 180 GMACs per
window, against about 17.5 GMACs per new frame for an image ViT-B with hop = stride).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

# The forward passes live at the model level (the trainer's online targets use them too).
from devias_tk.models.scene_model import (  # noqa: F401  (re-exported)
    CLIP_MODEL,
    FrameAverage,
    clip_model_probs,
    image_probs,
    normalise,
)
from devias_tk.models.teacher import inflate_patch_kernel  # noqa: F401  (re-exported)


def clip_probs(module: nn.Module, clip: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Frame-average inflation of one clip: uint8 (T, H, W, 3) -> (K,), the mean of the frames' softmax."""
    return image_probs(module, clip, mean, std).mean(dim=0)


def window_probs(frame_probs: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Per-window distributions from per-frame ones: (F, K) and (num_windows, T) rows -> (num_windows, K).

    `positions[k, i]` is the row of `frame_probs` holding frame i of window k; a frame repeated in a
    window (a short video's padding) counts as often as it appears, as in the clip itself.
    """
    return frame_probs[positions].mean(axis=1)


def topk_padded(probs: np.ndarray, k: int = 5) -> np.ndarray:
    """Indices of the k most probable classes along the last axis, most probable first, as int16.

    Ties go to the lower class index. With fewer than k classes the missing places hold -1, so the
    shape is always (..., k).
    """
    order = np.argsort(-probs, axis=-1, kind="stable")[..., :k].astype(np.int16)
    missing = k - order.shape[-1]
    if missing > 0:
        pad = np.full((*order.shape[:-1], missing), -1, np.int16)
        order = np.concatenate([order, pad], axis=-1)
    return order
