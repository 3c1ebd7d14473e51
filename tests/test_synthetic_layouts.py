"""`data layout`: the tiny benchmark written in each published layout, read back by the toolkit's own
converters, gives the benchmark's videos and labels; re-runs skip, failures leave nothing, bad input is one line."""

from __future__ import annotations

import csv
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from formats_fixtures import run_cli

from devias_tk.data.formats import hat, hvu, kinetics400, places365, ucf101
from devias_tk.data.lists import read_class_names, read_list
from devias_tk.data.video import Video
from devias_tk.synthetic import layouts


@pytest.fixture(scope="module")
def bench(tiny_benchmark) -> layouts.Benchmark:
    return layouts.load_benchmark(tiny_benchmark)


@pytest.fixture(scope="module")
def out(tiny_benchmark, tmp_path_factory) -> Path:
    """Every layout, written once through the command (two workers: the parallel path)."""
    root = tmp_path_factory.mktemp("layouts") / "official"
    result = run_cli("data", "layout", tiny_benchmark, root, "-j", "2")
    assert result.exit_code == 0, result.output
    for name in layouts.LAYOUTS:
        assert f"read with: {layouts.READ_WITH[name].format(root=root / name)}" in result.output
    return root


def _key(path: str) -> str:
    """'<Class>/<video>' of any benchmark or layout path (extension dropped)."""
    p = PurePosixPath(path)
    return f"{p.parent.name}/{p.stem}"


def test_every_layout_is_written_and_nothing_else(out):
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".layout")) == sorted(layouts.LAYOUTS)


def test_ucf101_lists_match_the_benchmark(out, bench):
    root = out / "ucf101"
    conv = ucf101.convert(root, root / "ucfTrainTestlist", [1], "UCF-101")
    assert conv.actions == bench.actions and not any(conv.missing.values())
    for name, split in (("trainlist01", "train"), ("testlist01", "test")):
        got = [(_key(e.path), e.action) for e in conv.lists[name]]
        assert got == [(_key(e.path), e.action) for e in bench.split(split)]
        assert all(e.path.startswith("UCF-101/") for e in conv.lists[name])
    first = conv.lists["trainlist01"][0]
    assert (root / first.path).read_bytes() == (bench.root / bench.split("train")[0].path).read_bytes()


def test_scuba_lists_match_the_benchmark_and_frames_decode(out, bench, tmp_path):
    root = out / "scuba"
    result = run_cli("data", "lists", "scuba", "--root", root, "--source", "places365", "--source", "vqgan",
                     "--source", "sinusoid", "--actions", bench.root / "actions.txt", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "note:" not in result.output  # every folder holds the frame count its list gives
    for source, split in layouts.SCUBA_SOURCES.items():
        entries = read_list(tmp_path / "lists" / f"scuba-{source}.txt")
        assert [(_key(e.path), e.action) for e in entries] == [(_key(e.path), e.action) for e in bench.split(split)]
        video = Video(root / entries[-1].path)
        original = Video(bench.root / bench.split(split)[-1].path)
        assert len(video) == len(original)
        frames = video.frames([0, len(video) - 1])
        assert frames.shape == original.frames([0, 1]).shape
        assert np.abs(frames.astype(int) - original.frames([0, len(video) - 1])).mean() < 8  # JPEG of the same


def test_hat_lists_swaps_and_composites(out, bench, tmp_path):
    root = out / "hat"
    result = run_cli("data", "lists", "hat", "--root", root, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    test = bench.split("test")
    assert read_class_names(tmp_path / "actions.txt") == bench.actions
    scene_only = read_list(tmp_path / "lists" / "hat-scene-only.txt")
    assert [e.path for e in scene_only] == [f"inp/{_key(e.path)}" for e in test]
    expected = {f"hat-{k}-{s}" for k in layouts.SWAP_KINDS for s in layouts.SWAP_SPLITS}
    assert {p.stem for p in (tmp_path / "lists").glob("hat-*.txt")} == expected | {"hat-scene-only"}

    by_key = {_key(e.path): e for e in test}
    meta = bench.meta
    draws = {}
    for kind in layouts.SWAP_KINDS:
        for split in layouts.SWAP_SPLITS:
            pairs = hat.load_swaps(root / f"actionswap_{kind}_{split}.pickle")  # the restricted unpickler
            draws[kind, split] = pairs
            assert sorted(pairs) == sorted(by_key)
            entries = read_list(tmp_path / "lists" / f"hat-{kind}-{split}.txt")
            assert sorted((_key(e.path), e.action) for e in entries) == sorted((k, e.action) for k, e in by_key.items())
            for fg, (bg, frames, label) in pairs.items():
                assert bg != fg and by_key[bg].action == label != by_key[fg].action and frames == 32
                if kind != "rand":
                    wanted = meta[f"{kind}_scene_of_action"][by_key[fg].action]
                    available = {e.scene for e in test if e.action != by_key[fg].action}
                    assert wanted not in available or by_key[bg].scene == wanted
    assert draws["rand", 1] != draws["rand", 2] or draws["rand", 2] != draws["rand", 3]  # separate draws

    description = tmp_path / hat.DESCRIPTIONS / "hat-close-1" / f"{_key(test[0].path)}.json"
    video = Video(description)
    assert len(video) == 32 and video.frames([0, 31]).shape == (2, 48, 64, 3)
    # the person mask is the ground truth; the inpainted frame differs from the original where the person was
    masks = np.load(bench.root / "gt_masks" / PurePosixPath(test[0].path).with_suffix(".npz"))["mask"]
    seg = Video(root / "seg" / _key(test[0].path)).frames([5])[0, :, :, 0] > 128
    assert (seg == masks[5]).mean() > 0.99
    ori = Video(root / "ori" / _key(test[0].path)).frames([5])[0].astype(int)
    inp = Video(root / "inp" / _key(test[0].path)).frames([5])[0].astype(int)
    assert np.abs(ori - inp)[masks[5]].mean() > 3 * np.abs(ori - inp)[~masks[5]].mean()


def test_kinetics400_lists_match_and_clips_decode_with_decord(out, bench):
    import decord

    root = out / "kinetics400"
    conv = kinetics400.convert(root, [root / "annotations/train.csv", root / "annotations/val.csv"], "videos")
    assert conv.actions == sorted(bench.actions) and not any(conv.missing.values())
    for name, split in (("train", "train"), ("val", "test")):
        got = conv.lists[name]
        assert [conv.actions[e.action] for e in got] == [bench.actions[e.action] for e in bench.split(split)]
        assert [e.path for e in got] == [f"videos/{bench.actions[e.action]}/{layouts.clip_name(e.path)}.mp4"
                                         for e in bench.split(split)]
    ids = [layouts.clip_of(e.path)[0] for e in bench.split("train") + bench.split("test")]
    assert len(set(ids)) == len(ids) and all(len(i) == 11 for i in ids)
    clip = conv.lists["val"][0]
    reader = decord.VideoReader(str(root / clip.path))
    original = Video(bench.root / bench.split("test")[0].path)
    assert len(reader) == len(original)
    assert np.abs(reader[3].asnumpy().astype(int) - original.frames([3])[0]).mean() < 8


def test_hvu_official_csvs_give_the_benchmark_labels(out, bench):
    root = out / "hvu"
    conv = hvu.convert_official(root, [root / "HVU_Train_V1.0.csv", root / "HVU_Val_V1.0.csv"],
                                root / "HVU_Tags_Categories_V1.0.csv", "videos")
    assert conv.actions == bench.actions and conv.scenes == bench.scenes
    assert not conv.notes and not any(conv.missing.values())  # the object tag left no clip out
    expected = {"HVU_Train_V1.0": bench.split("train"),
                "HVU_Val_V1.0": bench.split("test") + bench.split("hat-random")}
    for name, entries in expected.items():
        assert [(e.path, e.action, e.scene) for e in conv.lists[name]] == [
            (f"videos/{layouts.clip_name(e.path)}.mp4", e.action, e.scene) for e in entries]
    # every clip carries an object tag, which the reader has to skip
    categories = dict(hvu.parse_categories((root / "HVU_Tags_Categories_V1.0.csv").read_text(), "categories"))
    with open(root / "HVU_Train_V1.0.csv", newline="") as handle:
        tags = [row["Tags"].split("|") for row in csv.DictReader(handle)]
    assert all([categories[t] for t in row] == ["action", "scene", "object"] for row in tags)
    assert Video(root / conv.lists["HVU_Val_V1.0"][-1].path).frames([0]).shape == (1, 48, 64, 3)


def test_hvu_subset_lists_agree_with_the_official_conversion(out, bench):
    root = out / "hvu"
    official = hvu.convert_official(root, [root / "HVU_Train_V1.0.csv", root / "HVU_Val_V1.0.csv"],
                                    root / "HVU_Tags_Categories_V1.0.csv", "videos")
    subset = hvu.convert_subset(root, [root / f"subset/{n}.txt" for n in ("train", "val_seen", "val_unseen")],
                                "videos", bench.actions, bench.scenes)
    assert not any(subset.missing.values())
    assert subset.lists["train"] == official.lists["HVU_Train_V1.0"]
    assert sorted(subset.lists["val_seen"] + subset.lists["val_unseen"], key=lambda e: e.path) == sorted(
        official.lists["HVU_Val_V1.0"], key=lambda e: e.path)
    hvu.split_by_combination(official, "HVU_Train_V1.0")  # the paper's seen / unseen, from the official CSVs
    assert subset.lists["val_seen"] == official.lists["HVU_Val_V1.0-seen"]
    assert subset.lists["val_unseen"] == official.lists["HVU_Val_V1.0-unseen"]
    pairs = {(e.action, e.scene) for e in subset.lists["train"]}
    assert subset.lists["val_unseen"] and all((e.action, e.scene) not in pairs for e in subset.lists["val_unseen"])
    assert subset.lists["val_seen"] and all((e.action, e.scene) in pairs for e in subset.lists["val_seen"])


def test_places365_lists_give_the_benchmark_scenes(out, bench):
    root = out / "places365"
    lists = places365.convert(root, root / "categories_places365.txt", root / "places365_train_standard.txt",
                              root / "places365_val.txt")
    assert lists.classes == [f"/{n[0]}/{n}" for n in bench.scenes] and not lists.missing
    for name in ("train", "val"):
        mine = [line.rsplit(" ", 1) for line in (bench.root / "scene_images" / f"{name}.txt").read_text().splitlines()]
        assert [index for _, index in lists.lists[name]] == [int(index) for _, index in mine]
        first, original = lists.lists[name][0][0], bench.root / "scene_images" / mine[0][0]
        assert (root / first).read_bytes() == original.read_bytes()


def test_a_rerun_skips_finished_layouts(out, tiny_benchmark):
    stamp = (out / "hat" / "list.csv").stat().st_mtime_ns
    result = run_cli("data", "layout", tiny_benchmark, out, "--as", "hat", "--as", "ucf101", "-j", "1")
    assert result.exit_code == 0, result.output
    assert result.output.count("already complete") == 2
    assert (out / "hat" / "list.csv").stat().st_mtime_ns == stamp


def test_a_failed_layout_leaves_nothing_and_a_stale_one_is_replaced(bench, tmp_path, monkeypatch):
    def broken(bench, dest, jobs):
        (dest / "categories_places365.txt").write_text("half\n")
        raise RuntimeError("killed")

    monkeypatch.setitem(layouts.WRITERS, "places365", broken)
    with pytest.raises(RuntimeError):
        layouts.write_layouts(bench.root, tmp_path, ["ucf101", "places365"])
    assert (tmp_path / "ucf101").is_dir()
    assert not (tmp_path / "places365").exists() and not (tmp_path / ".places365.partial").exists()

    monkeypatch.undo()
    (tmp_path / ".places365.partial").mkdir()  # as a killed process leaves it
    (tmp_path / ".places365.partial" / "junk").write_text("x")
    [result] = layouts.write_layouts(bench.root, tmp_path, ["places365"])
    assert not result.skipped and not (tmp_path / "places365" / "junk").exists()
    assert not (tmp_path / ".places365.partial").exists()


@pytest.mark.parametrize("case", ["missing", "no-meta", "unknown-layout"])
def test_bad_input_is_a_one_line_error(case, tiny_benchmark, tmp_path):
    bench, extra = tiny_benchmark, []
    if case == "missing":
        bench = tmp_path / "nowhere"
    elif case == "no-meta":
        bench = tmp_path / "videos"
        bench.mkdir()
    else:
        extra = ["--as", "ucf10"]
    result = run_cli("data", "layout", bench, tmp_path / "out", *extra)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert {"missing": "not found", "no-meta": "no meta.json", "unknown-layout": "'ucf10'"}[case] in lines[0]
    assert not (tmp_path / "out").exists()



def test_kinetics400_versions_of_scuba_and_hat_use_kinetics400s_class_numbers(out, bench, tmp_path):
    k400 = kinetics400.convert(out / "kinetics400", [out / "kinetics400/annotations/train.csv"], "videos")
    assert k400.actions == sorted(bench.actions) != bench.actions  # the tiny benchmark's names are not sorted
    (tmp_path / "actions.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(k400.actions)))
    result = run_cli("data", "lists", "scuba", "--root", out / "kinetics400-scuba", "--source", "sinusoid",
                     "--actions", tmp_path / "actions.txt", "--out", tmp_path / "scuba")
    assert result.exit_code == 0, result.output
    named = [(_key(e.path), k400.actions[e.action]) for e in read_list(tmp_path / "scuba/lists/scuba-sinusoid.txt")]
    assert named == [(_key(e.path), bench.actions[e.action]) for e in bench.split("scuba-sinusoid")]
    result = run_cli("data", "lists", "hat", "--root", out / "kinetics400-hat", "--out", tmp_path / "hat")
    assert result.exit_code == 0, result.output
    assert read_class_names(tmp_path / "hat/actions.txt") == k400.actions
    swaps = read_list(tmp_path / "hat/lists/hat-far-1.txt")
    assert sorted(k400.actions[e.action] for e in swaps) == sorted(bench.actions[e.action] for e in bench.split("test"))
