"""`devias-tk train`: one command for every method, on CPU or under torchrun."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from devias_tk.cli.common import console, err_console, user_errors
from devias_tk.train.config import config_from


@user_errors
def train_cmd(
    recipe: Annotated[Path, typer.Option(help="YAML recipe (pipelines/<name>.yaml).")],
    out: Annotated[Path, typer.Option(help="Run directory (config, metrics, checkpoints).")],
    overrides: Annotated[list[str] | None, typer.Argument(help="section.key=value overrides, e.g. optim.lr=1e-3 model.method=two-token")] = None,
    resume: Annotated[str, typer.Option(help="auto: continue RUN/checkpoints/last.pt if present; never; or a checkpoint path.")] = "auto",
) -> None:
    """Train DEVIAS or a baseline from the cached masks and scene labels.

    Plain `devias-tk train ...` runs on one device (CPU or GPU); under `torchrun --nproc_per_node=N`
    each process trains a shard of every batch (NCCL on GPU, gloo on CPU).
    Example: [bold]devias-tk train --recipe pipelines/synthetic.yaml --out runs/devias[/]
    """
    from devias_tk.train.engine import train

    cfg = config_from(recipe, overrides or [])
    result = train(cfg, out, resume=resume, console=err_console, command=" ".join(sys.argv))
    if result.last:
        console.print(f"done: {result.steps} steps, {result.epochs} epochs in {result.seconds:.0f} s; "
                      f"last loss {result.last.get('loss', float('nan')):.4f}; run in {result.run_dir}")
