"""`devias-tk data ...`: generate the synthetic benchmark, convert and check datasets, inspect them, measure scene bias."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from devias_tk.cli.common import JOBS_HELP, TIMEOUT_HELP, console, err_console, resolve_jobs, user_errors
from devias_tk.cli.defaults import BENCHMARK_PRESETS, DECODE_TIMEOUT, SCUBA_LIST
from devias_tk.data.lists import read_list
from devias_tk.utils.atomic import atomic_write_text

if TYPE_CHECKING:
    from devias_tk.data.formats.common import Conversion
    from devias_tk.data.inspect import SplitReport

# The stage modules (OpenCV, decord, numpy) are imported inside each command so that parsing and --help stay light.

app = typer.Typer(help="Datasets: the embedded synthetic benchmark, list converters, checks, inspection, bias check.",
                  no_args_is_help=True)


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@app.command()
@user_errors
def synth(
    out: Annotated[Path, typer.Argument(help="Folder to write the benchmark into (created; resumed if interrupted).")],
    preset: Annotated[str, typer.Option(help=f"Size preset: {', '.join(BENCHMARK_PRESETS)}.")] = "default",
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives identical files.")] = 0,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help=JOBS_HELP)] = 0,
    rho: Annotated[float | None, typer.Option(
        help="Share of train/test videos whose scene is their action's own (the bias; the preset's 0.95 by "
             "default). 1/number-of-scenes draws scenes independently of actions: the unbiased variant "
             "(`make demo-ceiling`).")] = None,
    unbiased: Annotated[bool, typer.Option(
        "--unbiased", help="Shorthand for --rho 1/number-of-scenes: scenes drawn independently of actions.")] = False,
    props: Annotated[bool, typer.Option(
        "--props/--no-props", help="Each action's object in the actor's hand (default); --no-props: actions "
                                   "told by motion alone (bare figures).")] = True,
) -> None:
    """Generate the embedded synthetic action–scene benchmark (videos, lists, masks, scene images).

    Example: [bold]devias-tk data synth data/synthetic --preset default[/]
    Unbiased twin: [bold]devias-tk data synth data/synthetic-unbiased --unbiased[/]
    """
    from devias_tk.synthetic import benchmark

    if preset not in benchmark.PRESETS:
        raise typer.BadParameter(f"unknown preset {preset!r}; choose from {', '.join(benchmark.PRESETS)}")
    cfg = benchmark.PRESETS[preset]
    if unbiased:
        if rho is not None:
            raise typer.BadParameter("give --rho or --unbiased, not both")
        rho = 1.0 / cfg.num_scenes
    if rho is not None:
        if not 0.0 <= rho <= 1.0:
            raise typer.BadParameter(f"--rho must be within [0, 1] (got {rho})")
        cfg = dataclasses.replace(cfg, rho=rho)
    cfg = dataclasses.replace(cfg, props=props)
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


@app.command("layout")
@user_errors
def layout_cmd(
    bench: Annotated[Path, typer.Argument(help="A benchmark written by `data synth` (the folder holding meta.json).")],
    out: Annotated[Path, typer.Argument(help="Folder to write OUT/<NAME>/ into (created; finished layouts are skipped).")],
    names: Annotated[list[str] | None, typer.Option(
        "--as", help="Layout to write: ucf101, scuba, hat, kinetics400, kinetics400-scuba, kinetics400-hat, hvu, places365; repeatable (default: all).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help=JOBS_HELP)] = 0,
) -> None:
    """Lay out a generated benchmark as the official downloads (UCF-101, SCUBA, HAT, Kinetics-400, HVU,
    Places365), so `data lists` and the make chains run end to end on it. Each layout appears atomically.

    Example: [bold]devias-tk data layout data/synthetic data/official[/]
    Only two: [bold]devias-tk data layout data/synthetic data/official --as ucf101 --as hat[/]
    """
    from devias_tk.synthetic import layouts

    results = layouts.write_layouts(bench, out, names or layouts.LAYOUTS, resolve_jobs(jobs))
    table = Table(title=f"official layouts of {bench}: {out}")
    for col in ("layout", "contents", "seconds"):
        table.add_column(col, justify="right" if col == "seconds" else "left")
    for r in results:
        table.add_row(r.name, "[dim]already complete[/]" if r.skipped else r.summary,
                      "-" if r.skipped else f"{r.seconds:.1f}")
    console.print(table)
    for r in results:
        console.print(f"read with: {r.read_with}", highlight=False, soft_wrap=True)


@app.command("resize")
@user_errors
def resize_cmd(
    root: Annotated[Path, typer.Option(help="Dataset root the list's paths are relative to.")],
    list_file: Annotated[Path, typer.Option("--list", help="Toolkit list of the videos to resize.")],
    out: Annotated[Path, typer.Option(help="Root of the resized copy (same relative paths; created; resumed).")],
    short: Annotated[int, typer.Option(help="Short side in pixels of the copy (Kinetics practice: 256 or 320).")] = 256,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help=JOBS_HELP)] = 0,
) -> None:
    """A copy of the listed videos with the short side scaled to --short: same paths, frame count and rate, so
    the lists and the mask and scene stores built on --root work with --out as data.root. Atomic and resumable;
    videos that fail are recorded in OUT/resize-failures.json and tried again on a re-run.

    Example: [bold]devias-tk data resize --root data/k400 --list data/k400/lists/train.txt --out data/k400-256 --short 256[/]
    """
    from devias_tk.data.resize import FAILURES, resize_dataset

    s = resize_dataset(root, list_file, out, short, resolve_jobs(jobs))
    console.print(f"{out}: {s.resized} resized, {s.copied} copied (short side already <= {short}), {s.skipped} done "
                  f"before, {len(s.failed)} failed of {s.listed} listed")
    for path, reason in list(s.failed.items())[:10]:
        err_console.print(f"  failed: {path}: {reason}", markup=False, highlight=False)
    if s.failed:
        err_console.print(f"every failure with its reason: {out / FAILURES}", markup=False, highlight=False)
        raise typer.Exit(1)


def _cooccurrence_table(report: SplitReport, actions: list[str], scenes: list[str]) -> Table:
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
    from devias_tk.data import inspect as inspect_mod

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
    train: Annotated[Path | None, typer.Option("--train-list", "--train", help="Training list (default: ROOT/lists/train.txt).")] = None,
    lists: Annotated[
        list[Path] | None, typer.Option("--list", help="Lists to evaluate (default: every other ROOT/lists/*.txt).")
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help=JOBS_HELP)] = 0,
) -> None:
    """Scene-bias check: a background-only classifier (logistic regression on a 16x12 temporal-mean frame).

    High accuracy on seen splits with near-chance accuracy on unseen splits means action labels can
    be read off the scene. Example: [bold]devias-tk data bias data/synthetic[/]
    """
    from devias_tk.data import inspect as inspect_mod

    train = train or Path(root) / "lists" / "train.txt"
    others = lists or [p for p in inspect_mod.find_lists(Path(root)) if p.resolve() != train.resolve()]
    names = inspect_mod.load_names(Path(root), "actions.txt", [], "action")
    if not names:
        names = [str(i) for i in range(max(e.action for e in read_list(train)) + 1)]
    from devias_tk.data import bias  # torch: imported only by the command that trains

    results = bias.run_bias_check(root, train, others, len(names), resolve_jobs(jobs))
    table = Table(title="background-only classifier: action top-1")
    for col in ("split", "videos", "accuracy", "chance"):
        table.add_column(col, justify="left" if col == "split" else "right")
    for r in results:
        table.add_row(r.split, str(r.videos), f"{100 * r.accuracy:.1f}%", f"{100 * r.chance:.1f}%")
    console.print(table)


# --- data lists <format>: published layouts -> the toolkit's lists -------------------------------------

lists_app = typer.Typer(
    help="Convert a published dataset layout into the toolkit's lists (lists/<name>.txt, actions.txt, scenes.txt).",
    no_args_is_help=True,
)
app.add_typer(lists_app, name="lists")

ROOT_HELP = "Dataset root; list paths are written relative to it."
OUT_HELP = "Where to write lists/<name>.txt and the class files (default: ROOT)."
KEEP_HELP = "Keep entries whose video is not on disk (they are reported either way)."


def _names(path: Path | None) -> list[str] | None:
    from devias_tk.data.lists import read_class_names

    return read_class_names(path) if path is not None else None


def _write_and_report(conv: Conversion, root: Path, out: Path, keep_missing: bool) -> None:
    from devias_tk.data.formats import common, hat

    written = common.write_conversion(out, conv)
    table = Table(title=f"lists written under {out}", title_justify="left")
    for col in ("list", "entries", "missing"):
        table.add_column(col, justify="left" if col == "list" else "right")
    for name, entries in conv.lists.items():
        missing = len(conv.missing.get(name, []))
        table.add_row(f"lists/{name}.txt", str(len(entries)), f"[red]{missing}[/]" if missing else "0")
    console.print(table)
    for filename, names in (("actions.txt", conv.actions), ("scenes.txt", conv.scenes)):
        if names is not None:
            console.print(f"{filename}: {len(names)} classes")
    if conv.descriptions:
        console.print(f"{len(conv.descriptions)} swap descriptions under {out / hat.DESCRIPTIONS}/")
    for note in conv.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    for name, missing in conv.missing.items():
        if missing:
            shown = "; ".join(missing[:3]) + (f"; ... ({len(missing) - 3} more)" if len(missing) > 3 else "")
            what = "kept" if keep_missing else "left out"
            console.print(f"[red]missing ({what})[/] {name}: {shown} -> {out / 'lists' / 'missing' / (name + '.txt')}",
                          highlight=False, soft_wrap=True)
    lists = [p for p in written if p.parent.name == "lists"]
    if lists:
        console.print(f"next: devias-tk data check --root {root} --list {lists[0]}", highlight=False, soft_wrap=True)


@lists_app.command("ucf101")
@user_errors
def lists_ucf101(
    root: Annotated[Path, typer.Option(help=ROOT_HELP)],
    splits_dir: Annotated[Path | None, typer.Option(help="Folder with classInd.txt, trainlist0N.txt, testlist0N.txt (default: ROOT/ucfTrainTestlist).")] = None,
    split: Annotated[list[int] | None, typer.Option(help="Split(s) 1, 2, 3; repeatable (default: 1).")] = None,
    videos: Annotated[str, typer.Option(help="Folder holding the class folders, relative to ROOT.")] = "UCF-101",
    out: Annotated[Path | None, typer.Option(help=OUT_HELP)] = None,
    keep_missing: Annotated[bool, typer.Option(help=KEEP_HELP)] = False,
) -> None:
    """UCF-101 split files -> lists/trainlist0N.txt, lists/testlist0N.txt and actions.txt.

    Example: [bold]devias-tk data lists ucf101 --root data/ucf101 --split 1[/]
    """
    from devias_tk.data.formats import ucf101

    conv = ucf101.convert(root, splits_dir or root / "ucfTrainTestlist", split or [1], videos, keep_missing)
    _write_and_report(conv, root, out or root, keep_missing)


@lists_app.command("kinetics400")
@user_errors
def lists_kinetics400(
    root: Annotated[Path, typer.Option(help=ROOT_HELP)],
    csv: Annotated[list[Path], typer.Option("--csv", help="Annotation CSV(s) (train.csv, val.csv, ...); one list each, named after the file.")],
    videos: Annotated[str, typer.Option(help="Folder searched for <id>_<start>_<end>.mp4 clips (class folders or flat), relative to ROOT.")] = "",
    classes: Annotated[Path | None, typer.Option(help="Class names ('<index> <name>'); default: the CSVs' labels, sorted.")] = None,
    out: Annotated[Path | None, typer.Option(help=OUT_HELP)] = None,
    keep_missing: Annotated[bool, typer.Option(help=KEEP_HELP)] = False,
) -> None:
    """Kinetics-400 CSVs (label,youtube_id,time_start,time_end,split) -> one list per CSV and actions.txt.

    Example: [bold]devias-tk data lists kinetics400 --root data/kinetics400 --csv data/kinetics400/annotations/train.csv --csv data/kinetics400/annotations/val.csv --videos videos[/]
    """
    from devias_tk.data.formats import kinetics400

    conv = kinetics400.convert(root, csv, videos, _names(classes), keep_missing)
    _write_and_report(conv, root, out or root, keep_missing)


@lists_app.command("hvu")
@user_errors
def lists_hvu(
    root: Annotated[Path, typer.Option(help=ROOT_HELP)],
    subset: Annotated[list[Path] | None, typer.Option(help="The paper's subset list(s): '<clip> <action> <scene>', 0-based.")] = None,
    csv: Annotated[list[Path] | None, typer.Option("--csv", help="Official CSV(s): Tags,youtube_id,time_start,time_end (needs --categories).")] = None,
    categories: Annotated[Path | None, typer.Option(help="HVU_Tags_Categories_V1.0.csv (Tag,Category): action and scene classes.")] = None,
    actions: Annotated[Path | None, typer.Option(help="Action names for --subset ('<index> <name>'), instead of --categories.")] = None,
    scenes: Annotated[Path | None, typer.Option(help="Scene names for --subset ('<index> <name>'), instead of --categories.")] = None,
    videos: Annotated[str, typer.Option(help="Folder holding the clips, relative to ROOT.")] = "",
    out: Annotated[Path | None, typer.Option(help=OUT_HELP)] = None,
    keep_missing: Annotated[bool, typer.Option(help=KEEP_HELP)] = False,
    seen_from: Annotated[str | None, typer.Option(help="Also split every other list into <name>-seen / <name>-unseen by whether a clip's (action, scene) pair occurs in this list (its name, e.g. HVU_Train_V1.0).")] = None,
) -> None:
    """HVU subset lists or official CSVs -> one list per input file, actions.txt and scenes.txt.

    Example: [bold]devias-tk data lists hvu --root data/hvu --csv data/hvu/HVU_Train_V1.0.csv --csv data/hvu/HVU_Val_V1.0.csv --categories data/hvu/HVU_Tags_Categories_V1.0.csv --videos videos --seen-from HVU_Train_V1.0[/]
    """
    from devias_tk.data.formats import common, hvu

    if bool(subset) == bool(csv):
        raise typer.BadParameter("give either --subset or --csv")
    if csv:
        if categories is None:
            raise typer.BadParameter("--csv needs --categories")
        conv = hvu.convert_official(root, csv, categories, videos, keep_missing)
    else:
        action_names, scene_names = _names(actions), _names(scenes)
        if categories is not None:
            action_names, scene_names = hvu.classes_by_category(
                hvu.parse_categories(common.read_text(categories), str(categories)), str(categories))
        conv = hvu.convert_subset(root, subset or [], videos, action_names, scene_names, keep_missing)
    if seen_from:
        hvu.split_by_combination(conv, seen_from)
    _write_and_report(conv, root, out or root, keep_missing)


@lists_app.command("scuba")
@user_errors
def lists_scuba(
    root: Annotated[Path, typer.Option(help=ROOT_HELP)],
    source: Annotated[list[str], typer.Option(help="Background source: NAME (frames in ROOT/NAME, list ROOT/NAME/<list-name>) or NAME:FRAMES_DIR:LIST_FILE; repeatable.")],
    list_name: Annotated[str, typer.Option(help="List file name inside each ROOT/NAME for the short --source form.")] = SCUBA_LIST,
    actions: Annotated[Path | None, typer.Option(help="Class names of the labels ('<index> <name>', e.g. UCF-101's actions.txt); checked and written.")] = None,
    label_base: Annotated[int, typer.Option(help="Index of the first class in the lists' labels.")] = 0,
    out: Annotated[Path | None, typer.Option(help=OUT_HELP)] = None,
    keep_missing: Annotated[bool, typer.Option(help=KEEP_HELP)] = False,
) -> None:
    """SCUBA rawframe lists ('<frame dir> <num frames> <label>') -> lists/scuba-<NAME>.txt per source.

    Example: [bold]devias-tk data lists scuba --root data/scuba --source places365 --source vqgan --source sinusoid --actions data/ucf101/actions.txt[/]
    """
    from devias_tk.data.formats import scuba

    sources = [scuba.parse_source(s, root, list_name) for s in source]
    conv = scuba.convert(root, sources, _names(actions), label_base, keep_missing)
    _write_and_report(conv, root, out or root, keep_missing)


@lists_app.command("hat")
@user_errors
def lists_hat(
    root: Annotated[Path, typer.Option(help=ROOT_HELP + " Holds ori/, seg/, inp/.")],
    labels: Annotated[Path | None, typer.Option(help="labels.csv ('<idx>,<classname>'; default ROOT/labels.csv).")] = None,
    list_csv: Annotated[Path | None, typer.Option(help="list.csv ('<class>/<vid> <num frames> <label>'; default ROOT/list.csv when present): the Scene-Only list.")] = None,
    swaps: Annotated[list[Path] | None, typer.Option(help="Action-Swap pickle(s), or folders searched for actionswap_<kind>_<split>.pickle (default: ROOT).")] = None,
    frames: Annotated[str, typer.Option(help="Folder of original frames, relative to ROOT.")] = "ori",
    masks: Annotated[str, typer.Option(help="Folder of person masks (PNG, >128 = person), relative to ROOT.")] = "seg",
    inpainted: Annotated[str, typer.Option(help="Folder of inpainted (person removed) frames, relative to ROOT.")] = "inp",
    out: Annotated[Path | None, typer.Option(help=OUT_HELP + " Swap descriptions go to OUT/hat_swaps/.")] = None,
    keep_missing: Annotated[bool, typer.Option(help=KEEP_HELP)] = False,
) -> None:
    """HAT -> lists/hat-scene-only.txt, lists/hat-<kind>-<split>.txt (one JSON description per swap) and actions.txt.

    Example: [bold]devias-tk data lists hat --root data/hat/ucf101[/]
    """
    from devias_tk.data.formats import hat

    list_csv = list_csv or (root / "list.csv" if (root / "list.csv").is_file() else None)
    swap_files = hat.find_swap_files(swaps or [root])
    if list_csv is None and not swap_files:
        raise typer.BadParameter("found neither list.csv nor actionswap_*.pickle files")
    conv = hat.convert(root, labels or root / "labels.csv", list_csv, swap_files, out, frames, masks, inpainted,
                       keep_missing)
    _write_and_report(conv, root, out or root, keep_missing)


@lists_app.command("ssv2")
@user_errors
def lists_ssv2(
    root: Annotated[Path, typer.Option(help=ROOT_HELP)],
    labels: Annotated[Path, typer.Option(help="something-something-v2-labels.json ({\"<class>\": \"<index>\"}).")],
    json_files: Annotated[list[Path], typer.Option("--json", help="something-something-v2-train.json, -validation.json (id, label, template), -test.json (id only); one list each: lists/train.txt, lists/validation.txt, lists/test.txt.")],
    videos: Annotated[str, typer.Option(help="Folder holding <id>.webm (or <id>/ frame folders), relative to ROOT.")] = "20bn-something-something-v2",
    first_classes: Annotated[int | None, typer.Option(help="Keep classes 0..N-1 only (the paper's SSv2 transfer: 88).", min=1)] = None,
    out: Annotated[Path | None, typer.Option(help=OUT_HELP)] = None,
    keep_missing: Annotated[bool, typer.Option(help=KEEP_HELP)] = False,
) -> None:
    """Something-Something v2 JSONs -> one list per JSON and actions.txt (the class of a video: its template without brackets).

    Example: [bold]devias-tk data lists ssv2 --root data/ssv2 --labels data/ssv2/labels/something-something-v2-labels.json --json data/ssv2/labels/something-something-v2-train.json --json data/ssv2/labels/something-something-v2-validation.json --first-classes 88[/]
    """
    from devias_tk.data.formats import ssv2

    conv = ssv2.convert(root, labels, json_files, videos, first_classes, keep_missing)
    _write_and_report(conv, root, out or root, keep_missing)


@lists_app.command("diving48")
@user_errors
def lists_diving48(
    root: Annotated[Path, typer.Option(help=ROOT_HELP)],
    json_files: Annotated[list[Path], typer.Option("--json", help="Diving48_V2_train.json, Diving48_V2_test.json (vid_name, label, start_frame, end_frame); one list each: lists/train.txt, lists/test.txt.")],
    videos: Annotated[str, typer.Option(help="Folder holding <vid_name>.mp4, relative to ROOT.")] = "rgb",
    vocab: Annotated[Path | None, typer.Option(help="Diving48_vocab.json: the 48 dive names (default: ROOT/Diving48_vocab.json when present, else class_NN).")] = None,
    out: Annotated[Path | None, typer.Option(help=OUT_HELP)] = None,
    keep_missing: Annotated[bool, typer.Option(help=KEEP_HELP)] = False,
) -> None:
    """Diving48 annotation JSONs -> one list per JSON and actions.txt.

    Example: [bold]devias-tk data lists diving48 --root data/diving48 --json data/diving48/Diving48_V2_train.json --json data/diving48/Diving48_V2_test.json[/]
    """
    from devias_tk.data.formats import diving48

    conv = diving48.convert(root, json_files, videos, vocab, keep_missing)
    _write_and_report(conv, root, out or root, keep_missing)


@lists_app.command("generic")
@user_errors
def lists_generic(
    lists: Annotated[list[Path], typer.Argument(help="List file(s): '<path> <label>' (VideoMAE / mmaction2); one output list each, named after the file.")],
    root: Annotated[Path, typer.Option(help=ROOT_HELP)],
    prefix: Annotated[str, typer.Option(help="Folder prepended to every listed path (relative to ROOT).")] = "",
    label_base: Annotated[int, typer.Option(help="Index of the first class in the labels.")] = 0,
    rawframes: Annotated[bool, typer.Option(help="Lines are '<frame dir> <num frames> <label>' (mmaction2 rawframes).")] = False,
    actions: Annotated[Path | None, typer.Option(help="Class names ('<index> <name>'); checked and written as actions.txt.")] = None,
    out: Annotated[Path | None, typer.Option(help=OUT_HELP)] = None,
    keep_missing: Annotated[bool, typer.Option(help=KEEP_HELP)] = False,
) -> None:
    """Generic '<relative/path.mp4> <label>' lists -> toolkit lists (scene -1).

    Example: [bold]devias-tk data lists generic data/k400/train.csv --root data/k400 --prefix videos_train[/]
    """
    from devias_tk.data.formats import generic

    conv = generic.convert(root, lists, prefix, label_base, rawframes, _names(actions), keep_missing)
    _write_and_report(conv, root, out or root, keep_missing)


@lists_app.command("places365")
@user_errors
def lists_places365(
    root: Annotated[Path, typer.Option(help="Places365 root holding the image folders (data_256/ or data_large/, val_256/ or val_large/).")],
    categories: Annotated[Path, typer.Option(help="categories_places365.txt ('/a/airfield 0' lines).")],
    train: Annotated[Path | None, typer.Option("--train-list", "--train", help="places365_train_standard.txt ('/a/airfield/00000001.jpg 0') -> OUT/train.txt.")] = None,
    val: Annotated[Path | None, typer.Option("--val-list", "--val", help="places365_val.txt ('Places365_val_00000001.jpg 165') -> OUT/val.txt.")] = None,
    train_dir: Annotated[str | None, typer.Option(help="Training image folder under ROOT (default: data_256, else data_large).")] = None,
    val_dir: Annotated[str | None, typer.Option(help="Validation image folder under ROOT (default: val_256, else val_large).")] = None,
    per_class: Annotated[int | None, typer.Option(help="Keep the first N training images of each class (a quick subset).")] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write train.txt, val.txt, scenes.txt (default: ROOT).")] = None,
    keep_missing: Annotated[bool, typer.Option(help="Keep entries whose image is not on disk (they are reported either way).")] = False,
) -> None:
    """Places365-Standard file lists -> image lists for `scenes train` (train.txt, val.txt, scenes.txt).

    Example: [bold]devias-tk data lists places365 --root data/places365 --categories data/places365/categories_places365.txt --train-list data/places365/places365_train_standard.txt --val-list data/places365/places365_val.txt[/]
    """
    from devias_tk.data.formats import places365

    lists = places365.convert(root, categories, train, val, train_dir, val_dir, per_class, keep_missing)
    written = places365.write(out or root, lists)
    for name, rows in lists.lists.items():
        missing = lists.missing.get(name, [])
        console.print(f"{name}.txt: {len(rows)} images" + (f", [red]{len(missing)} missing[/] ({missing[0]}, ...; "
                      f"all in missing-{name}.txt)" if missing else ""), highlight=False)
    for note in lists.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    console.print(f"wrote {', '.join(str(p) for p in written)} ({len(lists.classes)} classes)", highlight=False)


# --- data check ------------------------------------------------------------------------------------------


def _count_table(title: str, counts, classes: list[str] | None, max_rows: int) -> Table | str:
    known = classes if classes is not None else [str(i) for i in range(max((k for k in counts if k >= 0), default=-1) + 1)]
    values = [counts.get(i, 0) for i in range(len(known))]
    unknown = counts.get(-1, 0)
    if len(known) > max_rows:
        empty = [f"{i} {known[i]}" for i, v in enumerate(values) if not v]
        line = (f"{title}: {len(known)} classes, {sum(1 for v in values if v)} with videos, "
                f"per class min {min(values)} / max {max(values)}; unknown (-1): {unknown}")
        if empty:
            line += f"; no videos: {', '.join(empty[:10])}" + (f" ... ({len(empty)} in all)" if len(empty) > 10 else "")
        return line
    table = Table(title=title, title_justify="left")
    table.add_column("index", justify="right")
    table.add_column("class")
    table.add_column("videos", justify="right")
    for i, (name, v) in enumerate(zip(known, values, strict=True)):
        table.add_row(str(i), name, str(v) if v else "[red]0[/]")
    if unknown:
        table.add_row("-1", "(unknown)", str(unknown))
    return table


@app.command("check")
@user_errors
def check_cmd(
    root: Annotated[Path, typer.Option(help="Dataset root the list's paths are relative to.")],
    lists: Annotated[list[Path], typer.Option("--list", help="Toolkit list(s) to check; repeatable.")],
    actions: Annotated[Path | None, typer.Option(help="Action names (default: ROOT/actions.txt when present).")] = None,
    scenes: Annotated[Path | None, typer.Option(help="Scene names (default: ROOT/scenes.txt when present).")] = None,
    decode: Annotated[bool, typer.Option(help="Also decode each video's first, middle and last frame.")] = False,
    timeout: Annotated[float, typer.Option(help=TIMEOUT_HELP)] = DECODE_TIMEOUT,
    report: Annotated[Path | None, typer.Option("--json", "--report", help="Write the full report (all problems, class counts) as JSON.")] = None,
    show: Annotated[int, typer.Option(help="Problems printed per kind (all are in --json).")] = 20,
    max_table: Annotated[int, typer.Option(help="Print per-class counts as a table up to this many classes.")] = 30,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help=JOBS_HELP)] = 0,
) -> None:
    """Every entry exists and opens (--decode: decodes), labels fit the class files, no duplicates; class counts.

    Exit status 1 when any problem is found. Example: [bold]devias-tk data check --root data/ucf101 --list data/ucf101/lists/testlist01.txt --decode[/]
    """
    from devias_tk.data import check as check_mod
    from devias_tk.utils.progress import progress_bar

    reports = []
    for list_path in lists:
        n = len(set(e.path for e in read_list(list_path)))
        with progress_bar(f"checking {list_path.name}", n, "videos") as advance:
            reports.append(check_mod.check_list(root, list_path, actions, scenes, resolve_jobs(jobs), decode, timeout,
                                                advance))
    for r in reports:
        kinds = r.by_kind()
        summary = ", ".join(f"{k} {len(v)}" for k, v in kinds.items() if v) or "no problems"
        frames = list(r.frame_counts.values())
        console.print(f"[bold]{r.list_path}[/]: {len(r.entries)} entries, {len(r.frame_counts)} videos open"
                      + (f" ({min(frames)}-{max(frames)} frames)" if frames else "") + f"; {summary}", highlight=False)
        console.print(_count_table("actions", r.counts("action"), r.actions, max_table))
        console.print(_count_table("scenes", r.counts("scene"), r.scenes, max_table))
        for kind, problems in kinds.items():
            for p in problems[:show]:
                console.print(f"[red]{kind}[/] {p.path}: {p.detail}", highlight=False, soft_wrap=True)
            if len(problems) > show:
                console.print(f"[red]{kind}[/] ... {len(problems) - show} more" + (f" (see {report})" if report else ""))
    if report is not None:
        atomic_write_text(report, json.dumps([r.to_json() for r in reports], indent=1) + "\n")
        console.print(f"report: {report}")
    if any(r.problems for r in reports):
        raise typer.Exit(1)
