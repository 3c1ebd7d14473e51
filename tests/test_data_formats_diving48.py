"""Diving48 annotation JSONs (vid_name, label, start_frame, end_frame) and the vocabulary -> toolkit lists."""

from __future__ import annotations

import json
from pathlib import Path

from formats_fixtures import run_cli, write_clip

from devias_tk.data.formats import diving48
from devias_tk.data.lists import VideoEntry, read_class_names, read_list

VOCAB = [["Back", "15som", "05Twis", "FREE"], ["Forward", "25som", "NoTwis", "PIKE"],
         ["Inward", "35som", "NoTwis", "TUCK"]]


def dive(vid: str, label: int, start: int = 0, end: int = 90) -> dict:
    return {"vid_name": vid, "label": label, "start_frame": start, "end_frame": end}


def make_diving48(root: Path, vocab: bool = True) -> tuple[Path, Path]:
    root.mkdir(parents=True)
    if vocab:
        (root / "Diving48_vocab.json").write_text(json.dumps(VOCAB))
    train, test = root / "Diving48_V2_train.json", root / "Diving48_V2_test.json"
    train.write_text(json.dumps([dive("-mmq0PT-u8k_00155", 0, 0, 184), dive("_8Vy3dlHg2w_00000", 2),
                                 dive("missing_00001", 1)]))
    test.write_text(json.dumps([dive("Zz-9_00003", 1, 12, 80)]))
    for vid in ("-mmq0PT-u8k_00155", "_8Vy3dlHg2w_00000", "Zz-9_00003"):
        write_clip(root / "rgb" / f"{vid}.mp4", 5)
    return train, test


def test_lists_from_the_json_files(tmp_path):
    root = tmp_path / "diving48"
    train, test = make_diving48(root)
    result = run_cli("data", "lists", "diving48", "--root", root, "--json", train, "--json", test)
    assert result.exit_code == 0, result.output
    assert "Example" in run_cli("data", "lists", "diving48", "--help").output
    assert read_class_names(root / "actions.txt") == ["Back_15som_05Twis_FREE", "Forward_25som_NoTwis_PIKE",
                                                      "Inward_35som_NoTwis_TUCK"]
    assert read_list(root / "lists/train.txt") == [VideoEntry("rgb/-mmq0PT-u8k_00155.mp4", 0, -1),
                                                   VideoEntry("rgb/_8Vy3dlHg2w_00000.mp4", 2, -1)]
    assert read_list(root / "lists/test.txt") == [VideoEntry("rgb/Zz-9_00003.mp4", 1, -1)]
    assert (root / "lists/missing/train.txt").read_text() == "Diving48_V2_train.json entry 3: rgb/missing_00001.mp4\n"
    assert "test: 1 entries start after frame 0" in result.output
    check = run_cli("data", "check", "--root", root, "--list", root / "lists/train.txt", "--decode", "-j", "1")
    assert check.exit_code == 0, check.output
    assert "2 entries, 2 videos open (5-5 frames); no problems" in check.output


def test_without_a_vocabulary_and_bad_entries(tmp_path):
    root = tmp_path / "diving48"
    train, _ = make_diving48(root, vocab=False)
    conv = diving48.convert(root, [train])
    assert conv.actions == ["class_00", "class_01", "class_02"] and "no Diving48_vocab.json" in conv.notes[-1]
    small = tmp_path / "small_vocab.json"
    small.write_text(json.dumps(VOCAB[:2]))
    result = run_cli("data", "lists", "diving48", "--root", root, "--json", train, "--vocab", small)
    assert result.exit_code == 2 and "label 2 is beyond the 2 classes of" in result.output
    for bad, message in ((dive("a_1", 0, 50, 50), "entry 1 (a_1): label 0, frames 50..50"),
                         (dive("a_1", "3", 0, 9), "entry 1 (a_1): label '3' is not an integer"),
                         ({"vid_name": "a_1", "label": 0}, "entry 1 lacks 'start_frame', 'end_frame'")):
        train.write_text(json.dumps([bad]))
        result = run_cli("data", "lists", "diving48", "--root", root, "--json", train)
        assert result.exit_code == 2 and message in result.output, result.output
    assert diving48.list_name(Path("Diving48_train.json")) == "train" and diving48.list_name(Path("x.json")) == "x"
