"""Advisory locks (fcntl.flock) that keep two processes from writing one output, and name the holder.

A lock is a file holding the owner's pid, host, command and start time, locked for as long as the
owner's process lives: the kernel drops it when the process exits, even under kill -9, so a lock
never goes stale. Another process that finds it held is told who holds it. On NFS, Linux maps flock
onto the server's byte-range locks, so processes on other machines see it too.

Stores allow several writers by design (`--shard i/n`): each run locks its own shard, and refuses to
start while a held lock covers an overlapping shard (same i and n, or any shard against a whole-list
run; 0/2 and 1/4 never share a video, 0/2 and 2/4 do).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import socket
import sys
import time
from pathlib import Path

from devias_tk.errors import DeviasError

ACQUIRE_TRIES = 20  # another process may be probing our lock file for a moment (see `_held_by_other`)


def _owner() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv),
            "started": time.strftime("%Y-%m-%d %H:%M:%S")}


def describe_owner(path: Path) -> str:
    try:
        owner = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        owner = {}
    if not owner:
        return "another process (no owner recorded)"
    return (f"pid {owner.get('pid')} on host {owner.get('host')}, started {owner.get('started')}, "
            f"command: {owner.get('command')}")


class ProcessLock:
    """An exclusive flock on `path`, held until `release()` or the process exits."""

    def __init__(self, path: Path, fd: int, extra: dict | None = None) -> None:
        self.path, self._fd = path, fd
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps({**_owner(), **(extra or {})}) + "\n").encode(), 0)

    @classmethod
    def try_acquire(cls, path: Path, extra: dict | None = None) -> ProcessLock | None:
        """The lock, or None when another process holds it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        for _ in range(ACQUIRE_TRIES):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return cls(path, fd, extra)
            except BlockingIOError:
                time.sleep(0.05)
        os.close(fd)
        return None

    def release(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = -1

    def __del__(self) -> None:
        self.release()


def _held_by_other(path: Path) -> bool:
    """Whether a process holds `path` locked (probed with a shared lock taken and dropped at once)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def lock_output(path: Path, what: str) -> ProcessLock:
    """Lock a single-writer output (a run directory): `path` is its lock file."""
    lock = ProcessLock.try_acquire(path)
    if lock is None:
        raise DeviasError(f"{what} is being written by another process ({describe_owner(path)}); wait for it to "
                          "finish or stop it, or use another --out")
    return lock


def shards_overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether list shards i/n (entries i, i+n, i+2n, ...) share an entry: i1 = i2 modulo gcd(n1, n2)."""
    g = math.gcd(a[1], b[1])
    return a[0] % g == b[0] % g


def lock_shard(folder: Path, shard: tuple[int, int], what: str) -> ProcessLock:
    """Lock shard i/n of a store (lock files in `folder`); refuses while a held lock covers an overlapping shard."""
    mine = folder / f"shard-{shard[0]}-of-{shard[1]}.lock"
    lock = ProcessLock.try_acquire(mine, {"shard": list(shard)})
    if lock is None:
        raise DeviasError(f"{what}: shard {shard[0]}/{shard[1]} is being written by another process "
                          f"({describe_owner(mine)}); wait for it or stop it (other shards may run at once)")
    for other in sorted(folder.glob("shard-*-of-*.lock")):
        if other == mine:
            continue
        try:
            i, n = (int(v) for v in other.stem.removeprefix("shard-").split("-of-"))
        except ValueError:
            continue
        if shards_overlap(shard, (i, n)) and _held_by_other(other):
            lock.release()
            raise DeviasError(f"{what}: shard {i}/{n} is being written by another process ({describe_owner(other)}) "
                              f"and shares videos with shard {shard[0]}/{shard[1]}; wait for it, or run shards of "
                              "one split (i/n with the same n)")
    return lock
