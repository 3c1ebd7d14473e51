"""`data check`: missing, unreadable, undecodable, out-of-range and duplicate entries; counts; exit status."""

from __future__ import annotations

import json

from formats_fixtures import index_frames, run_cli, write_clip, write_frames

from devias_tk.data.check import check_list


def make_dataset(root):
    write_clip(root / "videos/a.avi", 5)
    write_clip(root / "videos/b.mp4", 5)
    write_frames(root / "frames/c", index_frames(6))
    bad = write_frames(root / "frames/d", index_frames(6))
    (bad / "000004.jpg").write_bytes(b"\xff\xd8 garbage")  # opens (first frame fine), fails to decode
    (root / "videos/text.avi").write_text("not a video\n" * 10)
    (root / "actions.txt").write_text("0 walk\n1 run\n")
    (root / "scenes.txt").write_text("0 beach\n")
    (root / "lists").mkdir()
    return root


def test_a_clean_list_passes_and_counts_classes(tmp_path):
    root = make_dataset(tmp_path)
    (root / "lists/ok.txt").write_text("videos/a.avi 0 0\nvideos/b.mp4 1 -1\nframes/c 1 0\n")
    result = run_cli("data", "check", "--root", root, "--list", root / "lists/ok.txt", "-j", "2",
                     "--json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    assert "3 entries, 3 videos open (5-6 frames); no problems" in result.output
    report = json.loads((tmp_path / "r.json").read_text())[0]
    assert report["ok"] and report["actions"] == {"classes": 2, "counts": {"0": 1, "1": 2}, "empty_classes": []}
    assert report["scenes"]["counts"] == {"-1": 1, "0": 2} and report["frames"] == {"min": 5, "max": 6}


def test_every_kind_of_problem_is_reported(tmp_path):
    root = make_dataset(tmp_path)
    (root / "lists/bad.txt").write_text(
        "videos/a.avi 0 0\nvideos/missing.avi 0 0\nvideos/text.avi 1 0\nframes/d 1 0\nframes/c 2 0\n"
        "frames/c 1 3\n"
    )
    plain = run_cli("data", "check", "--root", root, "--list", root / "lists/bad.txt", "-j", "1")
    assert plain.exit_code == 1
    assert "undecodable" not in plain.output  # without --decode only the first frame is read
    result = run_cli("data", "check", "--root", root, "--list", root / "lists/bad.txt", "-j", "2", "--decode",
                     "--json", tmp_path / "r.json")
    assert result.exit_code == 1
    for line in ("missing videos/missing.avi: file not found",
                 "unreadable videos/text.avi: not a decodable video",
                 "undecodable frames/d: unreadable frame: 000004.jpg",
                 "label frames/c: action 2 >= 2 classes",
                 "label frames/c: scene 3 >= 1 classes",
                 "duplicate frames/c: listed 2 times"):
        assert line in result.output, line
    kinds = [p["kind"] for p in json.loads((tmp_path / "r.json").read_text())[0]["problems"]]
    assert kinds == ["missing", "unreadable", "undecodable", "label", "label", "duplicate"]


def test_without_class_files_labels_are_only_counted(tmp_path):
    root = make_dataset(tmp_path)
    (root / "actions.txt").unlink()
    (root / "scenes.txt").unlink()
    (root / "lists/x.txt").write_text("videos/a.avi 7 0\n")
    report = check_list(root, root / "lists/x.txt")
    assert report.problems == [] and report.actions is None and report.counts("action") == {7: 1}


def test_a_malformed_list_is_a_usage_error(tmp_path):
    (tmp_path / "l.txt").write_text("a.avi 0 0\nb.avi zero 0\n")
    result = run_cli("data", "check", "--root", tmp_path, "--list", tmp_path / "l.txt")
    assert result.exit_code == 2 and f"{tmp_path / 'l.txt'}:2: action index 'zero' is not an integer" in result.output
