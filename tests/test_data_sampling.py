import numpy as np
import pytest

from devias_tk.data import sampling


def test_clip_indices_dense():
    assert sampling.clip_indices(100, 4, 3, 10).tolist() == [10, 13, 16, 19]


def test_short_video_policies():
    # span of 4 frames at stride 2 is 7 frames; the video has 5
    assert sampling.clip_indices(5, 4, 2, 0, "loop").tolist() == [0, 2, 4, 1]
    assert sampling.clip_indices(5, 4, 2, 0, "repeat_last").tolist() == [0, 2, 4, 4]
    with pytest.raises(ValueError, match="unknown short-video policy"):
        sampling.clip_indices(5, 4, 2, 0, "pad")


def test_span_and_max_start():
    assert sampling.clip_span(16, 4) == 61
    assert sampling.max_start(64, 16, 4) == 3
    assert sampling.max_start(40, 16, 4) == 0


def test_spread_starts_match_the_test_convention():
    # max_start = 100 - 61 = 39; three clips at round(k * 39 / 2)
    assert sampling.spread_starts(100, 16, 4, 3) == [0, 20, 39]
    assert sampling.spread_starts(100, 16, 4, 2) == [0, 39]
    assert sampling.spread_starts(100, 16, 4, 1) == [19]
    assert sampling.spread_starts(30, 16, 4, 2) == [0, 0]


def test_random_start_covers_exactly_the_valid_range():
    rng = np.random.default_rng(0)
    starts = {sampling.random_start(64, 16, 4, rng) for _ in range(500)}
    assert starts == {0, 1, 2, 3}
