"""The command line starts fast: parsing and every `--help` import no torch, zarr, OpenCV or numpy.

Each check runs in a fresh interpreter, since this test process has long imported everything.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "zarr", "cv2", "numpy", "timm", "matplotlib", "decord", "joblib", "scipy", "yaml")
# Importing the root and every command group's module is what `devias-tk <group> --help` costs before click
# parses anything.
IMPORT_ALL = ("import importlib, devias_tk.cli as cli\n"
              "for module, _, _ in cli.COMMANDS.values():\n    importlib.import_module(module)\n")
# Walk every command and sub-command's --help, then report the heavy packages that were imported.
HELP_ALL = """
import sys, click
from typer.testing import CliRunner
from devias_tk.cli import COMMANDS, app, load_command

runner = CliRunner()

def walk(path, command):
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, (path, result.output)
    if isinstance(command, click.Group):
        for name in command.list_commands(None):
            walk([*path, name], command.get_command(None, name))

assert runner.invoke(app, ["--help"]).exit_code == 0
for name in COMMANDS:
    walk([name], load_command(name))
print(" ".join(sorted(m for m in HEAVY if m in sys.modules)))
"""


def _python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True,
                          check=True, timeout=300)


def _fastest(code: str, runs: int) -> float:
    """The minimum over fresh interpreters: the least disturbed by the other processes of a loaded machine."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        _python(code)
        times.append(time.perf_counter() - start)
    return min(times)


def test_cli_modules_import_no_heavy_package() -> None:
    out = _python(f"{IMPORT_ALL}import sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    assert out.stdout.split() == []


def test_every_help_page_imports_no_heavy_package() -> None:
    out = _python(f"HEAVY = {HEAVY!r}\n{HELP_ALL}")
    assert out.stdout.split() == []


def test_cli_import_time_is_a_small_multiple_of_a_bare_interpreter() -> None:
    # Measured on a loaded 2-core machine: bare 0.03 s; the CLI with every group 0.135 s (4.5x) now,
    # about 6 s (200x) when `train` pulled in torch and timm at import. 10x leaves room for noise and
    # fails any regression that imports numpy (0.1 s) plus another stage package.
    bare = _fastest("pass", runs=5)
    cli = _fastest(IMPORT_ALL, runs=5)
    assert cli / bare < 10, f"CLI import {cli:.3f} s vs bare interpreter {bare:.3f} s ({cli / bare:.1f}x)"


def test_declaration_defaults_match_the_stage_modules() -> None:
    from devias_tk.cli import defaults
    from devias_tk.data.crop_grid import DEFAULT_GRID
    from devias_tk.data.formats.scuba import DEFAULT_LIST
    from devias_tk.synthetic.benchmark import PRESETS

    assert tuple(PRESETS) == defaults.BENCHMARK_PRESETS
    assert defaults.SCUBA_LIST == DEFAULT_LIST
    assert defaults.CROP_GRID == DEFAULT_GRID
