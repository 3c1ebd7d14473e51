"""`eval` and `predict` on imperfect data: a video that cannot be read, hangs its decoder or crashes its
worker is recorded with its reason and the others are scored as they would be without it; a killed eval
resumes from the splits it saved; a full disk is named."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from run_fixtures import fabricate_run

from devias_tk.data.dataset import ClipSpec
from devias_tk.data.lists import read_list
from devias_tk.errors import DiskFullError
from devias_tk.evaluate.predict import load_run, predict_entries, save_predictions
from devias_tk.evaluate.runner import evaluate
from devias_tk.evaluate.suite import load_suite
from devias_tk.utils.workers import FAULT_ENV

SPEC = ClipSpec(clip_len=8, stride=2, size=32, num_clips=1, num_crops=1, short="repeat_last")


@pytest.fixture(scope="module")
def run(tiny_benchmark, tmp_path_factory):
    return load_run(fabricate_run(tmp_path_factory.mktemp("evalfaults") / "run", tiny_benchmark))


def test_bad_hung_and_crashing_videos_are_recorded_and_the_rest_scored(run, tiny_benchmark, tmp_path, monkeypatch):
    entries = read_list(tiny_benchmark / "lists/test.txt")[:8]
    root = tmp_path / "bench"
    for e in entries:
        (root / e.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny_benchmark / e.path, root / e.path)
    clean = predict_entries(run, root, entries, SPEC, torch.device("cpu"), 3, 0, "clean")
    assert clean["failed"] == {}
    (root / entries[1].path).write_bytes((root / entries[1].path).read_bytes()[:1000])
    monkeypatch.setenv(FAULT_ENV, f"hang:{entries[4].path},crash:{entries[6].path}")
    got = predict_entries(run, root, entries, SPEC, torch.device("cpu"), 3, 1, "faults", timeout=2.0)
    assert set(got["failed"]) == {1, 4, 6}
    assert got["failed"][1].startswith("not a decodable video")
    assert got["failed"][4] == "decoding took over 2 s (worker killed)"
    assert got["failed"][6] == "the decoder crashed its worker process"
    ok = [0, 2, 3, 5, 7]
    for key in ("action_probs", "scene_probs"):
        np.testing.assert_allclose(got[key][ok], clean[key][ok], rtol=0, atol=1e-6)  # other batch shapes
        assert np.isnan(got[key][[1, 4, 6]]).all()


def _prediction_files(run_dir: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (run_dir / "eval/predictions").glob("*.npz")}


def test_eval_killed_mid_suite_resumes_from_the_saved_splits(tiny_benchmark, tmp_path, monkeypatch):
    monkeypatch.setenv("DEVIAS_SYNTH_ROOT", str(tiny_benchmark))
    suite = Path(__file__).parent.parent / "pipelines/eval/synthetic.yaml"
    reference = fabricate_run(tmp_path / "reference", tiny_benchmark)
    want = evaluate(reference, load_suite(suite), device="cpu", workers=0)

    killed = fabricate_run(tmp_path / "killed", tiny_benchmark)
    # the fourth split's first video hangs (no worker processes: nothing bounds it) after three splits were saved
    hang = read_list(tiny_benchmark / "lists/scuba-sinusoid.txt")[0].path
    proc = subprocess.Popen([sys.executable, "-m", "devias_tk", "eval", "--run", str(killed), "--suite", str(suite),
                             "--device", "cpu", "--jobs", "0"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, FAULT_ENV: f"hang:{hang}"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(_prediction_files(killed)) < 3:
        assert proc.poll() is None
        time.sleep(0.1)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    saved = _prediction_files(killed)
    assert len(saved) == 3 and not (killed / "eval/synthetic/report.json").exists()
    assert not list((killed / "eval/predictions").glob(".*partial*"))  # kill -9 leaves no torn file in sight

    got = evaluate(killed, load_suite(suite), device="cpu", workers=0)
    assert {k: v for k, v in _prediction_files(killed).items() if k in saved} == saved  # not predicted again
    for key in ("seen_action", "seen_scene", "unseen_action", "unseen_scene", "hm", "splits"):
        assert got[key] == want[key], key


def test_eval_stops_on_a_full_disk_naming_the_predictions_file(run, tiny_benchmark, tmp_path, monkeypatch):
    entries = read_list(tiny_benchmark / "lists/test.txt")[:2]
    result = predict_entries(run, tiny_benchmark, entries, SPEC, torch.device("cpu"), 2, 0, "test")

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("devias_tk.evaluate.predict.np.savez_compressed", full)
    target = tmp_path / "eval/predictions/test-0123.npz"
    with pytest.raises(DiskFullError, match=rf"^{target}: no space left on device"):
        save_predictions(target, {"k": 1}, result, entries)
    assert list(target.parent.iterdir()) == []
