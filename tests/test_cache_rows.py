"""`read_rows` returns what zarr returns for a window's rows, by its own chunk read or through zarr."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from zarr.storage import LocalStore

from devias_tk.cache.rows import read_rows
from devias_tk.cache.store import VIDEOS, VideoStore, video_key
from devias_tk.errors import DeviasError


def test_rows_equal_zarr_reads_across_chunks_dtypes_and_layouts(tmp_path):
    store = VideoStore.open_or_create(tmp_path / "s.zarr", {"kind": "test"}, ("kind",))
    rng = np.random.default_rng(0)
    soft = rng.integers(0, 256, (5, 6, 7), dtype=np.uint8)
    probs = rng.random((5, 3, 4)).astype(np.float16)
    # chunks of 2 windows: row 4 sits in a padded edge chunk
    store.commit("a/b c.avi", {"soft": (soft, (2, 6, 7)), "probs": (probs, (5, 3, 4))}, {"num_frames": 9})
    group = zarr.open_group(store=LocalStore(store.path / VIDEOS / video_key("a/b c.avi")), mode="a")
    sharded = group.create_array("sharded", shape=soft.shape, dtype=soft.dtype, chunks=(1, 6, 7), shards=(5, 6, 7))
    sharded[...] = soft
    for k in range(5):
        got_soft, got_probs, got_sharded = read_rows(store, "a/b c.avi", ("soft", "probs", "sharded"), k)
        assert np.array_equal(got_soft, soft[k]) and got_soft.dtype == np.uint8 and got_soft.flags.writeable
        assert np.array_equal(got_probs, probs[k]) and got_probs.dtype == np.float16
        assert np.array_equal(got_sharded, soft[k])  # a layout it leaves to zarr
    with pytest.raises(DeviasError, match="no entry"):
        read_rows(store, "missing.avi", ("soft",), 0)
