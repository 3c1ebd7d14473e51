"""The authors' way of getting masks, as a benchmark anchor: FAME recomputed per training clip in torch.

The release runs FAME inside every training step on the 224x224 augmented clip, batched on the GPU:
one clip-level mask and 8 per-tubelet masks per clip, blur kernel 11. This module re-implements that
work from the method's description (our own code, with the hue handled correctly) so the cost of
per-clip recomputation can be measured beside the cached stage on the same machine.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

NUM_LEVELS = 10


def _gaussian_kernel(size: int, device: torch.device) -> torch.Tensor:
    sigma = size / 3
    x = torch.arange(size, device=device, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def _blur(maps: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    pad = kernel.shape[-1] // 2
    return F.conv2d(F.pad(maps[:, None], (pad, pad, pad, pad), mode="reflect"), kernel)[:, 0]


def _min_max(maps: torch.Tensor) -> torch.Tensor:
    flat = maps.flatten(1)
    lo, hi = flat.min(1).values, flat.max(1).values
    return (maps - lo[:, None, None]) / (hi - lo + 1e-8)[:, None, None]


def _bins(mean_frames: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> (B, H*W) bin indices, hue in [0, 1)."""
    r, g, b = mean_frames.unbind(1)
    v, _ = mean_frames.max(1)
    c = v - mean_frames.min(1).values
    s = torch.where(v > 0, c / v.clamp_min(1e-8), torch.zeros_like(v))
    safe = c.clamp_min(1e-8)
    h = torch.where(v == r, ((g - b) / safe) % 6, torch.where(v == g, (b - r) / safe + 2, (r - g) / safe + 4))
    h = torch.where(c > 0, h / 6, torch.zeros_like(h))
    hx = (s * torch.cos(2 * math.pi * h) + 1) / 2
    hy = (s * torch.sin(2 * math.pi * h) + 1) / 2
    q = [torch.round(x.clamp(0, 1) * (NUM_LEVELS - 1)).long() for x in (hx, hy, v)]
    return (q[0] * NUM_LEVELS**2 + q[1] * NUM_LEVELS + q[2]).flatten(1)


def _soft(motion: torch.Tensor, bins: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    b, h, w = motion.shape
    flat = motion.flatten(1)
    n = flat.shape[1]
    fg_idx = flat.topk(n // 2, dim=1).indices
    bg_idx = (-flat).topk(max(1, n // 10), dim=1).indices
    nb = NUM_LEVELS**3
    ones = torch.ones(1, 1, device=motion.device)
    fg = torch.zeros(b, nb, device=motion.device).scatter_add_(1, bins.gather(1, fg_idx), ones.expand_as(fg_idx))
    bg = torch.ones(b, nb, device=motion.device).scatter_add_(1, bins.gather(1, bg_idx), ones.expand_as(bg_idx))
    p_fg = fg / fg.sum(1, keepdim=True)
    p_bg = bg / bg.sum(1, keepdim=True)
    ratio = (p_fg / (p_fg + p_bg)).gather(1, bins).view(b, h, w)
    return _min_max(_blur(ratio, kernel))


def release_style_masks(clips: torch.Tensor, kernel_size: int = 11) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 3, T, H, W) in [0, 1] -> clip soft masks (B, H, W) and tubelet soft masks (B, T // 2, H, W)."""
    kernel = _gaussian_kernel(kernel_size, clips.device)
    diffs = (clips[:, :, 1:] - clips[:, :, :-1]).abs().sum(1)  # (B, T-1, H, W)
    bins = _bins(clips.mean(2))
    clip = _soft(_min_max(_blur(diffs.mean(1), kernel)), bins, kernel)
    tubelets = [_soft(_min_max(_blur(diffs[:, j], kernel)), bins, kernel) for j in range(0, diffs.shape[1], 2)]
    return clip, torch.stack(tubelets, 1)
