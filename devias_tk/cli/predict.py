"""`devias-tk predict`: a trained run on any videos, files, folders or lists."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from devias_tk.cli.common import DECODE_JOBS_HELP, console, err_console, user_errors


@user_errors
def predict_cmd(
    inputs: Annotated[list[Path], typer.Argument(help="Video files, frame folders, directories (searched recursively for videos and frame folders) or list files (.txt, the toolkit's format).", show_default=False)],
    run: Annotated[Path, typer.Option(help="Run directory (from `devias-tk train`, or `devias-tk import` for the authors' published DEVIAS weights).")],
    top: Annotated[int, typer.Option(help="Classes shown per task.")] = 5,
    views: Annotated[str, typer.Option(help="Temporal clips x spatial crops, probabilities averaged (1x1: centre view only).")] = "2x3",
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write every prediction as JSON here.")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Also write one CSV row per video here.")] = None,
    overlay: Annotated[Path | None, typer.Option(help="Write <video>.mp4 and <video>.png per video here: the centre view with the action and scene slots' attention and the top labels.")] = None,
    root: Annotated[Path | None, typer.Option(help="Where a list file's paths start (default: the folder holding lists/, else the list's folder).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    batch: Annotated[int, typer.Option(help="Videos per batch (each with all its views).")] = 4,
    jobs: Annotated[int, typer.Option("--jobs", "-j", "--workers", help=DECODE_JOBS_HELP)] = 2,
    checkpoint: Annotated[str, typer.Option(help="auto (best.pt, else last.pt), best, last, or a file name in RUN/checkpoints.")] = "auto",
) -> None:
    """Action and scene top-k of every video, averaged over the views. DEVIAS and every baseline: a model
    with one task prints that one. An unreadable video is named with its reason and the others go on;
    the exit status is 1 when any input failed.

    Examples: [bold]devias-tk predict --run runs/devias clip.mp4 data/synthetic/unseen --top 3 --json preds.json --overlay overlays/[/]
    [bold]devias-tk predict --run runs/devias data/synthetic/lists/test.txt --views 1x1 --csv preds.csv[/]
    """
    from devias_tk.errors import DeviasError
    from devias_tk.evaluate import videos as stage
    from devias_tk.evaluate.inputs import expand_inputs
    from devias_tk.evaluate.output_names import check_outputs
    from devias_tk.evaluate.predict import load_run
    from devias_tk.evaluate.suite import parse_views
    from devias_tk.utils.device import resolve_device
    from devias_tk.utils.progress import progress_bar
    from devias_tk.utils.words import plural

    if json_out is not None and csv_out is not None:
        raise DeviasError("give --json or --csv, not both")
    if top < 1:
        raise DeviasError("--top must be at least 1")
    view_pair = parse_views(views)
    if root is not None and not root.is_dir():
        raise DeviasError(f"--root {root} is not a folder")
    expanded = expand_inputs(inputs, root)
    if not expanded.videos and not expanded.failed:
        raise DeviasError(f"no videos to predict in {', '.join(map(str, inputs))}")
    check_outputs({"--json": json_out, "--csv": csv_out}, overlay, [v.name for v in expanded.videos])
    dev = resolve_device(device)
    model = load_run(run, checkpoint, dev)
    results = stage.predict_videos(model, expanded.videos, view_pair, dev, top, batch, jobs)
    results = [stage.VideoPrediction(name, name, error=why) for name, why in expanded.failed.items()] + results
    if overlay is not None:
        readable = sum(r.error is None for r in results)
        with progress_bar("overlays", readable, "videos") as advance:
            stage.write_overlays(model, results, overlay, dev, lambda: advance(1))

    table = Table(title=f"{model.method} ({model.checkpoint.name}), views {view_pair[0]}x{view_pair[1]}")
    table.add_column("video", overflow="fold")
    tasks = [t for t in ("action", "scene") if any(getattr(r, t) is not None for r in results)]
    for task in tasks:
        table.add_column(f"{task} (top {top})", overflow="fold")
    failed = [r for r in results if r.error]
    if failed:
        table.add_column("error", overflow="fold", style="red")
    for r in results:
        cells = ["" if getattr(r, t) is None else ", ".join(f"{label} {100 * p:.1f}%" for label, p in getattr(r, t))
                 for t in tasks]
        table.add_row(r.name, *cells, *([r.error or ""] if failed else []))
    console.print(table)
    if (partly := stage.warning_line(results)) is not None:
        err_console.print(f"[yellow]{partly}[/]", highlight=False, soft_wrap=True)
    if json_out is not None:
        stage.write_results(json_out, stage.to_json(model, view_pair, results))
        console.print(f"predictions: {json_out}")
    if csv_out is not None:
        stage.write_results(csv_out, stage.to_csv(results, top))
        console.print(f"predictions: {csv_out}")
    if overlay is not None:
        console.print(f"overlays: {overlay}/ (<video>.mp4, <video>.png, keeping the inputs' folders)")
    if failed:
        err_console.print(f"[red]{len(failed)} of {plural(len(results), 'input')} failed[/]: "
                          + "; ".join(f"{r.name}: {r.error}" for r in failed[:5]) + (" ..." if len(failed) > 5 else ""),
                          highlight=False, soft_wrap=True)
        raise typer.Exit(1)
