"""Kinetics-400 CSVs and <id>_<start>_<end>.mp4 clips -> toolkit lists, then `data check`."""

from __future__ import annotations

from pathlib import Path

from formats_fixtures import index_frames, run_cli, write_clip, write_frames

from devias_tk.data.formats import kinetics400 as k4
from devias_tk.data.lists import VideoEntry, read_class_names, read_list


def make_kinetics(root: Path) -> Path:
    ann = root / "annotations"
    ann.mkdir(parents=True)
    (ann / "train.csv").write_text(
        "label,youtube_id,time_start,time_end,split,is_cc\n"
        "abseiling,-3B32lodo2M,59,69,train,0\n"
        '"air drumming",--nQbRBEz2s,104,114,train,0\n'
        "zumba,a_b-c_d_e_f,0,10,train,1\n"
        "zumba,Missing0000,5,15,train,0\n"
    )
    (ann / "val.csv").write_text("label,youtube_id,time_start,time_end,split\nabseiling,0wR5jVB-WPk,417,427,val\n")
    (ann / "test.csv").write_text("youtube_id,time_start,time_end,split\nzzzzzzzzzzz,1,11,test\n")
    # train clips in class folders (one class folder with a space, one with an underscore), val flat,
    # test as a frame folder named like the clip
    write_clip(root / "videos/train/abseiling/-3B32lodo2M_000059_000069.mp4", 4)
    write_clip(root / "videos/train/air drumming/--nQbRBEz2s_000104_000114.mp4", 4)
    write_clip(root / "videos/train/zumba_dance/a_b-c_d_e_f_000000_000010.mp4", 4)
    write_clip(root / "videos/val/0wR5jVB-WPk_000417_000427.mp4", 4)
    write_frames(root / "videos/test/zzzzzzzzzzz_000001_000011", index_frames(3))
    return root


def test_parse_csv_by_header_and_without_one():
    rows = k4.parse_csv("label,youtube_id,time_start,time_end,split\nabseiling,abc,1,11,train\n", "t.csv")
    assert rows == [k4.KineticsRow(2, "abseiling", "abc", 1, 11, "train")] and rows[0].stem == "abc_000001_000011"
    assert k4.parse_csv("abseiling,abc,1.0,11,val,0\n", "t.csv")[0].start == 1  # no header: the documented order


def test_convert_and_check(tmp_path):
    root = make_kinetics(tmp_path / "k400")
    ann = root / "annotations"
    result = run_cli("data", "lists", "kinetics400", "--root", root, "--videos", "videos",
                     "--csv", ann / "train.csv", "--csv", ann / "val.csv", "--csv", ann / "test.csv")
    assert result.exit_code == 0, result.output
    assert read_class_names(root / "actions.txt") == ["abseiling", "air drumming", "zumba"]
    assert read_list(root / "lists/train.txt") == [
        VideoEntry("videos/train/abseiling/-3B32lodo2M_000059_000069.mp4", 0, -1),
        VideoEntry("videos/train/air drumming/--nQbRBEz2s_000104_000114.mp4", 1, -1),
        VideoEntry("videos/train/zumba_dance/a_b-c_d_e_f_000000_000010.mp4", 2, -1),
    ]
    assert read_list(root / "lists/val.txt") == [VideoEntry("videos/val/0wR5jVB-WPk_000417_000427.mp4", 0, -1)]
    assert read_list(root / "lists/test.txt") == [VideoEntry("videos/test/zzzzzzzzzzz_000001_000011", -1, -1)]
    assert (root / "lists/missing/train.txt").read_text() == "train.csv:5: videos/Missing0000_000005_000015.mp4\n"
    assert not (root / "lists/missing/val.txt").exists()
    check = run_cli("data", "check", "--root", root, "--list", root / "lists/train.txt", "-j", "2")
    assert check.exit_code == 0, check.output
    assert "3 entries, 3 videos open (4-4 frames); no problems" in check.output


def test_malformed_rows_are_file_line_errors(tmp_path):
    root = make_kinetics(tmp_path / "k400")
    bad = root / "annotations/train.csv"
    bad.write_text("label,youtube_id,time_start,time_end,split\nabseiling,abc,1,11,train\nabseiling,abc,ten,20,train\n")
    result = run_cli("data", "lists", "kinetics400", "--root", root, "--csv", bad)
    assert result.exit_code == 2 and f"{bad}:3: time_start 'ten' is not an integer" in result.output
    bad.write_text("label,youtube_id,time_start,time_end,split\nabseiling,abc,1\n")
    result = run_cli("data", "lists", "kinetics400", "--root", root, "--csv", bad)
    assert result.exit_code == 2
    assert f"{bad}:2: expected columns label,youtube_id,time_start,time_end,split" in result.output


def test_a_class_list_fixes_the_indices_and_rejects_unknown_labels(tmp_path):
    root = make_kinetics(tmp_path / "k400")
    conv = k4.convert(root, [root / "annotations/val.csv"], "videos", ["aardvark", "abseiling"])
    assert conv.lists["val"][0].action == 1
    classes = tmp_path / "classes.txt"
    classes.write_text("0 abseiling\n")
    result = run_cli("data", "lists", "kinetics400", "--root", root, "--csv", root / "annotations/train.csv",
                     "--classes", classes)
    assert result.exit_code == 2 and "train.csv:3: label 'air drumming' is not in the class list" in result.output
