"""devias_tk.api: load_run(...).predict / .features give what `devias-tk predict` / `devias-tk features` give."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from run_fixtures import fabricate_run
from typer.testing import CliRunner

from devias_tk.api import load_run
from devias_tk.cache.store import VideoStore
from devias_tk.cli import app
from devias_tk.data.lists import read_list, write_list
from devias_tk.errors import DeviasError, VideoReadError

cli = CliRunner(env={"COLUMNS": "250", "NO_COLOR": "1"})


@pytest.fixture(scope="module")
def runs(tiny_benchmark, tmp_path_factory):
    work = tmp_path_factory.mktemp("api")
    return {m: fabricate_run(work / m, tiny_benchmark, m) for m in ("devias", "naive-action")}


def test_predict_equals_the_predict_command(runs, tiny_benchmark, tmp_path):
    videos = [str(tiny_benchmark / e.path) for e in read_list(tiny_benchmark / "lists/test.txt")[:2]]
    result = cli.invoke(app, ["predict", "--run", str(runs["devias"]), "--views", "2x3", "--top", "3", "--jobs",
                              "0", "--device", "cpu", *videos, "--json", str(tmp_path / "p.json")])
    assert result.exit_code == 0, result.output
    printed = {v["name"]: v for v in json.loads((tmp_path / "p.json").read_text())["videos"]}
    run = load_run(runs["devias"], device="cpu")
    assert run.method == "devias" and len(run.actions) == 4 and run.checkpoint.name == "last.pt"
    for video in videos:
        got = run.predict(video, views="2x3", top=3)
        want = printed[video]
        assert [label for label, _ in got.top_actions] == [a["label"] for a in want["action"]]
        assert [label for label, _ in got.top_scenes] == [s["label"] for s in want["scene"]]
        assert (got.action, got.scene) == (want["action"][0]["label"], want["scene"][0]["label"])
        # the JSON rounds to 6 decimals
        assert got.action_prob == pytest.approx(want["action"][0]["prob"], abs=1e-6)
        assert got.scene_prob == pytest.approx(want["scene"][0]["prob"], abs=1e-6)
    naive = load_run(runs["naive-action"], device="cpu").predict(videos[0], views="1x1")
    assert naive.action is not None and naive.scene is None and naive.top_scenes is None


def test_features_equal_the_features_command(runs, tiny_benchmark, tmp_path):
    entries = read_list(tiny_benchmark / "lists/test.txt")[:2]
    write_list(tmp_path / "two.txt", entries)
    out = tmp_path / "f.zarr"
    result = cli.invoke(app, ["features", "--run", str(runs["devias"]), "--root", str(tiny_benchmark), "--list",
                              str(tmp_path / "two.txt"), "--out", str(out), "--views", "2x1", "--per-clip",
                              "--jobs", "0", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    store = VideoStore(out)
    run = load_run(runs["devias"], device="cpu")
    for entry in entries:
        got = run.features(tiny_benchmark / entry.path, views="2x1", per_clip=True)
        group = store.group(entry.path)
        assert set(got) == set(group.array_keys())
        for key, value in got.items():  # the command batches videos together: equal up to float rounding
            np.testing.assert_allclose(value, group[key][...], atol=1e-5, err_msg=key)
    assert set(run.features(tiny_benchmark / entries[0].path)) == {"action", "scene", "action_probs", "scene_probs"}


def test_errors_name_the_video(runs, tiny_benchmark, tmp_path):
    run = load_run(runs["devias"], device="cpu")
    bad = tmp_path / "broken.avi"
    bad.write_bytes(b"not a video" * 100)
    with pytest.raises(VideoReadError, match=r"broken\.avi"):
        run.predict(bad)
    with pytest.raises(VideoReadError, match="file not found"):
        run.features(tmp_path / "missing.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DeviasError, match="no video files"):
        run.predict(tmp_path / "empty")
    two = tmp_path / "two"
    two.mkdir()
    for i, entry in enumerate(read_list(tiny_benchmark / "lists/test.txt")[:2]):
        shutil.copy(tiny_benchmark / entry.path, two / f"{i}.avi")
    with pytest.raises(DeviasError, match="2 videos in this folder"):
        run.predict(two)


def test_importing_the_api_leaves_torch_unloaded():
    code = "import sys, devias_tk.api; assert 'torch' not in sys.modules, 'torch loaded'"
    subprocess.run([sys.executable, "-c", code], check=True)
