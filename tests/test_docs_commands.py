"""Every `devias-tk` command the README and docs show parses against the real command line.

A renamed option, a removed command or a missing required argument in an example fails here, without
running the example (most need data the test machine does not have; the demo's own commands run in
tests/test_pipelines_run.py and the make-chain tests). Path existence is not checked: the examples name
the user's files.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer
from typer._click.exceptions import ClickException  # typer >= 0.26 carries its own click

from devias_tk.cli import app

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
_FENCE = re.compile(r"```(?:bash|sh|console|shell)?\n(.*?)```", re.S)
_INLINE = re.compile(r"`(devias-tk [^`]+)`")
_PLACEHOLDER = re.compile(r"\.\.\.|<[^>]+>|\[[^\]]*\]")  # `...`, <RUN>, [--optional] in synopses


def _commands(page: Path) -> list[str]:
    text = page.read_text()
    found = []
    for block in _FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            found += _split_shell(line)
    for table_row in (line for line in text.splitlines() if line.startswith("|")):
        for cmd in _INLINE.findall(table_row):
            found += _split_shell(cmd)
    # a bare `devias-tk train` in prose names the command; examples give arguments
    return [c for c in found if not _PLACEHOLDER.search(c) and (" -" in f" {c}" or len(c.split()) > 2)]


def _split_shell(line: str) -> list[str]:
    line = line.split(" #", 1)[0].strip()
    out = []
    for part in re.split(r"&&|;|\|(?!\|)", line):
        part = part.strip()
        match = re.search(r"(?:^|\s)(devias-tk|-m devias_tk)\s+(.*)$", part)
        if match and not part.startswith("#"):
            out.append(match.group(2).strip())
    return out


def _pending(ctx) -> list[str]:
    protected = getattr(ctx, "_protected_args", None)  # click >= 8.2 keeps it private
    if protected is None:
        protected = ctx.protected_args
    return [*protected, *ctx.args]


def _parse(args: list[str]) -> None:
    """Resolve the command path and parse its options as click would, without invoking the command."""
    group = typer.main.get_command(app)
    ctx = group.make_context("devias-tk", list(args), resilient_parsing=False)
    command = group
    rest = _pending(ctx)
    while hasattr(command, "resolve_command") and rest:  # a group: descend to the named command
        name, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None, f"no command {name!r}"
        command = sub
        ctx = command.make_context(name, list(rest), parent=ctx, resilient_parsing=False)
        rest = _pending(ctx) if hasattr(command, "resolve_command") else []


EXAMPLES = [(page.relative_to(REPO).as_posix(), cmd) for page in PAGES for cmd in _commands(page)]


def test_the_docs_hold_examples_of_every_command_group():
    groups = {shlex.split(cmd)[0] for _, cmd in EXAMPLES if not cmd.startswith("-")}
    assert {"data", "masks", "scenes", "train", "eval", "predict", "features", "pretrain", "bench", "import"} <= groups


@pytest.mark.parametrize(("page", "command"), EXAMPLES, ids=[f"{p}:{c[:60]}" for p, c in EXAMPLES])
def test_example_parses(page, command, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    args = shlex.split(command)
    try:
        _parse(args)
    except typer.Exit:  # --help / --version examples
        pass
    except ClickException as exc:
        if "does not exist" not in exc.format_message():  # the user's files
            pytest.fail(f"{page}: `devias-tk {command}`: {exc.format_message()}")
