import json
import multiprocessing as mp
import os
import subprocess
import sys

import numpy as np
import pytest

from devias_tk.cache.store import PARTIAL, VideoStore, key_to_path, video_key
from devias_tk.errors import DeviasError

ATTRS = {"kind": "test", "size": 8}


def _store(tmp_path):
    return VideoStore.open_or_create(tmp_path / "s.zarr", ATTRS, ("kind", "size"))


def test_keys_round_trip_and_are_flat():
    path = "videos/a b/c%d.avi"
    assert "/" not in video_key(path) and key_to_path(video_key(path)) == path


def test_a_path_that_leaves_the_root_is_stored_and_found(tmp_path):
    # the make chains list HAT swaps relative to HAT_ROOT from another folder: '../../work/hat/...json'
    path = "../../work/hat/hat_swaps/hat-rand-1/Run/v.json"
    assert not video_key(path).startswith(".") and key_to_path(video_key(path)) == path
    store = _store(tmp_path)
    store.commit(path, {"soft": (np.zeros((1, 2), np.uint8), (1, 2))}, {})
    store.commit(".hidden.avi", {"soft": (np.zeros((1, 2), np.uint8), (1, 2))}, {})
    assert store.done() == {path, ".hidden.avi"} and store.has(path)
    assert store.group(path)["soft"].shape == (1, 2)


def test_commit_then_read(tmp_path):
    store = _store(tmp_path)
    data = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    store.commit("v/a.avi", {"soft": (data, (1, 3, 4))}, {"starts": [0, 4]})
    assert store.done() == {"v/a.avi"} and store.has("v/a.avi")
    group = store.group("v/a.avi")
    np.testing.assert_array_equal(group["soft"][1], data[1])
    assert group["soft"].chunks == (1, 3, 4)
    assert store.video_attrs("v/a.avi") == {"starts": [0, 4], "path": "v/a.avi"}
    root = json.loads((store.path / "zarr.json").read_text())
    assert root["attributes"]["kind"] == "test" and root["node_type"] == "group"


def test_other_settings_are_refused(tmp_path):
    _store(tmp_path)
    with pytest.raises(DeviasError, match=r"size: store has 8, this run has 9"):
        VideoStore.open_or_create(tmp_path / "s.zarr", {**ATTRS, "size": 9}, ("kind", "size"))
    with pytest.raises(DeviasError, match="not a devias-tk store"):
        VideoStore(tmp_path)


def test_failures_are_recorded_and_cleared_by_success(tmp_path):
    store = _store(tmp_path)
    store.record_failure("v/b.avi", "file not found")
    assert store.failures() == {"v/b.avi": "file not found"} and store.done() == set()
    store.record_failure("v/b.avi", "empty file (0 bytes)")
    assert store.failures() == {"v/b.avi": "empty file (0 bytes)"}
    store.commit("v/b.avi", {"x": (np.zeros((1, 1), np.uint8), (1, 1))}, {})
    assert store.failures() == {} and store.done() == {"v/b.avi"}


def test_partial_work_is_invisible_and_cleaned_after_its_process_died(tmp_path):
    store = _store(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    stale = store.path / PARTIAL / f"{socket.gethostname()}-{int(dead.stdout)}-abc"
    (stale / "x").mkdir(parents=True)
    (stale / "zarr.json").write_text("{}")
    alive = store.path / PARTIAL / f"{socket.gethostname()}-{os.getpid()}-def"
    alive.mkdir()
    assert store.done() == set()
    assert store.remove_stale_partials() == 1
    assert not stale.exists() and alive.exists()


def _writer(path: str, worker: int, count: int) -> None:
    store = VideoStore(path)
    for i in range(count):
        data = np.full((3, 16, 16), worker * 50 + i, np.uint8)
        store.commit(f"w{worker}/v{i}.avi", {"soft": (data, (1, 16, 16))}, {"worker": worker})


def test_concurrent_writers_lose_nothing(tmp_path):
    store = _store(tmp_path)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(store.path), w, 15)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert len(store.done()) == 60
    for w in range(4):
        for i in range(15):
            assert (store.group(f"w{w}/v{i}.avi")["soft"][...] == w * 50 + i).all()
    assert list((store.path / PARTIAL).iterdir()) == []


def test_dotted_identity_keys_compare_one_nested_field(tmp_path):
    attrs = {"kind": "test", "model": {"file": "a.pt", "sha256": "abc"}}
    VideoStore.open_or_create(tmp_path / "s.zarr", attrs, ("kind", "model.sha256"))
    renamed = {"kind": "test", "model": {"file": "b.pt", "sha256": "abc"}}
    VideoStore.open_or_create(tmp_path / "s.zarr", renamed, ("kind", "model.sha256"))  # same weights: accepted
    with pytest.raises(DeviasError, match=r"model.sha256: store has 'abc', this run has 'def'"):
        VideoStore.open_or_create(tmp_path / "s.zarr", {"kind": "test", "model": {"sha256": "def"}},
                                  ("kind", "model.sha256"))
