"""Camera-motion compensation for FAME: known pans recovered, the actor found again under a pan."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from test_masks_fame import _moving_square_clip

from devias_tk.masks import fame, motion
from devias_tk.masks.quality import iou

PAN = (2.0, 0.5)  # camera shift per frame, pixels
COMPENSATED = ("ecc", "similarity", "homography")


def _pan_clip(frames: int = 8, height: int = 64, width: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """A greenish textured world filmed by a panning camera, with a magenta textured square walking
    3 px/frame through it: in the frame the background moves by -PAN, the square by (+1, -0.5)."""
    rng = np.random.default_rng(0)

    def texture(h: int, w: int) -> np.ndarray:
        coarse = rng.uniform(0, 1, (h // 4, w // 4, 3)).astype(np.float32)
        return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)

    world = texture(height + 40, width + 40) * np.float32([0.4, 0.8, 0.4])
    square = texture(16, 12) * np.float32([0.4, 0.2, 0.4]) + np.float32([0.6, 0.0, 0.5])
    clip = np.empty((frames, height, width, 3), np.float32)
    truth = np.zeros((frames, height, width), bool)
    for t in range(frames):
        canvas, inside = world.copy(), np.zeros(world.shape[:2], np.float32)
        canvas[34:50, 30 + 3 * t : 42 + 3 * t] = square
        inside[34:50, 30 + 3 * t : 42 + 3 * t] = 1
        camera = np.array([[1, 0, 10 + PAN[0] * t], [0, 1, 10 + PAN[1] * t]], np.float32)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        clip[t] = cv2.warpAffine(canvas, camera, (width, height), flags=flags)
        truth[t] = cv2.warpAffine(inside, camera, (width, height), flags=flags) >= 0.5
    return clip, truth


@pytest.mark.parametrize("method", COMPENSATED)
def test_a_known_pan_is_recovered(method):
    clip, _ = _pan_clip()
    for t in (0, 3):
        h = motion.estimate(clip[t], clip[t + 1], method)
        # frame t at x = frame t+1 at x - PAN
        np.testing.assert_allclose(h[:2, 2], [-PAN[0], -PAN[1]], atol=0.2)
        np.testing.assert_allclose(h[:2, :2], np.eye(2), atol=0.02)
    np.testing.assert_array_equal(motion.estimate(clip[0], clip[1], "none"), np.eye(3))


def _pair_scores(clip: np.ndarray, truth: np.ndarray, method: str) -> tuple[float, float, float]:
    """Mean IoU over the tubelets of the top-k motion map and of the tubelet mask, and the clip mask's IoU
    (k = the truth's area)."""
    params = fame.FameParams(motion_comp=method)
    kernel = fame.blur_kernel_size(min(clip.shape[1:3]))
    tubelets = fame.fame_tubelet_masks(clip, params)
    motion_scores, tubelet_scores = [], []
    for j in range(len(clip) // 2):
        union = truth[2 * j] | truth[2 * j + 1]
        moving = fame.motion_map(fame.pair_difference(clip[2 * j], clip[2 * j + 1], method)[None], kernel)
        motion_scores.append(iou(fame.top_fraction_mask(moving, union.mean()), union))
        tubelet_scores.append(iou(fame.top_fraction_mask(tubelets[j], union.mean()), union))
    union = truth.any(axis=0)
    clip_score = iou(fame.top_fraction_mask(fame.fame_soft_mask(clip, params), union.mean()), union)
    return float(np.mean(motion_scores)), float(np.mean(tubelet_scores)), clip_score


def test_compensation_puts_the_square_back_in_the_foreground():
    clip, truth = _pan_clip()
    plain = _pair_scores(clip, truth, "none")
    # uncompensated, the panning background outweighs the square: FAME misses it entirely
    assert plain[0] < 0.2 and plain[1] < 0.05 and plain[2] < 0.05
    for method in COMPENSATED:
        moving, tubelet, whole = _pair_scores(clip, truth, method)
        assert moving > 0.45 and tubelet > 0.25 and whole > 0.35, (method, moving, tubelet, whole)


def test_the_uncovered_border_is_undefined_and_shows_no_motion():
    rng = np.random.default_rng(1)
    b = rng.uniform(0, 1, (10, 12, 3)).astype(np.float32)
    shift = np.array([[1, 0, 3], [0, 1, 0], [0, 0, 1]], np.float64)  # a(x) = b(x + 3)
    warped, defined = motion.warp_onto(b, shift)
    np.testing.assert_allclose(warped[:, :9], b[:, 3:], atol=1e-6)
    assert defined[:, :9].all() and not defined[:, 9:].any()
    a = np.zeros_like(b)
    a[:, :9] = b[:, 3:]
    a[:, 9:] = 0.5  # what the camera newly shows in a: unknown to b
    diff = fame.abs_channel_sum(warped, a)
    diff[~defined] = 0
    assert diff.max() < 1e-5  # the same computation pair_difference does once the transform is known


def test_a_still_camera_changes_little():
    clip, truth = _moving_square_clip()
    beta = truth.mean()
    plain = fame.fame_soft_mask(clip)
    for method in COMPENSATED:
        h = motion.estimate(clip[0], clip[1], method)
        compensated = fame.fame_soft_mask(clip, fame.FameParams(motion_comp=method))
        if method == "ecc":  # ECC fits all pixels, so the block drags it by ~0.4 px on this noise background
            np.testing.assert_allclose(h[:2, 2], [0, 0], atol=0.5)
            assert iou(fame.top_fraction_mask(compensated, beta), fame.top_fraction_mask(plain, beta)) > 0.9
        else:  # the corner methods see the still background (to a few hundredths of a pixel): nothing is warped
            assert motion.largest_shift(h, 64, 64) <= motion.NEGLIGIBLE_PX
            np.testing.assert_array_equal(compensated, plain)


def test_one_object_moving_on_a_flat_background_is_not_a_camera_motion():
    rng = np.random.default_rng(2)
    clip = np.full((2, 64, 80, 3), 0.5, np.float32)
    square = cv2.resize(rng.uniform(0, 1, (8, 8, 3)).astype(np.float32), (24, 24), interpolation=cv2.INTER_CUBIC)
    clip[0, 20:44, 20:44] = square
    clip[1, 20:44, 24:48] = square  # 4 px to the right: ~20 tracked corners, all moving together
    for method in ("similarity", "homography"):
        np.testing.assert_array_equal(motion.estimate(clip[0], clip[1], method), np.eye(3))


def test_largest_shift():
    shift = np.array([[1, 0, 3], [0, 1, 4], [0, 0, 1]], np.float64)
    assert motion.largest_shift(shift, 10, 20) == pytest.approx(5.0)
    rotation = cv2.getRotationMatrix2D((0, 0), -90, 1.0)  # about the top-left corner
    assert motion.largest_shift(np.vstack([rotation, [0, 0, 1]]), 10, 20) == pytest.approx(np.hypot(19, 9) * 2**0.5)


def test_flat_frames_fall_back_to_no_compensation():
    flat = np.full((2, 32, 40, 3), 0.4, np.float32)
    for method in COMPENSATED:
        np.testing.assert_array_equal(motion.estimate(flat[0], flat[1], method), np.eye(3))
        assert fame.pair_difference(flat[0], flat[1], method).max() == 0


def test_an_unknown_method_is_refused():
    with pytest.raises(ValueError, match="must be one of none, ecc, similarity, homography"):
        fame.FameParams(motion_comp="flow")


def test_a_warp_that_does_not_lower_the_difference_is_not_applied(monkeypatch):
    clip, _ = _pan_clip()
    still = clip[0]
    half_pixel = np.array([[1, 0, 0.5], [0, 1, 0], [0, 0, 1]], np.float64)
    monkeypatch.setattr(motion, "estimate", lambda a, b, method: half_pixel)  # a spurious estimate
    aligned, defined = motion.aligned_pair(still, still, "similarity")
    assert aligned is still and defined is None  # resampling would only blur the texture into "motion"
    true_pan = np.array([[1, 0, -PAN[0]], [0, 1, -PAN[1]], [0, 0, 1]], np.float64)
    monkeypatch.setattr(motion, "estimate", lambda a, b, method: true_pan)
    aligned, defined = motion.aligned_pair(clip[0], clip[1], "similarity")
    assert defined is not None and not defined.all() and defined.mean() > 0.9
