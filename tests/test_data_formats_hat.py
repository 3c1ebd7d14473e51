"""HAT: Scene-Only list, Action-Swap pickles -> lists + JSON descriptions; composites read back; `data check`."""

from __future__ import annotations

import collections
import pickle
from pathlib import Path

import numpy as np
import pytest
from formats_fixtures import index_frames, read_rgb, run_cli, write_frames, write_masks

from devias_tk.data.formats import hat
from devias_tk.data.lists import VideoEntry, read_class_names, read_list
from devias_tk.data.video import Video
from devias_tk.errors import DeviasError

H, W = 48, 64


def _box(rows: slice, cols: slice, n: int) -> np.ndarray:
    m = np.zeros((n, H, W), bool)
    m[:, rows, cols] = True
    return m


def make_hat(root: Path) -> Path:
    """The layout of HAT's release: ori/ seg/ inp/ per '<class>/<vid>', list.csv, labels.csv, pickles."""
    videos = {"archery/vidA": 8, "bending back/vidC": 6, "bowling/vidB": 4}
    rng = np.random.default_rng(0)
    for vid, n in videos.items():
        write_frames(root / "ori" / vid, index_frames(n))
        write_frames(root / "inp" / vid, rng.integers(0, 256, (n, H, W, 3), dtype=np.uint8))
    write_masks(root / "seg/archery/vidA", _box(slice(10, 20), slice(4, 12), 8))  # centre (14.5, 7.5)
    write_masks(root / "seg/bending back/vidC", _box(slice(0, 10), slice(0, 10), 6))
    write_masks(root / "seg/bowling/vidB", _box(slice(20, 30), slice(30, 39), 4))  # centre (24.5, 34.0)
    (root / "list.csv").write_text("archery/vidA 8 0\nbending back/vidC 6 1\nbowling/vidB 4 2\n")
    (root / "labels.csv").write_text("idx,classname\n0,archery\n1,bending back\n2,bowling\n")
    swaps = {"archery/vidA": ["bowling/vidB", 4, 2], "bending back/vidC": ["archery/vidA", 8, 0],
             "bowling/vidB": ["bowling/vidZ", 5, 2]}  # vidZ has no folders
    (root / "actionswap_rand_1.pickle").write_bytes(pickle.dumps(swaps))
    (root / "actionswap_far_2.pickle").write_bytes(pickle.dumps({"archery/vidA": ["bending back/vidC", 6, 1]}))
    return root


def test_convert_read_and_check(tmp_path):
    root = make_hat(tmp_path / "hat")
    result = run_cli("data", "lists", "hat", "--root", root)
    assert result.exit_code == 0, result.output
    assert read_class_names(root / "actions.txt") == ["archery", "bending back", "bowling"]
    assert read_list(root / "lists/hat-scene-only.txt") == [
        VideoEntry("inp/archery/vidA"), VideoEntry("inp/bending back/vidC"), VideoEntry("inp/bowling/vidB")]
    rand = read_list(root / "lists/hat-rand-1.txt")
    assert rand == [VideoEntry("hat_swaps/hat-rand-1/archery/vidA.json", 0, -1),
                    VideoEntry("hat_swaps/hat-rand-1/bending back/vidC.json", 1, -1)]
    assert read_list(root / "lists/hat-far-2.txt") == [VideoEntry("hat_swaps/hat-far-2/archery/vidA.json", 0, -1)]
    assert (root / "lists/missing/hat-rand-1.txt").read_text() == (
        "actionswap_rand_1.pickle['bowling/vidB'] (bg, bg_masks missing): hat_swaps/hat-rand-1/bowling/vidB.json\n")
    assert not (root / "hat_swaps/hat-rand-1/bowling/vidB.json").exists()  # left out: no description
    # The composite: person of archery/vidA (frame 0) on bowling/vidB's inpainted frame 0, shifted by
    # (int(24.5 - 14.5), int(34.0 - 7.5)) = (10, 26).
    video = Video(root / rand[0].path)
    assert (len(video), video.info.height, video.info.width) == (8, H, W)
    got = video.frames([0, 7])
    expected = read_rgb(root / "inp/bowling/vidB/000001.jpg").copy()
    person = read_rgb(root / "ori/archery/vidA/000001.jpg")
    expected[20:30, 30:38] = person[10:20, 4:12]
    np.testing.assert_array_equal(got[0], expected)
    np.testing.assert_array_equal(got[1][20:30, 30:38], read_rgb(root / "ori/archery/vidA/000008.jpg")[10:20, 4:12])
    np.testing.assert_array_equal(got[1][:10], read_rgb(root / "inp/bowling/vidB/000004.jpg")[:10])  # j(7) = 3
    # scene-only entries are the inpainted frame folders
    assert len(Video(root / "inp/bending back/vidC")) == 6
    for name in ("hat-rand-1", "hat-scene-only"):
        check = run_cli("data", "check", "--root", root, "--list", root / f"lists/{name}.txt", "--decode", "-j", "1")
        assert check.exit_code == 0, check.output


def test_labels_and_pickles_are_validated(tmp_path):
    assert hat.parse_labels("1,a\n2,b\n", "l.csv") == (["a", "b"], 1)
    with pytest.raises(DeviasError, match=r"l\.csv:2: expected '<idx>,<classname>'"):
        hat.parse_labels("0,a\n1\n", "l.csv")
    with pytest.raises(DeviasError, match="from 0 \\(or 1\\) without gaps"):
        hat.parse_labels("0,a\n2,b\n", "l.csv")
    with pytest.raises(DeviasError, match="entry 'archery/vidA': expected"):
        hat.parse_swaps({"archery/vidA": "bowling/vidB"}, "s.pickle")
    evil = tmp_path / "actionswap_rand_3.pickle"
    evil.write_bytes(pickle.dumps(collections.OrderedDict(a=1)))
    with pytest.raises(DeviasError, match=r"refusing to load collections\.OrderedDict"):
        hat.load_swaps(evil)
    assert hat.swap_list_name(Path("actionswap_close_3.pickle")) == "hat-close-3"
    root = make_hat(tmp_path / "hat")
    (root / "list.csv").write_text("archery/vidA 8 0\nbowling/vidB 4 7\n")
    result = run_cli("data", "lists", "hat", "--root", root)
    assert result.exit_code == 2 and f"{root / 'list.csv'}:2: label 7 is not a class of labels.csv" in result.output


def test_existing_class_file_of_another_dataset_is_not_overwritten(tmp_path):
    root = make_hat(tmp_path / "hat")
    (root / "actions.txt").write_text("0 ApplyEyeMakeup\n")
    result = run_cli("data", "lists", "hat", "--root", root)
    assert result.exit_code == 2 and "actions.txt exists with other class names" in result.output
    assert not (root / "lists").exists()


def test_output_outside_the_dataset_root(tmp_path):
    root = make_hat(tmp_path / "hat")
    out = tmp_path / "work"
    result = run_cli("data", "lists", "hat", "--root", root, "--out", out, "--swaps", root / "actionswap_far_2.pickle")
    assert result.exit_code == 0, result.output
    entry = read_list(out / "lists/hat-far-2.txt")[0]
    assert entry.path == "../work/hat_swaps/hat-far-2/archery/vidA.json"
    assert len(Video(root / entry.path)) == 8 and (out / "actions.txt").is_file() and not (root / "lists").exists()
