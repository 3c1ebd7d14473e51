"""`devias-tk features`: a run's action and scene features per video, into a resumable store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from devias_tk.cli.common import DECODE_JOBS_HELP, err_console, print_stage_summary, user_errors


@user_errors
def features_cmd(
    run: Annotated[Path, typer.Option(help="Run directory (from `devias-tk train`, or `devias-tk import` for the authors' published DEVIAS weights).")],
    root: Annotated[Path, typer.Option(help="Dataset root; the list's paths are relative to it.")],
    list_file: Annotated[Path, typer.Option("--list", help="Videos to extract (the toolkit's list format).")],
    out: Annotated[Path, typer.Option(help="Feature store (.zarr) to create or resume.")],
    per_clip: Annotated[bool, typer.Option("--per-clip", help="Also keep every view's features (V, D) (and DEVIAS's slots).")] = False,
    views: Annotated[str, typer.Option(help="Temporal clips x spatial crops averaged per video (1x1: the centre view, as `eval knn`).")] = "1x1",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    batch: Annotated[int, typer.Option(help="Videos per batch (each with all its views).")] = 8,
    jobs: Annotated[int, typer.Option("--jobs", "-j", "--workers", help=DECODE_JOBS_HELP)] = 2,
    checkpoint: Annotated[str, typer.Option(help="auto (best.pt, else last.pt), best, last, or a file name in RUN/checkpoints.")] = "auto",
    shard: Annotated[str, typer.Option(help="Process shard i of n of the list ('i/n'); shards may run on several machines into one store.")] = "0/1",
    retry_failed: Annotated[bool, typer.Option(help="Retry videos recorded as failed by an earlier run.")] = True,
    max_failures: Annotated[int, typer.Option(help="Exit with status 1 when more videos than this failed.")] = 0,
) -> None:
    """Action-slot and scene-slot features (baselines: their tokens or pooled features) and class
    probabilities of every video of a list, one group per video in a Zarr store, resumable and atomic,
    keyed by the run's checkpoint. `eval knn --train-features/--test-features` reads such stores.

    Example: [bold]devias-tk features --run runs/devias --root data/synthetic --list data/synthetic/lists/test.txt --out feats/test.zarr --per-clip --views 2x3[/]
    """
    from devias_tk.evaluate import features as stage
    from devias_tk.evaluate.predict import load_run
    from devias_tk.evaluate.suite import parse_views
    from devias_tk.masks.extract import parse_shard
    from devias_tk.utils.device import resolve_device

    dev = resolve_device(device)
    model = load_run(run, checkpoint, dev)
    summary = stage.extract_features(model, root, list_file, out, parse_views(views), per_clip, dev, batch, jobs,
                                     parse_shard(shard), retry_failed,
                                     log=lambda m: err_console.print(f"[yellow]{m}[/]"))
    print_stage_summary(f"features -> {out} ({model.method}, checkpoint {model.checkpoint_sha})", summary,
                        max_failures=max_failures)
