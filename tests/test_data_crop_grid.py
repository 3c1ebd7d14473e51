"""The crop grid: boxes of a spec, IoU and the best-covering crop by hand, pixel <-> normalised boxes."""

from __future__ import annotations

import numpy as np
import pytest

from devias_tk.data.crop_grid import (
    DEFAULT_GRID,
    best_crop,
    best_crops,
    iou,
    normalised_box,
    pixel_box,
    square_grid,
)
from devias_tk.data.transforms import Box
from devias_tk.errors import DeviasError


def test_grid_boxes_by_hand():
    assert square_grid("1:1") == [(0.0, 0.0, 1.0, 1.0)]
    assert square_grid("none") == []
    assert square_grid("1:1, 0.5:2") == [(0.0, 0.0, 1.0, 1.0), (0.0, 0.0, 0.5, 0.5), (0.0, 0.5, 0.5, 1.0),
                                         (0.5, 0.0, 1.0, 0.5), (0.5, 0.5, 1.0, 1.0)]
    assert square_grid("0.4:3")[4] == (0.3, 0.3, 0.7, 0.7)  # the middle of a 3 x 3 lattice is centred
    assert square_grid("0.6:1") == [(0.2, 0.2, 0.8, 0.8)]  # one crop of a side < 1: centred
    assert len(square_grid(DEFAULT_GRID)) == len(set(square_grid(DEFAULT_GRID)))


@pytest.mark.parametrize(("spec", "message"), [
    ("1", "is not side:n"), ("a:2", "is not side:n"), ("1.2:1", "needs 0 < side <= 1"), ("0.5:0", "n >= 1"),
    ("1:2", "n = 1 at side 1"), ("0.5:1,0.5:1", "two terms give the same crop"),
])
def test_bad_grids_are_named(spec, message):
    with pytest.raises(DeviasError, match=message):
        square_grid(spec)


def test_iou_and_the_best_covering_crop_by_hand():
    grid = np.array(square_grid("1:1,0.5:2"))
    # a quarter-frame box in the top-left corner: IoU 1/4 with the full frame, 1 with the top-left crop
    np.testing.assert_allclose(iou(np.array([[0, 0, 0.5, 0.5]]), grid), [[0.25, 1, 0, 0, 0]])
    # (0.1, 0.1)-(0.5, 0.5): 0.16 / 0.25 = 0.64 with the top-left crop, 0.16 with the full frame
    np.testing.assert_allclose(iou(np.array([[0.1, 0.1, 0.5, 0.5]]), grid)[0, :2], [0.16, 0.64])
    assert best_crop((0.1, 0.1, 0.5, 0.5), grid) == 1
    assert best_crop((0.55, 0.6, 0.95, 1.0), grid) == 4
    assert best_crop((0.05, 0.0, 0.95, 0.9), grid) == 0
    # the middle band (0.25..0.75 high, full width): IoU 1/2 with the full frame, 0.2 with each quarter
    np.testing.assert_allclose(iou(np.array([[0.25, 0.0, 0.75, 1.0]]), grid), [[0.5] + [0.2] * 4])
    assert best_crop((0.25, 0.0, 0.75, 1.0), grid) == 0
    # the centre square: 1/4 with the full frame, 1/7 with each quarter; among the quarters alone, four
    # equal IoUs: a tie goes to the lower index
    np.testing.assert_allclose(iou(np.array([[0.25, 0.25, 0.75, 0.75]]), grid), [[0.25] + [1 / 7] * 4])
    assert best_crop((0.25, 0.25, 0.75, 0.75), grid) == 0
    assert best_crop((0.25, 0.25, 0.75, 0.75), grid[1:]) == 0
    assert best_crop((0.25, 0.25, 0.75, 0.75), grid[[2, 1, 4, 3]]) == 0  # the order written decides, not position
    assert best_crops(np.array([[0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1]]), grid).tolist() == [1, 4]


def test_pixel_and_normalised_boxes():
    assert normalised_box(Box(12, 16, 24, 32), 48, 64) == (0.25, 0.25, 0.75, 0.75)
    assert pixel_box((0.25, 0.25, 0.75, 0.75), 48, 64) == Box(12, 16, 24, 32)
    assert pixel_box((0.5, 0.5, 1.0, 1.0), 96, 128) == Box(48, 64, 48, 64)
    assert pixel_box((0.0, 0.999, 0.001, 1.0), 10, 10) == Box(0, 9, 1, 1)  # at least one pixel, inside the frame
    for box in (Box(3, 5, 17, 40), Box(0, 0, 48, 64)):
        assert pixel_box(normalised_box(box, 48, 64), 48, 64) == box
