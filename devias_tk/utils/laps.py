"""Where a repeated piece of work spends its time: CPU and wall seconds per named phase, summed over calls.

CPU time (the process's, all threads) is what a loader worker costs a core whatever else the machine runs;
wall time is what a caller waits. `lap(name)` charges the time since the previous lap (or `start`) to `name`.
"""

from __future__ import annotations

import time
from collections import defaultdict


class Laps:
    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.wall: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        self.start()

    def start(self) -> None:
        self._cpu, self._wall = time.process_time(), time.perf_counter()

    def lap(self, name: str) -> None:
        cpu, wall = time.process_time(), time.perf_counter()
        self.cpu[name] += cpu - self._cpu
        self.wall[name] += wall - self._wall
        self.counts[name] += 1
        self._cpu, self._wall = cpu, wall

    def merge(self, other: Laps) -> None:
        for name in other.counts:
            self.cpu[name] += other.cpu[name]
            self.wall[name] += other.wall[name]
            self.counts[name] += other.counts[name]

    def per(self, units: int) -> dict[str, dict[str, float]]:
        """Milliseconds per unit (e.g. per clip): {phase: {"cpu_ms", "wall_ms"}}, phases in first-seen order."""
        return {name: {"cpu_ms": 1000 * self.cpu[name] / units, "wall_ms": 1000 * self.wall[name] / units}
                for name in self.counts}
