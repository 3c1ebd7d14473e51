"""The scene-label stage end to end: store contents by hand, equality with per-clip inflation, bad inputs,
time limit and crashes, kill -9 and resume, shards, refused re-runs, and the show / eval commands."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from devias_tk.cache.store import VideoStore, file_sha256
from devias_tk.cli import app
from devias_tk.data.crop_grid import DEFAULT_GRID, square_grid
from devias_tk.data.encode import write_video
from devias_tk.data.lists import VideoEntry, read_list, write_list
from devias_tk.data.video import Video
from devias_tk.data.windows import ClipGrid, window_indices
from devias_tk.errors import DeviasError
from devias_tk.scenes import inflate
from devias_tk.scenes import label as lb
from devias_tk.scenes.evaluate import open_scene_store, pseudo_label_accuracy
from devias_tk.scenes.model import SceneModel, build_image_model, load_scene_model, save_checkpoint
from devias_tk.scenes.preprocess import crop_views, eval_view
from devias_tk.utils.workers import FAULT_ENV

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
GRID = ClipGrid(window=3, stride=2, hop=2)
TINY_GRID = ClipGrid(window=8, stride=2, hop=2)
FULL = "1:1"  # the crop grid of the full frame alone


class Brightness(torch.nn.Module):
    """Class 1 ('bright') when a frame's mean red level is above 1/2, class 0 ('dark') otherwise, all but surely."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = 100.0 * (x[:, 0].mean(dim=(1, 2)) - 0.5)
        return torch.stack([torch.zeros_like(score), score], dim=1)


def _brightness_model() -> SceneModel:
    return SceneModel(module=Brightness(), arch="test-brightness", class_names=["dark", "bright"], input_size=16,
                      resize_size=16, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), checkpoint="none", sha256="0" * 64)


@pytest.fixture(scope="module")
def grey_videos(tmp_path_factory) -> Path:
    """'ramp.avi': 20 frames, frames 11.. bright; 'short.avi': 4 bright frames (shorter than one window)."""
    root = tmp_path_factory.mktemp("grey")
    levels = np.where(np.arange(20) >= 11, 220, 30).astype(np.uint8)
    write_video(root / "ramp.avi", np.broadcast_to(levels[:, None, None, None], (20, 24, 32, 3)).copy(), fps=25)
    write_video(root / "short.avi", np.full((4, 24, 32, 3), 220, np.uint8), fps=25)
    write_list(root / "list.txt", [VideoEntry("ramp.avi", -1, 0), VideoEntry("short.avi", -1, 0)])
    return root


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    module, kwargs = build_image_model("vit_tiny_patch16_224", 4, 32)
    return save_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt", module, arch="vit_tiny_patch16_224",
                           model_kwargs=kwargs, class_names=["beach", "forest", "desert", "city"], input_size=32,
                           resize_size=37, mean=(0.5,) * 3, std=(0.5,) * 3)


def test_store_contents_by_hand(grey_videos, tmp_path):
    out = tmp_path / "s.zarr"
    summary = lb.label(grey_videos, grey_videos / "list.txt", _brightness_model(), out, GRID, device="cpu",
                       batch=4, jobs=1, show_progress=False, crops=FULL)
    # ramp: starts 0, 2, ..., 14 (8 windows), distinct frames 0, 2, ..., 18 (10); short: frames 0, 2, 3 (3);
    # each through the model twice (eval view, full-frame crop)
    assert (summary.done, summary.failed, summary.padded, summary.clips, summary.frames) == (
        2, {}, ["short.avi"], 9, 26)
    store = VideoStore(out)
    a = store.attrs
    assert a["kind"] == "scene-labels" and a["format_version"] == 2 and a["inflation"] == "frame-average"
    assert a["crop_grid"] == [[0.0, 0.0, 1.0, 1.0]]
    assert a["model"] == {"arch": "test-brightness", "checkpoint": "none", "sha256": "0" * 64, "input_size": 16}
    assert (a["class_names"], a["num_classes"], a["window"], a["stride"], a["hop"]) == (["dark", "bright"], 2, 3, 2, 2)
    assert (a["short_policy"], a["source_list"], a["num_videos"]) == ("repeat_last", "list.txt", 2)
    assert a["list_sha256"] == file_sha256(grey_videos / "list.txt") and a["toolkit_version"]

    ramp = store.group("ramp.avi")
    bright = np.array([0, 0, 0, 0, 1, 2, 3, 3]) / 3  # of frames s, s+2, s+4 (s = 0, 2, ..., 14), those >= 11
    assert ramp["probs"].dtype == np.float16 and ramp["probs"].shape == (8, 2) and ramp["probs"].chunks == (8, 2)
    np.testing.assert_allclose(ramp["probs"][...], np.stack([1 - bright, bright], 1), atol=1e-3)
    assert ramp["top5"].dtype == np.int16 and ramp["top5"][...].tolist() == (
        [[0, 1, -1, -1, -1]] * 5 + [[1, 0, -1, -1, -1]] * 3)
    np.testing.assert_allclose(ramp["video_probs"][...], [0.625, 0.375], atol=1e-3)
    assert ramp["video_probs"].dtype == np.float16
    # frames of one grey level: the full-frame crop sees what the eval view sees
    assert ramp["crop_probs"].dtype == np.float16 and ramp["crop_probs"].shape == (8, 1, 2)
    np.testing.assert_allclose(ramp["crop_probs"][:, 0], ramp["probs"][...], atol=1e-3)
    assert store.video_attrs("ramp.avi") == {"path": "ramp.avi", "num_frames": 20, "starts": list(range(0, 15, 2)),
                                             "padded": False, "video_top5": [0, 1, -1, -1, -1]}
    short = store.video_attrs("short.avi")
    assert short["padded"] is True and short["starts"] == [0] and short["video_top5"] == [1, 0, -1, -1, -1]
    np.testing.assert_allclose(store.group("short.avi")["probs"][...], [[0, 1]], atol=1e-3)

    # a second run finds everything done; other settings or another model are refused, naming the difference
    again = lb.label(grey_videos, grey_videos / "list.txt", _brightness_model(), out, GRID, device="cpu",
                     show_progress=False, crops=FULL)
    assert (again.skipped, again.done) == (2, 0)
    with pytest.raises(DeviasError, match="hop: store has 2, this run has 4"):
        lb.label(grey_videos, grey_videos / "list.txt", _brightness_model(), out, ClipGrid(3, 2, 4), device="cpu",
                 crops=FULL)
    with pytest.raises(DeviasError, match=r"crop_grid: store has \[\[0\.0, 0\.0, 1\.0, 1\.0\]\], this run has"):
        lb.label(grey_videos, grey_videos / "list.txt", _brightness_model(), out, GRID, device="cpu",
                 crops="1:1,0.5:2")
    other = _brightness_model()
    other.sha256 = "1" * 64
    with pytest.raises(DeviasError, match=r"model\.sha256: store has '0000"):
        lb.label(grey_videos, grey_videos / "list.txt", other, out, GRID, device="cpu", crops=FULL)

    score = pseudo_label_accuracy(open_scene_store(out), read_list(grey_videos / "list.txt"))
    assert (score.videos, score.labelled, score.top1, score.top5) == (2, 2, 50.0, 100.0)


def test_crop_targets_follow_the_crop_by_hand(tmp_path):
    """Columns 0..19 of a 24 x 32 frame bright, 20..31 dark: the full frame, its eval view and the left
    quarter crops are bright; the right quarter crops (a quarter of their columns bright) dark."""
    frame = np.full((24, 32, 3), 30, np.uint8)
    frame[:, :20] = 220
    write_video(tmp_path / "half.avi", np.repeat(frame[None], 8, axis=0), fps=25)
    write_list(tmp_path / "list.txt", [VideoEntry("half.avi", -1, 0)])
    out = tmp_path / "s.zarr"
    summary = lb.label(tmp_path, tmp_path / "list.txt", _brightness_model(), out, GRID, device="cpu", batch=5,
                       show_progress=False, crops="1:1,0.5:2")
    assert summary.frames == 4 * 6  # starts 0, 2: frames 0, 2, 4, 6 once each, through 1 + 5 views
    store = VideoStore(out)
    assert store.attrs["crop_grid"] == [[0, 0, 1, 1], [0, 0, 0.5, 0.5], [0, 0.5, 0.5, 1], [0.5, 0, 1, 0.5],
                                        [0.5, 0.5, 1, 1]]
    group = store.group("half.avi")
    assert group["crop_probs"].shape == (2, 5, 2)
    np.testing.assert_allclose(group["crop_probs"][..., 1], [[1, 1, 0, 1, 0]] * 2, atol=1e-2)
    np.testing.assert_allclose(group["probs"][:, 1], [1, 1], atol=1e-2)
    np.testing.assert_allclose(group["video_probs"][...], [0, 1], atol=1e-2)  # evaluation's label: the eval view
    # --crops none: the eval view alone (a list only evaluated), no training targets
    summary = lb.label(tmp_path, tmp_path / "list.txt", _brightness_model(), tmp_path / "eval.zarr", GRID,
                       device="cpu", show_progress=False, crops="none")
    assert summary.frames == 4 and VideoStore(tmp_path / "eval.zarr").attrs["crop_grid"] == []
    evaluated = VideoStore(tmp_path / "eval.zarr").group("half.avi")
    assert "crop_probs" not in evaluated
    np.testing.assert_array_equal(evaluated["video_probs"][...], group["video_probs"][...])


def test_batches_cut_across_videos_and_return_them_in_order():
    batcher = lb.FrameBatcher(4, 1)
    for name, n in (("a", 3), ("b", 6), ("c", 2)):
        batcher.add(name, {"frames": np.full((n, 1, 1, 3), ord(name), np.uint8)})
    got = []
    for final in (False, True):
        for images, pieces in batcher.batches(final):
            got.append(("".join(chr(v) for v in images[:, 0, 0, 0]), [(p.video, lo, hi) for p, lo, hi in pieces]))
            for p, lo, hi in pieces:
                p.filled += hi - lo
            got.append([p.video for p in batcher.finished()])
    assert got == [("aaab", [("a", 0, 3), ("b", 0, 1)]), ["a"], ("bbbb", [("b", 1, 5)]), [],
                   ("bcc", [("b", 5, 6), ("c", 0, 2)]), ["b", "c"]]


def test_the_store_equals_per_clip_inflation(tiny_benchmark, tiny_checkpoint, tmp_path):
    entries = read_list(tiny_benchmark / "lists/test.txt")[:2]
    write_list(tmp_path / "list.txt", entries)
    out = tmp_path / "s.zarr"
    lb.label(tiny_benchmark, tmp_path / "list.txt", tiny_checkpoint, out, TINY_GRID, device="cpu", batch=7, jobs=2,
             show_progress=False)
    model = load_scene_model(tiny_checkpoint)
    store = VideoStore(out)
    crops = square_grid(DEFAULT_GRID)
    assert store.attrs["crop_grid"] == [list(b) for b in crops]
    for e in entries:
        attrs = store.video_attrs(e.path)
        video = Video(tiny_benchmark / e.path)
        assert attrs["num_frames"] == len(video) == 32 and attrs["starts"] == list(range(0, 18, 2))
        probs, crop_probs = store.group(e.path)["probs"][...], store.group(e.path)["crop_probs"][...]
        assert crop_probs.shape == (len(attrs["starts"]), len(crops), 4)
        for k, rows in enumerate(window_indices(len(video), attrs["starts"], TINY_GRID)):
            clip = torch.from_numpy(eval_view(video.frames(rows), 32, 37))
            direct = inflate.clip_probs(model.module, clip, model.mean, model.std).numpy()
            np.testing.assert_allclose(probs[k], direct, atol=2e-3)
            for c, view in enumerate(crop_views(video.frames(rows), crops, 32)):
                direct = inflate.clip_probs(model.module, torch.from_numpy(view), model.mean, model.std).numpy()
                np.testing.assert_allclose(crop_probs[k, c], direct, atol=2e-3)
        np.testing.assert_allclose(store.group(e.path)["video_probs"][...], probs.astype(np.float32).mean(0), atol=2e-3)


def test_bad_inputs_are_recorded_and_the_rest_finishes(bad_dataset, tiny_checkpoint, tmp_path):
    root, good = bad_dataset
    out = tmp_path / "s.zarr"
    summary = lb.label(root, root / "list.txt", _brightness_model(), out, TINY_GRID, device="cpu", jobs=2,
                       show_progress=False)
    assert summary.done == 4 and summary.padded == ["x/short.avi"]
    assert set(summary.failed) == {"x/missing.avi", "x/empty.avi", "x/header_only.avi", "x/noise.avi", "x/notes.avi"}
    assert summary.failed["x/missing.avi"] == "file not found"
    assert summary.failed["x/empty.avi"] == "empty file (0 bytes)"
    for name in ("header_only", "noise", "notes"):
        assert summary.failed[f"x/{name}.avi"].startswith("not a decodable video")
    store = VideoStore(out)
    assert store.failures() == summary.failed and store.done() == {*(e.path for e in good), "x/short.avi"}
    assert store.video_attrs("x/short.avi")["starts"] == [0]

    args = ["scenes", "label", "--root", str(root), "--list", str(root / "list.txt"), "--model", str(tiny_checkpoint),
            "--window", "8", "--stride", "2", "--device", "cpu", "-j", "1"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "cli.zarr")])
    assert result.exit_code == 1
    assert "x/empty.avi" in result.output and "empty file (0 bytes)" in result.output
    assert "5 failures exceed --max-failures 0" in result.output
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "cli.zarr"), "--max-failures", "5",
                                 "--no-retry-failed"])
    assert result.exit_code == 0, result.output
    (root / "notes.pt").write_text("not a checkpoint\n")
    args[args.index("--model") + 1] = str(root / "notes.pt")
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "n.zarr")])
    assert result.exit_code == 2 and "notes.pt: not a PyTorch checkpoint" in result.output


def test_hung_and_crashing_decodes_are_killed_and_recorded(bad_dataset, tmp_path, monkeypatch):
    root, good = bad_dataset
    write_list(root / "good.txt", good)
    out = tmp_path / "s.zarr"
    monkeypatch.setenv(FAULT_ENV, f"hang:{Path(good[0].path).name}")
    started = time.monotonic()
    summary = lb.label(root, root / "good.txt", _brightness_model(), out, TINY_GRID, device="cpu", jobs=2, timeout=3,
                       show_progress=False, crops=FULL)
    assert time.monotonic() - started < 30
    assert summary.failed == {good[0].path: "timed out after 3 s (killed)"} and summary.done == 2
    monkeypatch.setenv(FAULT_ENV, f"crash:{Path(good[0].path).name}")
    summary = lb.label(root, root / "good.txt", _brightness_model(), out, TINY_GRID, device="cpu", jobs=1,
                       show_progress=False, crops=FULL)
    assert summary.failed == {good[0].path: "worker died (exit code 134)"} and summary.skipped == 2
    monkeypatch.delenv(FAULT_ENV)
    summary = lb.label(root, root / "good.txt", _brightness_model(), out, TINY_GRID, device="cpu", jobs=1,
                       show_progress=False, crops=FULL)
    assert summary.failed == {} and summary.done == 1  # a retry succeeds and clears the failure


def _arrays(store: VideoStore) -> dict[str, dict[str, np.ndarray]]:
    names = ("probs", "top5", "video_probs", "crop_probs")
    return {v: {n: store.group(v)[n][...] for n in names} for v in sorted(store.done())}


def test_kill_9_then_resume_gives_the_same_store(tiny_benchmark, tiny_checkpoint, tmp_path):
    entries = read_list(tiny_benchmark / "lists/train.txt")[:8]
    write_list(tmp_path / "list.txt", entries)
    args = ["--root", str(tiny_benchmark), "--list", str(tmp_path / "list.txt"), "--model", str(tiny_checkpoint),
            "--window", "8", "--stride", "2", "--batch", "8", "--device", "cpu", "-j", "1", "--crops", FULL]
    reference = tmp_path / "reference.zarr"
    lb.label(tiny_benchmark, tmp_path / "list.txt", tiny_checkpoint, reference, TINY_GRID, batch=8, device="cpu",
             show_progress=False, crops=FULL)

    killed = tmp_path / "killed.zarr"
    # The fifth video's decode hangs, so the run is killed after committing exactly four.
    env = {**os.environ, FAULT_ENV: f"hang:{Path(entries[4].path).name}"}
    proc = subprocess.Popen([sys.executable, "-m", "devias_tk", "scenes", "label", *args, "--out", str(killed)],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(VideoStore(killed).done() if (killed / "zarr.json").exists() else []) < 4:
        time.sleep(0.05)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(VideoStore(killed).done()) == 4
    (killed / "_partial" / f"{socket.gethostname()}-{proc.pid}-dead").mkdir()  # what a kill mid-commit leaves
    resumed = lb.label(tiny_benchmark, tmp_path / "list.txt", tiny_checkpoint, killed, TINY_GRID, batch=8,
                       device="cpu", show_progress=False, crops=FULL)
    assert (resumed.skipped, resumed.done) == (4, 4)
    got, want = _arrays(VideoStore(killed)), _arrays(VideoStore(reference))
    assert got.keys() == want.keys() and len(got) == 8
    for v in want:
        for name in want[v]:
            np.testing.assert_allclose(got[v][name].astype(np.float32), want[v][name].astype(np.float32), atol=1e-3)
    assert VideoStore(killed).attrs == VideoStore(reference).attrs
    assert list((killed / "_partial").iterdir()) == []


def test_shards_fill_one_store(grey_videos, tmp_path):
    whole, sharded = tmp_path / "whole.zarr", tmp_path / "sharded.zarr"
    lb.label(grey_videos, grey_videos / "list.txt", _brightness_model(), whole, GRID, device="cpu", show_progress=False)
    first = lb.label(grey_videos, grey_videos / "list.txt", _brightness_model(), sharded, GRID, device="cpu",
                     shard=(0, 2), show_progress=False)
    second = lb.label(grey_videos, grey_videos / "list.txt", _brightness_model(), sharded, GRID, device="cpu",
                      shard=(1, 2), show_progress=False)
    assert (first.listed, first.done, second.listed, second.done) == (1, 1, 1, 1)
    got, want = _arrays(VideoStore(sharded)), _arrays(VideoStore(whole))
    assert got.keys() == want.keys() == {"ramp.avi", "short.avi"}
    for v in want:
        for name in want[v]:
            np.testing.assert_array_equal(got[v][name], want[v][name])


def test_show_prints_the_top5_names_and_eval_scores_them(grey_videos, tmp_path):
    out = tmp_path / "s.zarr"
    lb.label(grey_videos, grey_videos / "list.txt", _brightness_model(), out, GRID, device="cpu", show_progress=False)
    result = runner.invoke(app, ["scenes", "show", str(out), "--video", "ramp.avi"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "dark" in line or "bright" in line]
    assert [line.split() for line in lines] == [["│", "1", "│", "0", "│", "dark", "│", "0.625", "│"],
                                                ["│", "2", "│", "1", "│", "bright", "│", "0.375", "│"]]
    result = runner.invoke(app, ["scenes", "show", str(out), "--video", "ramp.avi", "--windows"])
    assert result.exit_code == 0 and "│    10 │ bright 0.67, dark 0.33" in result.output
    result = runner.invoke(app, ["scenes", "show", str(out), "--video", "nope.avi"])
    assert result.exit_code == 2 and "no entry for 'nope.avi'" in result.output
    result = runner.invoke(app, ["scenes", "eval", str(out), "--list", str(grey_videos / "list.txt")])
    assert result.exit_code == 0, result.output
    assert [c.strip() for c in result.output.splitlines()[-2].split("│")[1:-1]] == ["list", "2", "2", "50.0", "100.0"]


@pytest.mark.parametrize("command", [["scenes", "train"], ["scenes", "label"], ["scenes", "show"],
                                     ["scenes", "eval"], ["bench", "scenes"], ["bench", "scene-targets"]])
def test_command_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "Example" in result.output


def test_one_store_per_list_from_an_out_pattern():
    from devias_tk.cli.scenes import store_paths

    lists = [Path("w/hat/lists/hat-rand-1.txt"), Path("w/lists/test.txt")]
    assert store_paths("c/scenes-{list}.zarr", lists) == [Path("c/scenes-hat-rand-1.zarr"), Path("c/scenes-test.zarr")]
    assert store_paths("c/train.zarr", lists[:1]) == [Path("c/train.zarr")]
    with pytest.raises(DeviasError, match=r"needs \{list\}"):
        store_paths("c/one.zarr", lists)
    with pytest.raises(DeviasError, match="share a file name"):
        store_paths("c/{list}.zarr", [Path("a/test.txt"), Path("b/test.txt")])
