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


class _CountRate(TextColumn):
    """A second count (e.g. clips while the bar counts videos) per second since the task started."""

    def __init__(self, unit: str) -> None:
        super().__init__("")
        self.unit = unit

    def render(self, task):  # type: ignore[override]
        elapsed = task.finished_time or task.elapsed
        count = task.fields.get("count", 0)
        return f"{count / elapsed:.1f} {self.unit}/s" if elapsed and count else f"- {self.unit}/s"


@contextlib.contextmanager
def progress_bar(
    description: str, total: int, unit: str = "it", show_failures: bool = False, count_unit: str | None = None,
    show_status: bool = False, disable: bool = False,
) -> Iterator[Callable]:
    """Yield `advance(n=1, failed=0, count=0, status=None)`; shows done/total, rate, elapsed, ETA, and
    optionally failures, the rate of a second count (`count_unit`) and a free status text. `disable`: show
    nothing (the other ranks of a distributed run)."""
    columns = [
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
        _Rate(unit), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
    ]
    if count_unit:
        columns.insert(5, _CountRate(count_unit))
    if show_failures:
        columns.append(TextColumn("[red]{task.fields[failures]} failed"))
    if show_status:
        columns.append(TextColumn("{task.fields[status]}"))
    with Progress(*columns, console=console, transient=False, disable=disable) as progress:
        task = progress.add_task(description, total=total, failures=0, count=0, status="")
        failures = count_total = 0

        def advance(n: int = 1, failed: int = 0, count: int = 0, status: str | None = None) -> None:
            nonlocal failures, count_total
            failures += failed
            count_total += count
            fields = {"failures": failures, "count": count_total}
            if status is not None:
                fields["status"] = status
            progress.update(task, advance=n, **fields)

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
