"""RUN/log.txt: what `devias-tk train` shows on the console, warnings included, appended per start; -q on the
console only."""

from __future__ import annotations

import logging
import warnings

from typer.testing import CliRunner

from devias_tk.cli import app
from devias_tk.engine import runtime
from devias_tk.utils.runlog import set_console_level


def _warn_while_starting(monkeypatch) -> None:
    """A Python warning from inside the run, as a library (timm, torch) would raise one."""
    original = runtime.write_run_files

    def write_run_files(*args, **kwargs):
        warnings.warn("a library warning inside the run", UserWarning, stacklevel=1)
        return original(*args, **kwargs)

    monkeypatch.setattr("devias_tk.train.engine.write_run_files", write_run_files)


def _train(*options: str, recipe, run):
    result = CliRunner().invoke(app, [*options, "train", "--recipe", str(recipe), "--out", str(run),
                                      "optim.epochs=1"])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_log_holds_the_console_lines_and_warnings_and_resumes_append(tiny_run_setup, tmp_path, monkeypatch):
    recipe, _ = tiny_run_setup
    run = tmp_path / "run"
    _warn_while_starting(monkeypatch)
    shown = _train(recipe=recipe, run=run)
    log = (run / "log.txt").read_text()
    for line in ("precision: fp32 on cpu", "validation: none", "a library warning inside the run"):
        assert line in shown and line in log, line
    assert "INFO start " in log and "finished: 6 steps, 1 epochs" in log
    assert "WARNING" in log  # the captured Python warning, at its level

    _train(recipe=recipe, run=run)  # finished already: resumes at its end and appends
    log = (run / "log.txt").read_text()
    assert log.count("INFO start ") == 2
    assert "resuming" in log.split("INFO start ")[2]


def test_quiet_keeps_info_off_the_console_but_in_the_log(tiny_run_setup, tmp_path, monkeypatch):
    recipe, _ = tiny_run_setup
    run = tmp_path / "quiet"
    _warn_while_starting(monkeypatch)
    try:
        shown = _train("-q", recipe=recipe, run=run)
    finally:
        set_console_level(logging.INFO)
    log = (run / "log.txt").read_text()
    assert "precision:" not in shown and "precision:" in log
    assert "a library warning inside the run" in shown and "a library warning inside the run" in log
