import numpy as np
import pytest

from devias_tk.masks import quality


def test_tubelet_ious_hand_computed():
    gt = np.zeros((4, 4, 4), bool)
    gt[0, 0, 0] = gt[1, 0, 1] = True  # the actor in frames 0 and 1 only
    tubelets = np.zeros((1, 2, 4, 4), np.uint8)
    tubelets[0, 0, 0, 0], tubelets[0, 0, 1, 1] = 200, 100
    tubelets[0, 1] = 50
    # beta 2/16: the top two pixels (0,0), (1,1) vs the pair's union (0,0), (0,1) -> 1/3; the centre box is
    # the single pixel (1,1) -> 0; tubelet 1 (frames 2, 3) has no actor and is skipped
    fame_scores, prior_scores = quality.tubelet_ious(tubelets, gt, np.array([[0, 1, 2, 3]]), 2 / 16)
    assert fame_scores == [pytest.approx(1 / 3)] and prior_scores == [0.0]
    # the frame pairs follow the window's indices, not the video's frame order
    fame_scores, _ = quality.tubelet_ious(tubelets[:, ::-1], gt, np.array([[2, 3, 1, 0]]), 2 / 16)
    assert fame_scores == [pytest.approx(1 / 3)]


def test_window_ious_use_the_union_over_the_window():
    gt = np.zeros((4, 4, 4), bool)
    gt[0, 0, 0] = gt[3, 3, 3] = True
    soft = np.zeros((2, 4, 4), np.uint8)
    soft[:, 0, 0], soft[:, 3, 3] = 255, 254
    fame_scores, _ = quality.window_ious(soft, gt, np.array([[0, 1, 2, 3], [1, 2, 1, 2]]), 2 / 16)
    assert fame_scores == [1.0]  # window 1 (frames 1, 2) shows no actor and is skipped
