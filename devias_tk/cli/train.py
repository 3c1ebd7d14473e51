"""`devias-tk train`: one command for every method, on CPU or under torchrun."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from devias_tk.cli.common import console, err_console, user_errors


@user_errors
def train_cmd(
    recipe: Annotated[Path, typer.Option(help="YAML recipe (pipelines/<name>.yaml).")],
    out: Annotated[Path, typer.Option(help="Run directory (config, metrics, checkpoints).")],
    overrides: Annotated[list[str] | None, typer.Argument(help="section.key=value overrides, e.g. optim.lr=1e-3 model.method=two-token")] = None,
    resume: Annotated[str, typer.Option(help="auto: continue RUN/checkpoints/last.pt if present (previous.pt when last.pt is damaged, with a warning); never; or a checkpoint path.")] = "auto",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the merged configuration, the data plan (videos listed, held out, what each store holds and why it skips the others, steps per epoch, total steps) and every check, then stop: no training, nothing written. Exit status 1 when a check fails. Example: devias-tk train --recipe pipelines/synthetic.yaml --out runs/devias --dry-run")] = False,
    processes: Annotated[int | None, typer.Option(help="With --dry-run: plan the steps for this many training processes (default: torchrun's WORLD_SIZE, else 1). Example: --dry-run --processes 8", min=1)] = None,
) -> None:
    """Train DEVIAS or a baseline from the cached masks and scene labels.

    Plain `devias-tk train ...` runs on one device (CPU or GPU); under `torchrun --nproc_per_node=N`
    each process trains a shard of every batch (NCCL on GPU, gloo on CPU). `--dry-run` checks and plans
    the same command without training.
    Examples: [bold]devias-tk train --recipe pipelines/synthetic.yaml --out runs/devias[/]
    [bold]devias-tk train --recipe pipelines/ucf101.yaml --out runs/ucf101 --dry-run --processes 8[/]
    [bold]devias-tk train --recipe pipelines/synthetic.yaml --out runs/devias run.trackers=wandb,mlflow[/] (also log to W&B / MLflow when installed)
    [bold]devias-tk train --recipe pipelines/finetune-diving48.yaml --out runs/ft-diving48 run.init=runs/k400-devias[/] (downstream fine-tuning of a trained run: model.method=finetune)
    """
    from devias_tk.train.config import config_from  # torch and timm: only once the command runs

    cfg = config_from(recipe, overrides or [])
    if dry_run:
        _dry_run(cfg, out, resume, processes)
        return
    if processes is not None:
        from devias_tk.errors import DeviasError

        raise DeviasError("--processes plans a --dry-run; to train with N processes run torchrun --nproc_per_node=N")
    from devias_tk.train.engine import train

    result = train(cfg, out, resume=resume, console=err_console, command=" ".join(sys.argv))
    if result.last:
        console.print(f"done: {result.steps} steps, {result.epochs} epochs in {result.seconds:.0f} s; "
                      f"last loss {result.last.get('loss', float('nan')):.4f}; run in {result.run_dir}")


def _dry_run(cfg, out: Path, resume: str, processes: int | None) -> None:
    import yaml

    from devias_tk.train.plan import describe, plan_training

    plan = plan_training(cfg, out, resume, processes)
    console.print("[bold]configuration[/] (defaults < recipe < overrides)")
    console.print(yaml.safe_dump(plan.config, sort_keys=False).rstrip(), markup=False, highlight=False)
    console.print("[bold]data plan[/]")
    for line in describe(plan):
        console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    console.print("[bold]checks[/]")
    for line in plan.checks:
        console.print(f"  [green]ok[/] {escape(line)}", highlight=False, soft_wrap=True)
    for warning in plan.warnings:
        console.print(f"  [yellow]warning[/] {escape(warning)}", highlight=False, soft_wrap=True)
    if plan.problem is not None:
        console.print(f"  [red]FAILED[/] {escape(plan.problem)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"dry run: nothing trained, nothing written; {out} untouched")
