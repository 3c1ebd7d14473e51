"""The guarded loader: a failed item is replaced by a function of its key alone, a hung or crashing decode in a
worker process is killed and handled like a failure, and batches come out as without worker processes."""

from __future__ import annotations

import json
import os
import threading
import time

import numpy as np
import pytest
import torch

from devias_tk.data.guarded import FAULT_KEY, GuardedItems, GuardedLoader, collate_readable
from devias_tk.data.video import DECODER_ENV
from devias_tk.errors import DeviasError, VideoReadError
from devias_tk.utils.workers import FAULT_ENV

PATHS = [f"videos/v{i}.avi" for i in range(12)]
GROUPS = [i % 3 for i in range(12)]  # "action classes": 0, 1, 2, 0, 1, 2, ...


class Numbers:
    """Item (epoch, index[, salt]) -> a value spelling its key; the videos in `bad` fail to decode."""

    def __init__(self, bad: tuple[int, ...] = ()) -> None:
        self.bad = bad

    def __len__(self) -> int:
        return len(PATHS)

    def __getitem__(self, key):
        epoch, index, *salt = key if isinstance(key, tuple) else (0, key)
        if index in self.bad:
            raise VideoReadError(PATHS[index], "truncated or corrupt")
        return {"x": torch.tensor(1000 * epoch + 10 * index + (salt[0] if salt else 0)), "group": GROUPS[index]}


def _keys(epoch: int) -> list[tuple[int, int]]:
    return [(epoch, i) for i in np.random.default_rng(epoch).permutation(len(PATHS)).tolist()]


def test_a_failed_item_is_replaced_from_its_key_alone_and_recorded():
    items = GuardedItems(Numbers(bad=(4,)), PATHS, "replace", seed=5, groups=GROUPS)
    item = items[(2, 4)]
    stand_in = items.replacement(2, 4, 0)
    assert stand_in != 4 and GROUPS[stand_in] == GROUPS[4]  # the same class keeps the batch's balance
    assert int(item["x"]) == 2000 + 10 * stand_in + 1  # the stand-in's own draw (salt 1)
    assert json.loads(item[FAULT_KEY]) == [{"index": 4, "video": "videos/v4.avi", "reason": "truncated or corrupt",
                                            "replacement": PATHS[stand_in]}]
    again = GuardedItems(Numbers(bad=(4,)), PATHS, "replace", seed=5, groups=GROUPS)
    assert int(again[(2, 4)]["x"]) == int(item["x"])  # a fresh process (a resumed run) draws the same
    assert items[(2, 5)][FAULT_KEY] == ""
    other_seed = {GuardedItems(Numbers(), PATHS, seed=s, groups=GROUPS).replacement(2, 4, 0) for s in range(20)}
    assert other_seed == {1, 7, 10}  # every other video of class 1, depending on the seed
    # a stand-in that fails too is replaced in turn, by a video not tried yet; a class whose videos all fail
    # gives way to the other classes after three draws
    chain = GuardedItems(Numbers(bad=(1, 4, 7, 10)), PATHS, "replace", seed=5, groups=GROUPS)[(2, 4)]
    records = json.loads(chain[FAULT_KEY])
    assert sorted(r["index"] for r in records) == [1, 4, 7, 10]
    assert {r["replacement"] for r in records} == {PATHS[int(chain["x"]) % 1000 // 10]}
    assert int(chain["x"]) % 1000 // 10 not in (1, 4, 7, 10) and int(chain["x"]) % 10 == 4  # salt: 4th stand-in
    with pytest.raises(DeviasError, match="8 videos in a row failed to decode for one sample"):
        GuardedItems(Numbers(bad=tuple(range(12))), PATHS, "replace")[(0, 3)]


def test_report_mode_gives_the_reason_in_place_of_the_item():
    items = GuardedItems(Numbers(bad=(2,)), PATHS, "report")
    assert items[2] == {"index": 2, "error": "truncated or corrupt"}
    assert int(items[3]["x"]) == 30


def _epochs(loader: GuardedLoader, keys: dict[int, list]) -> list[list[int]]:
    out = []
    for epoch in (0, 1):
        loader.sampler = keys[epoch]
        out += [batch["x"].tolist() for batch in loader]
    return out


@pytest.mark.parametrize("context", ["spawn", "forkserver"])
def test_hung_and_crashing_decodes_in_workers_cost_one_sample_each(monkeypatch, context):
    keys = {e: _keys(e) for e in (0, 1)}
    # without workers, v3 and v8 fail with an exception: the reference batches
    reference = GuardedLoader(GuardedItems(Numbers(bad=(3, 8)), PATHS, "replace", seed=1, groups=GROUPS), 4)
    want = _epochs(reference, keys)
    # in a worker process v3 hangs and v8 kills its worker: both are killed, marked and replaced the same way
    monkeypatch.setenv(FAULT_ENV, "hang:v3.avi,crash:v8.avi")
    guarded = GuardedItems(Numbers(), PATHS, "replace", seed=1, groups=GROUPS, timeout=1.0)
    loader = GuardedLoader(guarded, 4, workers=1, context=context)  # the faults reach a forkserver's workers too
    try:
        got = _epochs(loader, keys)
    finally:
        loader.close()
    assert got == want
    assert loader.restarts == 2  # once per bad video: the second epoch knows them already
    assert guarded.known_bad == {3: "decoding took over 1 s (worker killed)",
                                 8: "the decoder crashed its worker process"}


class StallsOnce(GuardedItems):
    """A worker that stops before taking its first item (as one deadlocked at start-up would), once per marker:
    the stall is outside the decode, so no item is ever in flight."""

    def __init__(self, marker, always: bool = False) -> None:
        super().__init__(Numbers(), PATHS, "report", timeout=1.0)
        self.marker, self.always = marker, always

    def __getitem__(self, key):
        if self.always or not self.marker.exists():
            self.marker.touch()
            while True:
                time.sleep(1)
        return super().__getitem__(key)


def test_workers_that_take_no_work_are_restarted_without_blaming_a_video(tmp_path):
    items = StallsOnce(tmp_path / "stalled")
    loader = GuardedLoader(items, 4, workers=1, collate_fn=collate_readable, context="fork", idle_limit=2.0)
    try:
        got = [int(x) for batch in loader for x in batch["x"]]
    finally:
        loader.close()
    assert got == [10 * i for i in range(len(PATHS))]  # every item, in order, after one restart
    assert loader.restarts == 1 and items.known_bad == {}


def test_workers_that_never_take_work_stop_the_loader_with_an_error(tmp_path):
    loader = GuardedLoader(StallsOnce(tmp_path / "stalled", always=True), 4, workers=1, collate_fn=collate_readable,
                           context="fork", idle_limit=1.5)
    try:
        with pytest.raises(DeviasError, match=r"stopped taking work \(no worker took an item for \d s, 3 restarts"):
            list(loader)
    finally:
        loader.close()
    assert loader.restarts == 3


class ParentPid(GuardedItems):
    def __getitem__(self, key):
        return {"x": torch.tensor(os.getppid())}


def test_forkserver_workers_are_not_forked_from_this_threaded_process():
    threading.Thread(target=time.sleep, args=(0.5,)).start()  # a parent with another thread, as zarr's IO loop
    loader = GuardedLoader(ParentPid(Numbers(), PATHS, "report"), 4, workers=2, context="forkserver")
    try:
        parents = {int(x) for batch in loader for x in batch["x"]}
    finally:
        loader.close()
    assert len(parents) == 1 and os.getpid() not in parents  # both workers come from the one fork server


class DecoderSeen(GuardedItems):
    def __getitem__(self, key):
        return {"x": torch.tensor(["unset", "decord", "pyav"].index(os.environ.get(DECODER_ENV, "unset")))}


def test_a_fork_servers_workers_see_this_process_environment_of_now(monkeypatch):
    """The server keeps the environment it started with; the loader's items carry the decoder choice and the
    fault injection of the moment they were made, set and unset alike."""
    monkeypatch.delenv(DECODER_ENV, raising=False)
    seen = []
    for value in ("pyav", "decord", None):
        if value is None:
            monkeypatch.delenv(DECODER_ENV)
        else:
            monkeypatch.setenv(DECODER_ENV, value)
        loader = GuardedLoader(DecoderSeen(Numbers(), PATHS, "report"), 6, workers=2, context="forkserver")
        try:
            seen.append({int(x) for batch in loader for x in batch["x"]})
        finally:
            loader.close()
    assert seen == [{2}, {1}, {0}]
