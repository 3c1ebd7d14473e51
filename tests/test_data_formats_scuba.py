"""SCUBA rawframe folders and lists -> one toolkit list per background source; frames read back."""

from __future__ import annotations

from pathlib import Path

from conftest import decode_index
from formats_fixtures import index_frames, run_cli, write_frames

from devias_tk.data.formats import scuba
from devias_tk.data.lists import VideoEntry, read_class_names, read_list
from devias_tk.data.video import Video

VIDEOS = ["ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01", "Archery/v_Archery_g01_c01"]


def make_scuba(root: Path) -> Path:
    for source, template in (("places365", "frame{:06d}.jpg"), ("vqgan", "{:06d}.jpg")):
        for v in VIDEOS:
            write_frames(root / source / v, index_frames(5), template)
        (root / source / "testlist01.txt").write_text("".join(f"{v} 5 {i}\n" for i, v in enumerate(VIDEOS)))
    # a source in another layout: frames under generated/, the list elsewhere
    write_frames(root / "generated/sinusoid" / VIDEOS[0], index_frames(4), "frame{:06d}.jpg")
    (root / "lists_src").mkdir()
    (root / "lists_src/sinusoid_test.txt").write_text(f"{VIDEOS[0]} 5 0\n{VIDEOS[1]} 5 1\n")
    (root / "ucf_actions.txt").write_text("0 ApplyEyeMakeup\n1 Archery\n")
    return root


def test_convert_read_and_check(tmp_path):
    root = make_scuba(tmp_path / "scuba")
    result = run_cli("data", "lists", "scuba", "--root", root, "--source", "places365", "--source", "vqgan",
                     "--source", f"sinusoid:generated/sinusoid:{root / 'lists_src/sinusoid_test.txt'}",
                     "--actions", root / "ucf_actions.txt")
    assert result.exit_code == 0, result.output
    assert read_list(root / "lists/scuba-places365.txt") == [
        VideoEntry(f"places365/{VIDEOS[0]}", 0, -1), VideoEntry(f"places365/{VIDEOS[1]}", 1, -1)]
    assert read_list(root / "lists/scuba-sinusoid.txt") == [VideoEntry(f"generated/sinusoid/{VIDEOS[0]}", 0, -1)]
    assert (root / "lists/missing/scuba-sinusoid.txt").read_text() == (
        f"sinusoid_test.txt:2: generated/sinusoid/{VIDEOS[1]}\n")
    assert "scuba-sinusoid: 1 frame folders hold another frame count than listed" in result.output
    assert read_class_names(root / "actions.txt") == ["ApplyEyeMakeup", "Archery"]
    for source in ("places365", "vqgan"):
        video = Video(root / source / VIDEOS[1])
        assert len(video) == 5 and [decode_index(f) for f in video.frames([4, 0, 2])] == [4, 0, 2]
    check = run_cli("data", "check", "--root", root, "--list", root / "lists/scuba-vqgan.txt", "--decode", "-j", "1")
    assert check.exit_code == 0, check.output
    assert "2 entries, 2 videos open (5-5 frames); no problems" in check.output


def test_bad_lists_and_sources(tmp_path):
    root = make_scuba(tmp_path / "scuba")
    bad = root / "vqgan/testlist01.txt"
    bad.write_text(f"{VIDEOS[0]} 5 0\n{VIDEOS[1]} five 1\n")
    result = run_cli("data", "lists", "scuba", "--root", root, "--source", "vqgan")
    assert result.exit_code == 2 and f"{bad}:2: frame count 'five' is not an integer" in result.output
    bad.write_text(f"{VIDEOS[0]} 5 0\n{VIDEOS[1]} 5 2\n")
    result = run_cli("data", "lists", "scuba", "--root", root, "--source", "vqgan",
                     "--actions", root / "ucf_actions.txt")
    assert result.exit_code == 2 and f"{bad}:2: label 2 is outside 0..1" in result.output
    result = run_cli("data", "lists", "scuba", "--root", root, "--source", "a:b")
    assert result.exit_code == 2 and "use NAME or NAME:FRAMES_DIR:LIST_FILE" in result.output
    assert scuba.parse_source("vqgan", root, "x.txt") == scuba.Source("vqgan", "vqgan", root / "vqgan/x.txt")
