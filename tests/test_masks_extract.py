"""The mask stage end to end: layout, bad inputs, time limit, crashes, kill -9 and resume, shards, quality."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from devias_tk.cache.store import VideoStore
from devias_tk.cli import app
from devias_tk.data.lists import read_list, write_list
from devias_tk.errors import DeviasError
from devias_tk.masks import extract as ex
from devias_tk.masks import fame, quality
from devias_tk.masks.windows import WindowSpec, window_indices

SPEC = WindowSpec(window=8, stride=2, hop=2, size=48, tubelet_size=12)
runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def _store_files(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((path / "videos").rglob("*"))
        if p.is_file()
    }


def test_store_layout(tiny_benchmark, tmp_path):
    out = tmp_path / "m.zarr"
    summary = ex.extract(tiny_benchmark, tiny_benchmark / "lists/train.txt", out, SPEC, jobs=2, show_progress=False)
    entries = read_list(tiny_benchmark / "lists/train.txt")
    assert (summary.listed, summary.done, summary.failed, summary.padded) == (len(entries), len(entries), {}, [])
    store = VideoStore(out)
    assert store.attrs["kind"] == "fame-masks" and store.attrs["window"] == 8 and store.attrs["hop"] == 2
    assert store.attrs["params"] == {"fg_fraction": 0.5, "bg_fraction": 0.1, "blur_fraction": 0.1,
                                     "motion_comp": "none"}
    assert store.attrs["format_version"] == 2
    assert store.attrs["list_sha256"] == hashlib.sha256((tiny_benchmark / "lists/train.txt").read_bytes()).hexdigest()
    assert store.done() == {e.path for e in entries}
    attrs = store.video_attrs(entries[0].path)
    assert attrs["num_frames"] == 32 and attrs["starts"] == list(range(0, 18, 2)) and attrs["padded"] is False
    group = store.group(entries[0].path)
    soft, tub = group["soft"], group["tubelet"]
    assert soft.shape == (9, 48, 64) and soft.dtype == np.uint8 and soft.chunks == (9, 48, 64)
    assert tub.shape == (9, 4, 12, 16) and tub.chunks == (9, 4, 12, 16)
    assert soft[...].max() == 255 and soft[...].min() == 0
    # a second run finds everything done
    again = ex.extract(tiny_benchmark, tiny_benchmark / "lists/train.txt", out, SPEC, jobs=1, show_progress=False)
    assert (again.skipped, again.done) == (len(entries), 0)


def test_bad_inputs_are_recorded_and_the_rest_finishes(bad_dataset, tmp_path):
    root, good = bad_dataset
    out = tmp_path / "m.zarr"
    summary = ex.extract(root, root / "list.txt", out, SPEC, jobs=2, show_progress=False)
    assert summary.done == 4 and summary.padded == ["x/short.avi"]
    assert summary.failed == {
        "x/missing.avi": "file not found",
        "x/empty.avi": "empty file (0 bytes)",
        "x/header_only.avi": summary.failed["x/header_only.avi"],
        "x/noise.avi": summary.failed["x/noise.avi"],
        "x/notes.avi": summary.failed["x/notes.avi"],
    }
    for name in ("header_only", "noise", "notes"):
        assert summary.failed[f"x/{name}.avi"].startswith("not a decodable video")
    store = VideoStore(out)
    assert store.failures() == summary.failed
    assert store.done() == {*(e.path for e in good), "x/short.avi"}
    short = store.video_attrs("x/short.avi")
    assert short["padded"] is True and short["starts"] == [0] and short["num_frames"] == 5

    result = runner.invoke(app, ["masks", "extract", "--root", str(root), "--list", str(root / "list.txt"),
                                 "--out", str(out), "--window", "8", "--stride", "2", "--size", "48", "-j", "1"])
    assert result.exit_code == 1
    assert "x/empty.avi" in result.output and "empty file (0 bytes)" in result.output
    assert "5 failures exceed --max-failures 0" in result.output
    result = runner.invoke(app, ["masks", "extract", "--root", str(root), "--list", str(root / "list.txt"),
                                 "--out", str(out), "--window", "8", "--stride", "2", "--size", "48",
                                 "--max-failures", "5", "--no-retry-failed"])
    assert result.exit_code == 0, result.output


def test_hung_and_crashing_decodes_are_killed_and_recorded(bad_dataset, tmp_path, monkeypatch):
    root, good = bad_dataset
    write_list(root / "good.txt", good)
    out = tmp_path / "m.zarr"
    monkeypatch.setenv(ex.FAULT_ENV, f"hang:{Path(good[0].path).name}")
    started = time.monotonic()
    # 6 s: room for the good videos' workers to start on a loaded machine; the bound only says "not forever"
    summary = ex.extract(root, root / "good.txt", out, SPEC, jobs=2, timeout=6, show_progress=False)
    assert time.monotonic() - started < 120
    assert summary.failed == {good[0].path: "timed out after 6 s (killed)"} and summary.done == 2
    monkeypatch.setenv(ex.FAULT_ENV, f"crash:{Path(good[0].path).name}")
    summary = ex.extract(root, root / "good.txt", out, SPEC, jobs=1, timeout=30, show_progress=False)
    assert summary.failed == {good[0].path: "worker died (exit code 134)"} and summary.skipped == 2
    monkeypatch.delenv(ex.FAULT_ENV)
    summary = ex.extract(root, root / "good.txt", out, SPEC, jobs=1, show_progress=False)
    assert summary.failed == {} and summary.done == 1  # a retry succeeds and clears the failure


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "devias_tk", "masks", "extract", *args]


def test_kill_9_then_resume_gives_the_same_store(default_benchmark, tmp_path):
    root = default_benchmark
    write_list(tmp_path / "list.txt", read_list(root / "lists/train.txt")[:40])
    args = ["--root", str(root), "--list", str(tmp_path / "list.txt"), "--window", "16", "--stride", "2",
            "--hop", "2", "--size", "64", "-j", "1"]
    reference = tmp_path / "reference.zarr"
    subprocess.run(_cli(*args, "--out", str(reference)), check=True, capture_output=True)

    killed = tmp_path / "killed.zarr"
    proc = subprocess.Popen(_cli(*args, "--out", str(killed)), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (killed / "videos").is_dir() and len(list((killed / "videos").iterdir())) >= 6:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial_count = len(list((killed / "videos").iterdir())) - 1  # minus videos/zarr.json
    assert 0 < partial_count < 40, "the run should have been killed in the middle"
    subprocess.run(_cli(*args, "--out", str(killed)), check=True, capture_output=True)
    assert _store_files(killed) == _store_files(reference)
    assert VideoStore(killed).attrs == VideoStore(reference).attrs
    assert list((killed / "_partial").iterdir()) == []


def test_shards_fill_one_store(tiny_benchmark, tmp_path):
    list_path = tiny_benchmark / "lists/test.txt"
    whole = tmp_path / "whole.zarr"
    ex.extract(tiny_benchmark, list_path, whole, SPEC, jobs=1, show_progress=False)
    sharded = tmp_path / "sharded.zarr"
    first = ex.extract(tiny_benchmark, list_path, sharded, SPEC, jobs=1, shard=(0, 2), show_progress=False)
    second = ex.extract(tiny_benchmark, list_path, sharded, SPEC, jobs=1, shard=(1, 2), show_progress=False)
    assert first.listed + second.listed == len(read_list(list_path)) and first.done and second.done
    assert _store_files(sharded) == _store_files(whole)


BENCH_SPEC = WindowSpec(window=16, stride=4, hop=4, size=112, tubelet_size=28)


@pytest.fixture(scope="module")
def benchmark_stores(default_benchmark, tmp_path_factory) -> dict[bool, tuple[VideoStore, list]]:
    """FAME's and the motion-only mask stores of a tenth of the train and hat-far lists, extracted once,
    keyed by `colour_model`."""
    root, tmp = default_benchmark, tmp_path_factory.mktemp("bench-masks")
    entries = read_list(root / "lists/train.txt")[::10] + read_list(root / "lists/hat-far.txt")[::10]
    write_list(tmp / "list.txt", entries)
    stores = {}
    for colour_model in (True, False):
        out = tmp / f"m-{colour_model}.zarr"
        ex.extract(root, tmp / "list.txt", out, BENCH_SPEC, fame.FameParams(colour_model=colour_model), jobs=2,
                   show_progress=False)
        stores[colour_model] = (VideoStore(out), entries)
    return stores


def _benchmark_ious(root: Path, store: VideoStore, entries: list, beta: float) -> tuple[float, float, float]:
    """Mean clip IoU of the store's masks, of the centred box and of a random mask of the same area (expected
    IoU beta*a / (a + beta - beta*a) with an actor of share a)."""
    mask_scores, box_scores, chance_scores = [], [], []
    for e in entries:
        attrs = store.video_attrs(e.path)
        gt = np.load(quality.gt_mask_path(root / "gt_masks", e.path))["mask"]
        soft = store.group(e.path)["soft"][...]
        indices = window_indices(attrs["num_frames"], attrs["starts"], BENCH_SPEC)
        masks, boxes = quality.window_ious(soft, gt, indices, beta)
        mask_scores += masks
        box_scores += boxes
        for idx in indices:
            a = quality.clip_ground_truth(gt, idx, *soft.shape[1:]).mean()
            chance_scores.append(beta * a / (a + beta - beta * a))
    assert len(mask_scores) == len(entries)
    return float(np.mean(mask_scores)), float(np.mean(box_scores)), float(np.mean(chance_scores))


def test_fame_finds_the_actor_far_better_than_a_random_mask_of_its_area(default_benchmark, benchmark_stores):
    """At beta = 0.1 on the synthetic benchmark. (A centred box is not the bar for the paper's FAME: generator
    v4 frames its actors near the centre, where the box scores higher; docs/measured.md, mask quality.)"""
    ours, _, chance = _benchmark_ious(default_benchmark, *benchmark_stores[True], 0.1)
    assert ours >= chance + 0.1, (ours, chance)


def test_the_motion_map_alone_beats_fame_and_the_centre_box_on_the_benchmark(default_benchmark, benchmark_stores):
    """FAME's colour model seeds the foreground with the top half of the motion, mostly background when the
    actor covers a fifth of a textured frame; the blurred motion map alone keeps the actor (generator v4 at beta
    0.2: 0.54-0.66 on every split against the box's 0.39-0.40, and against FAME's 0.25-0.53 on all but the flat
    scuba-sinusoid, where FAME scores 0.69)."""
    beta = 0.2
    motion, box, _ = _benchmark_ious(default_benchmark, *benchmark_stores[False], beta)
    full, _, _ = _benchmark_ious(default_benchmark, *benchmark_stores[True], beta)
    assert motion >= box + 0.08, (motion, box)
    assert motion >= full + 0.1, (motion, full)


def test_show_and_eval_commands(tiny_benchmark, tmp_path):
    out = tmp_path / "m.zarr"
    ex.extract(tiny_benchmark, tiny_benchmark / "lists/train.txt", out, SPEC, jobs=1, show_progress=False)
    video = read_list(tiny_benchmark / "lists/train.txt")[0].path
    png = tmp_path / "sheet.png"
    result = runner.invoke(app, ["masks", "show", str(out), "--root", str(tiny_benchmark), "--video", video,
                                 "--out", str(png)])
    assert result.exit_code == 0, result.output
    import cv2

    sheet = cv2.imread(str(png))
    assert sheet.shape[0] == 2 * (48 + 14 + 2) and sheet.shape[1] >= 5 * 64
    result = runner.invoke(app, ["masks", "show", str(out), "--root", str(tiny_benchmark), "--video", "nope.avi"])
    assert result.exit_code == 2 and "no entry for 'nope.avi'" in result.output
    result = runner.invoke(app, ["masks", "eval", str(out), "--root", str(tiny_benchmark), "--list",
                                 str(tiny_benchmark / "lists/train.txt"), "--beta", "0.1", "--beta", "0.3"])
    assert result.exit_code == 0, result.output
    assert "FAME mIoU" in result.output and "0.1" in result.output and "0.3" in result.output
    rows = [[cell.strip() for cell in line.split("│")[1:4]] for line in result.output.splitlines()
            if line.strip("│ ").startswith(("clip", "tubelet"))]
    windows = len(read_list(tiny_benchmark / "lists/train.txt")) * 9  # every tiny video's windows show the actor
    assert rows == [["clip", "0.1", f"{windows} windows"], ["clip", "0.3", f"{windows} windows"],
                    ["tubelet", "0.1", f"{4 * windows} tubelets"], ["tubelet", "0.3", f"{4 * windows} tubelets"]]


def _make_old(store: Path) -> None:
    """Rewrite a store's root attributes as the format-1 toolkit wrote them."""
    meta = json.loads((store / "zarr.json").read_text())
    meta["attributes"]["format_version"] = 1
    (store / "zarr.json").write_text(json.dumps(meta))


def test_a_store_of_the_old_format_is_refused_everywhere(tiny_benchmark, tmp_path):
    from devias_tk.masks.ground_truth import import_ground_truth
    from devias_tk.train import config, engine

    list_path = tiny_benchmark / "lists/train.txt"
    out = tmp_path / "old.zarr"
    ex.extract(tiny_benchmark, list_path, out, SPEC, jobs=1, show_progress=False)
    _make_old(out)
    with pytest.raises(DeviasError, match=r"format 1, .* re-run `masks extract` into a new store"):
        ex.extract(tiny_benchmark, list_path, out, SPEC, jobs=1, show_progress=False)
    result = runner.invoke(app, ["masks", "extract", "--root", str(tiny_benchmark), "--list", str(list_path),
                                 "--out", str(out), "--window", "8", "--stride", "2", "--size", "48"])
    assert result.exit_code == 2 and "re-run `masks extract` into a new store" in result.output
    with pytest.raises(DeviasError, match="re-run `masks import-gt` into a new store"):
        import_ground_truth(list_path, tiny_benchmark / "gt_masks", out, SPEC)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"data: {{root: {tiny_benchmark}, train_list: lists/train.txt, mask_store: {out}, frames: 8, "
                      "stride: 2, hop: 2, size: 32}\nmodel: {method: devias, size: tiny, depth: 1}\n")
    with pytest.raises(DeviasError, match=r"mask store format 1, this toolkit reads format 2; re-run `masks extract`"):
        engine.prepare(config.config_from(recipe, []))


def test_motion_compensation_is_part_of_the_store_identity(tiny_benchmark, tmp_path):
    list_path = tiny_benchmark / "lists/test.txt"
    out = tmp_path / "m.zarr"
    ex.extract(tiny_benchmark, list_path, out, SPEC, jobs=1, show_progress=False)
    with pytest.raises(DeviasError, match="motion_comp"):
        ex.extract(tiny_benchmark, list_path, out, SPEC, fame.FameParams(motion_comp="similarity"), jobs=1,
                   show_progress=False)
    motion_only = tmp_path / "motion.zarr"
    ex.extract(tiny_benchmark, list_path, motion_only, SPEC, fame.FameParams(colour_model=False), jobs=1,
               show_progress=False)
    attrs = VideoStore(motion_only).attrs
    assert attrs["params"]["colour_model"] is False and "no colour model" in attrs["algorithm"]
    default = VideoStore(out).attrs
    assert "colour_model" not in default["params"] and "HSV colour model" in default["algorithm"]
    with pytest.raises(DeviasError, match="colour_model"):
        ex.extract(tiny_benchmark, list_path, out, SPEC, fame.FameParams(colour_model=False), jobs=1,
                   show_progress=False)
    result = runner.invoke(app, ["masks", "extract", "--root", str(tiny_benchmark), "--list", str(list_path),
                                 "--out", str(tmp_path / "x.zarr"), "--motion-comp", "optical-flow"])
    assert result.exit_code == 2 and "--motion-comp: motion compensation must be one of none, ecc" in result.output
