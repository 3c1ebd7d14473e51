import numpy as np

from devias_tk.masks import fame
from devias_tk.masks.windows import WindowSpec, compute_windows, resize_frames, window_indices, window_starts


def test_window_grid():
    spec = WindowSpec(window=16, stride=4, hop=4)
    starts, padded = window_starts(100, spec)  # last start that fits: 100 - 61 = 39
    assert starts == [0, 4, 8, 12, 16, 20, 24, 28, 32, 36] and not padded
    assert window_starts(61, spec) == ([0], False)
    assert window_starts(40, spec) == ([0], True)
    idx = window_indices(40, [0], spec)
    assert idx.tolist() == [[0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 39, 39, 39, 39, 39, 39]]  # last frame repeated


def test_compute_windows_matches_the_per_clip_functions():
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, (30, 40, 52, 3), np.uint8)
    spec = WindowSpec(window=4, stride=3, hop=6, size=20, tubelet_size=10)
    starts, _ = window_starts(30, spec)
    indices = window_indices(30, starts, spec)
    unique, positions = np.unique(indices, return_inverse=True)
    soft, tubelets = compute_windows(video[unique], positions.reshape(indices.shape), spec)
    assert soft.shape == (len(starts), 20, 26) and soft.dtype == np.uint8
    assert tubelets.shape == (len(starts), 2, 10, 13)
    for k, idx in enumerate(indices):
        clip = resize_frames(video[idx], 20)
        np.testing.assert_array_equal(soft[k], fame.to_uint8(fame.fame_soft_mask(clip)))
        small = resize_frames(video[idx], 10)
        np.testing.assert_array_equal(tubelets[k], fame.to_uint8(fame.fame_tubelet_masks(small)))
