"""`devias-tk pretrain`: VideoMAE self-supervised pre-training on a list's videos; `export` and `probe`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from typer.core import TyperGroup

from devias_tk.cli.common import DECODE_JOBS_HELP, console, err_console, user_errors


class _RunByDefault(TyperGroup):
    """`devias-tk pretrain --recipe ...` means `devias-tk pretrain run --recipe ...`."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:  # type: ignore[override]
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_RunByDefault, no_args_is_help=True,
    help="VideoMAE self-supervised pre-training of the backbone on your own videos (no labels needed). "
    "[bold]devias-tk pretrain --recipe R --out RUN[/] runs it (the `run` command); `export` writes the published "
    "VideoMAE layout; `probe` scores the features (k-NN, linear probe). Start training from it with run.init=RUN/checkpoints/last.pt.",
)


@app.command("run")
@user_errors
def run_cmd(
    recipe: Annotated[Path, typer.Option(help="YAML recipe (pipelines/pretrain-<name>.yaml).")],
    out: Annotated[Path, typer.Option(help="Run directory (config, metrics, checkpoints, figures).")],
    overrides: Annotated[list[str] | None, typer.Argument(help="section.key=value overrides, e.g. optim.epochs=100 mae.mask_ratio=0.75 data.root=/data/ucf101")] = None,
    resume: Annotated[str, typer.Option(help="auto: continue RUN/checkpoints/last.pt if present; never; or a checkpoint path.")] = "auto",
) -> None:
    """Pre-train the backbone with VideoMAE: tube masking, encoder on the visible tubelets, light decoder,
    MSE on the per-patch normalised pixels of the masked ones.

    Plain `devias-tk pretrain ...` runs on one device; under `torchrun --nproc_per_node=N -m devias_tk pretrain ...`
    each process takes a shard of every batch. Re-running the same command resumes.
    Example: [bold]devias-tk pretrain --recipe pipelines/pretrain-synthetic.yaml --out runs/pretrain[/]
    """
    from devias_tk.pretrain.config import config_from
    from devias_tk.pretrain.engine import pretrain

    cfg = config_from(recipe, overrides or [])
    result = pretrain(cfg, out, resume=resume, console=err_console, command=" ".join(sys.argv))
    console.print(f"done: {result.steps} steps, {result.epochs} epochs in {result.seconds:.0f} s; last loss "
                  f"{result.last.get('loss', float('nan')):.4f}; run in {result.run_dir} (figures in "
                  f"{result.run_dir}/figures); train from it with run.init={result.run_dir}/checkpoints/last.pt")


@app.command("export")
@user_errors
def export_cmd(
    out: Annotated[Path, typer.Option(help="File to write (.pth): VideoMAE's pre-training layout under 'model'.")],
    run: Annotated[Path | None, typer.Option(help="A pre-training run directory (its checkpoints/last.pt) or checkpoint file.")] = None,
    run_arg: Annotated[Path | None, typer.Argument(hidden=True, help="RUN as a positional argument (the old spelling).")] = None,
) -> None:
    """Write a pre-training run's weights in VideoMAE's published pre-training key layout
    (encoder.*, decoder.*, encoder_to_decoder.weight, mask_token), which VideoMAE code and `run.init` read.

    Example: [bold]devias-tk pretrain export --run runs/pretrain --out videomae_pretrain.pth[/]
    """
    from devias_tk.cli.vocabulary import one_run
    from devias_tk.pretrain.export import export_videomae

    run = one_run(run, run_arg, "pretrain export")

    info = export_videomae(run, out)
    console.print(f"wrote {info['file']}: {info['tensors']} tensors from {info['source']} (epoch {info['epoch']}; "
                  f"encoder {info['encoder']})")


@app.command("probe")
@user_errors
def probe_cmd(
    root: Annotated[Path, typer.Option(help="Dataset root the lists are relative to.")],
    train_list: Annotated[Path, typer.Option("--train-list", "--train", help="List the k-NN and the linear probe are fitted on.")],
    test_lists: Annotated[list[Path], typer.Option("--test-list", "--test", help="List to score (repeatable).")],
    run: Annotated[Path | None, typer.Option(help="A pre-training run directory or checkpoint file.")] = None,
    run_arg: Annotated[Path | None, typer.Argument(hidden=True, help="RUN as a positional argument (the old spelling).")] = None,
    device: Annotated[str, typer.Option(help="auto (cuda when available, else cpu), cpu or cuda.")] = "auto",
    batch: Annotated[int, typer.Option(help="Clips per forward pass.")] = 16,
    jobs: Annotated[int, typer.Option("--jobs", "-j", "--workers", help=DECODE_JOBS_HELP)] = 2,
    k: Annotated[int, typer.Option(help="Neighbours of the weighted k-NN.")] = 10,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures as JSON.")] = None,
) -> None:
    """Top-1 of a weighted k-NN (k = 10, temperature 0.07, cosine) and of a linear probe (softmax regression) on the
    mean-pooled encoder tokens (centre view), action and scene labels, for the pre-trained encoder and a randomly
    initialised one of the same shape; fitted on --train-list, scored on each --test-list.

    Example: [bold]devias-tk pretrain probe --run runs/pretrain --root data/synthetic --train-list data/synthetic/lists/train.txt --test-list data/synthetic/lists/test.txt[/]
    """
    from devias_tk.cli.vocabulary import one_run
    from devias_tk.pretrain.probe import feature_probe

    run = one_run(run, run_arg, "pretrain probe")
    scores = feature_probe(run, root, train_list, test_lists, device, batch, jobs, k)
    table = Table(title=f"top-1 % on mean-pooled encoder tokens, fitted on {train_list.name}: pre-trained / random "
                        f"encoder (k-NN k={k}; linear probe)")
    columns = [f"{kind}_{target}" for target in ("action", "scene") for kind in ("knn", "linear")]
    for col in ("list", "videos", *(c.replace("_", " ") for c in columns)):
        table.add_column(col, justify="right")

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}"

    for name, row in scores["pretrained"].items():
        rand = scores["random"][name]
        table.add_row(name, str(row["videos"]), *(f"{pct(row[c])} / {pct(rand[c])}" for c in columns))
    console.print(table)
    if json_out:
        json_out.write_text(json.dumps(scores, indent=1) + "\n")
