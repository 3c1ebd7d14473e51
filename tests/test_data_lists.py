from pathlib import Path

import pytest

from devias_tk.data.lists import (
    VideoEntry,
    read_class_names,
    read_list,
    read_ucf101_class_index,
    read_ucf101_split,
    resolve,
    write_class_names,
    write_list,
)
from devias_tk.errors import DeviasError, ListFormatError


def test_round_trip_keeps_paths_with_spaces(tmp_path):
    entries = [VideoEntry("videos/a b/c d.mp4", 3, -1), VideoEntry("x.avi", 0, 7)]
    write_list(tmp_path / "l.txt", entries)
    assert read_list(tmp_path / "l.txt") == entries


def test_comments_and_blank_lines_are_skipped(tmp_path):
    (tmp_path / "l.txt").write_text("# header\n\nv.avi 1 2\n   \n")
    assert read_list(tmp_path / "l.txt") == [VideoEntry("v.avi", 1, 2)]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("only_a_path.avi", "expected '<path> <action> <scene>'"),
        ("v.avi 1", "expected '<path> <action> <scene>'"),
        ("v.avi one 2", "action index 'one' is not an integer"),
        ("v.avi 1 -2", "scene index -2 is below -1"),
    ],
)
def test_bad_line_is_reported_as_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.txt"
    path.write_text(f"good.avi 0 0\n{line}\n")
    with pytest.raises(ListFormatError) as err:
        read_list(path)
    assert str(err.value).startswith(f"{path}:2: ")
    assert message in str(err.value)
    assert err.value.line_no == 2


def test_missing_list_file_names_it(tmp_path):
    with pytest.raises(DeviasError, match=r"nope\.txt: list file not found"):
        read_list(tmp_path / "nope.txt")


def test_class_names_both_orders(tmp_path):
    write_class_names(tmp_path / "ours.txt", ["beach", "forest"])
    assert (tmp_path / "ours.txt").read_text() == "0 beach\n1 forest\n"
    assert read_class_names(tmp_path / "ours.txt") == ["beach", "forest"]
    (tmp_path / "places.txt").write_text("/b/beach 1\n/a/airfield 0")  # no trailing newline, like Places365
    assert read_class_names(tmp_path / "places.txt") == ["/a/airfield", "/b/beach"]


def test_class_names_with_gap_or_duplicate_fail(tmp_path):
    (tmp_path / "gap.txt").write_text("0 a\n2 b\n")
    with pytest.raises(DeviasError, match="without gaps"):
        read_class_names(tmp_path / "gap.txt")
    (tmp_path / "dup.txt").write_text("0 a\n0 b\n")
    with pytest.raises(ListFormatError, match=r"dup.txt:2: class index 0 appears twice"):
        read_class_names(tmp_path / "dup.txt")


def _ucf_files(tmp_path: Path) -> list[str]:
    (tmp_path / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 Archery\n")
    (tmp_path / "trainlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\nArchery/v_Archery_g09_c02.avi 2\n"
    )
    (tmp_path / "testlist01.txt").write_text("Archery/v_Archery_g01_c01.avi\n")
    return read_ucf101_class_index(tmp_path / "classInd.txt")


def test_ucf101_split_files(tmp_path):
    names = _ucf_files(tmp_path)
    assert names == ["ApplyEyeMakeup", "Archery"]
    train = read_ucf101_split(tmp_path / "trainlist01.txt", names, prefix="videos/")
    assert train == [
        VideoEntry("videos/ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", 0, -1),
        VideoEntry("videos/Archery/v_Archery_g09_c02.avi", 1, -1),
    ]
    test = read_ucf101_split(tmp_path / "testlist01.txt", names)
    assert test == [VideoEntry("Archery/v_Archery_g01_c01.avi", 1, -1)]


def test_ucf101_label_folder_mismatch_and_unknown_class(tmp_path):
    names = _ucf_files(tmp_path)
    (tmp_path / "bad.txt").write_text("Archery/v_Archery_g01_c01.avi 1\n")
    with pytest.raises(ListFormatError, match=r"bad.txt:1: label 1 disagrees with folder 'Archery'"):
        read_ucf101_split(tmp_path / "bad.txt", names)
    (tmp_path / "unknown.txt").write_text("Archery/a.avi 2\nBowling/v.avi 3\n")
    with pytest.raises(ListFormatError, match=r"unknown.txt:2: class folder of 'Bowling/v.avi'"):
        read_ucf101_split(tmp_path / "unknown.txt", names)


def test_resolve_relative_and_absolute(tmp_path):
    assert resolve(tmp_path, VideoEntry("a/b.avi")) == tmp_path / "a/b.avi"
    assert resolve(tmp_path, VideoEntry("/abs/c.avi")) == Path("/abs/c.avi")
