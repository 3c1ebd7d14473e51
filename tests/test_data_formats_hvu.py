"""HVU: the paper's subset lists and the official CSV + tag categories -> toolkit lists, then `data check`."""

from __future__ import annotations

from pathlib import Path

from formats_fixtures import run_cli, write_clip

from devias_tk.data.formats import hvu
from devias_tk.data.lists import VideoEntry, read_class_names, read_list


def make_hvu(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "HVU_Tags_Categories_V1.0.csv").write_text(
        "Tag,Category\nabseiling,action\nbeach,scene\nperson,object\nrock climbing,action\nmountain,Scene\n"
        "forest,scene\nsunny,attribute\n"
    )
    (root / "HVU_Train_V1.0.csv").write_text(
        "Tags,youtube_id,time_start,time_end\n"
        "abseiling|person|mountain,AAAAAAAAAAA,0,10\n"
        "rock climbing|forest|person|sunny,BBBBBBBBBBB,5,15\n"
        "person|beach,CCCCCCCCCCC,0,10\n"
        "abseiling|rock climbing|beach,DDDDDDDDDDD,0,10\n"
        "abseiling|beach|not a known tag,EEEEEEEEEEE,0,10\n"
    )
    for stem in ("AAAAAAAAAAA_000000_000010", "BBBBBBBBBBB_000005_000015", "DDDDDDDDDDD_000000_000010"):
        write_clip(root / "videos/train" / f"{stem}.mp4", 4)
    return root


def test_official_csv_with_categories(tmp_path):
    root = make_hvu(tmp_path / "hvu")
    result = run_cli("data", "lists", "hvu", "--root", root, "--videos", "videos", "--csv", root / "HVU_Train_V1.0.csv",
                     "--categories", root / "HVU_Tags_Categories_V1.0.csv")
    assert result.exit_code == 0, result.output
    assert read_class_names(root / "actions.txt") == ["abseiling", "rock climbing"]
    assert read_class_names(root / "scenes.txt") == ["beach", "mountain", "forest"]  # the category file's order
    assert read_list(root / "lists/HVU_Train_V1.0.txt") == [
        VideoEntry("videos/train/AAAAAAAAAAA_000000_000010.mp4", 0, 1),
        VideoEntry("videos/train/BBBBBBBBBBB_000005_000015.mp4", 1, 2),
    ]
    assert "HVU_Train_V1.0.csv: 1 clips left out (no action tag)" in result.output
    assert "HVU_Train_V1.0.csv: 1 clips left out (several action tags)" in result.output
    assert (root / "lists/missing/HVU_Train_V1.0.txt").read_text() == (
        "HVU_Train_V1.0.csv:6: videos/EEEEEEEEEEE_000000_000010.mp4\n")
    check = run_cli("data", "check", "--root", root, "--list", root / "lists/HVU_Train_V1.0.txt", "-j", "1")
    assert check.exit_code == 0, check.output


def test_subset_lists(tmp_path):
    root = make_hvu(tmp_path / "hvu")
    subset = root / "hvu_subset_train.txt"
    subset.write_text("AAAAAAAAAAA_000000_000010.mp4 12 34\ntrain/BBBBBBBBBBB_000005_000015.mp4 738 247\n"
                      "BBBBBBBBBBB_000005_000015 0 -1\n")
    conv = hvu.convert_subset(root, [subset], "videos")
    assert conv.actions is None and conv.missing == {}
    assert conv.lists["hvu_subset_train"] == [
        VideoEntry("videos/train/AAAAAAAAAAA_000000_000010.mp4", 12, 34),  # found by name
        VideoEntry("videos/train/BBBBBBBBBBB_000005_000015.mp4", 738, 247),  # found by path
        VideoEntry("videos/train/BBBBBBBBBBB_000005_000015.mp4", 0, -1),  # clip name without extension
    ]
    result = run_cli("data", "lists", "hvu", "--root", root, "--videos", "videos", "--subset", subset)
    assert result.exit_code == 0, result.output
    assert len(read_list(root / "lists/hvu_subset_train.txt")) == 3 and not (root / "actions.txt").exists()
    # the duplicate path is what `data check` reports; with class files the labels are checked too
    check = run_cli("data", "check", "--root", root, "--list", root / "lists/hvu_subset_train.txt", "-j", "1")
    assert check.exit_code == 1
    assert "duplicate videos/train/BBBBBBBBBBB_000005_000015.mp4: listed 2 times" in check.output


def test_subset_errors_name_file_and_line(tmp_path):
    root = make_hvu(tmp_path / "hvu")
    subset = root / "bad.txt"
    subset.write_text("AAAAAAAAAAA_000000_000010.mp4 12 34\nBBBBBBBBBBB_000005_000015.mp4 739 0\n")
    result = run_cli("data", "lists", "hvu", "--root", root, "--subset", subset)
    assert result.exit_code == 2 and f"{subset}:2: action index 739 is outside 0..738 (or -1)" in result.output
    subset.write_text("AAAAAAAAAAA_000000_000010.mp4 12\n")
    result = run_cli("data", "lists", "hvu", "--root", root, "--subset", subset)
    assert result.exit_code == 2 and f"{subset}:1: expected '<clip> <action> <scene>'" in result.output
    bad_csv = root / "HVU_Val_V1.0.csv"
    bad_csv.write_text("Tags,youtube_id,time_start,time_end\nabseiling|beach,AAAAAAAAAAA,0\n")
    result = run_cli("data", "lists", "hvu", "--root", root, "--csv", bad_csv, "--categories",
                     root / "HVU_Tags_Categories_V1.0.csv")
    assert result.exit_code == 2 and f"{bad_csv}:2: expected 4 columns" in result.output
    categories = root / "cats.csv"
    categories.write_text("Tag,Category\nabseiling,action\n")
    result = run_cli("data", "lists", "hvu", "--root", root, "--csv", root / "HVU_Train_V1.0.csv", "--categories",
                     categories)
    assert result.exit_code == 2
    assert "needs tags of category 'action' and 'scene' (found categories: action)" in result.output


def test_validation_clips_split_into_seen_and_unseen_combinations_of_the_training_list(tmp_path):
    root = make_hvu(tmp_path / "hvu")
    (root / "HVU_Val_V1.0.csv").write_text(
        "Tags,youtube_id,time_start,time_end\n"
        "abseiling|mountain,FFFFFFFFFFF,0,10\n"  # (0, 1): trained on -> seen
        "abseiling|forest,GGGGGGGGGGG,0,10\n"  # (0, 2): both classes trained, the pair not -> unseen
        "rock climbing|forest,HHHHHHHHHHH,0,10\n"  # (1, 2): seen
    )
    for stem in ("FFFFFFFFFFF_000000_000010", "GGGGGGGGGGG_000000_000010", "HHHHHHHHHHH_000000_000010"):
        write_clip(root / "videos/val" / f"{stem}.mp4", 4)
    result = run_cli("data", "lists", "hvu", "--root", root, "--videos", "videos", "--csv", root / "HVU_Train_V1.0.csv",
                     "--csv", root / "HVU_Val_V1.0.csv", "--categories", root / "HVU_Tags_Categories_V1.0.csv",
                     "--seen-from", "HVU_Train_V1.0")
    assert result.exit_code == 0, result.output
    assert [(e.action, e.scene) for e in read_list(root / "lists/HVU_Val_V1.0-seen.txt")] == [(0, 1), (1, 2)]
    assert read_list(root / "lists/HVU_Val_V1.0-unseen.txt") == [
        VideoEntry("videos/val/GGGGGGGGGGG_000000_000010.mp4", 0, 2)]
    assert len(read_list(root / "lists/HVU_Val_V1.0.txt")) == 3  # the whole list stays
    assert not (root / "lists/HVU_Train_V1.0-seen.txt").exists()
    bad = run_cli("data", "lists", "hvu", "--root", root, "--videos", "videos", "--csv", root / "HVU_Val_V1.0.csv",
                  "--categories", root / "HVU_Tags_Categories_V1.0.csv", "--seen-from", "train")
    assert bad.exit_code == 2 and "--seen-from train: no such list" in bad.output
