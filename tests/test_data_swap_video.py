"""HAT Action-Swap composites: the pure pieces on hand-computed cases, then Video(description)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from formats_fixtures import index_frames, read_rgb, write_frames, write_masks

from devias_tk.data import swap_video as sv
from devias_tk.data.video import Video
from devias_tk.errors import VideoReadError

H, W = 48, 64
N_FG, N_BG = 8, 4


def test_background_index_keeps_the_relative_position():
    # round(i * 4 / 8), numpy rounds halves to even; the last one is clipped to N_BG - 1.
    assert sv.background_index(np.arange(8), 8, 4).tolist() == [0, 0, 1, 2, 2, 2, 3, 3]
    assert sv.background_index(np.array([0, 1, 2]), 3, 300).tolist() == [0, 100, 200]


def test_resized_size_matches_the_short_sides():
    assert sv.resized_size((240, 320), (480, 640)) == (240, 320)
    assert sv.resized_size((240, 320), (360, 480)) == (240, 320)
    assert sv.resized_size((256, 340), (240, 427)) == (256, 455)  # 427 * 256 / 240 = 455.47


def test_mask_centre_and_alignment_shift():
    fg = np.zeros((10, 20), bool)
    fg[2:5, 3:5] = True  # rows 2..4 -> 3.0, cols 3..4 -> 3.5
    bg = np.zeros((10, 20), bool)
    bg[6, 10] = True
    assert sv.mask_centre(fg) == (3.0, 3.5)
    assert sv.alignment_shift(fg, bg) == (3, 6)  # (6 - 3, 10 - 3.5 = 6.5 -> 6)
    assert sv.alignment_shift(bg, fg) == (-3, -6)  # truncated toward zero, as int() does
    assert sv.mask_centre(np.zeros((10, 20), bool)) == (5.0, 10.0)  # empty: the image centre


def test_paste_moves_person_pixels_and_clips_at_the_border():
    background = np.zeros((4, 5, 3), np.uint8)
    person = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3) + 1
    mask = np.zeros((4, 5), bool)
    mask[0, 0] = mask[1, 1] = mask[3, 4] = True
    out = sv.paste(background, person, mask, (1, 3))
    expected = np.zeros_like(background)
    expected[1, 3] = person[0, 0]
    expected[2, 4] = person[1, 1]  # (3, 4) + (1, 3) is outside and dropped
    np.testing.assert_array_equal(out, expected)
    assert not background.any()  # the input is not modified
    np.testing.assert_array_equal(sv.paste(background, person, mask, (10, 0)), background)


def _fg_mask(i: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[10:20, 4 + i : 12 + i] = True  # centre (14.5, 7.5 + i): the person walks right
    return m


def _bg_mask() -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[20:30, 30:39] = True  # centre (24.5, 34.0)
    return m


def make_hat(root: Path, bg_size: tuple[int, int] = (H, W)) -> Path:
    """ori/seg/inp folders of one foreground and one background video, and its swap description."""
    write_frames(root / "ori/archery/vidA", index_frames(N_FG))
    write_masks(root / "seg/archery/vidA", np.stack([_fg_mask(i) for i in range(N_FG)]))
    noise = np.random.default_rng(0).integers(0, 256, (N_BG, *bg_size, 3), dtype=np.uint8)
    write_frames(root / "inp/bowling/vidB", noise)
    bg_mask = cv2.resize(_bg_mask().astype(np.uint8), bg_size[::-1], interpolation=cv2.INTER_NEAREST) > 0
    write_masks(root / "seg/bowling/vidB", np.stack([bg_mask] * N_BG))
    path = root / "hat_swaps/hat-rand-1/archery/vidA.json"
    spec = sv.describe(path, root / "ori/archery/vidA", root / "seg/archery/vidA", root / "inp/bowling/vidB",
                       root / "seg/bowling/vidB", N_BG, 31, "actionswap_rand_1.pickle", "archery/vidA")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(spec))
    return path


def test_description_paths_are_relative_to_the_json(tmp_path):
    spec = json.loads(make_hat(tmp_path).read_text())
    assert spec["format"] == "hat-action-swap" and spec["version"] == 1
    assert spec["foreground"] == {"frames": "../../../ori/archery/vidA", "masks": "../../../seg/archery/vidA"}
    assert spec["background"]["frames"] == "../../../inp/bowling/vidB" and spec["background"]["label"] == 31


def test_composite_pastes_the_person_aligned_on_the_first_requested_frame(tmp_path):
    video = Video(make_hat(tmp_path))
    assert (video.info.num_frames, video.info.height, video.info.width) == (N_FG, H, W)
    idx = [3, 0, 7, 7]
    got = video.frames(idx)
    # First requested frame 3: person centre (14.5, 10.5), background person centre (24.5, 34.0)
    # -> shift (10, int(23.5) = 23), used for every frame of this request.
    shift = (10, 23)
    bg_of = {3: 2, 0: 0, 7: 3}  # round(i * 4 / 8), halves to even, clipped
    for k, i in enumerate(idx):
        background = read_rgb(tmp_path / f"inp/bowling/vidB/{bg_of[i] + 1:06d}.jpg")
        person = read_rgb(tmp_path / f"ori/archery/vidA/{i + 1:06d}.jpg")
        expected = background.copy()
        ys, xs = np.nonzero(_fg_mask(i))
        expected[ys + shift[0], xs + shift[1]] = person[ys, xs]
        np.testing.assert_array_equal(got[k], expected)
    # A request starting at frame 0 aligns on frame 0 instead: (10, int(34.0 - 7.5) = 26).
    frame0 = video.frames([0])[0]
    ys, xs = np.nonzero(_fg_mask(0))
    np.testing.assert_array_equal(frame0[ys + 10, xs + 26], read_rgb(tmp_path / "ori/archery/vidA/000001.jpg")[ys, xs])


def test_a_larger_background_is_resized_to_the_foreground_short_side(tmp_path):
    video = Video(make_hat(tmp_path, bg_size=(96, 128)))
    assert (video.info.height, video.info.width) == (H, W)
    frame = video.frames([0])[0]
    background = cv2.resize(read_rgb(tmp_path / "inp/bowling/vidB/000001.jpg"), (W, H), interpolation=cv2.INTER_LINEAR)
    outside = np.ones((H, W), bool)
    ys, xs = np.nonzero(_fg_mask(0))
    outside[ys + 10, xs + 26] = False
    np.testing.assert_array_equal(frame[outside], background[outside])


def _reason(path: Path) -> str:
    with pytest.raises(VideoReadError) as err:
        Video(path)
    assert err.value.path == str(path)
    return err.value.reason


def test_broken_descriptions_give_short_reasons(tmp_path):
    path = make_hat(tmp_path)
    (tmp_path / "seg/archery/vidA/000008.png").unlink()
    assert _reason(path) == "foreground masks: 7 frames, the foreground has 8"
    write_masks(tmp_path / "seg/archery/vidA", np.stack([_fg_mask(i) for i in range(N_FG)]))
    (tmp_path / "inp/bowling/vidB").rename(tmp_path / "inp/bowling/moved")
    assert _reason(path) == "background frames: folder not found"
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert _reason(bad) == "not a valid JSON video description (JSONDecodeError)"
    bad.write_text(json.dumps({"format": "something-else"}))
    assert _reason(bad) == "unknown video description format 'something-else' (expected 'hat-action-swap')"
    bad.write_text(json.dumps({"format": "hat-action-swap", "version": 1, "foreground": {}}))
    assert _reason(bad) == "swap description lacks foreground/background frames or masks"
