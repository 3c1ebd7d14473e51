"""The `devias-tk` command line: argument parsing and printing only; the work lives in the stages."""

from __future__ import annotations

import sys

import typer

from devias_tk import __version__
from devias_tk.cli import bench, data, masks, pretrain, scenes
from devias_tk.cli import eval as eval_cli
from devias_tk.cli.common import print_error
from devias_tk.cli.features import features_cmd
from devias_tk.cli.importer import import_cmd
from devias_tk.cli.predict import predict_cmd
from devias_tk.cli.train import train_cmd
from devias_tk.errors import DeviasError

app = typer.Typer(
    name="devias-tk",
    help="DEVIAS as a toolkit: cached FAME masks and scene labels, disentangled action/scene slot models, "
    "seen/unseen evaluation with the harmonic mean.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
)
app.add_typer(data.app, name="data")
app.add_typer(masks.app, name="masks")
app.add_typer(scenes.app, name="scenes")
app.command("train")(train_cmd)
app.add_typer(pretrain.app, name="pretrain")
app.add_typer(eval_cli.app, name="eval")
app.command("predict", help="Action and scene top-k of any videos, files, folders or lists; overlays of the slots' attention.")(
    predict_cmd)
app.command("features", help="Action and scene features of a run per video, into a resumable Zarr store.")(features_cmd)
app.command("import")(import_cmd)
app.add_typer(bench.app, name="bench")


def _version(value: bool) -> None:
    if value:
        print(f"devias-tk {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """DEVIAS toolkit."""


def main() -> None:
    try:
        app(standalone_mode=True)
    except DeviasError as exc:
        print_error(exc)
        sys.exit(2)
