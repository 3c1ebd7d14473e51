"""The crop, flip and normalisation of training clips on the step's device (data.device_transforms).

Loader workers then send each window's uint8 frames and the crop they drew instead of float clips: a
quarter of the bytes, and no per-pixel float work on the host's cores. The result equals the host path
(`transforms.crop_resize` with OpenCV's bilinear resize, `hflip`, `to_normalized_tensor_layout`): the
same sample positions (pixel centres, clamped to the crop as OpenCV clamps to the cropped array), rounded
to whole grey levels as OpenCV's uint8 output is. OpenCV's fixed-point arithmetic truncates, so about one
value in eight comes out one grey level lower there (0.13 levels on average; tests/test_train_data.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from devias_tk.data.transforms import IMAGENET_MEAN, IMAGENET_STD


def _positions(start: torch.Tensor, length: torch.Tensor, size: int) -> torch.Tensor:
    """(M, size) source coordinates of a bilinear resize of [start, start + length) to `size` samples."""
    j = torch.arange(size, device=start.device, dtype=torch.float32) + 0.5
    inside = (j[None] * (length[:, None] / size) - 0.5).clamp(min=0)
    return start[:, None] + torch.minimum(inside, length[:, None] - 1)


def clips_from_frames(frames: torch.Tensor, crop_px: torch.Tensor, flip: torch.Tensor, size: int,
                      mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD) -> torch.Tensor:
    """Normalised float32 clips (M, 3, T, size, size) from uint8 windows `frames` (N, T, H, W, 3), crops
    `crop_px` (M, 4) as pixel (y, x, h, w) and `flip` (M,) bool. Clip i is cut from window i * N // M (N
    divides M: the windows of a batch whose videos each gave M / N clips, data.repeats)."""
    n, t, height, width, _ = frames.shape
    m = crop_px.shape[0]
    source = frames[torch.arange(m, device=frames.device) * n // m] if m != n else frames
    x = source.permute(0, 4, 1, 2, 3).reshape(m, 3 * t, height, width).float()
    crop_px = crop_px.to(torch.float32)
    ys = _positions(crop_px[:, 0], crop_px[:, 2], size)
    xs = _positions(crop_px[:, 1], crop_px[:, 3], size)
    xs = torch.where(flip.bool()[:, None], xs.flip(1), xs)
    gy = 2 * ys / max(height - 1, 1) - 1
    gx = 2 * xs / max(width - 1, 1) - 1
    grid = torch.stack([gx[:, None, :].expand(m, size, size), gy[:, :, None].expand(m, size, size)], dim=-1)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True).round_()
    out = out.reshape(m, 3, t, size, size)
    mean_t = torch.tensor(mean, device=out.device).view(1, 3, 1, 1, 1) * 255
    std_t = torch.tensor(std, device=out.device).view(1, 3, 1, 1, 1) * 255
    return (out - mean_t) / std_t
