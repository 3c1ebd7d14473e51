"""Loading that survives bad videos: a failed decode costs one sample, a hung or crashing decoder one restart.

`GuardedItems` wraps a dataset. In "replace" mode (training: keys are (epoch, index) pairs from
`EpochSampler`) an item whose decode raises is replaced by another video's sample, chosen from
(seed, epoch, index, attempt, the videos that failed for this sample) alone, so a resumed run draws the very
same replacement; the replacement comes from the same action class when the list has labels, keeping the
batch's class balance, and gets its own crop (the extra key part salts its randomness). Each replacement is
reported under the item's "fault" key (JSON). In "report" mode (evaluation: int keys) a failed video gives
{"index", "error"}.

`GuardedLoader` runs a DataLoader over it and bounds what an exception cannot report: a decode that hangs
(decoders can spin in C, where no Python timer reaches) or kills its worker. Workers note the video they
decode in a small shared table; when the loader waits past the time limit, or a worker dies, the main
process reads the culprit off the table, marks the video bad, and restarts the workers at the batch it
was waiting for. Batches come out exactly as without the fault, since every item is a function of its key.
Workers that stop taking work at all (a worker deadlocked at start-up, before its first item) are caught by
the same wait: with nothing in flight and no worker activity for `idle_limit` seconds, every worker is restarted
(no video marked), and after IDLE_RESTARTS such restarts in a row the loader gives up with an error.
Without worker processes (num_workers 0) exceptions are still caught, but a hang cannot be bounded.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info
from torch.utils.data.dataloader import default_collate

from devias_tk.data.video import DECODER_ENV
from devias_tk.errors import DeviasError, VideoReadError
from devias_tk.utils.words import reason_line
from devias_tk.utils.workers import FAULT_ENV, EnvSnapshot, forkserver_context, inject_fault

FAULT_KEY = "fault"
DEFAULT_TIMEOUT = 120.0  # seconds one item may take to decode
MAX_TRIES = 8  # videos tried for one sample before the data is declared broken
GROUP_TRIES = 3  # of which drawn from the failed video's own group (action class)
POLL_S = 5.0  # how often a waiting loader looks for a hung worker
IDLE_FLOOR_S = 300.0  # least wait with no worker activity before the workers count as hung (a slow start-up:
# many spawned workers importing torch from a network file system)
IDLE_RESTARTS = 3  # restarts in a row without a batch before the loader gives up
_REPLACEMENT_STREAM = 0x5EED  # keeps replacement draws apart from every other use of (seed, epoch, index)


def describe_failure(exc: BaseException) -> str:
    """A failed item's whole reason on one line (capped only against runaway messages, `reason_line`)."""
    if isinstance(exc, VideoReadError):
        return reason_line(exc.reason)
    text = str(exc)
    return reason_line(text if isinstance(exc, DeviasError) else f"{type(exc).__name__}: {text}")


class InFlight:
    """The video each loader worker is decoding and since when: a (slots, 4) float64 table in a file every
    worker maps (columns: start on the system-wide monotonic clock or 0 when idle, worker pid, dataset index,
    the time of the worker's last start or end of an item)."""

    def __init__(self, path: Path, slots: int) -> None:
        self.path, self.slots = path, slots
        self._table: np.memmap | None = None
        self._pid = -1

    @classmethod
    def create(cls, folder: Path, slots: int) -> InFlight:
        table = cls(folder / "inflight.f64", slots)
        np.zeros((slots, 4), np.float64).tofile(table.path)
        return table

    def __getstate__(self) -> dict:
        return {"path": self.path, "slots": self.slots, "_table": None, "_pid": -1}

    def _rows(self) -> np.memmap:
        if self._table is None or self._pid != os.getpid():
            self._table = np.memmap(self.path, np.float64, "r+", shape=(self.slots, 4))
            self._pid = os.getpid()
        return self._table

    def begin(self, slot: int, index: int) -> None:
        now = time.monotonic()
        self._rows()[slot] = (now, os.getpid(), index, now)

    def end(self, slot: int) -> None:
        rows = self._rows()
        rows[slot, 0], rows[slot, 3] = 0.0, time.monotonic()

    def clear(self) -> None:
        self._rows()[:] = 0.0

    def stuck(self, timeout: float) -> dict[int, int]:
        """pid -> dataset index of the items in flight for longer than `timeout` seconds."""
        rows, now = np.array(self._rows()), time.monotonic()
        return {int(r[1]): int(r[2]) for r in rows if r[0] > 0 and now - r[0] > timeout}

    def idle_since(self, since: float) -> float | None:
        """Seconds without any worker activity, counted from `since` at the earliest; None while an item is in
        flight (a slow item is for `stuck` to judge)."""
        rows = np.array(self._rows())
        if (rows[:, 0] > 0).any():
            return None
        return time.monotonic() - max(since, float(rows[:, 3].max()))

    def of_pids(self, pids: Iterable[int]) -> dict[int, int]:
        rows, wanted = np.array(self._rows()), set(pids)
        return {int(r[1]): int(r[2]) for r in rows if r[0] > 0 and int(r[1]) in wanted}


class GuardedItems(Dataset):
    """`inner`'s items, with failures replaced ("replace") or reported ("report"); see the module docstring.

    `paths`: each index's video (for records and fault injection); `groups`: a label per index (replacements
    come from the same label when it has other videos); `timeout`: seconds an item may take (GuardedLoader)."""

    def __init__(self, inner: Any, paths: Sequence[str], mode: str = "replace", seed: int = 0,
                 groups: Sequence[int] | None = None, timeout: float = DEFAULT_TIMEOUT) -> None:
        if mode not in ("replace", "report"):
            raise ValueError(f"mode must be replace or report (got {mode!r})")
        self.inner, self.paths, self.mode, self.seed, self.timeout = inner, list(paths), mode, seed, timeout
        # the decoder choice and the tests' fault injection, as this process has them, in every worker
        self.env = EnvSnapshot((DECODER_ENV, FAULT_ENV))
        self.known_bad: dict[int, str] = {}  # index -> reason: not tried again (set by GuardedLoader too)
        self.inflight: InFlight | None = None
        self.pools: dict[int, np.ndarray] = {}
        if groups is not None:
            labels = np.asarray(groups)
            self.pools = {int(g): np.flatnonzero(labels == g) for g in np.unique(labels)}
            self.group_of = labels
        if len(self.paths) < 2 and mode == "replace":
            raise DeviasError("a guarded training set needs at least two videos to replace a failed one")

    def __len__(self) -> int:
        return len(self.paths)

    def __setstate__(self, state: dict) -> None:  # unpickled in a spawned or fork-server worker
        self.__dict__.update(state)
        self.env.restore()

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.inner, "set_epoch"):
            self.inner.set_epoch(epoch)

    def _attempt(self, key: Any, index: int) -> dict:
        info = get_worker_info()
        slot = info.id if info is not None else 0
        if self.inflight is not None:
            self.inflight.begin(slot, index)
        try:
            inject_fault(self.paths[index])
            return self.inner[key]
        finally:
            if self.inflight is not None:
                self.inflight.end(slot)

    def replacement(self, epoch: int, index: int, attempt: int, tried: Sequence[int] = ()) -> int:
        """The index standing in for `index` at its `attempt`-th failure, `tried` the videos that failed for this
        sample so far: a function of these and the seed only (not of what else this process has seen fail), so
        a resumed run draws the same. The first GROUP_TRIES draws come from the same group, later ones (or when
        the group has no other video) from all videos."""
        excluded = {index, *tried}
        pool = self.pools.get(int(self.group_of[index])) if self.pools and attempt < GROUP_TRIES else None
        others = None if pool is None else [int(i) for i in pool if int(i) not in excluded]
        if not others:
            others = [i for i in range(len(self.paths)) if i not in excluded]
        if not others:
            raise DeviasError("every video of the training set failed to decode")
        rng = np.random.default_rng([self.seed, epoch, index, attempt, _REPLACEMENT_STREAM])
        return others[int(rng.integers(len(others)))]

    def __getitem__(self, key: Any) -> dict:
        if self.mode == "report":
            reason = self.known_bad.get(int(key))
            if reason is None:
                try:
                    return self._attempt(key, int(key))
                except Exception as exc:  # any failure of this one video; the loader goes on
                    reason = describe_failure(exc)
            return {"index": int(key), "error": reason}
        epoch, index = (int(key[0]), int(key[1])) if isinstance(key, tuple) else (0, int(key))
        records: list[dict[str, Any]] = []
        current, idx = key, index
        for attempt in range(MAX_TRIES):
            reason = self.known_bad.get(idx)
            if reason is None:
                try:
                    item = self._attempt(current, idx)
                except Exception as exc:  # a bad video costs this sample only
                    reason = self.known_bad[idx] = describe_failure(exc)
                else:
                    for r in records:
                        r["replacement"] = self.paths[idx]
                    item[FAULT_KEY] = json.dumps(records) if records else ""
                    return item
            records.append({"index": idx, "video": self.paths[idx], "reason": reason})
            idx = self.replacement(epoch, index, attempt, [r["index"] for r in records])
            current = (epoch, idx, attempt + 1)
        shown = "; ".join(f"{r['video']}: {r['reason']}" for r in records)
        raise DeviasError(f"{MAX_TRIES} videos in a row failed to decode for one sample ({shown}); "
                          "check the videos and the stores (`devias-tk data check`)")


def collate_readable(items: list[dict]) -> dict | None:
    """Default collation of the items that decoded, plus 'failed': [(index, reason)]; None when none did."""
    good = [i for i in items if "error" not in i]
    if not good:
        return None
    return {**default_collate(good), "failed": [(i["index"], i["error"]) for i in items if "error" in i]}


def collate_clips(items: list[dict]) -> dict:
    """Report-mode items of clips: the readable ones' clips stacked (None when none), their list indices,
    'failed': [(index, reason)] and 'warnings': [(index, note)] (a partly decodable video)."""
    good = [i for i in items if "error" not in i]
    return {
        "clip": torch.stack([i["clip"] for i in good]) if good else None,
        "index": [i["index"] for i in good],
        "failed": [(i["index"], i["error"]) for i in items if "error" in i],
        "warnings": [(i["index"], i["warning"]) for i in good if i.get("warning")],
    }


class _Plan(Sampler[list[Any]]):
    """The batches still to load this pass (a batch sampler the loader restarts from)."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []

    def __iter__(self) -> Iterator[list[Any]]:
        return iter(list(self.batches))

    def __len__(self) -> int:
        return len(self.batches)


class _Stuck(Exception):
    def __init__(self, culprits: dict[int, int], reason: str) -> None:
        self.culprits, self.reason = culprits, reason  # pid -> dataset index (-1: no video to blame)

    @property
    def idle(self) -> bool:
        return all(index < 0 for index in self.culprits.values())


_DEAD_PIDS = re.compile(r"DataLoader worker \(pids?(?:\(s\))? ([\d, ]+)\)")


def _quiet_sigchld(iterator: Any) -> None:
    """Torch's SIGCHLD handler raises wherever the main thread happens to be when a worker dies (in the middle
    of a training step, say); unregistered, a death is seen by the iterator's own status check inside next(),
    where the loader can restart."""
    if getattr(iterator, "_worker_pids_set", False):
        with contextlib.suppress(Exception):
            from torch.utils.data._utils import signal_handling

            signal_handling._remove_worker_pids(id(iterator))
            iterator._worker_pids_set = False


def _modules_of(*objects: Any) -> list[str]:
    """The modules that define `objects` (functions) or their types: what a worker imports to unpickle them."""
    names = {o.__module__ if inspect.isfunction(o) else type(o).__module__ for o in objects if o is not None}
    return sorted(names - {"__main__", "builtins"})


class GuardedLoader:
    """Batches of a GuardedItems over `sampler`'s keys (None: 0..len-1 in order), restarting its workers past a
    hung or dead one (see the module docstring). `set_epoch`-style samplers are read afresh at each pass.

    `context`: how workers start: "spawn", or "forkserver" (quick; `forkserver_context` with the dataset's and
    collate function's modules preloaded); plain fork copies this process's threads' locks (see there)."""

    def __init__(self, dataset: GuardedItems, batch_size: int, sampler: Iterable | None = None, workers: int = 0,
                 pin_memory: bool = False, collate_fn: Callable | None = None, context: str | None = "spawn",
                 persistent: bool = True, prefetch: int = 4, idle_limit: float | None = None) -> None:
        self.dataset, self.batch_size, self.sampler, self.workers = dataset, batch_size, sampler, workers
        self.idle_limit = idle_limit if idle_limit is not None else max(dataset.timeout, IDLE_FLOOR_S)
        self.options = {"pin_memory": pin_memory, "collate_fn": collate_fn, "num_workers": workers}
        if workers > 0:
            if context == "forkserver":
                context = forkserver_context(_modules_of(dataset.inner, collate_fn))
            self.options.update(multiprocessing_context=context, persistent_workers=persistent,
                                prefetch_factor=prefetch, timeout=min(dataset.timeout, POLL_S))
            self._folder = Path(tempfile.mkdtemp(prefix="devias-loader-"))
            dataset.inflight = InFlight.create(self._folder, workers)
        self._plan = _Plan()
        self._loader: DataLoader | None = None
        self._iterator: Any = None
        self.restarts = 0

    def __len__(self) -> int:
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)  # type: ignore[arg-type]
        return -(-n // self.batch_size)

    def _keys(self) -> list[Any]:
        return list(self.sampler) if self.sampler is not None else list(range(len(self.dataset)))

    def _next(self, iterator: Any) -> Any:
        since = time.monotonic()
        while True:
            try:
                return next(iterator)
            except RuntimeError as exc:
                text = str(exc)
                table = self.dataset.inflight
                if table is not None and "timed out" in text:
                    stuck = table.stuck(self.dataset.timeout)
                    if stuck:
                        raise _Stuck(stuck, f"decoding took over {self.dataset.timeout:g} s (worker killed)") from None
                    idle = table.idle_since(since)
                    if idle is not None and idle > self.idle_limit:
                        pids = [w.pid for w in getattr(iterator, "_workers", [])]
                        raise _Stuck(dict.fromkeys(pids, -1), f"no worker took an item for {idle:.0f} s") from None
                    continue  # slow, not stuck
                dead = _DEAD_PIDS.search(text)
                culprits = table.of_pids(int(p) for p in re.findall(r"\d+", dead.group(1))) \
                    if dead and table is not None else {}
                if culprits:
                    raise _Stuck(culprits, "the decoder crashed its worker process") from None
                raise

    def _stop(self, kill: Iterable[int] = ()) -> None:
        for pid in kill:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if self._iterator is not None:
            with contextlib.suppress(Exception):
                self._iterator._shutdown_workers()
        self._loader = self._iterator = None

    def __iter__(self) -> Iterator[Any]:
        keys = self._keys()
        batches = [keys[i : i + self.batch_size] for i in range(0, len(keys), self.batch_size)]
        done = idle_restarts = 0
        while done < len(batches):
            self._plan.batches = batches[done:]
            if self._loader is None:
                if self.dataset.inflight is not None:
                    self.dataset.inflight.clear()
                self._loader = DataLoader(self.dataset, batch_sampler=self._plan, **self.options)
            iterator = self._iterator = iter(self._loader)
            _quiet_sigchld(iterator)
            try:
                while True:
                    try:
                        batch = self._next(iterator)
                    except StopIteration:
                        return
                    done, idle_restarts = done + 1, 0
                    yield batch
            except _Stuck as stuck:
                for index in stuck.culprits.values():
                    if index >= 0:
                        self.dataset.known_bad[index] = stuck.reason
                self.restarts += 1
                idle_restarts = idle_restarts + 1 if stuck.idle else 0
                self._stop(stuck.culprits)
                if idle_restarts >= IDLE_RESTARTS:
                    raise DeviasError(f"the loader's worker processes stopped taking work ({stuck.reason}, "
                                      f"{idle_restarts} restarts in a row); run without worker processes "
                                      "(data.num_workers=0, or -j 0) to see where") from None

    def close(self) -> None:
        self._stop()
        folder = getattr(self, "_folder", None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
