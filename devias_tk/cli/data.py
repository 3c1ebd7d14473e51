"""`devias-tk data ...`: generate the synthetic benchmark, inspect a dataset, measure its scene bias."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from devias_tk.cli.common import JOBS_HELP, console, err_console, resolve_jobs, user_errors
from devias_tk.data import bias
from devias_tk.data import inspect as inspect_mod
from devias_tk.data.synthetic import benchmark

app = typer.Typer(help="Datasets: the embedded synthetic benchmark, inspection, bias check.", no_args_is_help=True)


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@app.command()
@user_errors
def synth(
    out: Annotated[Path, typer.Argument(help="Folder to write the benchmark into (created; resumed if interrupted).")],
    preset: Annotated[str, typer.Option(help=f"Size preset: {', '.join(benchmark.PRESETS)}.")] = "default",
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives identical files.")] = 0,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help=JOBS_HELP)] = 0,
) -> None:
    """Generate the embedded synthetic action–scene benchmark (videos, lists, masks, scene images).

    Example: [bold]devias-tk data synth data/synthetic --preset default[/]
    """
    if preset not in benchmark.PRESETS:
        raise typer.BadParameter(f"unknown preset {preset!r}; choose from {', '.join(benchmark.PRESETS)}")
    cfg = benchmark.PRESETS[preset]
    result = benchmark.generate(out, cfg, seed=seed, jobs=resolve_jobs(jobs), preset=preset,
                                log=lambda msg: err_console.print(f"[yellow]{msg}[/]"))
    if result.already_complete:
        console.print(f"{out}: already complete (preset {preset}, seed {seed}); nothing to do.")
        return
    table = Table(title=f"synthetic benchmark: {out}")
    table.add_column("split")
    table.add_column("videos", justify="right")
    p = benchmark.plan(cfg, seed)
    for split in benchmark.ALL_SPLITS:
        table.add_row(split, str(sum(1 for j in p.videos if j.split == split)))
    table.add_row("scene images", str(len(p.images)))
    console.print(table)
    console.print(
        f"wrote {result.videos_written} videos and {result.images_written} images in {result.seconds:.1f} s; "
        f"{_dir_size(result.root) / 2**20:.1f} MiB on disk ({cfg.width}x{cfg.height}, {cfg.num_frames} frames)"
    )


def _cooccurrence_table(report: inspect_mod.SplitReport, actions: list[str], scenes: list[str]) -> Table:
    table = Table(title=f"{report.name}: action x scene (columns: scene index)", title_justify="left")
    table.add_column("action")
    used_cols = [s for s in range(len(scenes)) if report.cooccurrence[:, s].any()]
    unknown_col = report.cooccurrence[:, -1].any()
    for s in used_cols:
        table.add_column(str(s), justify="right")
    if unknown_col:
        table.add_column("?", justify="right")
    rows = [a for a in range(len(actions)) if report.cooccurrence[a].any()]
    if report.cooccurrence[-1].any():
        rows.append(-1)
    for a in rows:
        row = report.cooccurrence[a]
        cells = [str(row[s]) if row[s] else "." for s in used_cols]
        if unknown_col:
            cells.append(str(row[-1]) if row[-1] else ".")
        table.add_row(f"{a} {actions[a]}" if a >= 0 else "? (none)", *cells)
    return table


@app.command("inspect")
@user_errors
def inspect_cmd(
    root: Annotated[Path, typer.Argument(help="Dataset root (holding lists/*.txt, actions.txt, scenes.txt).")],
    lists: Annotated[
        list[Path] | None, typer.Option("--list", help="List files to inspect (default: ROOT/lists/*.txt).")
    ] = None,
    sheets: Annotated[Path | None, typer.Option(help="Folder for contact-sheet PNGs (default: ROOT/inspect).")] = None,
    check: Annotated[bool, typer.Option(help="Open every video to find unreadable files.")] = True,
    max_table: Annotated[
        int, typer.Option(help="Print co-occurrence tables when both class counts are at most this.")
    ] = 16,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help=JOBS_HELP)] = 0,
) -> None:
    """Per split: counts, the action x scene co-occurrence, unreadable files, and a contact sheet.

    Example: [bold]devias-tk data inspect data/synthetic[/]
    """
    reports, actions, scenes = inspect_mod.inspect_splits(root, lists or None, resolve_jobs(jobs), check)
    reference = next((r for r in reports if r.name == "train"), reports[0])
    home = reference.home_scenes()
    summary = Table(
        title=f"dataset: {root}",
        caption=f"act / scn: videos with an action / scene label; seen comb.: share of labelled videos whose "
        f"scene is their action's most frequent scene in '{reference.name}'",
    )
    summary.add_column("split", no_wrap=True)
    for col in ("videos", "act", "scn", "seen comb.", "unreadable", "frames"):
        summary.add_column(col, justify="right")
    for r in reports:
        share = r.share_in_home(home)
        counts = list(r.frame_counts.values())
        summary.add_row(
            r.name, str(len(r.entries)), str(sum(e.action >= 0 for e in r.entries)),
            str(sum(e.scene >= 0 for e in r.entries)), "-" if share is None else f"{share:.2f}",
            f"[red]{len(r.unreadable)}[/]" if r.unreadable else "0",
            f"{min(counts)}-{max(counts)}" if counts else "-",
        )
    console.print(summary)
    small = len(actions) <= max_table and len(scenes) <= max_table
    if small:
        console.print("scenes: " + ", ".join(f"{i} {name}" for i, name in enumerate(scenes)))
    for r in reports:
        if small:
            console.print(_cooccurrence_table(r, actions, scenes))
        for path, reason in r.unreadable:
            console.print(f"[red]unreadable[/] {r.name}: {path}: {reason}")
    sheet_dir = sheets or Path(root) / "inspect"
    written = []
    for r in reports:
        path = inspect_mod.contact_sheet(Path(root), r, actions, scenes, sheet_dir / f"{r.name}.png")
        if path is not None:
            written.append(path)
    if written:
        console.print(f"contact sheets: {sheet_dir}/ ({len(written)} PNG files)")
    if any(r.unreadable for r in reports):
        raise typer.Exit(1)


@app.command("bias")
@user_errors
def bias_cmd(
    root: Annotated[Path, typer.Argument(help="Dataset root.")],
    train: Annotated[Path | None, typer.Option(help="Training list (default: ROOT/lists/train.txt).")] = None,
    lists: Annotated[
        list[Path] | None, typer.Option("--list", help="Lists to evaluate (default: every other ROOT/lists/*.txt).")
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help=JOBS_HELP)] = 0,
) -> None:
    """Scene-bias check: a background-only classifier (logistic regression on a 16x12 temporal-mean frame).

    High accuracy on seen splits with near-chance accuracy on unseen splits means action labels can
    be read off the scene. Example: [bold]devias-tk data bias data/synthetic[/]
    """
    train = train or Path(root) / "lists" / "train.txt"
    others = lists or [p for p in inspect_mod.find_lists(Path(root)) if p.resolve() != train.resolve()]
    names = inspect_mod.load_names(Path(root), "actions.txt", [], "action")
    if not names:
        from devias_tk.data.lists import read_list

        names = [str(i) for i in range(max(e.action for e in read_list(train)) + 1)]
    results = bias.run_bias_check(root, train, others, len(names), resolve_jobs(jobs))
    table = Table(title="background-only classifier: action top-1")
    for col in ("split", "videos", "accuracy", "chance"):
        table.add_column(col, justify="left" if col == "split" else "right")
    for r in results:
        table.add_row(r.split, str(r.videos), f"{100 * r.accuracy:.1f}%", f"{100 * r.chance:.1f}%")
    console.print(table)
