"""VideoMAE's method as plain functions: tube masks, per-patch normalised pixel targets, the masked MSE,
and the reconstruction a figure shows. No I/O, no model.

Token order everywhere is the patch embedding's: t-major, then row, then column (t * h * w + i * w + j).
A token's pixels are flattened (tubelet frame, row, column, channel), channel fastest, as VideoMAE's
`b c (t p0) (h p1) (w p2) -> b (t h w) (p0 p1 p2) c` rearrangement and its decoder head's output.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from devias_tk.data.transforms import IMAGENET_MEAN, IMAGENET_STD

TARGET_EPS = 1e-6  # added to the patch's standard deviation (not its variance), as VideoMAE does


def num_masked(patches_per_frame: int, ratio: float) -> int:
    """Masked patches per frame: floor(ratio * patches) (VideoMAE's int()), with a guard against
    0.29 * 100 = 28.999...; refuses a ratio that masks nothing or everything."""
    count = math.floor(ratio * patches_per_frame + 1e-9)
    if not 0 < count < patches_per_frame:
        raise ValueError(f"mask ratio {ratio} masks {count} of {patches_per_frame} patches per frame; "
                         "it must leave at least one patch masked and one visible")
    return count


def tube_mask(grid: tuple[int, int, int], ratio: float, rng: np.random.Generator) -> np.ndarray:
    """(t * h * w,) bool, True = masked: one random spatial mask of exactly `num_masked(h * w, ratio)`
    patches, shared by all t tubelets of the clip."""
    t, h, w = grid
    spatial = np.zeros(h * w, bool)
    spatial[rng.permutation(h * w)[: num_masked(h * w, ratio)]] = True
    return np.tile(spatial, t)


def unnormalize(clips: torch.Tensor, mean: tuple[float, ...] = IMAGENET_MEAN,
                std: tuple[float, ...] = IMAGENET_STD) -> torch.Tensor:
    """Normalised clips (B, C, T, H, W) back to [0, 1] pixels."""
    shape = (1, -1, 1, 1, 1)
    return clips * torch.tensor(std, dtype=clips.dtype, device=clips.device).view(shape) + \
        torch.tensor(mean, dtype=clips.dtype, device=clips.device).view(shape)


def patchify(video: torch.Tensor, patch: int, tubelet: int) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, N, tubelet * patch * patch, C)."""
    b, c, t, h, w = video.shape
    x = video.reshape(b, c, t // tubelet, tubelet, h // patch, patch, w // patch, patch)
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)  # b, t', h', w', tubelet, row, column, c
    return x.reshape(b, (t // tubelet) * (h // patch) * (w // patch), tubelet * patch * patch, c)


def unpatchify(patches: torch.Tensor, grid: tuple[int, int, int], patch: int, tubelet: int) -> torch.Tensor:
    """The inverse of `patchify`: (B, N, tubelet * patch * patch, C) -> (B, C, T, H, W)."""
    b, _, _, c = patches.shape
    t, h, w = grid
    x = patches.reshape(b, t, h, w, tubelet, patch, patch, c).permute(0, 7, 1, 4, 2, 5, 3, 6)
    return x.reshape(b, c, t * tubelet, h * patch, w * patch)


def patch_statistics(patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per token and channel: mean and unbiased standard deviation over the token's pixels (dim 2),
    as VideoMAE computes them (`var(unbiased=True).sqrt()`); shapes (B, N, 1, C)."""
    return patches.mean(dim=2, keepdim=True), patches.var(dim=2, unbiased=True, keepdim=True).sqrt()


def pixel_targets(video: torch.Tensor, patch: int, tubelet: int, normalize: bool = True) -> torch.Tensor:
    """Regression targets (B, N, tubelet * patch * patch * C) of [0, 1] clips (B, C, T, H, W): each token's
    pixels, normalised per channel by the token's own mean and standard deviation (+ TARGET_EPS)."""
    patches = patchify(video.float(), patch, tubelet)
    if normalize:
        mean, std = patch_statistics(patches)
        patches = (patches - mean) / (std + TARGET_EPS)
    return patches.flatten(2)


def masked_mse(pred: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error between the predictions of the masked tokens (B, M, P) and the targets
    (B, N, P) of those tokens; visible tokens' targets play no part."""
    batch, _, pixels = targets.shape
    return F.mse_loss(pred.float(), targets[mask].reshape(batch, -1, pixels).float())


def reconstruct(video: torch.Tensor, mask: torch.Tensor, pred: torch.Tensor, patch: int, tubelet: int,
                normalize: bool = True) -> torch.Tensor:
    """What the figure shows: [0, 1] clips (B, C, T, H, W) whose masked tubelets are the prediction
    (de-normalised with the true patch's mean and standard deviation, as VideoMAE's visualisation does)
    and whose visible tubelets are the input's. Clamped to [0, 1]."""
    patches = patchify(video.float(), patch, tubelet)
    b, _, p, c = patches.shape
    predicted = pred.float().reshape(b, -1, p, c)
    if normalize:
        mean, std = patch_statistics(patches)
        predicted = predicted * (std[mask].reshape(b, -1, 1, c) + TARGET_EPS) + mean[mask].reshape(b, -1, 1, c)
    out = patches.clone()
    out[mask] = predicted.reshape(-1, p, c)
    grid = (video.shape[2] // tubelet, video.shape[3] // patch, video.shape[4] // patch)
    return unpatchify(out, grid, patch, tubelet).clamp(0, 1)


def masked_input(video: torch.Tensor, mask: torch.Tensor, patch: int, tubelet: int, fill: float = 0.5) -> torch.Tensor:
    """[0, 1] clips with their masked tubelets painted `fill` (what the encoder does not see)."""
    patches = patchify(video.float(), patch, tubelet).clone()
    patches[mask] = fill
    grid = (video.shape[2] // tubelet, video.shape[3] // patch, video.shape[4] // patch)
    return unpatchify(patches, grid, patch, tubelet)
