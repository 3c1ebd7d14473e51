"""One window's rows of a video's arrays in a store, read the way a loader worker needs them: fast.

A training item needs row k of two or three small arrays of one video group. Through zarr-python each
read opens the group and the array (JSON parsing, an asyncio round trip each) before it decodes the chunk;
at these sizes that overhead is most of the cost. The stores' writers (`VideoStore.commit`) make plain
arrays: a regular chunk grid along the window axis, the default chunk keys, bytes + zstd. For exactly that
layout `read_rows` parses the array's metadata once per process and array shape, reads the one chunk file
holding row k and decompresses it; any other layout (sharding, other codecs, a missing chunk) goes through
zarr, so the result is zarr's either way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from numcodecs import Zstd

from devias_tk.cache.store import VIDEOS, VideoStore, video_key

_ZSTD = Zstd()


@lru_cache(maxsize=4096)
def _plain_layout(meta_text: str) -> tuple[tuple[int, ...], tuple[int, ...], np.dtype, str, bool] | None:
    """(shape, chunk shape, dtype, separator, zstd) of an array `read_rows` decodes itself; None: leave it to
    zarr."""
    meta = json.loads(meta_text)
    codecs = meta.get("codecs", [])
    names = [c.get("name") for c in codecs]
    if names not in (["bytes", "zstd"], ["bytes"]) or meta.get("chunk_grid", {}).get("name") != "regular":
        return None
    keys = meta.get("chunk_key_encoding", {})
    endian = (codecs[0].get("configuration") or {}).get("endian", "little")
    if keys.get("name") != "default" or endian not in ("little", None) or meta.get("storage_transformers"):
        return None
    try:
        dtype = np.dtype(meta["data_type"]).newbyteorder("<")
    except TypeError:
        return None
    chunks = tuple(meta["chunk_grid"]["configuration"]["chunk_shape"])
    return (tuple(meta["shape"]), chunks, dtype, keys.get("configuration", {}).get("separator", "/"),
            len(names) == 2)


def _read_plain(folder: Path, k: int) -> np.ndarray | None:
    try:
        layout = _plain_layout((folder / "zarr.json").read_text())
    except FileNotFoundError:
        return None  # no such group or array: zarr's error names it
    if layout is None:
        return None
    shape, chunks, dtype, sep, compressed = layout
    if not 0 <= k < shape[0] or any(c != s for c, s in zip(chunks[1:], shape[1:], strict=True)):
        return None  # out of range (zarr raises the error), or chunked along other axes too
    c = k // chunks[0]
    chunk_file = folder / sep.join(["c", str(c), *("0" * (len(shape) - 1))])
    try:
        raw = chunk_file.read_bytes()
    except FileNotFoundError:
        return None  # an unwritten chunk: zarr knows the fill value
    data = _ZSTD.decode(raw) if compressed else raw
    block = np.frombuffer(data, dtype).reshape(chunks)  # edge chunks are stored whole, padded
    return block[k - c * chunks[0]].astype(dtype.newbyteorder("="), copy=True)


def read_rows(store: VideoStore, video: str, names: Sequence[str], k: int) -> list[np.ndarray]:
    """Row k (window k) of each named array of `video`'s group, as zarr would return `group[name][k]`."""
    group_dir = store.path / VIDEOS / video_key(video)
    out: list[np.ndarray | None] = [_read_plain(group_dir / name, k) for name in names]
    if any(row is None for row in out):
        group = store.group(video)
        out = [row if row is not None else group[name][k] for row, name in zip(out, names, strict=True)]
    return out  # type: ignore[return-value]
