"""A full disk as a user error: which path, how much space the write needed, how much is free."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from devias_tk.errors import DiskFullError

FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether `exc` or an exception it was raised from or during is a full disk: libraries wrap the OSError
    (torch.save raises RuntimeError with the ENOSPC OSError as its context)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, DiskFullError) or (isinstance(exc, OSError) and exc.errno in FULL_ERRNOS):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def free_bytes(path: str | os.PathLike) -> int | None:
    """Free space of the filesystem holding `path` (or its nearest existing parent); None if unknown."""
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free
    except OSError:
        return None


def disk_full_error(path: str | os.PathLike, needed: int | None, detail: str = "") -> DiskFullError:
    """The error of a write to `path` that needed `needed` bytes (None: unknown); `detail` is added to the
    message (what the rest of the work needs)."""
    free = free_bytes(path)
    need = f"needs about {human_bytes(needed)}" if needed else "needs more space"
    have = f"{human_bytes(free)} free there" if free is not None else "free space unknown"
    return DiskFullError(str(path), f"{path}: no space left on device: this write {need} ({have}){detail}; "
                                    "free some space (or write elsewhere) and re-run the same command: finished "
                                    "work is kept and the rest resumes", needed)


@contextlib.contextmanager
def disk_full_guard(path: str | os.PathLike, needed: int | None = None, detail: str = "") -> Iterator[None]:
    """Turn ENOSPC / EDQUOT raised inside the block (or wrapped by a library) into a DiskFullError naming `path`
    and the space needed."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as exc:
        if is_disk_full(exc):
            raise disk_full_error(path, needed, detail) from None
        raise
