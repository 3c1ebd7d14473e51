"""A Zarr v3 store holding one group per video, written atomically and resumably.

Layout::

    STORE.zarr/
      zarr.json                 root group; attrs: kind, format, stage parameters, source list hash, version
      videos/<key>/             one group per finished video (arrays + attrs); <key> = URL-quoted list path
      failures/<key>/           one empty group per failed video; attrs: path, reason
      _partial/                 work in progress (not a Zarr node); renamed into place when complete
      _locks/                   one lock file per running writer's shard (devias_tk.utils.locks; not a Zarr node)

A video's group is built under `_partial/` and moved into `videos/` with one rename, so readers
and re-runs see a video either complete or not at all, and concurrent writers (worker processes,
several machines on a shared filesystem with `--shard`) never touch the same files. A stage run locks
its shard (`open_for_run(..., writer=...)`): a second run on an overlapping shard stops, naming the first.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import numpy as np
import zarr
from zarr.codecs import ZstdCodec
from zarr.storage import LocalStore

from devias_tk.errors import DeviasError, DiskFullError
from devias_tk.utils.atomic import durable_replace, fsync_tree
from devias_tk.utils.diskfull import disk_full_error, disk_full_guard, human_bytes
from devias_tk.utils.locks import ProcessLock, lock_shard
from devias_tk.utils.words import reason_line
from devias_tk.utils.workers import injected

FORMAT = "devias-tk/video-store/1"
VIDEOS, FAILURES, PARTIAL, LOCKS = "videos", "failures", "_partial", "_locks"


def video_key(path: str) -> str:
    """A flat, reversible group name for a list path. A leading '.' is escaped too: names starting with '.'
    are the store's hidden working entries, and lists relative to another root start with '../'."""
    key = quote(path, safe="")
    return "%2E" + key[1:] if key.startswith(".") else key


def key_to_path(key: str) -> str:
    return unquote(key)


def file_sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _jsonable(value: object) -> object:
    return json.loads(json.dumps(value))


def _lookup(attrs: Mapping, key: str) -> object:
    """`attrs[key]`, where a dotted key ('model.sha256') reaches into nested dicts; None if absent."""
    value: object = attrs
    for part in key.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


class VideoStore:
    """Per-video groups under one root; see the module docstring for the layout."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        meta = self.path / "zarr.json"
        if not meta.is_file():
            raise DeviasError(f"{self.path}: not a devias-tk store (no zarr.json)")
        self.attrs: dict = json.loads(meta.read_text()).get("attributes", {})
        if self.attrs.get("format") != FORMAT:
            raise DeviasError(f"{self.path}: not a devias-tk store (format {self.attrs.get('format')!r})")
        self.writer_lock: ProcessLock | None = None  # held by a stage run writing a shard (open_for_run)

    def release(self) -> None:
        """Drop this run's writer lock (the kernel drops it too when the process dies)."""
        if self.writer_lock is not None:
            self.writer_lock.release()
            self.writer_lock = None

    # ------------------------------------------------------------------ creating and checking

    @classmethod
    def open_or_create(cls, path: str | os.PathLike, attrs: Mapping, identity: tuple[str, ...]) -> VideoStore:
        """Open a store whose `identity` attributes equal `attrs`' ones, or create it.

        An identity key may be dotted ('model.sha256') to compare one field of a nested attribute.

        Creation builds the root in a temporary folder and renames it, so several processes or
        machines starting together agree on one root.
        """
        path = Path(path)
        attrs = _jsonable({**attrs, "format": FORMAT})
        if not path.exists():
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
            root = zarr.open_group(store=LocalStore(tmp), mode="w", zarr_format=3)
            root.attrs.update(attrs)
            root.create_group(VIDEOS)
            root.create_group(FAILURES)
            try:
                os.rename(tmp, path)
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)  # another process created it first
            if not path.exists():
                raise DeviasError(f"{path}: could not create the store")
        store = cls(path)
        differences = [
            f"{k}: store has {_lookup(store.attrs, k)!r}, this run has {_lookup(attrs, k)!r}"
            for k in identity
            if _lookup(store.attrs, k) != _lookup(attrs, k)
        ]
        if differences:
            raise DeviasError(
                f"{path} was built with other settings ({'; '.join(differences)}); "
                "use another --out or delete the store"
            )
        (path / PARTIAL).mkdir(exist_ok=True)
        return store

    # ------------------------------------------------------------------ listing

    def _keys(self, folder: str) -> set[str]:
        base = self.path / folder
        if not base.is_dir():
            return set()
        return {p.name for p in base.iterdir() if not p.name.startswith(".") and (p / "zarr.json").is_file()}

    def done(self) -> set[str]:
        """List paths of the videos whose group is complete."""
        return {key_to_path(k) for k in self._keys(VIDEOS)}

    def failures(self) -> dict[str, str]:
        """List path -> recorded failure reason."""
        out = {}
        for key in self._keys(FAILURES):
            meta = json.loads((self.path / FAILURES / key / "zarr.json").read_text())
            out[key_to_path(key)] = meta.get("attributes", {}).get("reason", "?")
        return out

    def has(self, video: str) -> bool:
        return (self.path / VIDEOS / video_key(video) / "zarr.json").is_file()

    # ------------------------------------------------------------------ writing

    def _staging_dir(self) -> Path:
        return self.path / PARTIAL / f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex}"

    def _move_into(self, staging: Path, folder: str, video: str) -> None:
        """Rename a staged group into place, its files flushed to disk before and the rename after (durable
        against a power loss, not only a killed process)."""
        target = self.path / folder / video_key(video)
        fsync_tree(staging)
        if target.exists():  # a re-recorded failure, or the same video finished twice
            shutil.rmtree(target)
        durable_replace(staging, target)

    def commit(self, video: str, arrays: Mapping[str, tuple[np.ndarray, tuple[int, ...]]], attrs: Mapping) -> None:
        """Write a video's arrays (data, chunk shape) and attributes, then make them visible at once.

        Chunks are zstd-compressed; callers choose chunk shapes so that one video's array is one or
        a few files (small chunks cost more to write than they save on reads at these sizes).
        """
        staging = self._staging_dir()
        needed = sum(data.nbytes for data, _ in arrays.values())  # uncompressed: at most this much
        try:
            with disk_full_guard(self.path, needed):
                group = zarr.open_group(store=LocalStore(staging), mode="w", zarr_format=3)
                for name, (data, chunks) in arrays.items():
                    arr = group.create_array(
                        name, shape=data.shape, dtype=data.dtype, chunks=chunks, compressors=ZstdCodec(level=3)
                    )
                    arr[...] = data
                    if injected("enospc", video):  # tests: the disk fills after the first array
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(staging / name))
                group.attrs.update(_jsonable({**attrs, "path": video}))
                self._move_into(staging, VIDEOS, video)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        self.clear_failure(video)

    def record_failure(self, video: str, reason: str) -> None:
        staging = self._staging_dir()
        try:
            with disk_full_guard(self.path):
                group = zarr.open_group(store=LocalStore(staging), mode="w", zarr_format=3)
                group.attrs.update({"path": video, "reason": reason_line(reason)})
                self._move_into(staging, FAILURES, video)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def clear_failure(self, video: str) -> None:
        target = self.path / FAILURES / video_key(video)
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)

    def remove_stale_partials(self) -> int:
        """Delete work left in `_partial/` by dead processes of this host (killed runs)."""
        base = self.path / PARTIAL
        if not base.is_dir():
            return 0
        host = socket.gethostname()
        removed = 0
        for entry in base.iterdir():
            parts = entry.name.rsplit("-", 2)  # host-pid-uuid; host names may contain '-'
            if len(parts) == 3 and parts[0] == host and parts[1].isdigit() and not _pid_alive(int(parts[1])):
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        return removed

    def bytes_per_video(self, sample: int = 32) -> float | None:
        """Mean size on disk of up to `sample` finished groups; None when there is none."""
        base = self.path / VIDEOS
        groups = [p for p in base.iterdir() if p.is_dir()][:sample] if base.is_dir() else []
        if not groups:
            return None
        return sum(f.stat().st_size for g in groups for f in g.rglob("*") if f.is_file()) / len(groups)

    def out_of_space(self, needed: int | None, remaining: int) -> DiskFullError:
        """The error of a stage run that filled the disk: this store, the size of the write that failed, and what
        the `remaining` videos need at this store's average so far."""
        average = self.bytes_per_video()
        detail = (f"; the {remaining} videos still to do need about {human_bytes(average * remaining)} more "
                  f"({human_bytes(average)} a video so far)") if average and remaining else ""
        return disk_full_error(self.path, needed, detail)

    # ------------------------------------------------------------------ reading

    def group(self, video: str) -> zarr.Group:
        if not self.has(video):
            raise DeviasError(f"{self.path}: no entry for {video!r}")
        return zarr.open_group(store=LocalStore(self.path / VIDEOS / video_key(video), read_only=True), mode="r")

    def video_attrs(self, video: str) -> dict:
        meta = self.path / VIDEOS / video_key(video) / "zarr.json"
        if not meta.is_file():
            raise DeviasError(f"{self.path}: no entry for {video!r}")
        return json.loads(meta.read_text()).get("attributes", {})


@dataclass
class StageSummary:
    """What a per-video stage run (`masks extract`, `scenes label`, `features`) reports; `finish_run` fills in
    the failures, the timings and the seconds."""

    store: Path
    listed: int  # videos in this shard of the list
    skipped: int  # already in the store
    done: int = 0  # finished in this run
    failed: dict[str, str] = field(default_factory=dict)  # path -> reason, this shard, after the run
    padded: list[str] = field(default_factory=list)  # shorter than one window (`features`: always empty)
    partial: dict[str, str] = field(default_factory=dict)  # path -> note: partly decodable, done in this run
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # summed per-video seconds by phase


def open_for_run(
    out: str | os.PathLike, attrs: Mapping, identity: tuple[str, ...], entries: list, shard: tuple[int, int],
    retry_failed: bool, log: Callable[[str], None], writer: str | None = None,
) -> tuple[VideoStore, list, list]:
    """What a per-video stage run does first: open or create its store, lock its shard (`writer`: the
    stage's name for the error another run gets; release with `store.release()`), clear a killed run's
    partial work, and split this shard of `entries` (objects with `.path`) into (mine, still to do)."""
    mine = entries[shard[0] :: shard[1]]
    store = VideoStore.open_or_create(out, attrs, identity)
    if writer is not None:
        store.writer_lock = lock_shard(store.path / LOCKS, shard, f"{writer} {store.path}")
    removed = store.remove_stale_partials()
    if removed:
        log(f"removed {removed} partial entries left by an interrupted run")
    done = store.done()
    failed_before = store.failures()
    todo = [e for e in mine if e.path not in done and (retry_failed or e.path not in failed_before)]
    return store, mine, todo


def finish_run(store: VideoStore, summary: Any, mine: list, timings: dict[str, float], started: float) -> Any:
    """The close of a per-video stage run: `summary` (a `StageSummary`) gets this shard's failures as the store
    records them, the timings and the wall seconds since `started` (time.perf_counter)."""
    final = store.failures()
    summary.failed = {e.path: final[e.path] for e in mine if e.path in final}
    summary.timings = timings
    summary.seconds = time.perf_counter() - started
    return summary
