import numpy as np
import pytest

from devias_tk.masks import fame
from devias_tk.masks.windows import WindowSpec, compute_windows, resize_frames, window_indices, window_starts


def _windows(video: np.ndarray, spec: WindowSpec, params: fame.FameParams = fame.FameParams()):
    starts, _ = window_starts(len(video), spec)
    indices = window_indices(len(video), starts, spec)
    unique, positions = np.unique(indices, return_inverse=True)
    return indices, *compute_windows(video[unique], positions.reshape(indices.shape), spec, params)


@pytest.mark.parametrize(("motion_comp", "colour_model"),
                         [("none", True), ("ecc", True), ("similarity", True), ("none", False)])
def test_compute_windows_matches_the_per_clip_functions(motion_comp, colour_model):
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, (30, 40, 52, 3), np.uint8)
    # hop 3 = stride: windows overlap by all but one sampled frame, so pair results are shared
    spec = WindowSpec(window=4, stride=3, hop=3, size=20, tubelet_size=10)
    params = fame.FameParams(motion_comp=motion_comp, colour_model=colour_model)
    indices, soft, tubelets = _windows(video, spec, params)
    assert len(indices) >= 3
    assert soft.shape == (len(indices), 20, 26) and soft.dtype == np.uint8
    assert tubelets.shape == (len(indices), 2, 10, 13) and tubelets.dtype == np.uint8
    for k, idx in enumerate(indices):
        clip = resize_frames(video[idx], 20)
        np.testing.assert_array_equal(soft[k], fame.to_uint8(fame.fame_soft_mask(clip, params)))
        np.testing.assert_array_equal(tubelets[k], fame.to_uint8(fame.fame_tubelet_masks(clip, params, (10, 13))))


def test_tubelet_masks_are_working_size_maps_area_pooled():
    rng = np.random.default_rng(1)
    video = rng.integers(0, 256, (8, 24, 32, 3), np.uint8)
    spec = WindowSpec(window=4, stride=2, hop=4, size=24, tubelet_size=6)  # exact 4x4 pooling
    indices, _, tubelets = _windows(video, spec)
    full = fame.fame_tubelet_masks(resize_frames(video[indices[0]], 24))
    assert full.shape == (2, 24, 32)
    pooled = fame.area_pool(full, (6, 8))
    np.testing.assert_allclose(pooled, full.reshape(2, 6, 4, 8, 4).mean(axis=(2, 4)), atol=1e-6)  # 4x4 block means
    np.testing.assert_array_equal(tubelets[0], fame.to_uint8(pooled))
    # not the old computation on frames resized to the small grid
    small = fame.to_uint8(fame.fame_tubelet_masks(resize_frames(video[indices[0]], 6)))
    assert not np.array_equal(tubelets[0], small)


def test_tubelet_size_above_the_working_size_is_refused():
    with pytest.raises(ValueError, match="exceeds size"):
        WindowSpec(size=28, tubelet_size=56).validate()
