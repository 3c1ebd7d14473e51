"""UCF-101 split files -> toolkit lists, then `data check`."""

from __future__ import annotations

from pathlib import Path

import pytest
from formats_fixtures import index_frames, run_cli, write_clip, write_frames

from devias_tk.data.formats import ucf101
from devias_tk.data.lists import VideoEntry, read_class_names, read_list
from devias_tk.errors import DeviasError

CLASSES = ["ApplyEyeMakeup", "Archery", "Basketball"]


def make_ucf101(root: Path) -> Path:
    """The official layout: UCF-101/<Class>/v_*.avi and ucfTrainTestlist/ (CRLF line ends, as released)."""
    splits = root / "ucfTrainTestlist"
    splits.mkdir(parents=True)
    (splits / "classInd.txt").write_bytes("".join(f"{i} {c}\r\n" for i, c in enumerate(CLASSES, 1)).encode())
    train, test = [], []
    for i, c in enumerate(CLASSES, 1):
        for g, c_ in ((8, 1), (9, 2)):
            name = f"{c}/v_{c}_g{g:02d}_c{c_:02d}.avi"
            train.append(f"{name} {i}")
            if c != "Basketball" or g != 9:
                write_clip(root / "UCF-101" / name, 4)
        name = f"{c}/v_{c}_g01_c01.avi"
        test.append(name)
        if c == "Archery":  # extracted to frames instead of a video file
            write_frames(root / "UCF-101" / name.removesuffix(".avi"), index_frames(5))
        else:
            write_clip(root / "UCF-101" / name, 4)
    for n in (1, 2):
        (splits / f"trainlist0{n}.txt").write_bytes("".join(f"{t}\r\n" for t in train).encode())
        (splits / f"testlist0{n}.txt").write_bytes("".join(f"{t}\r\n" for t in test).encode())
    return root


def test_convert_and_check(tmp_path):
    root = make_ucf101(tmp_path / "ucf101")
    result = run_cli("data", "lists", "ucf101", "--root", root, "--split", "1", "--split", "2")
    assert result.exit_code == 0, result.output
    assert read_class_names(root / "actions.txt") == CLASSES
    train = read_list(root / "lists/trainlist01.txt")
    assert train[0] == VideoEntry("UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", 0, -1)
    assert len(train) == 5  # Basketball g09 is missing and left out
    assert "UCF-101/Basketball/v_Basketball_g09_c02.avi" not in {e.path for e in train}
    assert (root / "lists/missing/trainlist01.txt").read_text() == (
        "trainlist01.txt entry 6: UCF-101/Basketball/v_Basketball_g09_c02.avi\n")
    assert "missing (left out) trainlist01" in result.output
    test = read_list(root / "lists/testlist01.txt")
    assert [(e.path, e.action) for e in test] == [
        ("UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", 0),
        ("UCF-101/Archery/v_Archery_g01_c01", 1),  # the frame folder stands in for the .avi
        ("UCF-101/Basketball/v_Basketball_g01_c01.avi", 2),
    ]
    assert (root / "lists/testlist02.txt").is_file()
    check = run_cli("data", "check", "--root", root, "--list", root / "lists/testlist01.txt", "--decode", "-j", "1")
    assert check.exit_code == 0, check.output
    assert "3 entries, 3 videos open (4-5 frames); no problems" in check.output
    assert "ApplyEyeMakeup" in check.output  # per-class counts


def test_keep_missing_keeps_the_entry_and_check_fails(tmp_path):
    root = make_ucf101(tmp_path / "ucf101")
    conv = ucf101.convert(root, root / "ucfTrainTestlist", [1], "UCF-101", keep_missing=True)
    assert len(conv.lists["trainlist01"]) == 6 and len(conv.missing["trainlist01"]) == 1


def test_malformed_split_file_is_a_file_line_error(tmp_path):
    root = make_ucf101(tmp_path / "ucf101")
    bad = root / "ucfTrainTestlist/trainlist01.txt"
    bad.write_text("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\nArchery/v_Archery_g08_c01.avi 1\n")
    result = run_cli("data", "lists", "ucf101", "--root", root)
    assert result.exit_code == 2
    assert f"{bad}:2: label 1 disagrees with folder 'Archery' (class 2)" in result.output
    with pytest.raises(DeviasError, match="splits 1, 2 and 3"):
        ucf101.convert(root, root / "ucfTrainTestlist", [4])
