"""Atomic, durable file writes: a reader sees the old file or the complete new one, never a partial one,
even after a power loss.

Atomic against a killed process is a rename; durable against a power loss needs the file's data on disk
before the rename (fsync the file) and the rename itself on disk after it (fsync the directory), or a
journalling filesystem may replay the rename onto an empty file.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from devias_tk.utils.diskfull import disk_full_guard


def fsync_file(path: str | os.PathLike) -> None:
    """Flush a file's data to the disk (any process's unflushed writes to it are in the page cache)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a directory's entries (renames, creations) to the disk; a no-op where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems (and Windows) refuse fsync on a directory; the rename is still atomic
        pass
    finally:
        os.close(fd)


def fsync_tree(root: str | os.PathLike) -> None:
    """fsync every file and folder under `root` (a staged folder about to be renamed into place)."""
    for folder, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            fsync_file(os.path.join(folder, name))
        fsync_dir(folder)


def durable_replace(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Rename `source` (already flushed) onto `target` and flush the rename: the directory before (so a
    freshly created temporary entry exists on disk) and after."""
    parent = Path(target).parent
    fsync_dir(parent)
    os.replace(source, target)
    fsync_dir(parent)


@functools.cache
def _new_file_mode() -> int:
    """The mode open() gives a new file: 0o666 less the process umask (read without changing it, from /proc)."""
    try:
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("Umask:"))
        return 0o666 & ~int(line.split()[1], 8)
    except (OSError, StopIteration, ValueError):
        return 0o644


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None, needed: int | None = None,
                keep_previous: str | os.PathLike | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is flushed and renamed onto `path`.

    `suffix` defaults to the target's own suffix, because writers such as OpenCV pick the
    container format from the file extension. `needed` (bytes, when the caller knows) goes into the
    message of a full disk (`DiskFullError`). `keep_previous`: the file `path` held before is renamed
    there first (the previous checkpoint), so one good copy survives a later damaged one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with disk_full_guard(target, needed):
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".partial" + (suffix if suffix is not None else target.suffix),
            dir=target.parent,
        )
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            yield tmp_path
            os.chmod(tmp_path, _new_file_mode())  # mkstemp makes it private; the result is an ordinary file
            fsync_file(tmp_path)
            if keep_previous is not None and target.exists():
                os.replace(target, keep_previous)
            durable_replace(tmp_path, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp_path.unlink()


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path, needed=len(text.encode())) as tmp:
        tmp.write_text(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path, needed=len(data)) as tmp:
        tmp.write_bytes(data)
