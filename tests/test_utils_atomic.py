"""Durable writes: the file's data reaches the disk before the rename, the directory entry after it; a store
commit flushes every staged file before its group is renamed into place."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from devias_tk.cache.store import VideoStore, video_key
from devias_tk.utils import atomic


@pytest.fixture()
def events(monkeypatch) -> list[tuple[str, str]]:
    """("fsync", path) and ("rename", target) in the order they happen."""
    log: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        log.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst) -> None:
        real_replace(src, dst)
        log.append(("rename", str(dst)))

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    monkeypatch.setattr(atomic.os, "replace", replace)
    return log


def test_an_atomic_write_flushes_the_file_then_the_directory_around_the_rename(tmp_path, events):
    target = tmp_path / "out" / "report.json"
    atomic.atomic_write_text(target, "{}\n")
    assert target.read_text() == "{}\n" and [p.name for p in target.parent.iterdir()] == ["report.json"]
    folder = str(target.parent)
    [(kind, temporary)] = events[:1]
    assert kind == "fsync" and Path(temporary).name.startswith(".report.json.") and temporary.endswith(".partial.json")
    assert events[1:] == [("fsync", folder), ("rename", str(target)), ("fsync", folder)]


def test_keep_previous_moves_the_replaced_file_aside_first(tmp_path, events):
    target = tmp_path / "last.pt"
    atomic.atomic_write_bytes(target, b"one")
    with atomic.atomic_path(target, keep_previous=tmp_path / "previous.pt") as tmp:
        tmp.write_bytes(b"two")
    assert target.read_bytes() == b"two" and (tmp_path / "previous.pt").read_bytes() == b"one"
    renames = [e[1] for e in events if e[0] == "rename"]
    assert renames == [str(target), str(tmp_path / "previous.pt"), str(target)]


def test_a_store_commit_flushes_every_staged_file_before_the_group_appears(tmp_path, events):
    store = VideoStore.open_or_create(tmp_path / "s.zarr", {"kind": "test"}, ("kind",))
    events.clear()
    store.commit("v/a.avi", {"soft": (np.ones((2, 3), np.uint8), (2, 3))}, {"n": 1})
    group = store.path / "videos" / video_key("v/a.avi")
    rename = events.index(("rename", str(group)))
    flushed = [Path(p) for kind, p in events[:rename] if kind == "fsync"]
    # inside the staging folder _partial/<host-pid-uuid>/: every file and folder the group holds
    staged = {Path(*p.parts[p.parts.index("_partial") + 2 :]) for p in flushed if "_partial" in p.parts}
    held = {p.relative_to(group) for p in group.rglob("*")} | {Path()}
    assert held <= staged and len(held) >= 5  # the group, its zarr.json, the array's folder, zarr.json, chunk
    assert events[rename + 1] == ("fsync", str(store.path / "videos"))
    assert store.done() == {"v/a.avi"} and list((store.path / "_partial").iterdir()) == []


def test_an_atomic_write_gives_an_ordinary_file_mode(tmp_path):
    target = tmp_path / "config.yaml"
    atomic.atomic_write_text(target, "a: 1\n")
    umask = os.umask(0o022)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() makes it, not mkstemp's 0o600
