"""A process pool that survives its tasks: a task that hangs past its time limit or kills its
worker (segfault, abort) is reported as a failure and the worker is replaced.

joblib cannot do this: one hung task blocks its worker forever, and a dead worker breaks the whole
pool. Decoders do both on broken files (decord can spin holding the GIL), so stages that decode
untrusted videos run their per-video work here.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext
from typing import Any

# Fault injection for tests of the time limits, crash and disk-full handling of the stages and loaders:
# "hang:<substring>" or "crash:<substring>" makes a task hang / kill its worker on videos whose path
# contains <substring>; "enospc:<substring>" makes a store write of such a video fail part-way
# (devias_tk.cache.store). Several faults are separated by commas.
FAULT_ENV = "DEVIAS_TK_FAULT"


def injected(kind: str, source: str) -> bool:
    """Whether FAULT_ENV asks for a fault of `kind` on `source`."""
    for fault in os.environ.get(FAULT_ENV, "").split(","):
        wanted, _, needle = fault.partition(":")
        if wanted == kind and needle and needle in source:
            return True
    return False


def inject_fault(source: str) -> None:
    """Hang or die as FAULT_ENV asks when `source` matches; call it at the start of a per-video task."""
    if injected("hang", source):
        while True:  # like a decoder spinning forever
            time.sleep(1)
    if injected("crash", source):
        os._exit(134)


class EnvSnapshot:
    """Environment variables as this process has them now (None: unset), to restore in a worker process that
    was started with another environment (a fork server's)."""

    def __init__(self, names: Iterable[str]) -> None:
        self.values = {name: os.environ.get(name) for name in names}

    def restore(self) -> None:
        for name, value in self.values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def forkserver_context(modules: Iterable[str] = ()) -> BaseContext:
    """A start method for worker processes that is quick and safe from a threaded parent.

    Forking this process copies locks that its other threads (Zarr's event loop, joblib's executor, a progress
    refresher) may hold at that instant, and a child that needs one waits forever; 'spawn' avoids that but
    imports torch again in every worker. A forkserver forks from a clean process that imported `modules`
    once; its workers have the server's environment, not this process's (see `EnvSnapshot`). Where there is
    none (Windows), spawn."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", *modules])  # read when the server starts: the first caller's list counts
    return ctx


def single_threaded_cv2() -> None:
    """Worker initializer: one OpenCV thread, since the pool already runs one worker per core."""
    import cv2

    cv2.setNumThreads(1)


@dataclass
class TaskResult:
    index: int  # position of the item in the input sequence
    item: Any
    ok: bool
    value: Any = None  # the function's return value when ok
    error: str | None = None  # why it failed otherwise


def _worker_loop(conn: Connection, fn: Callable[[Any], Any], initializer: Callable[[], None] | None) -> None:
    if initializer is not None:
        initializer()
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        index, item = message
        try:
            conn.send((index, True, fn(item)))
        except Exception as exc:  # report, keep serving
            conn.send((index, False, f"{type(exc).__name__}: {exc}"))


@dataclass
class _Worker:
    process: mp.process.BaseProcess
    conn: Connection
    task: tuple[int, Any] | None = None
    started: float = 0.0


def supervised_map(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    jobs: int,
    timeout: float,
    initializer: Callable[[], None] | None = None,
) -> Iterator[TaskResult]:
    """Run `fn(item)` for every item on `jobs` worker processes; yield results as they finish.

    `fn` and `initializer` must be picklable (module-level functions or partials of them). Workers
    are started with 'spawn' so that no thread state (Zarr's event loop, OpenMP pools) is forked.
    """
    ctx = mp.get_context("spawn")
    pending = deque(enumerate(items))

    def start() -> _Worker:
        parent, child = ctx.Pipe()
        process = ctx.Process(target=_worker_loop, args=(child, fn, initializer), daemon=True)
        process.start()
        child.close()
        return _Worker(process, parent)

    def stop(worker: _Worker) -> None:
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(timeout=5)
        worker.conn.close()

    workers = [start() for _ in range(max(1, min(jobs, len(items))))]
    try:
        while pending or any(w.task is not None for w in workers):
            for w in workers:
                if w.task is None and pending:
                    w.task = pending.popleft()
                    w.started = time.monotonic()
                    w.conn.send(w.task)
            busy = [w for w in workers if w.task is not None]
            now = time.monotonic()
            wait_for = max(0.0, min(w.started + timeout - now for w in busy))
            ready = wait([w.conn for w in busy], timeout=wait_for)
            for i, w in enumerate(workers):
                if w.task is None:
                    continue
                index, item = w.task
                if w.conn in ready:
                    try:
                        got_index, ok, payload = w.conn.recv()
                    except (EOFError, ConnectionError):
                        w.process.join(timeout=5)
                        yield TaskResult(index, item, False, error=f"worker died (exit code {w.process.exitcode})")
                        stop(w)
                        workers[i] = start()
                        continue
                    w.task = None
                    yield TaskResult(got_index, item, ok, payload if ok else None, None if ok else payload)
                elif time.monotonic() - w.started > timeout:
                    stop(w)
                    yield TaskResult(index, item, False, error=f"timed out after {timeout:g} s (killed)")
                    workers[i] = start()
    finally:
        for w in workers:
            with contextlib.suppress(OSError, ValueError):
                w.conn.send(None)
        for w in workers:
            w.process.join(timeout=2)
            stop(w)


@dataclass(frozen=True)
class Backend:
    """Where per-video tasks run: local supervised processes, or an existing Dask cluster."""

    kind: str = "local"  # "local" | "dask"
    scheduler: str | None = None  # Dask scheduler address, e.g. tcp://10.0.0.5:8786
    chunk: int = 8  # videos per Dask task (each task runs them in one supervised process)


LOCAL = Backend()


def _run_chunk(items: list[tuple[int, Any]], fn: Callable[[Any], Any], timeout: float,
               initializer: Callable[[], None] | None) -> list[TaskResult]:
    """On a Dask worker: the chunk through a one-process supervised pool, so a hung or crashing video
    is killed there and reported, exactly as locally."""
    indices = [i for i, _ in items]
    results = list(supervised_map(fn, [item for _, item in items], 1, timeout, initializer))
    for r in results:
        r.index = indices[r.index]
    return results


def run_tasks(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    jobs: int,
    timeout: float,
    initializer: Callable[[], None] | None = None,
    backend: Backend = LOCAL,
) -> Iterator[TaskResult]:
    """`supervised_map` on this machine, or the same work spread over a Dask cluster.

    With Dask, the cluster's workers must be allowed to start child processes (Dask's
    `distributed.worker.daemon: false`), and every worker must see the stage's files and store at
    the same paths (a shared filesystem).
    """
    if backend.kind == "local":
        yield from supervised_map(fn, items, jobs, timeout, initializer)
        return
    if backend.kind != "dask":
        raise ValueError(f"unknown backend {backend.kind!r} (use local or dask)")
    from devias_tk.errors import DeviasError

    if not backend.scheduler:
        raise DeviasError("--backend dask needs --scheduler ADDRESS (e.g. tcp://host:8786)")
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise DeviasError("--backend dask needs the 'distributed' package (pip install 'devias-tk[dask]')") from None
    indexed = list(enumerate(items))
    chunks = [indexed[i : i + backend.chunk] for i in range(0, len(indexed), backend.chunk)]
    with Client(backend.scheduler) as client:
        futures = client.map(_run_chunk, chunks, fn=fn, timeout=timeout, initializer=initializer, pure=False)
        for future in as_completed(futures):
            try:
                results = future.result()
            except Exception as exc:  # the Dask task itself failed: every video of the chunk is reported
                chunk = chunks[futures.index(future)]
                results = [TaskResult(i, item, False, error=f"dask task failed ({type(exc).__name__}: {exc})")
                           for i, item in chunk]
            for r in results:
                r.item = items[r.index]
                yield r
