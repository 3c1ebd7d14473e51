"""`eval` and `predict` on imperfect data: a video that cannot be read, hangs its decoder or crashes its
worker is recorded with its reason and the others are scored as they would be without it."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from run_fixtures import fabricate_run

from devias_tk.data.dataset import ClipSpec
from devias_tk.data.lists import read_list
from devias_tk.evaluate.predict import load_run, predict_entries
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
