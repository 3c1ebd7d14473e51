"""A small fixed grid of crops in normalised frame coordinates, and the choice of the grid crop that best
covers a training crop.

The scene-label stage caches one scene distribution per (window, grid crop); training takes, for the
random-resized crop it drew, the distribution of the grid crop with the highest IoU with it (both in
normalised coordinates, so frames of any size share one grid). Pure functions, torch-free.

A box is (y0, x0, y1, x1) with 0 <= y0 < y1 <= 1 and 0 <= x0 < x1 <= 1. A grid is written as
``side:n`` terms joined by commas: n x n squares (in normalised units) of that side, their corners
evenly spaced from 0 to 1 - side along each axis. ``"1:1,0.7:2"`` is the full frame and four crops of
49% of its area at the corners. ``"none"`` is the empty grid (a store for evaluation only).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from devias_tk.data.transforms import Box
from devias_tk.errors import DeviasError

NormBox = tuple[float, float, float, float]  # (y0, x0, y1, x1), fractions of the frame's height and width

# The full frame, four corner crops of 3/4 the side (56% of the area) and a 3 x 3 lattice of half-side
# crops (25%): 14 crops. Among `1:1,a:2,b:3` grids it gave about the highest mean best-crop IoU with
# random-resized crops of area 0.08..1 on 4:3 frames (0.64; the eval view 0.52, 5 crops 0.57, 30 crops
# 0.67), then was checked with `devias-tk bench scene-targets` (README).
DEFAULT_GRID = "1:1,0.75:2,0.5:3"
NO_CROPS = "none"


def square_grid(spec: str) -> list[NormBox]:
    """Boxes of a ``side:n[,side:n...]`` grid, in the order written, each term row-major (top-left first)."""
    boxes: list[NormBox] = []
    if spec.strip() == NO_CROPS:
        return boxes
    for term in spec.split(","):
        side_text, sep, count_text = term.strip().partition(":")
        try:
            side, count = float(side_text), int(count_text)
        except ValueError:
            raise DeviasError(f"crop grid {spec!r}: {term.strip()!r} is not side:n (e.g. 0.7:2)") from None
        if not sep or not 0 < side <= 1 or count < 1 or (side == 1 and count != 1):
            raise DeviasError(f"crop grid {spec!r}: {term.strip()!r} needs 0 < side <= 1 and n >= 1 (n = 1 at side 1)")
        corners = np.linspace(0.0, 1.0 - side, count) if count > 1 else np.array([(1.0 - side) / 2])
        boxes += [(round(float(y), 6), round(float(x), 6), round(float(y + side), 6), round(float(x + side), 6))
                  for y in corners for x in corners]
    if len(set(boxes)) != len(boxes):
        raise DeviasError(f"crop grid {spec!r}: two terms give the same crop")
    return boxes


def normalised_box(box: Box, height: int, width: int) -> NormBox:
    """A pixel box of a (height, width) frame in normalised coordinates."""
    return (box.y / height, box.x / width, (box.y + box.h) / height, (box.x + box.w) / width)


def pixel_box(box: Sequence[float], height: int, width: int) -> Box:
    """A normalised box on a (height, width) frame, rounded to pixels, at least one pixel each way."""
    y0, x0 = min(round(box[0] * height), height - 1), min(round(box[1] * width), width - 1)
    y1, x1 = max(round(box[2] * height), y0 + 1), max(round(box[3] * width), x0 + 1)
    return Box(y0, x0, y1 - y0, x1 - x0)


def iou(boxes: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes (N, 4) with grid crops (G, 4): (N, G)."""
    boxes, grid = np.asarray(boxes, np.float64)[:, None], np.asarray(grid, np.float64)[None]
    inter_h = np.clip(np.minimum(boxes[..., 2], grid[..., 2]) - np.maximum(boxes[..., 0], grid[..., 0]), 0, None)
    inter_w = np.clip(np.minimum(boxes[..., 3], grid[..., 3]) - np.maximum(boxes[..., 1], grid[..., 1]), 0, None)
    inter = inter_h * inter_w
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / (area(boxes) + area(grid) - inter)


def best_crops(boxes: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Index (N,) of the grid crop with the highest IoU with each box; a tie goes to the lower index."""
    return np.argmax(iou(boxes, grid), axis=1)  # argmax returns the first of equal maxima


def best_crop(box: Sequence[float], grid: np.ndarray) -> int:
    """`best_crops` for one box."""
    return int(best_crops(np.asarray([box]), grid)[0])
