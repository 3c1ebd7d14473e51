"""The guarded loader: a failed item is replaced by a function of its key alone, a hung or crashing decode in a
worker process is killed and handled like a failure, and batches come out as without worker processes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from devias_tk.data.guarded import FAULT_KEY, GuardedItems, GuardedLoader
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


def test_hung_and_crashing_decodes_in_workers_cost_one_sample_each(monkeypatch):
    keys = {e: _keys(e) for e in (0, 1)}
    # without workers, v3 and v8 fail with an exception: the reference batches
    reference = GuardedLoader(GuardedItems(Numbers(bad=(3, 8)), PATHS, "replace", seed=1, groups=GROUPS), 4)
    want = _epochs(reference, keys)
    # in a worker process v3 hangs and v8 kills its worker: both are killed, marked and replaced the same way
    monkeypatch.setenv(FAULT_ENV, "hang:v3.avi,crash:v8.avi")
    guarded = GuardedItems(Numbers(), PATHS, "replace", seed=1, groups=GROUPS, timeout=1.0)
    loader = GuardedLoader(guarded, 4, workers=1)
    try:
        got = _epochs(loader, keys)
    finally:
        loader.close()
    assert got == want
    assert loader.restarts == 2  # once per bad video: the second epoch knows them already
    assert guarded.known_bad == {3: "decoding took over 1 s (worker killed)",
                                 8: "the decoder crashed its worker process"}
