"""`devias-tk masks ...`: extract FAME masks into a store, look at them, score them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from devias_tk.cli.common import (
    BACKEND_HELP,
    JOBS_HELP,
    SCHEDULER_HELP,
    TIMEOUT_HELP,
    console,
    err_console,
    make_backend,
    print_stage_summary,
    resolve_jobs,
    user_errors,
)
from devias_tk.cli.defaults import DECODE_TIMEOUT
from devias_tk.data.lists import read_list
from devias_tk.errors import DeviasError

# numpy, zarr and OpenCV come with the stage modules, imported inside each command: --help stays light.

app = typer.Typer(help="FAME pseudo-human masks, extracted once into a Zarr store.", no_args_is_help=True)


@app.command()
@user_errors
def extract(
    root: Annotated[Path, typer.Option(help="Dataset root the list's paths are relative to.")],
    list_file: Annotated[Path, typer.Option("--list", help="Toolkit list file of the videos.")],
    out: Annotated[Path, typer.Option(help="Mask store to create or resume (e.g. masks/train.zarr).")],
    jobs: Annotated[int, typer.Option("--jobs", "-j", help=JOBS_HELP)] = 0,
    size: Annotated[int, typer.Option(min=1, help="Working short side, pixels: clip and per-tubelet masks are computed "
                                            "at this size.")] = 112,
    tubelet_size: Annotated[int, typer.Option(min=0, help="Short side the per-tubelet masks are area-pooled to for storage "
                                                    "(0: size // 4).")] = 0,
    window: Annotated[int, typer.Option(min=2, help="Frames per clip (as in training).")] = 16,
    stride: Annotated[int, typer.Option(min=1, help="Frame step inside a clip (as in training).")] = 4,
    hop: Annotated[int, typer.Option(min=0, help="Frames between cached window starts (0: = stride).")] = 0,
    motion_comp: Annotated[str, typer.Option(
        "--motion-comp", help="Camera-motion compensation before FAME's frame differences (not in the paper): "
        "none (the paper's FAME), ecc (Euclidean ECC), similarity or homography (tracked corners + RANSAC). "
        "Recorded in the store; a store is never mixed across settings.")] = "none",
    colour_model: Annotated[bool, typer.Option(
        "--colour-model/--motion-only", help="FAME's colour model (the paper), or the blurred motion map alone "
        "(not in the paper): better when the actor is small against a textured background, where FAME's "
        "top-50% motion seeds are mostly background (docs/measured.md#mask-quality).")] = True,
    shard: Annotated[str, typer.Option(help="Process shard i of n of the list ('i/n').")] = "0/1",
    max_failures: Annotated[int, typer.Option(min=0, help="Exit with status 1 when more videos fail than this.")] = 0,
    timeout: Annotated[float, typer.Option(help=TIMEOUT_HELP)] = DECODE_TIMEOUT,
    retry_failed: Annotated[bool, typer.Option(help="Retry videos recorded as failed by an earlier run.")] = True,
    backend: Annotated[str, typer.Option(help=BACKEND_HELP)] = "local",
    scheduler: Annotated[str | None, typer.Option(help=SCHEDULER_HELP)] = None,
) -> None:
    """Compute FAME soft masks for every cached clip window of every listed video.

    Windows start every --hop frames; a training clip drawn on the same grid finds its masks
    exactly. Clip and per-tubelet masks are computed on frames resized to --size; the tubelet masks are
    stored area-pooled to --tubelet-size. Resumable: re-running skips finished videos. Example:
    [bold]devias-tk masks extract --root data/synthetic --list data/synthetic/lists/train.txt --out data/masks/train.zarr[/]
    """
    from devias_tk.masks import extract as extract_mod
    from devias_tk.masks.fame import FameParams
    from devias_tk.masks.windows import WindowSpec

    spec = WindowSpec(window=window, stride=stride, hop=hop or stride, size=size,
                      tubelet_size=tubelet_size or max(1, size // 4))
    try:
        params = FameParams(motion_comp=motion_comp, colour_model=colour_model)
    except ValueError as exc:
        raise DeviasError(f"--motion-comp: {exc}") from None
    summary = extract_mod.extract(
        root, list_file, out, spec, params, jobs=resolve_jobs(jobs), shard=extract_mod.parse_shard(shard),
        timeout=timeout, retry_failed=retry_failed, log=lambda m: err_console.print(f"[yellow]{m}[/]"),
        backend=make_backend(backend, scheduler),
    )
    print_stage_summary(f"masks: {out}", summary, max_failures=max_failures)


@app.command()
@user_errors
def show(
    store: Annotated[Path, typer.Argument(help="Mask store.")],
    root: Annotated[Path, typer.Option(help="Dataset root.")],
    video: Annotated[str, typer.Option(help="The video's path as written in the list.")],
    out: Annotated[Path, typer.Option(help="PNG to write.")] = Path("mask_sheet.png"),
    window_index: Annotated[int, typer.Option("--window-index", help="Which cached window (-1: middle).")] = -1,
    beta: Annotated[float, typer.Option(help="Foreground share of the overlaid hard mask.")] = 0.3,
) -> None:
    """Draw a window's frames with the hard mask overlaid, its soft mask and its per-tubelet masks.

    Example: [bold]devias-tk masks show data/masks/train.zarr --root data/synthetic --video videos/Walk/v_Walk_g08_c01.avi --out walk.png[/]
    """
    from devias_tk.cache.store import VideoStore
    from devias_tk.masks import sheet

    path = sheet.mask_sheet(VideoStore(store), root, video, out, window_index, beta)
    console.print(f"wrote {path}")


@app.command("eval")
@user_errors
def eval_cmd(
    store: Annotated[Path, typer.Argument(help="Mask store.")],
    root: Annotated[Path, typer.Option(help="Dataset root.")],
    list_file: Annotated[Path, typer.Option("--list", help="List of the videos to score.")],
    gt_dir: Annotated[Path | None, typer.Option(help="Ground-truth masks (default: ROOT/gt_masks).")] = None,
    beta: Annotated[list[float] | None, typer.Option(help="Foreground shares to score (repeatable).")] = None,
) -> None:
    """Mean IoU of the top-beta clip and per-tubelet masks against ground-truth actor masks, beside a centre
    box of the same area.

    Clip masks are scored against the actor's union over the window's frames, tubelet masks against
    the union over their frame pair, each at the stored resolution. Ground truth:
    GT_DIR/<video path without extension>.npz holding 'mask' bool (T, H, W), as the synthetic
    benchmark writes. Example:
    [bold]devias-tk masks eval data/masks/train.zarr --root data/synthetic --list data/synthetic/lists/train.txt[/]
    """
    import numpy as np

    from devias_tk.cache.store import VideoStore
    from devias_tk.masks import quality
    from devias_tk.masks.windows import WindowSpec, window_indices

    betas = beta or [0.3]
    vs = VideoStore(store)
    spec = WindowSpec(**{k: vs.attrs[k] for k in ("window", "stride", "hop", "size", "tubelet_size")})
    gt_dir = gt_dir or root / "gt_masks"
    scorers = {"clip": ("soft", quality.window_ious, "windows"), "tubelet": ("tubelet", quality.tubelet_ious, "tubelets")}
    scores = {(kind, b): ([], []) for kind in scorers for b in betas}
    missing = 0
    for entry in read_list(list_file):
        if not vs.has(entry.path) or not quality.gt_mask_path(gt_dir, entry.path).is_file():
            missing += 1
            continue
        gt = np.load(quality.gt_mask_path(gt_dir, entry.path))["mask"]
        attrs = vs.video_attrs(entry.path)
        indices = window_indices(attrs["num_frames"], attrs["starts"], spec)
        group = vs.group(entry.path)
        for kind, (array, score, _) in scorers.items():
            masks = group[array][...]
            for b in betas:
                f, p = score(masks, gt, indices, b)
                scores[(kind, b)][0].extend(f)
                scores[(kind, b)][1].extend(p)
    table = Table(title=f"mask IoU vs ground truth: {list_file.name} (store format {vs.attrs.get('format_version')})")
    for col in ("masks", "beta", "scored", "FAME mIoU", "centre-box mIoU", "margin"):
        table.add_column(col, justify="right")
    for (kind, b), (f, p) in scores.items():
        if f:
            table.add_row(kind, f"{b:g}", f"{len(f)} {scorers[kind][2]}", f"{np.mean(f):.3f}", f"{np.mean(p):.3f}",
                          f"{np.mean(f) - np.mean(p):+.3f}")
    console.print(table)
    if missing:
        console.print(f"[yellow]{missing} listed videos have no mask or no ground truth and were skipped[/]")


@app.command("import-gt")
@user_errors
def import_gt(
    root: Annotated[Path, typer.Option(help="Dataset root.")],
    list_file: Annotated[Path, typer.Option("--list", help="Toolkit list file of the videos.")],
    out: Annotated[Path, typer.Option(help="Mask store to create or resume.")],
    gt_dir: Annotated[Path | None, typer.Option(help="Ground-truth masks (default: ROOT/gt_masks).")] = None,
    size: Annotated[int, typer.Option(min=1, help="Working short side of the clip masks.")] = 112,
    window: Annotated[int, typer.Option(min=2, help="Frames per clip.")] = 16,
    stride: Annotated[int, typer.Option(min=1, help="Frame step inside a clip.")] = 4,
    hop: Annotated[int, typer.Option(min=0, help="Frames between window starts (0: = stride).")] = 0,
) -> None:
    """A mask store from ground-truth actor masks instead of FAME (an upper bound for the masks).

    Reads GT_DIR/<video path without extension>.npz ('mask', bool (T, H, W)), as the synthetic
    benchmark writes; the store has the FAME store's layout, so `train` takes either. Example:
    [bold]devias-tk masks import-gt --root data/synthetic --list data/synthetic/lists/train.txt --out data/masks-gt.zarr[/]
    """
    from devias_tk.masks.ground_truth import import_ground_truth
    from devias_tk.masks.windows import WindowSpec

    spec = WindowSpec(window=window, stride=stride, hop=hop or stride, size=size, tubelet_size=max(1, size // 4))
    written = import_ground_truth(list_file, gt_dir or root / "gt_masks", out, spec)
    console.print(f"{out}: {written} videos written")
