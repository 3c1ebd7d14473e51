"""Inflating an image scene model to video clips.

Frame-average inflation (the toolkit's default, ``"frame-average"``): a clip's scene distribution is
the mean over its sampled frames of the image model's softmax. Because it is a mean of per-frame
terms, the windows of a video's temporal grid, which overlap, can share work: run the image model
once per distinct frame and average each window's rows (`window_probs`). That equals applying the
inflated model to each window's clip (`clip_probs`), up to float rounding, at a fraction of the cost
(with hop = stride, each further window adds one frame, not a whole clip).

Patch-kernel inflation (`inflate_patch_kernel`) is the other classic route for a ViT: a 2D patch
kernel tiled over a tubelet of T frames and divided by T, so a static clip embeds exactly as the
image does. Only the weight transform exists here.

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

INFLATIONS = ("frame-average",)  # for image models (what a toolkit scene-model checkpoint may name)
CLIP_MODEL = "clip-model"  # the scene model takes whole clips; the store's `inflation` names it


def normalise(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in model units: /255, minus mean, over std, per channel."""
    x = images.permute(0, 3, 1, 2).float().div_(255.0)
    m = torch.tensor(mean, dtype=x.dtype, device=x.device)[None, :, None, None]
    s = torch.tensor(std, dtype=x.dtype, device=x.device)[None, :, None, None]
    return (x - m) / s


@torch.inference_mode()
def image_probs(
    module: nn.Module, images: torch.Tensor, mean: Sequence[float], std: Sequence[float],
    amp_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Softmax class distribution (N, K), float32, of uint8 images (N, H, W, 3) already on the model's device.

    `amp_dtype` (bf16 / fp16) runs the network under autocast; the softmax is always float32.
    """
    x = normalise(images, mean, std)
    with torch.autocast(x.device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        logits = module(x)
    return logits.float().softmax(dim=-1)


@torch.inference_mode()
def clip_model_probs(
    module: nn.Module, clips: torch.Tensor, mean: Sequence[float], std: Sequence[float],
    amp_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Softmax (B, K), float32, of a clip model on uint8 clips (B, T, H, W, 3) already on its device."""
    b, t = clips.shape[:2]
    x = normalise(clips.reshape(b * t, *clips.shape[2:]), mean, std)
    x = x.reshape(b, t, *x.shape[1:]).transpose(1, 2)  # (B, C, T, H, W)
    with torch.autocast(x.device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        logits = module(x)
    return logits.float().softmax(dim=-1)


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


class FrameAverage(nn.Module):
    """The inflated model as a module: normalised clips (B, C, T, H, W) -> (B, K) frame-averaged softmax.

    For callers that want a video scene teacher in the loop (as the DEVIAS release runs one); the
    labelling stage uses `image_probs` + `window_probs` instead, which shares overlapping frames.
    """

    def __init__(self, image_model: nn.Module) -> None:
        super().__init__()
        self.image_model = image_model

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = clips.shape
        frames = clips.transpose(1, 2).reshape(b * t, c, h, w)
        probs = self.image_model(frames).float().softmax(dim=-1)
        return probs.reshape(b, t, -1).mean(dim=1)


def inflate_patch_kernel(weight: torch.Tensor, frames: int) -> torch.Tensor:
    """A 2D patch-embedding kernel (D, C, p, p) tiled over `frames` and divided by it: (D, C, frames, p, p).

    A Conv3d with this kernel (and the 2D bias) maps a clip of identical frames to the same
    embedding as the Conv2d maps one of them.
    """
    if weight.ndim != 4:
        raise ValueError(f"expected a (D, C, p, p) kernel, got shape {tuple(weight.shape)}")
    if frames < 1:
        raise ValueError("frames must be >= 1")
    return weight.unsqueeze(2).repeat(1, 1, frames, 1, 1) / frames
