"""Rich progress bars and a parallel map that drives one."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from joblib import Parallel, delayed
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")
R = TypeVar("R")

console = Console(stderr=True)


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class _Rate(TextColumn):
    """Items per second since the task started."""

    def __init__(self, unit: str) -> None:
        super().__init__("")
        self.unit = unit

    def render(self, task):  # type: ignore[override]
        speed = task.finished_speed or task.speed
        return f"{speed:.1f} {self.unit}/s" if speed else f"- {self.unit}/s"


@contextlib.contextmanager
def progress_bar(description: str, total: int, unit: str = "it", show_failures: bool = False) -> Iterator[Callable]:
    """Yield `advance(n=1, failed=0)`; shows done/total, rate, elapsed, ETA (and failures)."""
    columns = [
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
        _Rate(unit), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
    ]
    if show_failures:
        columns.append(TextColumn("[red]{task.fields[failures]} failed"))
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(description, total=total, failures=0)
        failures = 0

        def advance(n: int = 1, failed: int = 0) -> None:
            nonlocal failures
            failures += failed
            progress.update(task, advance=n, failures=failures)

        yield advance


def parallel_map(
    fn: Callable[..., R],
    items: Sequence[T],
    jobs: int,
    description: str,
    unit: str = "it",
    extra_args: tuple[Any, ...] = (),
) -> Iterable[R]:
    """Apply `fn(item, *extra_args)` to every item on `jobs` processes, yielding results as they finish."""
    if not items:
        return
    with progress_bar(description, len(items), unit) as advance:
        if jobs <= 1:
            for item in items:
                yield fn(item, *extra_args)
                advance()
            return
        runner = Parallel(n_jobs=jobs, return_as="generator_unordered", batch_size=1)
        for result in runner(delayed(fn)(item, *extra_args) for item in items):
            yield result
            advance()
