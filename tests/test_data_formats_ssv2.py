"""Something-Something v2 JSONs (labels, train / validation with templates, test ids) and <id>.webm videos ->
toolkit lists, `--first-classes`, then `data check` decodes what was listed."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from formats_fixtures import index_frames, run_cli, write_frames

from devias_tk.data.formats import ssv2
from devias_tk.data.lists import VideoEntry, read_class_names, read_list

VIDEOS = "20bn-something-something-v2"
LABELS = {"Approaching something with your camera": "0", "Putting something on a surface": "1",
          "Pushing something from left to right": "2"}


def write_webm(path: Path, num_frames: int = 6) -> None:
    """A real VP8 WebM (as SSv2 ships), frames spelling their index."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"VP80"), 12.0, (64, 48))
    assert writer.isOpened()
    for frame in index_frames(num_frames):
        writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
    writer.release()


def entry(vid: str, template: str, label: str) -> dict:
    return {"id": vid, "label": label, "template": template, "placeholders": [label.split()[1]]}


def make_ssv2(root: Path) -> Path:
    ann = root / "labels"
    ann.mkdir(parents=True)
    (ann / "something-something-v2-labels.json").write_text(json.dumps(LABELS, indent=1))
    (ann / "something-something-v2-train.json").write_text(json.dumps([
        entry("78687", "Putting [something] on a surface", "putting cup on a surface"),
        entry("42326", "Pushing [something] from left to right", "pushing pen from left to right"),
        entry("100", "Approaching [something] with your camera", "approaching door with your camera"),
        entry("555", "Putting [something] on a surface", "putting box on a surface"),  # no video on disk
    ]))
    (ann / "something-something-v2-validation.json").write_text(json.dumps([
        entry("24", "Pushing [something] from left to right", "pushing car from left to right")]))
    (ann / "something-something-v2-test.json").write_text(json.dumps([{"id": "7"}]))
    for vid in ("78687", "100", "24", "7"):
        write_webm(root / VIDEOS / f"{vid}.webm")
    write_frames(root / VIDEOS / "42326", index_frames(5))  # extracted frames instead of the .webm
    return ann


def test_lists_from_the_json_files(tmp_path):
    root = tmp_path / "ssv2"
    ann = make_ssv2(root)
    jsons = [ann / f"something-something-v2-{s}.json" for s in ("train", "validation", "test")]
    result = run_cli("data", "lists", "ssv2", "--root", root, "--labels", ann / "something-something-v2-labels.json",
                     *(a for j in jsons for a in ("--json", j)))
    assert result.exit_code == 0, result.output
    assert "Example" in run_cli("data", "lists", "ssv2", "--help").output
    assert read_class_names(root / "actions.txt") == list(LABELS)
    assert read_list(root / "lists/train.txt") == [
        VideoEntry(f"{VIDEOS}/78687.webm", 1, -1), VideoEntry(f"{VIDEOS}/42326", 2, -1),
        VideoEntry(f"{VIDEOS}/100.webm", 0, -1)]
    assert read_list(root / "lists/validation.txt") == [VideoEntry(f"{VIDEOS}/24.webm", 2, -1)]
    assert read_list(root / "lists/test.txt") == [VideoEntry(f"{VIDEOS}/7.webm", -1, -1)]
    assert (root / "lists/missing/train.txt").read_text() == \
        f"something-something-v2-train.json entry 4: {VIDEOS}/555.webm\n"
    check = run_cli("data", "check", "--root", root, "--list", root / "lists/train.txt", "--decode", "-j", "1")
    assert check.exit_code == 0, check.output
    assert "3 entries, 3 videos open (5-6 frames); no problems" in check.output


def test_the_papers_first_classes(tmp_path):
    root = tmp_path / "ssv2"
    ann = make_ssv2(root)
    conv = ssv2.convert(root, ann / "something-something-v2-labels.json",
                        [ann / "something-something-v2-train.json", ann / "something-something-v2-validation.json"],
                        VIDEOS, first_classes=2)
    assert conv.actions == ["Approaching something with your camera", "Putting something on a surface"]
    assert [e.path for e in conv.lists["train"]] == [f"{VIDEOS}/78687.webm", f"{VIDEOS}/100.webm"]
    assert conv.lists["validation"] == []
    assert conv.notes == ["train: 1 videos of classes 2..2 left out (--first-classes 2)",
                          "validation: 1 videos of classes 2..2 left out (--first-classes 2)"]
    result = run_cli("data", "lists", "ssv2", "--root", root, "--labels", ann / "something-something-v2-labels.json",
                     "--json", ann / "something-something-v2-train.json", "--first-classes", "4")
    assert result.exit_code == 2 and "--first-classes 4: " in result.output and "has 3 classes" in result.output


def test_malformed_files_name_what_to_fix(tmp_path):
    root = tmp_path / "ssv2"
    ann = make_ssv2(root)
    labels, train = ann / "something-something-v2-labels.json", ann / "something-something-v2-train.json"
    train.write_text(json.dumps([entry("1", "Dropping [something]", "dropping pen")]))
    conv = run_cli("data", "lists", "ssv2", "--root", root, "--labels", labels, "--json", train)
    assert conv.exit_code == 2
    assert "entry 1 (id 1): template class 'Dropping something' is not in" in conv.output
    train.write_text(json.dumps([{"label": "x", "template": "Putting [something] on a surface"}]))
    conv = run_cli("data", "lists", "ssv2", "--root", root, "--labels", labels, "--json", train)
    assert conv.exit_code == 2 and "entry 1 lacks 'id'" in conv.output
    train.write_text('[{"id": "1",}]')
    conv = run_cli("data", "lists", "ssv2", "--root", root, "--labels", labels, "--json", train)
    assert conv.exit_code == 2 and "not valid JSON" in conv.output and "line 1 column" in conv.output
    labels.write_text(json.dumps({"a": "0", "b": "2"}))
    conv = run_cli("data", "lists", "ssv2", "--root", root, "--labels", labels, "--json", train)
    assert conv.exit_code == 2 and "class indices must be 0..1 without gaps" in conv.output
