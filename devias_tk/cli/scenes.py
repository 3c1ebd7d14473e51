"""`devias-tk scenes ...`: train a scene model, label videos with it into a store, look at and score the labels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from devias_tk.cli.common import (
    BACKEND_HELP,
    JOBS_HELP,
    SCHEDULER_HELP,
    console,
    err_console,
    make_backend,
    print_stage_summary,
    resolve_jobs,
    user_errors,
)
from devias_tk.data.crop_grid import DEFAULT_GRID
from devias_tk.data.lists import read_list
from devias_tk.data.windows import ClipGrid
from devias_tk.masks.extract import parse_shard

app = typer.Typer(help="Scene model training and cached pseudo scene labels.", no_args_is_help=True)

DEVICE_HELP = "cpu, cuda, or auto (cuda when one is present)."


@app.command()
@user_errors
def train(
    root: Annotated[Path, typer.Option(help="Image root the list's paths are relative to.")],
    list_file: Annotated[Path, typer.Option("--list", help="Places365-style training list ('<image> <index>').")],
    out: Annotated[Path, typer.Option(help="Checkpoint to write (e.g. models/scenes.pt).")],
    val: Annotated[Path | None, typer.Option(help="Validation list, scored after every epoch.")] = None,
    classes: Annotated[Path | None, typer.Option(help="Class names file ('<index> <name>' or Places365's '<name> <index>'; default: the images' folder names).")] = None,
    arch: Annotated[str, typer.Option(help="timm architecture, built without pretrained weights.")] = "vit_tiny_patch16_224",
    size: Annotated[int, typer.Option(help="Input size in pixels (square).")] = 112,
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 10,
    batch: Annotated[int, typer.Option(help="Images per step.")] = 64,
    lr: Annotated[float, typer.Option(help="Peak learning rate (AdamW, warm-up then cosine).")] = 1e-3,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay (not on biases, norms, tokens).")] = 0.05,
    warmup_epochs: Annotated[float, typer.Option(help="Linear warm-up length in epochs.")] = 2.0,
    drop_path: Annotated[float, typer.Option(help="Stochastic depth rate (models that have it).")] = 0.1,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Image loading worker processes (default: all CPU cores).")] = 0,
    device: Annotated[str, typer.Option(help=DEVICE_HELP)] = "auto",
) -> None:
    """Train an image scene classifier and save a self-describing checkpoint.

    The checkpoint records the architecture, class names, input size, normalisation, the default
    inflation to video (frame-average) and the per-epoch metrics. Example:
    [bold]devias-tk scenes train --root data/synthetic/scene_images --list data/synthetic/scene_images/train.txt --val data/synthetic/scene_images/val.txt --out data/scenes/vit_tiny.pt[/]
    """
    from devias_tk.scenes.train import TrainConfig, train_scene_model

    config = TrainConfig(arch=arch, input_size=size, epochs=epochs, batch=batch, lr=lr, weight_decay=weight_decay,
                         warmup_epochs=warmup_epochs, drop_path=drop_path, seed=seed)
    result = train_scene_model(root, list_file, out, val_list=val, classes=classes, config=config,
                               jobs=resolve_jobs(jobs), device=device, log=console.print)
    last = result.epochs[-1] if result.epochs else {}
    text = f"wrote {out}: {arch} at {size}px, {len(result.class_names)} classes, {result.seconds:.0f} s"
    if "val_top1" in last:
        text += f"; validation top-1 {last['val_top1']:.1f}%, top-5 {last['val_top5']:.1f}%"
    console.print(text)


@app.command("label")
@user_errors
def label_cmd(
    root: Annotated[Path, typer.Option(help="Dataset root the list's paths are relative to.")],
    list_file: Annotated[Path, typer.Option("--list", help="Toolkit list file of the videos.")],
    model: Annotated[Path, typer.Option(help="Scene model: a `scenes train` checkpoint, a Places365 CSAIL .pth.tar, the DEVIAS scene teacher, or a timm state dict (with --arch).")],
    out: Annotated[Path, typer.Option(help="Scene-label store to create or resume (e.g. scenes/train.zarr).")],
    classes: Annotated[Path | None, typer.Option(help="Class names of a foreign model ('<index> <name>' or Places365's categories_places365.txt).")] = None,
    arch: Annotated[str | None, typer.Option(help="timm architecture of a plain state dict (a pretrained tag sets the normalisation, e.g. vit_base_patch16_224.mae).")] = None,
    input_size: Annotated[int | None, typer.Option(help="Input side in pixels of a foreign model (default: the format's, 224).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Refuse a model file with any missing, unexpected or reshaped tensor.")] = False,
    device: Annotated[str, typer.Option(help=DEVICE_HELP)] = "auto",
    batch: Annotated[int, typer.Option(help="Frames per forward pass (a clip model takes batch // window clips).")] = 64,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help=JOBS_HELP + " They decode; the model runs in the main process.")] = 0,
    window: Annotated[int, typer.Option(help="Frames per clip (as in training).")] = 16,
    stride: Annotated[int, typer.Option(help="Frame step inside a clip (as in training).")] = 4,
    hop: Annotated[int, typer.Option(help="Frames between cached window starts (0: = stride).")] = 0,
    crops: Annotated[str, typer.Option(help="Crop grid that training's scene targets follow: comma-separated side:n "
                                            "terms, n x n squares whose side is that fraction of the frame's "
                                            "height and width (1:1 = the full frame only; none = no training "
                                            "targets, for lists only evaluated). Each crop adds one forward per "
                                            "distinct frame (a clip model: per window).")] = DEFAULT_GRID,
    shard: Annotated[str, typer.Option(help="Process shard i of n of the list ('i/n').")] = "0/1",
    max_failures: Annotated[int, typer.Option(help="Exit with status 1 when more videos fail than this.")] = 0,
    timeout: Annotated[float, typer.Option(help="Seconds one video's decode may take before its worker is killed.")] = 300.0,
    retry_failed: Annotated[bool, typer.Option(help="Retry videos recorded as failed by an earlier run.")] = True,
    backend: Annotated[str, typer.Option(help=BACKEND_HELP)] = "local",
    scheduler: Annotated[str | None, typer.Option(help=SCHEDULER_HELP)] = None,
) -> None:
    """Cache the scene model's distribution for every clip window of every listed video.

    Frame-average inflation: a window's distribution is the mean of the image model's softmax over
    its frames; each distinct frame is run once per view. A clip model (the DEVIAS video teacher) takes
    each window's frames as one clip instead. Views: the model's eval view (resize, centre crop; the
    video-level pseudo label used by evaluation) and each crop of --crops (training uses the crop that
    best covers its random crop). Windows are those of the mask stage's grid. The model's load report is
    printed first. Resumable: re-running skips finished videos. Examples:
    [bold]devias-tk scenes label --root data/synthetic --list data/synthetic/lists/train.txt --model data/scenes/vit_tiny.pt --out data/scenes/train.zarr[/]
    [bold]devias-tk scenes label --root UCF-101 --list lists/train.txt --model resnet50_places365.pth.tar --classes categories_places365.txt --out scenes/train.zarr[/]
    """
    from devias_tk.scenes.label import label
    from devias_tk.scenes.model import load_scene_model

    grid = ClipGrid(window=window, stride=stride, hop=hop or stride)
    scene_model = load_scene_model(model, classes=classes, arch=arch, input_size=input_size, strict=strict)
    if scene_model.report is not None:
        console.print(f"model {scene_model.report.summary()}", markup=False, highlight=False, soft_wrap=True)
    summary = label(root, list_file, scene_model, out, grid, device=device, batch=batch, jobs=resolve_jobs(jobs),
                    shard=parse_shard(shard), timeout=timeout, retry_failed=retry_failed,
                    log=lambda m: err_console.print(f"[yellow]{m}[/]"), backend=make_backend(backend, scheduler),
                    crops=crops)
    print_stage_summary(f"scenes: {out}", summary, {"clips": str(summary.clips),
                                                  "clips/s": f"{summary.clips_per_s:.1f}"}, max_failures)


@app.command()
@user_errors
def show(
    store: Annotated[Path, typer.Argument(help="Scene-label store.")],
    video: Annotated[str, typer.Option(help="The video's path as written in the list.")],
    windows: Annotated[bool, typer.Option("--windows", help="Also print every window's top-5.")] = False,
) -> None:
    """Print a video's scene top-5 with class names and probabilities.

    Example: [bold]devias-tk scenes show data/scenes/train.zarr --video videos/Walk/v_Walk_g08_c01.avi[/]
    """
    from devias_tk.scenes.evaluate import open_scene_store, video_ranking, window_rankings

    vs = open_scene_store(store)
    attrs = vs.video_attrs(video)
    ranking = video_ranking(vs, video)
    table = Table(title=f"{video}: mean over {len(attrs['starts'])} windows")
    for col, justify in (("rank", "right"), ("class", "right"), ("scene", "left"), ("probability", "right")):
        table.add_column(col, justify=justify)
    for rank, r in enumerate(ranking, start=1):
        table.add_row(str(rank), str(r.index), r.name, f"{r.prob:.3f}")
    console.print(table)
    if windows:
        per_window = Table(title="per window (start frame: top-5)")
        per_window.add_column("start", justify="right")
        per_window.add_column("top-5")
        for start, ranked in window_rankings(vs, video):
            per_window.add_row(str(start), ", ".join(f"{r.name} {r.prob:.2f}" for r in ranked))
        console.print(per_window)


@app.command("eval")
@user_errors
def eval_cmd(
    store: Annotated[list[Path], typer.Argument(help="Scene-label store(s), one per list, in the same order.")],
    list_file: Annotated[list[Path], typer.Option("--list", help="List(s) whose scene column is the truth (repeatable).")],
) -> None:
    """Top-1 / top-5 of the video-level pseudo labels against the lists' true scenes (where known).

    Example: [bold]devias-tk scenes eval data/scenes/test.zarr data/scenes/hat-far.zarr --list data/synthetic/lists/test.txt --list data/synthetic/lists/hat-far.txt[/]
    """
    from devias_tk.scenes.evaluate import open_scene_store, pseudo_label_accuracy

    if len(store) != len(list_file):
        err_console.print(f"[red]error:[/] {len(store)} stores but {len(list_file)} --list files; give one list per store")
        raise typer.Exit(2)
    table = Table(title="pseudo scene labels vs true scenes")
    for col in ("list", "videos with a scene", "labelled", "top-1 %", "top-5 %"):
        table.add_column(col, justify="right")
    for s, lf in zip(store, list_file, strict=True):
        score = pseudo_label_accuracy(open_scene_store(s), read_list(lf))
        table.add_row(lf.stem, str(score.videos), str(score.labelled), f"{score.top1:.1f}", f"{score.top5:.1f}")
    console.print(table)
