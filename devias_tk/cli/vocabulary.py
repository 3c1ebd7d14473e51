"""The command line's one vocabulary: old spellings hidden, value names in help, one run per command.

One name per concept across commands (docs/cli.md, "Vocabulary"): `-j/--jobs` for worker processes, `--list`
for one list and `--train-list/--test-list` for a pair, `--run` for a run directory, `--json` for a
machine-readable copy of the output, `--timeout` for the per-video time limit (defaults.DECODE_TIMEOUT seconds).

A command declares an old spelling next to the new one (`typer.Option("--jobs", "-j", "--workers")`); `load_command`
splits it off (`hide_old_spellings`) into a hidden twin that fills the same parameter: it is still accepted, for
one release, and no longer shown by `--help`.

Typer 0.29 writes every value's type as `<int>`, `<list[Path]>`, and `<bool>` even for flags that take no value;
`install_help_rendering` makes help show click's names instead (INTEGER, PATH, TEXT, ...) and nothing for flags.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import typer.core

from devias_tk.errors import DeviasError

# old spelling -> the spelling that replaces it; both are accepted until the old one is removed
OLD_SPELLINGS: dict[str, str] = {
    "--workers": "--jobs",
    "--report": "--json",
    "--train": "--train-list",
    "--test": "--test-list",
    "--val": "--val-list",
}

_VALUE_NAMES = {"int": "INTEGER", "float": "FLOAT", "str": "TEXT", "bool": "BOOLEAN", "path": "PATH",
                "file": "FILE", "dir": "DIRECTORY"}


def value_name(param: Any, ctx: Any) -> str | None:
    """What help shows after an option or argument: its metavar, else click's name of its type; None for a flag."""
    if param.metavar is not None:
        return param.metavar
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    label = typer.core._TyperParameter.display_type(param, ctx).strip("<>")  # "int", "list[Path]", "a|b"
    while label.startswith(("list[", "tuple[")):
        label = label.partition("[")[2].removesuffix("]")
    if param.type_descriptor.is_choice:
        return f"[{label}]"
    if param.type_descriptor.is_path:
        return _VALUE_NAMES.get(param.type_descriptor.path_type, "PATH")
    name = ",".join(_VALUE_NAMES.get(part, part.upper()) for part in label.split(","))
    return f"{name}..." if getattr(param, "nargs", 1) not in (1, -1) else name


def _usage_pieces(param: Any, ctx: Any) -> list[str]:
    """An argument's part of the usage line: none for a hidden one (an old positional spelling)."""
    return [] if param.hidden else _ARGUMENT_USAGE(param, ctx)


_ARGUMENT_USAGE = typer.core.TyperArgument.get_usage_pieces


def install_help_rendering() -> None:
    """Help's value names from `value_name`, for every command (typer reads them through these two methods), and
    usage lines without hidden arguments."""
    typer.core._TyperParameter.display_type_rich = value_name  # type: ignore[method-assign]
    typer.core.TyperOption.display_type_rich = value_name  # type: ignore[method-assign]
    typer.core.TyperArgument.get_usage_pieces = _usage_pieces  # type: ignore[method-assign]


def hide_old_spellings(command: Any) -> None:
    """For `command` and its subcommands: each option declared with an old spelling (OLD_SPELLINGS) keeps only
    its new ones in help; a hidden twin of it takes the old spelling and fills the same parameter."""
    for sub in getattr(command, "commands", {}).values():
        hide_old_spellings(sub)
    for param in list(command.params):
        if not isinstance(param, typer.core.TyperOption):
            continue
        old = [o for o in param.opts if o in OLD_SPELLINGS]
        if not old or len(old) == len(param.opts):
            continue
        param.opts = [o for o in param.opts if o not in old]
        twin = copy.copy(param)
        twin.opts, twin.secondary_opts = old, []
        twin.hidden, twin.required = True, False
        command.params.append(twin)


def one_run(option: Path | None, positional: Path | None, command: str) -> Path:
    """The run directory of a command that takes `--run RUN` (and, for one release, RUN alone)."""
    if option is not None and positional is not None and option != positional:
        raise DeviasError(f"{command}: two runs given ({positional} and --run {option}); give one, as --run")
    run = option if option is not None else positional
    if run is None:
        raise DeviasError(f"{command}: missing option --run (the run directory)")
    return run
