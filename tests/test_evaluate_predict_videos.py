"""`devias-tk predict`: inputs expanded from files, folders and lists; top-k against a hand-run forward;
unreadable inputs named; JSON / CSV; overlays (DEVIAS with slot attention, a baseline without)."""

from __future__ import annotations

import json
import shutil

import av
import cv2
import numpy as np
import pytest
import torch
from run_fixtures import fabricate_run
from typer.testing import CliRunner

from devias_tk.cli import app
from devias_tk.data.dataset import ClipDataset, ClipSpec
from devias_tk.data.lists import read_list
from devias_tk.data.video import Video
from devias_tk.evaluate.inputs import expand_inputs
from devias_tk.evaluate.overlay import overlay_frames
from devias_tk.evaluate.predict import load_run
from devias_tk.evaluate.videos import VideoPrediction, to_csv, top_k

cli = CliRunner(env={"COLUMNS": "250", "NO_COLOR": "1"})


@pytest.fixture(scope="module")
def runs(tiny_benchmark, tmp_path_factory):
    work = tmp_path_factory.mktemp("predict")
    return {m: fabricate_run(work / m, tiny_benchmark, m) for m in ("devias", "naive-action")}


def test_inputs_expand_files_frame_folders_directories_and_lists(tiny_benchmark, tmp_path):
    test = read_list(tiny_benchmark / "lists/test.txt")
    tree = tmp_path / "tree"
    (tree / "a/b").mkdir(parents=True)
    shutil.copy(tiny_benchmark / test[0].path, tree / "a/b/one.avi")
    shutil.copy(tiny_benchmark / test[1].path, tree / "two.AVI")
    (tree / "notes.txt").write_text("not a video\n")
    frames = tree / "a/frames"
    frames.mkdir()
    for i, frame in enumerate(Video(tiny_benchmark / test[2].path).frames(range(8)), start=1):
        cv2.imwrite(str(frames / f"img_{i:05d}.jpg"), frame[:, :, ::-1])
    (tmp_path / "empty").mkdir()
    out = expand_inputs([tree, tiny_benchmark / "lists/test.txt", tmp_path / "missing.mp4", tmp_path / "empty",
                         tree / "a/b/one.avi"])
    names = [v.name for v in out.videos]
    assert names[:3] == [str(tree / "a/b/one.avi"), str(tree / "a/frames"), str(tree / "two.AVI")]
    # the list's paths start at the benchmark root (the folder above lists/), with its labels
    assert names[3:] == [e.path for e in test] and out.videos[3].entry.action == test[0].action
    assert out.videos[3].entry.path == str((tiny_benchmark / test[0].path).resolve())
    assert len(names) == 3 + len(test)  # one.avi named twice is kept once
    assert out.failed == {str(tmp_path / "missing.mp4"): "file not found",
                          str(tmp_path / "empty"): pytest.approx(out.failed[str(tmp_path / "empty")])}
    assert "no video files" in out.failed[str(tmp_path / "empty")]


def test_top_k_csv_and_overlay_frames_by_hand():
    ranked = top_k(np.array([0.1, 0.6, 0.3]), ["a", "b", "c"], 2)
    assert ranked == [("b", 0.6), ("c", 0.3)]
    partly = VideoPrediction("p", "/x/p", ranked, None, warning="partly decodable: decoded 3 of 9 declared frames")
    text = to_csv([VideoPrediction("v", "/x/v.mp4", ranked, None), VideoPrediction("w", "/x/w", error="bad"), partly],
                  2)
    rows = text.splitlines()
    assert rows[0] == "name,path,error,warning,action_1,action_1_prob,action_2,action_2_prob,scene_1,scene_1_prob," \
                      "scene_2,scene_2_prob"
    assert rows[1] == "v,/x/v.mp4,,,b,0.600000,c,0.300000,,,," and rows[2] == "w,/x/w,bad,,,,,,,,,"
    assert rows[3] == "p,/x/p,,partly decodable: decoded 3 of 9 declared frames,b,0.600000,c,0.300000,,,,"
    frames = np.zeros((4, 8, 8, 3), np.uint8)
    attn = np.zeros((2, 2, 2, 2), np.float32)
    attn[0, 1, 0, 0] = 1.0  # action slot, second tubelet, top-left token
    video = overlay_frames(frames, attn, 0, 1, ["x"], scale=1)
    bar = video.shape[1] - 8
    assert video.shape == (4, bar + 8, 24, 3)
    # frames 2 and 3 belong to tubelet 1: the action panel's top-left patch is hot (JET red), frame 0's cold (blue)
    hot, cold = video[2, bar, 8].astype(int), video[0, bar, 8].astype(int)
    assert hot[0] > 50 > hot[2] and cold[2] > 50 > cold[0]


def test_predict_cli_matches_a_hand_run_forward(runs, tiny_benchmark, tmp_path):
    test = read_list(tiny_benchmark / "lists/test.txt")[:3]
    bad = tmp_path / "broken.avi"
    bad.write_bytes(b"not a video at all" * 100)
    args = ["predict", "--run", str(runs["devias"]), "--views", "1x1", "--top", "4", "--jobs", "0", "--device",
            "cpu", *(str(tiny_benchmark / e.path) for e in test), str(bad), "--json", str(tmp_path / "p.json"),
            "--overlay", str(tmp_path / "ov")]
    result = cli.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "broken.avi" in result.output and "not a decodable video" in result.output
    report = json.loads((tmp_path / "p.json").read_text())
    assert report["method"] == "devias" and report["views"] == [1, 1]
    by_name = {v["name"]: v for v in report["videos"]}
    assert by_name[str(bad)]["error"].startswith("not a decodable video")
    run = load_run(runs["devias"], device="cpu")
    spec = ClipSpec(clip_len=8, stride=2, size=32, num_clips=1, num_crops=1, short="repeat_last")
    clips = ClipDataset(tiny_benchmark, test, spec, train=False)
    for i, entry in enumerate(test):
        with torch.no_grad():
            logits = run.model(clips[i]["clip"])["logits"][0]  # (K, A + S): pick the roles by hand
        prob = logits.softmax(-1)
        a_slot, s_slot = int(prob[:, :4].amax(-1).argmax()), int(prob[:, 4:].amax(-1).argmax())
        action = logits[a_slot, :4].softmax(-1).numpy()
        got = by_name[str(tiny_benchmark / entry.path)]
        assert [a["label"] for a in got["action"]] == [run.actions[j] for j in np.argsort(-action, kind="stable")]
        assert got["action"][0]["prob"] == pytest.approx(float(action.max()), abs=1e-5)
        scene = logits[s_slot, 4:].softmax(-1).numpy()
        assert got["scene"][0]["prob"] == pytest.approx(float(scene.max()), abs=1e-5)
        mp4, png = got["overlay"]
        video = Video(mp4)
        with av.open(mp4) as container:  # H.264, what players play (OpenCV's mp4v is refused by browsers)
            assert container.streams.video[0].codec_context.name == "h264"
        assert len(video) == 8 and video.info.width == 3 * 32 * 4  # frame + two attention panels, scaled x4
        assert cv2.imread(png) is not None
    assert str(bad) not in {v["name"] for v in report["videos"] if v["overlay"]}


def test_predict_a_baseline_from_a_list_prints_what_it_has(runs, tiny_benchmark, tmp_path):
    args = ["predict", "--run", str(runs["naive-action"]), str(tiny_benchmark / "lists/test.txt"), "--views", "1x1",
            "--jobs", "0", "--device", "cpu", "--csv", str(tmp_path / "p.csv"), "--overlay", str(tmp_path / "ov"),
            "--top", "2"]
    result = cli.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert len(rows) == 1 + len(read_list(tiny_benchmark / "lists/test.txt"))
    first = rows[1].split(",")
    assert first[4] in ("Walk", "Run", "Jump", "Spin") and first[8:] == ["", "", "", ""]  # no scene head
    mp4s = sorted((tmp_path / "ov").rglob("*.mp4"))  # the list's folders are kept
    assert len(mp4s) == len(rows) - 1 and Video(mp4s[0]).info.width == 32 * 4  # frames only


def test_predict_refuses_json_and_csv_together(runs, tiny_benchmark, tmp_path):
    result = cli.invoke(app, ["predict", "--run", str(runs["devias"]), str(tiny_benchmark), "--json", "a", "--csv",
                              "b"])
    assert result.exit_code == 2 and "not both" in result.output
