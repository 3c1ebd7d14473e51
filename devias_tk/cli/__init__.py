"""The `devias-tk` command line: argument parsing and printing only; the work lives in the stages.

Each command group is imported when it runs, not before: `devias-tk data lists ...` or `masks extract`
should not pay for importing torch, timm and every stage (about 5 s of CPU on a small machine, which
dominates the cost of a short step in a make chain).
"""

from __future__ import annotations

import enum
import importlib
import sys
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from devias_tk import __version__
from devias_tk.cli.vocabulary import hide_old_spellings, install_help_rendering
from devias_tk.errors import DeviasError

install_help_rendering()  # help shows INTEGER, PATH, ... and nothing after a flag, not typer's <int> and <bool>

# name -> (module, attribute, one-line help for the command list); the order is the listing's
COMMANDS: dict[str, tuple[str, str, str]] = {
    "train": ("devias_tk.cli.train", "train_cmd", "Train DEVIAS or a baseline from the cached masks and scene labels."),
    "predict": ("devias_tk.cli.predict", "predict_cmd",
                "Action and scene top-k of any videos, files, folders or lists; overlays of the slots' attention."),
    "features": ("devias_tk.cli.features", "features_cmd",
                 "Action and scene features of a run per video, into a resumable Zarr store."),
    "import": ("devias_tk.cli.importer", "import_cmd",
               "The authors' trained DEVIAS weights as a run directory that eval, predict and features read."),
    "data": ("devias_tk.cli.data", "app",
             "Datasets: the embedded synthetic benchmark, list converters, checks, inspection, bias check."),
    "masks": ("devias_tk.cli.masks", "app", "FAME pseudo-human masks, extracted once into a Zarr store."),
    "scenes": ("devias_tk.cli.scenes", "app", "Scene model training and cached pseudo scene labels."),
    "pretrain": ("devias_tk.cli.pretrain", "app",
                 "VideoMAE self-supervised pre-training of the backbone on your own videos (no labels needed)."),
    "eval": ("devias_tk.cli.eval", "app", "Seen/unseen evaluation suites, H.M. report, k-NN check, run comparison."),
    "bench": ("devias_tk.cli.bench", "app", "Throughput benchmarks of each stage."),
}
# function commands whose help is given here rather than by their docstring
_EXPLICIT_HELP = {"predict", "features"}
# Commands that never open a video get no --decoder (every other one does: one option, attached here)
_NO_VIDEOS = {"import", "data lists", "scenes export", "pretrain export", "eval compare", "masks import-gt"}
DECODER_HELP = ("Video file decoder: auto (PyAV when installed, else decord), decord or pyav; "
                "also the DEVIAS_DECODER environment variable.")


class Decoder(enum.StrEnum):
    auto = "auto"
    decord = "decord"
    pyav = "pyav"


def _set_decoder(value: str | None) -> None:
    if value is not None:  # unset: DEVIAS_DECODER or auto, as the environment says
        from devias_tk.data.video import set_decoder

        set_decoder(str(value))


def _decoder_option() -> Any:
    """The `--decoder` parameter as typer builds it (typer ships its own click: hand-made options do not fit)."""
    probe = typer.Typer(add_completion=False)

    @probe.command()
    def _probe(decoder: Annotated[Decoder | None, typer.Option("--decoder", help=DECODER_HELP, is_eager=True,
                                                                 callback=_set_decoder)] = None) -> None: ...

    option = typer.main.get_command(probe).params[0]
    option.expose_value = False  # the commands' functions do not take it; the callback has done its work
    return option


def add_decoder_option(command: Any, path: str) -> None:
    """`--decoder` on `command` and, for a group, on each of its subcommands that may open videos."""
    if path in _NO_VIDEOS:
        return
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            add_decoder_option(sub, f"{path} {name}")
    elif not any(p.name == "decoder" for p in command.params):
        command.params.append(_decoder_option())


def load_command(name: str) -> click.Command:
    """The click command of one top-level name, importing its module now."""
    module, attribute, short = COMMANDS[name]
    obj = getattr(importlib.import_module(module), attribute)
    if isinstance(obj, typer.Typer):
        command: click.Command = typer.main.get_group(obj)
    else:
        single = typer.Typer(rich_markup_mode="rich", add_completion=False)
        single.command(name, help=short if name in _EXPLICIT_HELP else None)(obj)
        command = typer.main.get_command(single)
    command.name = name
    add_decoder_option(command, name)
    hide_old_spellings(command)
    return command


class LazyGroup(TyperGroup):
    """The root group: commands are imported on first use; the command list is drawn from `COMMANDS`."""

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        if self._listing:  # the help page only needs names and one line each
            return click.Command(cmd_name, help=COMMANDS[cmd_name][2])
        return load_command(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        # One place for every command, decorated or not: a user's error is one line and exit 2, never a
        # traceback. Anything else is a bug and keeps its traceback (exit 1), so tests can tell the two apart.
        try:
            return super().invoke(ctx)
        except (DeviasError, OSError) as exc:  # OSError: permissions, a full disk, ... - fixable by the user
            from devias_tk.cli.common import print_error

            print_error(exc)
            raise click.exceptions.Exit(2) from None

    def format_help(self, ctx: click.Context, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="devias-tk",
    cls=LazyGroup,
    help="DEVIAS as a toolkit: cached FAME masks and scene labels, disentangled action/scene slot models, "
    "seen/unseen evaluation with the harmonic mean.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"devias-tk {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Console: warnings and errors only (the run's log.txt "
                               "still gets every message)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Console: debug messages too."),
) -> None:
    """DEVIAS toolkit."""
    import logging

    from devias_tk.utils.runlog import set_console_level

    if quiet and verbose:
        raise typer.BadParameter("give -q or -v, not both")
    set_console_level(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)


def main() -> None:
    try:
        app(standalone_mode=True)
    except DeviasError as exc:
        from devias_tk.cli.common import print_error

        print_error(exc)
        sys.exit(2)
