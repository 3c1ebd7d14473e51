"""A run's messages: on the console (rich; its level set by the CLI's -q / -v) and in the run's log file
(INFO and up, appended across resumes, Python warnings included). Progress bars stay on the console only.

Stages log to `log` ("devias_tk"); `run_log` attaches the handlers for the span of one run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

log = logging.getLogger("devias_tk")
log.addHandler(logging.NullHandler())  # outside a run (other ranks, library use) nothing reaches lastResort

LOG_FILE = "log.txt"
FILE_FORMAT = "%(asctime)s %(levelname)s %(message)s"
_WARNINGS = logging.getLogger("py.warnings")
_console_level = logging.INFO


def set_console_level(level: int) -> None:
    """The console's threshold for the runs that follow (-q: WARNING, -v: DEBUG); the file keeps INFO."""
    global _console_level
    _console_level = level


class ConsoleHandler(logging.Handler):
    """Prints records through a rich Console, so they land above a live progress bar on the same console."""

    def __init__(self, console: Console, level: int) -> None:
        super().__init__(level)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        if not getattr(record, "console", True):  # file-only records (the start header, the stop reason)
            return
        try:
            style = "bold red" if record.levelno >= logging.ERROR else \
                "bold yellow" if record.levelno >= logging.WARNING else None
            text = record.getMessage()
            if record.name == _WARNINGS.name:
                text = text.rstrip()
            self.console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)
        except Exception:  # logging's contract: report, never raise into the caller
            self.handleError(record)


def file_only(message: str) -> None:
    log.info(message, extra={"console": False})


@contextlib.contextmanager
def run_log(log_file: Path | None, console: Console | None, command: str | None = None) -> Iterator[None]:
    """For the block: `log` and Python warnings to `console` (at the CLI's level) and appended to `log_file`
    (INFO and up; None: no file, e.g. a torchrun rank other than 0). A header line opens each start."""
    handlers: list[logging.Handler] = []
    if console is not None:
        handlers.append(ConsoleHandler(console, _console_level))
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file, mode="a", encoding="utf-8")
        file_handler.setLevel(logging.INFO)
        file_handler.setFormatter(logging.Formatter(FILE_FORMAT, "%Y-%m-%d %H:%M:%S"))
        handlers.append(file_handler)
    if not handlers:
        yield
        return
    loggers = (log, _WARNINGS)
    saved = [(lg, lg.level, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.setLevel(min(h.level for h in handlers))
        lg.propagate = False  # a configured root logger would print every line a second time
        for h in handlers:
            lg.addHandler(h)
    logging.captureWarnings(True)
    file_only(f"start {time.strftime('%Y-%m-%d %H:%M:%S')}: {command or ' '.join(sys.argv)} "
              f"(host {socket.gethostname()}, pid {os.getpid()})")
    try:
        yield
    except BaseException as exc:  # the reason a run stopped belongs in its log; the CLI prints it as before
        file_only(f"stopped: {type(exc).__name__}: {exc}")
        raise
    finally:
        logging.captureWarnings(False)
        for lg, level, propagate in saved:
            for h in handlers:
                lg.removeHandler(h)
            lg.setLevel(level)
            lg.propagate = propagate
        for h in handlers:
            h.close()
