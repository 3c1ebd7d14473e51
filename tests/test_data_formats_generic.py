"""VideoMAE / mmaction2 '<path> <label>' lists (and mmaction2 rawframe lists) -> toolkit lists."""

from __future__ import annotations

from formats_fixtures import index_frames, run_cli, write_clip, write_frames

from devias_tk.data.formats import generic
from devias_tk.data.lists import VideoEntry, read_class_names, read_list


def test_path_label_lists(tmp_path):
    root = tmp_path / "k400"
    write_clip(root / "videos_train/air drumming/abc_000001_000011.mp4", 4)
    write_clip(root / "videos_train/zumba/def_000002_000012.mp4", 4)
    src = tmp_path / "train.csv"  # VideoMAE names its lists .csv but separates by a space
    src.write_text("air drumming/abc_000001_000011.mp4 0\nzumba/def_000002_000012.mp4 1\nzumba/gone.mp4 1\n")
    names = tmp_path / "names.txt"
    names.write_text("0 air drumming\n1 zumba\n")
    result = run_cli("data", "lists", "generic", src, "--root", root, "--prefix", "videos_train", "--actions", names)
    assert result.exit_code == 0, result.output
    assert read_list(root / "lists/train.txt") == [
        VideoEntry("videos_train/air drumming/abc_000001_000011.mp4", 0, -1),
        VideoEntry("videos_train/zumba/def_000002_000012.mp4", 1, -1)]
    assert (root / "lists/missing/train.txt").read_text() == "train.csv:3: videos_train/zumba/gone.mp4\n"
    assert read_class_names(root / "actions.txt") == ["air drumming", "zumba"]
    check = run_cli("data", "check", "--root", root, "--list", root / "lists/train.txt", "-j", "1")
    assert check.exit_code == 0, check.output


def test_rawframe_lists_and_label_base(tmp_path):
    root = tmp_path / "ds"
    write_frames(root / "rawframes/Walk/v_1", index_frames(3), "img_{:05d}.jpg")
    src = tmp_path / "val_rawframes.txt"
    src.write_text("Walk/v_1 3 1\n")
    conv = generic.convert(root, [src], "rawframes", label_base=1, rawframes=True)
    assert conv.lists["val_rawframes"] == [VideoEntry("rawframes/Walk/v_1", 0, -1)]


def test_malformed_lines(tmp_path):
    src = tmp_path / "l.txt"
    src.write_text("a.mp4 0\nb.mp4\n")
    result = run_cli("data", "lists", "generic", src, "--root", tmp_path)
    assert result.exit_code == 2 and f"{src}:2: expected '<path> <label>', got 'b.mp4'" in result.output
    src.write_text("a.mp4 0\nb.mp4 x\n")
    result = run_cli("data", "lists", "generic", src, "--root", tmp_path)
    assert result.exit_code == 2 and f"{src}:2: label 'x' is not an integer" in result.output
    src.write_text("a.mp4 0\n")
    result = run_cli("data", "lists", "generic", src, "--root", tmp_path, "--label-base", "1")
    assert result.exit_code == 2 and f"{src}:1: label 0 is below 1" in result.output
