"""Mixup, cutmix and label smoothing on a batch of images, as plain functions (no I/O, no global randomness).

Semantics as in the MAE / DeiT fine-tuning recipes (one draw per batch): with probability `prob` the batch
is mixed with itself reversed (sample i with sample B-1-i); cutmix (with probability `switch_prob` when both
are on) pastes a box of area share about 1 - lam, and lam is then corrected to the box actually pasted;
mixup blends the pixels with weight lam. Targets are label-smoothed one-hot vectors mixed with the same lam.
Mixing happens on images, before they become static clips, so every frame of a clip gets the same mix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class MixSpec:
    mixup: float = 0.8
    cutmix: float = 1.0
    prob: float = 1.0
    switch_prob: float = 0.5
    label_smoothing: float = 0.1


def smooth_one_hot(labels: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    """(B,) class indices -> (B, K) float: 1 - smoothing + smoothing / K on the class, smoothing / K elsewhere."""
    off = smoothing / num_classes
    out = torch.full((len(labels), num_classes), off, device=labels.device)
    return out.scatter_(1, labels[:, None], 1.0 - smoothing + off)


def cut_box(height: int, width: int, lam: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of a box with sides sqrt(1 - lam) of the image's, centred uniformly, clipped to it."""
    ratio = math.sqrt(1.0 - lam)
    ch, cw = int(height * ratio), int(width * ratio)
    cy, cx = int(rng.integers(0, height)), int(rng.integers(0, width))
    return (max(0, cy - ch // 2), min(height, cy + ch // 2), max(0, cx - cw // 2), min(width, cx + cw // 2))


def mix_batch(images: torch.Tensor, labels: torch.Tensor, num_classes: int, spec: MixSpec,
              rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
    """(B, C, H, W) images and (B,) labels -> mixed images, (B, K) soft targets and {"lam", "cutmix"}.

    `rng` draws whether to mix, which kind and lam (seed it per step for a resume-exact run).
    """
    targets = smooth_one_hot(labels, num_classes, spec.label_smoothing)
    active = spec.mixup > 0 or spec.cutmix > 0
    if not active or rng.random() >= spec.prob:
        return images, targets, {"lam": 1.0, "cutmix": 0.0}
    use_cutmix = spec.cutmix > 0 and (spec.mixup <= 0 or rng.random() < spec.switch_prob)
    alpha = spec.cutmix if use_cutmix else spec.mixup
    lam = float(rng.beta(alpha, alpha))
    partner = images.flip(0)
    if use_cutmix:
        height, width = images.shape[-2:]
        y0, y1, x0, x1 = cut_box(height, width, lam, rng)
        images = images.clone()
        images[..., y0:y1, x0:x1] = partner[..., y0:y1, x0:x1]
        lam = 1.0 - (y1 - y0) * (x1 - x0) / (height * width)
    else:
        images = images * lam + partner * (1.0 - lam)
    return images, targets * lam + targets.flip(0) * (1.0 - lam), {"lam": lam, "cutmix": float(use_cutmix)}


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of -sum_k target_k log softmax(logits)_k (float32)."""
    return -(targets * logits.float().log_softmax(dim=-1)).sum(dim=-1).mean()
