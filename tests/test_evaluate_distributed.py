"""`eval` under torchrun: shards of every split, joined on rank 0 in list order; the same report as one process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
from run_fixtures import fabricate_run

from devias_tk.data.lists import VideoEntry, read_list, write_list
from devias_tk.evaluate import runner
from devias_tk.evaluate.shards import merge_shards, shard
from devias_tk.evaluate.suite import load_suite

SUITE = """
name: tiny
root: ROOT
views: [2, 1]
splits:
  - {name: test, list: LIST, seen: true, action: top1, scene: top1}
  - {name: scuba-sinusoid, list: lists/scuba-sinusoid.txt, action: top1}
  - {name: hat-scene-only, list: lists/hat-scene-only.txt, scene: top1}
"""


def test_shards_interleave_and_join_back_in_list_order():
    items = list("abcde")
    assert [shard(items, r, 2) for r in range(2)] == [["a", "c", "e"], ["b", "d"]]
    assert shard(items, 2, 3) == ["c"] and shard(items[:1], 1, 2) == []
    first = {"action_probs": np.array([[0, 1], [np.nan, np.nan], [4, 5]], np.float32), "scene_probs": None,
             "action_feat": None, "scene_feat": None, "failed": {1: "unreadable"}}  # list index 2
    # every video of the second shard failed: it has no arrays at all
    second = {"action_probs": None, "scene_probs": None, "action_feat": None, "scene_feat": None,
              "failed": {0: "missing", 1: "too short"}}
    joined = merge_shards([first, second], 5)
    np.testing.assert_array_equal(joined["action_probs"], np.array(
        [[0, 1], [np.nan, np.nan], [np.nan, np.nan], [np.nan, np.nan], [4, 5]], np.float32))
    assert joined["scene_probs"] is None and joined["failed"] == {2: "unreadable", 1: "missing", 3: "too short"}


def test_two_gloo_processes_give_the_report_of_one(tiny_benchmark, tmp_path):
    # the seen list with an unreadable video in the middle: its index must come back to rank 0 unchanged
    entries = read_list(tiny_benchmark / "lists/test.txt")
    listed = [*entries[:5], VideoEntry("missing/clip.avi", 0, 0), *entries[5:]]
    write_list(tmp_path / "test.txt", listed)
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.replace("ROOT", str(tiny_benchmark)).replace("LIST", str(tmp_path / "test.txt")))
    one = fabricate_run(tmp_path / "one", tiny_benchmark)
    two = tmp_path / "two"
    shutil.copytree(one, two)

    single = runner.evaluate(one, load_suite(suite), device="cpu", batch_size=3, workers=0)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
               "devias_tk", "eval", "--run-dir", str(two), "--suite", str(suite), "--device", "cpu", "--batch", "3",
               "--jobs", "0"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "test (rank 0 of 2: 5 videos)" in done.stderr + done.stdout  # rank 0 predicted its shard only
    assert done.stdout.count("; report:") == 1  # rank 0 prints the report, rank 1 nothing

    sharded = json.loads((two / "eval" / "tiny" / "report.json").read_text())
    for report in (single, sharded):
        for key in ("run", "checkpoint", "figures"):
            report.pop(key, None)
    assert sharded == single
    assert single["splits"]["test"]["failed"] == 1 and single["splits"]["test"]["videos"] == len(listed)
    for path in sorted((one / "eval" / "predictions").glob("*.npz")):
        other = two / "eval" / "predictions" / path.name
        with np.load(path) as a, np.load(other) as b:
            assert sorted(a.files) == sorted(b.files)
            for name in a.files:
                np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-6, err_msg=f"{path.name}: {name}")
        meta_a = json.loads(path.with_suffix(".json").read_text())
        meta_b = json.loads(other.with_suffix(".json").read_text())
        assert meta_a["failed"] == meta_b["failed"] and meta_a["paths"] == meta_b["paths"]
        if path.name.startswith("test-"):
            assert list(meta_b["failed"]) == ["5"]  # the missing video, at its place in the list
