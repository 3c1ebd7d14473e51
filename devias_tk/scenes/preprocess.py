"""The scene model's views of an image or frame: the eval view (short-side resize, then a centre crop)
and the crop-grid views (normalised boxes resized to the model's input) that training targets follow.

Torch-free so that decoding workers can run it without importing torch. The same function serves
validation during training and labelling, so the accuracy measured on images is that of the view the
videos get.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from devias_tk.data.crop_grid import pixel_box
from devias_tk.data.transforms import center_box, crop, crop_resize, short_side_size

DEFAULT_CROP_PCT = 0.875  # timm / ImageNet convention: resize to size / 0.875, centre-crop size


def resize_size_for(input_size: int, crop_pct: float = DEFAULT_CROP_PCT) -> int:
    """Short side to resize to before the centre crop of `input_size`."""
    if not 0 < crop_pct <= 1:
        raise ValueError(f"crop_pct must be in (0, 1], got {crop_pct}")
    return round(input_size / crop_pct)


def eval_view(frames: np.ndarray, input_size: int, resize_size: int) -> np.ndarray:
    """uint8 (N, H, W, 3) -> uint8 (N, input_size, input_size, 3): short side to `resize_size`, centre crop.

    Area interpolation when shrinking (no aliasing from full-resolution frames), bilinear when enlarging.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected (N, H, W, 3) frames, got shape {frames.shape}")
    height, width = short_side_size(frames.shape[1], frames.shape[2], resize_size)
    interpolation = cv2.INTER_AREA if height < frames.shape[1] else cv2.INTER_LINEAR
    if min(height, width) < input_size:
        raise ValueError(f"resize_size {resize_size} is smaller than input_size {input_size}")
    out = np.empty((frames.shape[0], input_size, input_size, 3), np.uint8)
    box = center_box(height, width, input_size)
    for i, frame in enumerate(frames):
        resized = frame if (height, width) == frame.shape[:2] else cv2.resize(
            frame, (width, height), interpolation=interpolation)
        out[i] = crop(resized[None], box)[0]
    return out


def crop_views(frames: np.ndarray, boxes: Sequence[Sequence[float]], input_size: int) -> np.ndarray:
    """uint8 (N, H, W, 3) -> uint8 (len(boxes), N, input_size, input_size, 3): each normalised box
    (devias_tk.data.crop_grid) cut from every frame and resized to the model's square input, as a
    training crop is (area interpolation when it shrinks both ways, bilinear otherwise)."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected (N, H, W, 3) frames, got shape {frames.shape}")
    height, width = frames.shape[1:3]
    out = np.empty((len(boxes), frames.shape[0], input_size, input_size, 3), np.uint8)
    for c, normalised in enumerate(boxes):
        box = pixel_box(normalised, height, width)
        shrink = box.h > input_size and box.w > input_size
        out[c] = crop_resize(frames, box, input_size, cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return out
