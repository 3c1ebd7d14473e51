"""Spatial transforms that treat frames (T, H, W, C) and masks (T, H, W) alike.

A crop is a `Box`; sample it once and apply it to frames and to their masks so both stay
aligned. Resizing uses OpenCV per frame.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Box:
    """A crop window in pixels: top-left corner (y, x) and size (h, w)."""

    y: int
    x: int
    h: int
    w: int


def _resize_stack(arr: np.ndarray, width: int, height: int, interpolation: int) -> np.ndarray:
    if arr.shape[1] == height and arr.shape[2] == width:
        return arr
    out = [cv2.resize(frame, (width, height), interpolation=interpolation) for frame in arr]
    return np.stack(out).reshape((arr.shape[0], height, width, *arr.shape[3:]))


def short_side_size(height: int, width: int, short: int) -> tuple[int, int]:
    """(height, width) after scaling so the shorter side equals `short` (aspect ratio kept)."""
    if height <= width:
        return short, max(short, int(round(width * short / height)))
    return max(short, int(round(height * short / width))), short


def resize_short_side(arr: np.ndarray, short: int, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Resize a (T, H, W[, C]) stack so that min(H, W) == short."""
    height, width = short_side_size(arr.shape[1], arr.shape[2], short)
    return _resize_stack(arr, width, height, interpolation)


def center_box(height: int, width: int, size: int) -> Box:
    crop = min(size, height, width)
    return Box((height - crop) // 2, (width - crop) // 2, crop, crop)


def three_crop_boxes(height: int, width: int, size: int) -> list[Box]:
    """Three square crops along the long side: start, centre, end (the usual 3-crop test views)."""
    crop = min(size, height, width)
    if width >= height:
        xs = [0, (width - crop) // 2, width - crop]
        return [Box((height - crop) // 2, x, crop, crop) for x in xs]
    ys = [0, (height - crop) // 2, height - crop]
    return [Box(y, (width - crop) // 2, crop, crop) for y in ys]


def spatial_boxes(height: int, width: int, size: int, num_crops: int) -> list[Box]:
    """Test-time crops: 1 (centre) or 3 (along the long side)."""
    if num_crops == 1:
        return [center_box(height, width, size)]
    if num_crops == 3:
        return three_crop_boxes(height, width, size)
    raise ValueError(f"spatial crops must be 1 or 3 (got {num_crops})")


def random_resized_box(
    height: int,
    width: int,
    rng: np.random.Generator,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> Box:
    """Inception-style random crop: area fraction in `scale`, aspect ratio (w/h) log-uniform in `ratio`."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return Box(int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w)
    # Fallback: the largest centred crop within the ratio bounds.
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        h, w = height, int(round(height * ratio[1]))
    else:
        w, h = width, height
    return Box((height - h) // 2, (width - w) // 2, h, w)


# TSN's fixed crop positions (GroupMultiScaleCrop with more_fix_crop), in quarter steps of the free
# space (y, x): corners, centre, edge midpoints and the four inner quarter points.
FIXED_OFFSETS = ((0, 0), (0, 4), (4, 0), (4, 4), (2, 2), (2, 0), (2, 4), (4, 2), (0, 2), (1, 1), (1, 3), (3, 1),
                 (3, 3))


def multi_scale_box(height: int, width: int, size: int, rng: np.random.Generator,
                    scales: tuple[float, ...] = (1.0, 0.875, 0.75, 0.66), max_distort: int = 1) -> Box:
    """The multi-scale crop of TSN and VideoMAE's pre-training: height and width each a scale of the short
    side (at most `max_distort` steps apart in the scale list; sides within 3 pixels of `size` snap to it),
    placed at one of the 13 fixed positions. The caller resizes the crop to size x size."""
    base = min(height, width)
    sides = [size if abs(int(base * s) - size) < 3 else int(base * s) for s in scales]
    pairs = [(h, w) for i, h in enumerate(sides) for j, w in enumerate(sides) if abs(i - j) <= max_distort]
    h, w = pairs[int(rng.integers(len(pairs)))]
    h, w = min(h, height), min(w, width)
    oy, ox = FIXED_OFFSETS[int(rng.integers(len(FIXED_OFFSETS)))]
    return Box(oy * ((height - h) // 4), ox * ((width - w) // 4), h, w)


def crop(arr: np.ndarray, box: Box) -> np.ndarray:
    return arr[:, box.y : box.y + box.h, box.x : box.x + box.w]


def crop_resize(
    arr: np.ndarray, box: Box, size: int | tuple[int, int], interpolation: int = cv2.INTER_LINEAR
) -> np.ndarray:
    """Crop a (T, H, W[, C]) stack to `box` and resize it to `size` (int: square, or (h, w))."""
    out_h, out_w = (size, size) if isinstance(size, int) else size
    return _resize_stack(np.ascontiguousarray(crop(arr, box)), out_w, out_h, interpolation)


def hflip(arr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(arr[:, :, ::-1])


@functools.lru_cache(maxsize=8)
def _normalising_table(mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """(C, 1, 256) float32: each channel's normalised value of every uint8 level, computed as the arithmetic did."""
    levels = np.arange(256, dtype=np.float32)[:, None] / 255.0
    return np.ascontiguousarray(((levels - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)).T)[:, None]


def to_normalized_tensor_layout(
    frames: np.ndarray, mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """uint8 (T, H, W, C) -> float32 (C, T, H, W), scaled to [0, 1] and normalised per channel (into `out`, a
    C-contiguous float32 array of that shape, when given: a slot of a batch, no copy later).

    For uint8 frames an OpenCV table lookup per channel plane: bit-identical to the float arithmetic, a seventh
    of its time (it was the training loader's largest cost per clip, docs/loader.md)."""
    t, h, w, channels = frames.shape
    if out is None:
        out = np.empty((channels, t, h, w), np.float32)
    if frames.dtype != np.uint8 or not 1 <= channels <= 4:
        x = frames.astype(np.float32) / 255.0
        out[...] = ((x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)).transpose(3, 0, 1, 2)
        return out
    table = _normalising_table(tuple(mean), tuple(std))
    planes = cv2.split(np.ascontiguousarray(frames).reshape(t * h, w, channels))
    for c in range(channels):
        out[c] = cv2.LUT(planes[c], table[c].reshape(1, 256)).reshape(t, h, w)
    return out


def color_jitter(frames: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast and saturation each scaled by U(1 - s, 1 + s), in random order, the same
    for every frame of the clip (photometric only, so cached masks stay aligned). uint8 in and out."""
    if strength <= 0:
        return frames
    x = frames.astype(np.float32)
    for op in rng.permutation(3):
        factor = float(rng.uniform(max(0.0, 1 - strength), 1 + strength))
        if op == 0:  # brightness
            x = x * factor
        elif op == 1:  # contrast: towards the clip's mean grey level
            grey = (x @ np.array([0.299, 0.587, 0.114], np.float32)).mean()
            x = (x - grey) * factor + grey
        else:  # saturation: towards each pixel's grey value
            grey = (x @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
            x = (x - grey) * factor + grey
        x = np.clip(x, 0, 255)
    return x.astype(np.uint8)
