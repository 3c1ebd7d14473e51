import numpy as np

from devias_tk.masks import fame
from devias_tk.masks.windows import WindowSpec, compute_windows, resize_frames, window_indices, window_starts


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
