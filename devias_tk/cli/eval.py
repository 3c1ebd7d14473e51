"""`devias-tk eval`: seen/unseen suites with the H.M. report, the k-NN check, run comparison."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from devias_tk.cli.common import DECODE_JOBS_HELP, console, user_errors
from devias_tk.utils.atomic import atomic_write_text

if TYPE_CHECKING:
    from devias_tk.evaluate.suite import Suite

app = typer.Typer(help="Seen/unseen evaluation suites, H.M. report, k-NN check, run comparison.")


@app.callback(invoke_without_command=True)
@user_errors
def evaluate_run(
    ctx: typer.Context,
    run: Annotated[Path | None, typer.Option("--run", "--run-dir", help="Run directory (from `devias-tk train`, or `devias-tk import` for the authors' published DEVIAS weights). Under torchrun write --run-dir: torchrun's own parser takes --run for its --run-path. Example: torchrun --nproc_per_node=2 -m devias_tk eval --run-dir runs/devias --suite pipelines/eval/synthetic.yaml")] = None,
    suite: Annotated[list[Path] | None, typer.Option(help="Suite YAML (pipelines/eval/<name>.yaml); repeatable: the suites share the predictions of their common splits.")] = None,
    views: Annotated[str | None, typer.Option(help="Temporal clips x spatial crops, e.g. 2x3 (default: the suite's).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    batch: Annotated[int, typer.Option(help="Videos per batch (each with all its views).")] = 8,
    jobs: Annotated[int, typer.Option("--jobs", "-j", "--workers", help=DECODE_JOBS_HELP)] = 2,
    checkpoint: Annotated[str, typer.Option(help="auto (best.pt, else last.pt), best, last, or a file name.")] = "auto",
) -> None:
    """Evaluate a run on a suite: per-split predictions (resumable, RUN/eval/predictions/, shared by suites),
    seen / unseen action and scene accuracy, their means and the harmonic mean, written to
    RUN/eval/<suite>/report.{json,md} with figures. The report states the suite's definition of the means;
    a mean over fewer splits than it defines (an optional list absent) is marked partial and names them.
    UCF-101: pipelines/eval/ucf101-table2.yaml (the paper's Table 2) and ucf101-table7.yaml (supp. Table 7).
    Under torchrun each process scores a shard of every split (NCCL on GPU, gloo on CPU) and rank 0 gathers
    them: the same report as one process.

    Examples: [bold]devias-tk eval --run runs/devias --suite pipelines/eval/synthetic.yaml --views 2x3[/]
    [bold]devias-tk eval --run runs/ucf101 --suite pipelines/eval/ucf101-table2.yaml --suite pipelines/eval/ucf101-table7.yaml[/]
    [bold]torchrun --nproc_per_node=8 -m devias_tk eval --run-dir runs/ucf101 --suite pipelines/eval/ucf101-table2.yaml[/]
    """
    if ctx.invoked_subcommand is not None:
        return
    if run is None and not suite:  # plain `devias-tk eval`: its help
        console.print(ctx.get_help())
        raise typer.Exit(0)
    if run is None or not suite:
        from devias_tk.errors import DeviasError

        missing = "--run (the run directory)" if run is None else "--suite (a suite YAML, e.g. pipelines/eval/synthetic.yaml)"
        raise DeviasError(f"eval: missing option {missing}; see devias-tk eval --help")
    from devias_tk.evaluate.suite import load_suite, parse_views
    from devias_tk.utils.runlog import LOG_FILE, run_log

    specs = [load_suite(s) for s in suite]  # every suite parsed before any work
    # Under torchrun rank 0 writes the report, so it alone appends to the run's log
    rank0 = os.environ.get("RANK", "0") == "0"
    with run_log(run / LOG_FILE if rank0 and run.is_dir() else None, console, " ".join(sys.argv)):
        for spec in specs:
            _evaluate_one(run, spec, parse_views(views) if views else None, device, batch, jobs, checkpoint)


def _evaluate_one(run: Path, spec: Suite, views: tuple[int, int] | None, device: str, batch: int, jobs: int, checkpoint: str) -> None:
    from devias_tk.evaluate.runner import evaluate, markdown_table
    from devias_tk.utils.runlog import log
    from devias_tk.utils.words import plural

    report = evaluate(run, spec, views, device, batch, jobs, checkpoint)
    if report is None:  # a rank other than 0 under torchrun: rank 0 prints and writes the report
        return
    log.info(f"definition: {report['definition']}")
    for name, why in report["absent_splits"].items():
        log.info(f"absent split {name}: {why}")
    log.info(markdown_table([(report["label"], report)]))
    if report.get("diagnostics"):
        from devias_tk.evaluate.diagnostics import markdown

        log.info(f"diagnostics against the ground-truth actor masks ({report['diagnostics_view']}):")
        log.info(markdown(report["diagnostics"]))
    for split, videos in report.get("unreadable", {}).items():
        log.warning(f"{split}: {plural(len(videos), 'unreadable video')} left out of the metrics:")
        for path, why in videos.items():
            log.warning(f"  {path}: {why}")
    for split, videos in report.get("partly_decodable", {}).items():
        log.warning(f"{split}: {plural(len(videos), 'video')} scored from the frames that decode:")
        for path, note in videos.items():
            log.warning(f"  {path}: {note}")
    for warning in report["warnings"]:
        log.warning(f"warning: {warning}")
    partial = " (partial: see the note above)" if report["hm_partial"] else ""
    log.info(f"H.M. {report['hm']}{partial}; report: {run / 'eval' / spec.name / 'report.md'}")


@app.command()
@user_errors
def knn(
    run: Annotated[Path | None, typer.Option(help="Run directory (not with --train-features).")] = None,
    root: Annotated[Path | None, typer.Option(help="Dataset root.")] = None,
    train_list: Annotated[Path | None, typer.Option("--train-list", help="Videos whose features fit the k-NN.")] = None,
    test_list: Annotated[Path | None, typer.Option("--test-list", help="Videos it classifies.")] = None,
    train_features: Annotated[Path | None, typer.Option(
        "--train-features", help="A `devias-tk features` store of the training videos, instead of --run/--root/"
        "--train-list (labels: the list's, recorded in the store).",
    )] = None,
    test_features: Annotated[Path | None, typer.Option(
        "--test-features", help="A features store of the test videos, of the same run (with --train-features).",
    )] = None,
    train_scene_store: Annotated[Path | None, typer.Option(
        "--train-scene-store", help="Scene-label store (`scenes label`) of the train list: its pseudo labels "
        "(argmax of each video's video_probs) replace the list's scene column (UCF-101 and Kinetics lists carry -1).",
    )] = None,
    test_scene_store: Annotated[Path | None, typer.Option(
        "--test-scene-store", help="Scene-label store of the test list, likewise.",
    )] = None,
    k: Annotated[int, typer.Option(help="Neighbours.")] = 10,
    temperature: Annotated[float, typer.Option(help="Weight temperature.")] = 0.07,
    device: Annotated[str, typer.Option(help="auto (cuda when available, else cpu), cpu or cuda.")] = "auto",
    batch: Annotated[int, typer.Option(help="Videos per batch.")] = 16,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the table as JSON here "
                                                   "(RUN/eval/knn.json is what `eval compare` reads).")] = None,
) -> None:
    """The paper's Table 1 check: weighted k-NN on L2-normalised action and scene features (centre view).

    A-A and S-S should be high; the cross pairings A-S (action features fit, scene features classified,
    action labels) and S-A near chance when the two features are disentangled. Needs action labels in
    both lists and scene labels from the lists or from scene stores (videos without both are left out). Examples:
    [bold]devias-tk eval knn --run runs/devias --root data/synthetic --train-list data/synthetic/lists/train.txt --test-list data/synthetic/lists/test.txt[/]
    [bold]devias-tk eval knn --train-features feats/train.zarr --test-features feats/test.zarr[/]
    [bold]devias-tk eval knn --run work/ucf101/run --root /data/UCF101 --train-list work/ucf101/lists/trainlist01.txt --test-list work/ucf101/lists/testlist01.txt --train-scene-store work/ucf101/caches/scenes-trainlist01.zarr --test-scene-store work/ucf101/caches/scenes-testlist01.zarr[/]
    """
    from devias_tk.errors import DeviasError
    from devias_tk.evaluate.knn_run import knn_from_stores, knn_report

    if train_features is not None or test_features is not None:
        if train_features is None or test_features is None or run is not None:
            raise DeviasError("give --train-features and --test-features together, without --run")
        table_data = knn_from_stores(train_features, test_features, k, temperature, train_scene_store,
                                     test_scene_store)
        source = f"{train_features}, {test_features}"
    else:
        if run is None or root is None or train_list is None or test_list is None:
            raise DeviasError("give --run, --root, --train-list and --test-list (or --train-features and "
                              "--test-features)")
        table_data = knn_report(run, root, train_list, test_list, k, temperature, device, batch,
                                train_scene_store=train_scene_store, test_scene_store=test_scene_store)
        source = str(run)
    table = Table(title=f"k-NN (k={k}, T={temperature}) top-1, %: {source}")
    for col in ("A-A", "S-S", "A-S", "S-A", "chance (action / scene)"):
        table.add_column(col, justify="right")
    console.print(f"videos: {table_data['train_videos']} train, {table_data['test_videos']} test "
                  f"(scene labels: {table_data['scene_labels']})")
    table.add_row(*(f"{100 * table_data[c]:.1f}" for c in ("A-A", "S-S", "A-S", "S-A")),
                  f"{100 * table_data['chance_action']:.1f} / {100 * table_data['chance_scene']:.1f}")
    console.print(table)
    if json_out is not None:
        atomic_write_text(json_out, json.dumps({**table_data, "k": k, "temperature": temperature,
                                                "train_list": str(train_list), "test_list": str(test_list)},
                                               indent=1, default=float) + "\n")


@app.command()
@user_errors
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Run directories (several seeds of a method are averaged).")],
    suite: Annotated[str, typer.Option(help="Suite name (the folder under RUN/eval/).")] = "synthetic",
    out: Annotated[Path | None, typer.Option(help="Also write the table as Markdown here, and beside it (.png) a bar chart of seen action, unseen action and H.M.")] = None,
) -> None:
    """One table of several evaluated runs: mean and spread over seeds of each method.

    The table is headed by the suite's definition; '*' marks a mean over fewer splits than the suite
    defines (named below the table, with absent splits and best.pt selection warnings).

    Example: [bold]devias-tk eval compare runs/demo/* --suite synthetic[/]
    """
    from devias_tk.errors import DeviasError
    from devias_tk.evaluate.compare import compare_runs, comparison_figure

    # a shell glob such as runs/demo/* also matches the tables written beside the runs
    files = [r for r in runs if r.is_file()]
    runs = [r for r in runs if not r.is_file()]
    if files:
        console.print(f"not run directories, left out: {', '.join(str(f) for f in files)}", markup=False,
                      highlight=False, soft_wrap=True, style="dim")
    if not runs:
        raise DeviasError("eval compare: no run directories given (only files)")
    text = compare_runs(runs, suite)
    console.print(text, markup=False, highlight=False, soft_wrap=True)
    if out is not None:
        out.write_text(text)
        console.print(f"figure: {comparison_figure(runs, suite, out)}")
