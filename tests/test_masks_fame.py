import numpy as np
import pytest
import torch

from devias_tk.masks import fame
from devias_tk.train import augment


def test_blur_kernel_rule():
    assert [fame.blur_kernel_size(s) for s in (224, 112, 28, 10, 5)] == [23, 11, 3, 1, 1]


def test_min_max_and_pair_differences():
    np.testing.assert_allclose(fame.min_max(np.array([2.0, 4.0, 6.0])), [0, 0.5, 1], atol=1e-6)
    frames = np.zeros((3, 1, 2, 3), np.float32)
    frames[1, 0, 0] = [0.5, 0.25, 0.0]
    frames[2, 0, 1] = [1.0, 1.0, 1.0]
    diffs = fame.pair_differences(frames)
    np.testing.assert_allclose(diffs, [[[0.75, 0.0]], [[0.75, 3.0]]])


@pytest.mark.parametrize(
    ("rgb", "expected"),
    [
        ((1.0, 0.0, 0.0), 9 * 100 + 4 * 10 + 9),  # hue 0: hx = 1, hy = 0.5 (rounds to even 4), v = 1
        ((0.0, 1.0, 0.0), 2 * 100 + 8 * 10 + 9),  # hue 1/3: hx = 0.25 -> 2, hy = 0.933 -> 8
        ((0.0, 1.0, 1.0), 0 * 100 + 4 * 10 + 9),  # hue 1/2: hx = 0, hy = 0.5
        ((0.5, 0.5, 0.5), 4 * 100 + 4 * 10 + 4),  # grey: no saturation, v = 0.5 -> 4
        ((0.0, 0.0, 0.0), 4 * 100 + 4 * 10 + 0),
    ],
)
def test_colour_bins_of_known_colours(rgb, expected):
    frame = np.broadcast_to(np.array(rgb, np.float32), (1, 1, 3))
    assert fame.colour_bins(frame)[0, 0] == expected


def _levels(hue: float) -> tuple[int, int, int]:
    import colorsys

    rgb = np.array(colorsys.hsv_to_rgb(hue, 1.0, 1.0), np.float32).reshape(1, 1, 3)
    qx, rest = divmod(int(fame.colour_bins(rgb)[0, 0]), 100)
    return qx, *divmod(rest, 10)


def test_hue_wraps_around_and_is_not_scaled_twice():
    # Hues 0.02 and 0.98 are neighbours on the colour circle (hx = 0.99 -> level 9, hy = 0.5 +- 0.06
    # -> levels 5 and 4); hue 0.25 is a quarter turn away (hx = 0.5 -> 4, hy = 1 -> 9). Reading the
    # hue as radians and multiplying by 2*pi again (the release's slip) would scatter them.
    assert _levels(0.02) == (9, 5, 9) and _levels(0.98) == (9, 4, 9)
    assert _levels(0.25) == (4, 9, 9)


def test_foreground_likelihood_hand_computed():
    motion = np.array([[8, 7, 1, 2], [0.5, 3, 4, 6]], np.float32)
    bins = np.array([[5, 5, 7, 7], [7, 7, 7, 9]])
    # fg seeds (top 4): bins 5, 5, 9, 7 -> p_fg = 1/2, 1/4, 1/4; bg seed (bottom 1): bin 7 -> with +1
    # everywhere p_bg(7) = 2/1001, p_bg(other) = 1/1001
    r5 = 0.5 / (0.5 + 1 / 1001)
    r7 = 0.25 / (0.25 + 2 / 1001)
    r9 = 0.25 / (0.25 + 1 / 1001)
    expected = np.array([[r5, r5, r7, r7], [r7, r7, r7, r9]])
    np.testing.assert_allclose(fame.foreground_likelihood(motion, bins, fame.FameParams()), expected, rtol=1e-6)


def test_top_fraction_mask_counts_and_ties():
    soft = np.array([[0.9, 0.1, 0.5], [0.5, 0.5, 0.2]], np.float32)
    mask = fame.top_fraction_mask(soft, 0.5)  # 3 of 6; the tie at 0.5 is broken by flat index
    assert mask.tolist() == [[True, False, True], [True, False, False]]
    assert fame.top_fraction_mask(soft, 0.0).sum() == 0 and fame.top_fraction_mask(soft, 1.0).all()
    cached = np.array([[0, 255, 3], [254, 1, 2]], np.uint8)  # uint8 maps from the store
    assert fame.top_fraction_mask(cached, 2 / 6).tolist() == [[False, True, False], [True, False, False]]
    sparse = np.array([[0, 0, 0], [0, 9, 0]], np.uint8)  # fewer positive pixels than asked: only those
    assert fame.top_fraction_mask(sparse, 0.5).tolist() == [[False, False, False], [False, True, False]]
    assert fame.top_fraction_mask(sparse, 0.5).sum() == augment.top_beta_mask(torch.from_numpy(sparse), 0.5).sum()


def _moving_square_clip(frames: int = 16, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    background = rng.uniform(0.2, 0.5, (size, size, 3)).astype(np.float32)
    background[..., 1] += 0.3  # greenish texture
    clip = np.repeat(background[None], frames, axis=0)
    truth = np.zeros((size, size), bool)
    for t in range(frames):
        y, x = 20, 10 + 2 * t
        clip[t, y : y + 16, x : x + 10] = [0.9, 0.1, 0.6]  # a magenta block moving right
        truth[y : y + 16, x : x + 10] = True
    return clip, truth


def test_moving_object_is_found():
    clip, truth = _moving_square_clip()
    soft = fame.fame_soft_mask(clip)
    assert soft.shape == (64, 64) and soft.min() == 0 and soft.max() == pytest.approx(1, abs=1e-6)
    hard = fame.top_fraction_mask(soft, truth.mean())
    assert (hard & truth).sum() / (hard | truth).sum() > 0.7


def test_tubelet_masks_use_their_own_pair_and_the_whole_clip_colours():
    clip, _ = _moving_square_clip()
    clip[8:] = clip[8]  # the block stops half way: later pairs have no motion
    tubelets = fame.fame_tubelet_masks(clip)
    assert tubelets.shape == (8, 64, 64)
    kernel = fame.blur_kernel_size(64)
    bins = fame.colour_bins(clip.mean(axis=0))
    diffs = fame.pair_differences(clip)
    for j in (0, 3):
        expected = fame.soft_mask_from(fame.motion_map(diffs[2 * j][None], kernel), bins, kernel, fame.FameParams())
        np.testing.assert_array_equal(tubelets[j], expected)
    block = np.zeros((64, 64), bool)
    block[20:36, 10:22] = True  # where the block is during pair (0, 1)
    assert tubelets[0][block].mean() > tubelets[0][~block].mean() + 0.1
    # pairs 4-7 see no motion at all: identical motion maps give identical masks, unlike pair 0
    assert all(np.array_equal(tubelets[4], tubelets[j]) for j in (5, 6, 7))
    assert not np.array_equal(tubelets[0], tubelets[4])


def test_motion_only_masks_are_the_blurred_motion_maps():
    clip, truth = _moving_square_clip()
    params = fame.FameParams(colour_model=False)
    kernel = fame.blur_kernel_size(64)
    diffs = fame.pair_differences(clip)
    np.testing.assert_array_equal(fame.fame_soft_mask(clip, params), fame.motion_map(diffs, kernel))
    tubelets = fame.fame_tubelet_masks(clip, params)
    for j in (0, 3):
        np.testing.assert_array_equal(tubelets[j], fame.motion_map(diffs[2 * j][None], kernel))
    # the block is still found, and the mask differs from the colour model's
    hard = fame.top_fraction_mask(fame.fame_soft_mask(clip, params), truth.mean())
    assert (hard & truth).sum() / (hard | truth).sum() > 0.5
    assert not np.array_equal(fame.fame_soft_mask(clip, params), fame.fame_soft_mask(clip))


def test_the_colour_model_switch_is_recorded_only_when_off():
    """Stores written before the switch existed record no such key; they must still match the default."""
    assert "colour_model" not in fame.FameParams().to_dict()
    assert fame.FameParams(colour_model=False).to_dict()["colour_model"] is False
