"""A byte-budgeted, least-recently-used memo of per-video arrays, one per process.

Training draws a window of every video in every epoch; on a small dataset the same frames are decoded
and the same store rows read again each time. A loader worker that keeps them (`data.cache_mb`) pays
the decode once per video for the whole run. Entries are dicts of numpy arrays; their size is the sum
of their `nbytes`. An entry larger than the whole budget is returned but not kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np


def entry_bytes(entry: dict[str, np.ndarray]) -> int:
    return sum(int(np.asarray(value).nbytes) for value in entry.values())


class ByteLRU:
    """`get(key, make)`: the kept entry, or `make()` kept (evicting the least recently used past the budget)."""

    def __init__(self, budget_bytes: int) -> None:
        if budget_bytes <= 0:
            raise ValueError(f"a memo needs a positive budget (got {budget_bytes} bytes)")
        self.budget = budget_bytes
        self.used = 0
        self.hits = self.misses = 0
        self._entries: OrderedDict[Hashable, tuple[dict[str, np.ndarray], int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def get(self, key: Hashable, make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        kept = self._entries.get(key)
        if kept is not None:
            self._entries.move_to_end(key)
            self.hits += 1
            return kept[0]
        self.misses += 1
        entry = make()
        size = entry_bytes(entry)
        if size > self.budget:
            return entry
        while self.used + size > self.budget:
            _, (_, freed) = self._entries.popitem(last=False)
            self.used -= freed
        self._entries[key] = (entry, size)
        self.used += size
        return entry
