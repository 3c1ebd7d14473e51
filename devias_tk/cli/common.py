"""Console objects and option helpers shared by the CLI groups."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from rich.console import Console
from rich.markup import escape

from devias_tk.errors import DeviasError

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

JOBS_HELP = "Parallel worker processes (default: all CPU cores)."
# the model stages decode in worker processes and run the model here
DECODE_JOBS_HELP = "Decoding worker processes (0: decode in this process)."
TIMEOUT_HELP = "Seconds one video may take in its worker before the worker is killed and the video reported."


def resolve_jobs(jobs: int | None) -> int:
    from devias_tk.utils.progress import default_jobs  # joblib (and numpy) only when a command runs

    return default_jobs() if jobs is None or jobs <= 0 else jobs


def print_error(exc: Exception) -> None:
    err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True, highlight=False)


def user_errors(fn: F) -> F:
    """Turn DeviasError into a one-line message and exit status 2 (typer would print a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (DeviasError, OSError) as exc:  # OSError: permissions, full disk, ... - fixable by the user
            print_error(exc)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


BACKEND_HELP = "Where per-video work runs: local (worker processes here) or dask (an existing cluster, see --scheduler)."
SCHEDULER_HELP = "Dask scheduler address for --backend dask (workers must share the files and the store's path)."


def make_backend(kind: str, scheduler: str | None):
    from devias_tk.utils.workers import Backend

    if kind not in ("local", "dask"):
        raise DeviasError(f"--backend must be local or dask (got {kind!r})")
    return Backend(kind, scheduler)


def print_stage_summary(title: str, summary, extra: dict[str, str] | None = None, max_failures: int = 0) -> None:
    """The per-video stages' summary: counts, padded videos, failures with reasons; exit 1 above max_failures.

    `summary` has listed, skipped, done, padded (list), failed (path -> reason) and seconds; `partial`
    (path -> note), where the stage has it, names the partly decodable videos.
    """
    import typer
    from rich.table import Table

    from devias_tk.utils.words import plural

    table = Table(title=title)
    columns = {"listed": str(summary.listed), "already done": str(summary.skipped), "done now": str(summary.done),
               "padded (short)": str(len(summary.padded)),
               "failed": f"[red]{len(summary.failed)}[/]" if summary.failed else "0", **(extra or {}),
               "seconds": f"{summary.seconds:.1f}"}
    for col in columns:
        table.add_column(col, justify="right")
    table.add_row(*columns.values())
    console.print(table)
    if summary.padded:
        shorter = "is" if len(summary.padded) == 1 else "are"
        console.print(f"[yellow]{plural(len(summary.padded), 'video')} {shorter} shorter than one window and padded "
                      f"by repeating the last frame[/], e.g. {summary.padded[0]}")
    partial = getattr(summary, "partial", {})
    if partial:
        console.print(f"[yellow]{plural(len(partial), 'video')} partly decodable, done from the frames that decode "
                      "(noted in the store as 'warning')[/]: "
                      + "; ".join(f"{path}: {note}" for path, note in sorted(partial.items())),
                      highlight=False, soft_wrap=True)
    if summary.failed:
        failures = Table(title="failed videos (recorded in the store)")
        failures.add_column("video")
        failures.add_column("reason")
        for path, reason in sorted(summary.failed.items()):
            failures.add_row(path, reason)
        console.print(failures)
    if len(summary.failed) > max_failures:
        err_console.print(f"[red]{len(summary.failed)} failures exceed --max-failures {max_failures}[/]")
        raise typer.Exit(1)
