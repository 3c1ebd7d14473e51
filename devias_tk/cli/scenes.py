"""`devias-tk scenes ...`: train a scene model, label videos with it into a store, look at and score the labels."""

from __future__ import annotations

import sys
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
from devias_tk.cli.defaults import CROP_GRID, DECODE_TIMEOUT
from devias_tk.data.lists import read_list
from devias_tk.errors import DeviasError

# numpy, zarr, torch and OpenCV come with the stage modules, imported inside each command: --help stays light.

app = typer.Typer(help="Scene model training and cached pseudo scene labels.", no_args_is_help=True)

DEVICE_HELP = "cpu, cuda, or auto (cuda when one is present)."


VIDEO_FLAGS = {"root": "data.root", "list_file": "data.train_list", "val": "data.val_list", "classes": "data.classes",
               "size": "data.size", "epochs": "optim.epochs", "batch": "optim.batch_size", "lr": "optim.lr",
               "weight_decay": "optim.weight_decay", "warmup_epochs": "optim.warmup_epochs",
               "drop_path": "model.drop_path", "seed": "run.seed", "device": "run.device", "frames": "model.frames",
               "tubelet": "model.tubelet_size", "init": "run.init"}


def _video_overrides(flags: dict) -> list[str]:
    """The flags given, as the recipe overrides they stand for (later `section.key=value` arguments win). Lists and
    the class file are made absolute: as flags they are relative to the working directory, not to data.root."""
    return [f"{VIDEO_FLAGS[name]}={value.resolve() if name in ('list_file', 'val', 'classes') else value}"
            for name, value in flags.items() if value is not None and name in VIDEO_FLAGS]


@app.command()
@user_errors
def train(
    out: Annotated[Path, typer.Option(help="Image model: the checkpoint to write (e.g. models/scenes.pt). --video: the run directory (config, metrics, checkpoints; the model is RUN/scene_model.pt).")],
    root: Annotated[Path | None, typer.Option(help="Image root the list's paths are relative to (--video: data.root).")] = None,
    list_file: Annotated[Path | None, typer.Option("--list", help="Places365-style training list ('<image> <index>').")] = None,
    val: Annotated[Path | None, typer.Option("--val-list", "--val", help="Validation list, scored after every epoch.")] = None,
    classes: Annotated[Path | None, typer.Option(help="Class names file ('<index> <name>' or Places365's '<name> <index>'; default: the images' folder names).")] = None,
    arch: Annotated[str | None, typer.Option(help="timm architecture, built without pretrained weights (image model; default vit_tiny_patch16_224). --video: use model.size=tiny|small|base.")] = None,
    size: Annotated[int | None, typer.Option(help="Input size in pixels, square (default 112; --video: the recipe's, 224).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs (default 10; --video: the recipe's).")] = None,
    batch: Annotated[int | None, typer.Option(help="Images per step (default 64; --video: per process, the recipe's).")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate, AdamW, warm-up then cosine (default 1e-3; --video: per 256 images, scaled by the total batch).")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="AdamW weight decay, not on biases, norms, tokens (default 0.05).")] = None,
    warmup_epochs: Annotated[float | None, typer.Option(help="Linear warm-up length in epochs (default 2).")] = None,
    drop_path: Annotated[float | None, typer.Option(help="Stochastic depth rate (default 0.1).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default 0).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Image loading worker processes (default: all CPU cores; --video: data.num_workers of the recipe unless given).")] = 0,
    device: Annotated[str | None, typer.Option(help=DEVICE_HELP + " (default auto)")] = None,
    video: Annotated[bool, typer.Option("--video", help="Train the paper's video scene model instead: a video ViT with a cls token on static clips (each image repeated along time), with the engine of `train` (torchrun, bf16, exact resume).")] = False,
    recipe: Annotated[Path | None, typer.Option(help="--video: YAML recipe (pipelines/scene-places365.yaml, pipelines/scene-synthetic-video.yaml); flags and overrides go over it.")] = None,
    frames: Annotated[int | None, typer.Option(help="--video: frames of the static clip (model.frames; label with this --window).")] = None,
    tubelet: Annotated[int | None, typer.Option(help="--video: frames per tubelet (model.tubelet_size).")] = None,
    init: Annotated[Path | None, typer.Option(help="--video: weights to start from (run.init): an image ViT in timm's names (patch kernel inflated over the tubelet, e.g. a `scenes train` ViT or MAE's ImageNet encoder), VideoMAE, the DEVIAS teacher, a video scene model.")] = None,
    resume: Annotated[str, typer.Option(help="--video: auto (continue RUN/checkpoints/last.pt), never, or a checkpoint path.")] = "auto",
    overrides: Annotated[list[str] | None, typer.Argument(help="--video: section.key=value overrides, e.g. model.size=tiny optim.accum_steps=1.")] = None,
) -> None:
    """Train a scene classifier on a Places365-style image list and save a self-describing checkpoint.

    Image model (default): a timm classifier; labelling frame-averages it over each window. The checkpoint
    records the architecture, class names, input size, normalisation, the inflation (frame-average) and
    the per-epoch metrics. --video: the paper's scene model (supp. B, Table 15), a video ViT trained on each
    image repeated into a static clip (the same crop and flip on every frame), run by `scenes label` as a clip
    model on every window; plain on one device, under `torchrun --nproc_per_node=N -m devias_tk scenes train
    --video ...` on N; re-running resumes. Examples:
    [bold]devias-tk scenes train --root data/synthetic/scene_images --list data/synthetic/scene_images/train.txt --val-list data/synthetic/scene_images/val.txt --out data/scenes/vit_tiny.pt[/]
    [bold]devias-tk scenes train --video --recipe pipelines/scene-synthetic-video.yaml --out runs/scene-video --init data/scenes/vit_tiny.pt[/]
    """
    flags = {"root": root, "list_file": list_file, "val": val, "classes": classes, "size": size, "epochs": epochs,
             "batch": batch, "lr": lr, "weight_decay": weight_decay, "warmup_epochs": warmup_epochs,
             "drop_path": drop_path, "seed": seed, "device": device, "frames": frames, "tubelet": tubelet,
             "init": init}
    if video:
        _train_video(flags, arch, jobs, recipe, out, resume, overrides or [])
        return
    video_only = [f"--{n}" for n, v in (("recipe", recipe), ("frames", frames), ("tubelet", tubelet), ("init", init))
                  if v is not None] + (["overrides"] if overrides else [])
    if video_only:
        raise DeviasError(f"{', '.join(video_only)}: only with --video")
    if root is None or list_file is None:
        raise DeviasError("give --root and --list (the image folder and its list)")
    from devias_tk.scenes.train import TrainConfig, train_scene_model

    given = {"arch": arch, "input_size": size, "epochs": epochs, "batch": batch, "lr": lr,
             "weight_decay": weight_decay, "warmup_epochs": warmup_epochs, "drop_path": drop_path, "seed": seed}
    config = TrainConfig(**{k: v for k, v in given.items() if v is not None})
    from devias_tk.utils.runlog import log, run_log

    # An image model's run is one file, so its log sits beside it: OUT with .log.txt for its suffix
    with run_log(out.with_suffix(".log.txt"), console, " ".join(sys.argv)):
        result = train_scene_model(root, list_file, out, val_list=val, classes=classes, config=config,
                                   jobs=resolve_jobs(jobs), device=device or "auto", log=log.info)
        last = result.epochs[-1] if result.epochs else {}
        text = (f"wrote {out}: {config.arch} at {config.input_size}px, {len(result.class_names)} classes, "
                f"{result.seconds:.0f} s")
        if "val_top1" in last:
            text += f"; validation top-1 {last['val_top1']:.1f}%, top-5 {last['val_top5']:.1f}%"
        log.info(text)


def _train_video(flags: dict, arch: str | None, jobs: int, recipe: Path | None, out: Path, resume: str,
                 overrides: list[str]) -> None:
    from devias_tk.scenes.video_config import config_from
    from devias_tk.scenes.video_train import MODEL_FILE, train_video

    if arch is not None:
        raise DeviasError(f"--arch {arch}: the video scene model is a video ViT; choose its size with model.size="
                          "tiny|small|base (and model.depth / model.embed_dim)")
    given = _video_overrides(flags) + ([f"data.num_workers={jobs}"] if jobs else [])
    cfg = config_from(recipe, given + overrides)
    result = train_video(cfg, out, resume=resume, console=err_console, command=" ".join(sys.argv))
    console.print(f"done: {result.steps} steps, {result.epochs} epochs in {result.seconds:.0f} s; last loss "
                  f"{result.last.get('loss', float('nan')):.4f}; scene model {out / MODEL_FILE} (label with "
                  f"--window {cfg.model.frames})")


@app.command("label")
@user_errors
def label_cmd(
    root: Annotated[Path, typer.Option(help="Dataset root the list's paths are relative to.")],
    list_files: Annotated[list[Path], typer.Option("--list", help="Toolkit list file of the videos; repeatable with an --out holding {list} (the model loads once).")],
    model: Annotated[Path, typer.Option(help="Scene model: a `scenes train` checkpoint (image model; or --video: RUN/scene_model.pt, a clip model), a Places365 CSAIL .pth.tar, the DEVIAS scene teacher, or a timm state dict (with --arch).")],
    out: Annotated[str, typer.Option(help="Scene-label store to create or resume (e.g. scenes/train.zarr); with several lists a pattern in which {list} is each list's file name without extension (e.g. caches/scenes-{list}.zarr).")],
    classes: Annotated[Path | None, typer.Option(help="Class names of a foreign model ('<index> <name>' or Places365's categories_places365.txt).")] = None,
    arch: Annotated[str | None, typer.Option(help="timm architecture of a plain state dict (a pretrained tag sets the normalisation, e.g. vit_base_patch16_224.mae).")] = None,
    input_size: Annotated[int | None, typer.Option(min=1, help="Input side in pixels of a foreign model (default: the format's, 224).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Refuse a model file with any missing, unexpected or reshaped tensor.")] = False,
    device: Annotated[str, typer.Option(help=DEVICE_HELP)] = "auto",
    batch: Annotated[int, typer.Option(min=1, help="Frames per forward pass (a clip model takes batch // window clips).")] = 64,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help=JOBS_HELP + " They decode; the model runs in the main process.")] = 0,
    window: Annotated[int, typer.Option(min=1, help="Frames per clip (as in training).")] = 16,
    stride: Annotated[int, typer.Option(min=1, help="Frame step inside a clip (as in training).")] = 4,
    hop: Annotated[int, typer.Option(min=0, help="Frames between cached window starts (0: = stride).")] = 0,
    crops: Annotated[str, typer.Option(help="Crop grid that training's scene targets follow: comma-separated side:n "
                                            "terms, n x n squares whose side is that fraction of the frame's "
                                            "height and width (1:1 = the full frame only; none = no training "
                                            "targets, for lists only evaluated). Each crop adds one forward per "
                                            "distinct frame (a clip model: per window).")] = CROP_GRID,
    shard: Annotated[str, typer.Option(help="Process shard i of n of the list ('i/n').")] = "0/1",
    max_failures: Annotated[int, typer.Option(min=0, help="Exit with status 1 when more videos fail than this.")] = 0,
    timeout: Annotated[float, typer.Option(help=TIMEOUT_HELP)] = DECODE_TIMEOUT,
    retry_failed: Annotated[bool, typer.Option(help="Retry videos recorded as failed by an earlier run.")] = True,
    backend: Annotated[str, typer.Option(help=BACKEND_HELP)] = "local",
    scheduler: Annotated[str | None, typer.Option(help=SCHEDULER_HELP)] = None,
) -> None:
    """Cache the scene model's distribution for every clip window of every listed video.

    Frame-average inflation: a window's distribution is the mean of the image model's softmax over
    its frames; each distinct frame is run once per view. A clip model (the DEVIAS video teacher, a
    `scenes train --video` model: --window = its training clip length) takes each window's frames as one
    clip instead. Views: the model's eval view (resize, centre crop; the
    video-level pseudo label used by evaluation) and each crop of --crops (training uses the crop that
    best covers its random crop). Windows are those of the mask stage's grid. The model's load report is
    printed first. Resumable: re-running skips finished videos. Examples:
    [bold]devias-tk scenes label --root data/synthetic --list data/synthetic/lists/train.txt --model data/scenes/vit_tiny.pt --out data/scenes/train.zarr[/]
    [bold]devias-tk scenes label --root UCF-101 --list lists/train.txt --model resnet50_places365.pth.tar --classes categories_places365.txt --out scenes/train.zarr[/]
    [bold]devias-tk scenes label --root HAT --list hat/lists/hat-rand-1.txt --list hat/lists/hat-far-1.txt --model scene.pt --out caches/scenes-{list}.zarr --crops none[/]
    """
    from devias_tk.data.windows import ClipGrid
    from devias_tk.masks.extract import parse_shard
    from devias_tk.scenes.label import label
    from devias_tk.scenes.model import load_scene_model

    outs = store_paths(out, list_files)
    grid = ClipGrid(window=window, stride=stride, hop=hop or stride)
    grid.validate()  # before the model loads: a wrong option should not cost a model load first
    scene_model = load_scene_model(model, classes=classes, arch=arch, input_size=input_size, strict=strict)
    if scene_model.report is not None:
        console.print(f"model {scene_model.report.summary()}", markup=False, highlight=False, soft_wrap=True)
    for list_file, store in zip(list_files, outs, strict=True):
        summary = label(root, list_file, scene_model, store, grid, device=device, batch=batch,
                        jobs=resolve_jobs(jobs), shard=parse_shard(shard), timeout=timeout, retry_failed=retry_failed,
                        log=lambda m: err_console.print(f"[yellow]{m}[/]"), backend=make_backend(backend, scheduler),
                        crops=crops)
        print_stage_summary(f"scenes: {store}", summary, {"clips": str(summary.clips),
                                                        "clips/s": f"{summary.clips_per_s:.1f}"}, max_failures)


def store_paths(pattern: str, list_files: list[Path]) -> list[Path]:
    """The store of each list: `pattern` itself for one list, else with {list} replaced by each list's stem."""
    if len(list_files) == 1 and "{list}" not in pattern:
        return [Path(pattern)]
    if "{list}" not in pattern:
        raise DeviasError(f"--out {pattern}: with {len(list_files)} lists, --out needs {{list}} (e.g. "
                          "caches/scenes-{list}.zarr), which becomes each list's file name without extension")
    outs = [Path(pattern.replace("{list}", f.stem)) for f in list_files]
    if len(set(outs)) != len(outs):
        raise DeviasError(f"--out {pattern}: two lists share a file name, so they would share a store")
    return outs


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


@app.command("export")
@user_errors
def export_cmd(
    model: Annotated[Path, typer.Argument(help="A video scene model (RUN/scene_model.pt) or its `scenes train --video` run directory.")],
    out: Annotated[Path, typer.Option(help="File to write (.pth): the weights under 'model' in the DEVIAS teacher's key layout.")],
    teacher: Annotated[bool, typer.Option("--teacher", help="Write the DEVIAS release's scene-teacher layout (the only layout offered).")] = True,
) -> None:
    """Write a video scene model in the DEVIAS release's scene-teacher layout (patch_embed.proj, blocks.i.*,
    norm, cls_token, head under 'model'), and its class names beside it as OUT-classes.txt.

    `scenes label --model OUT --classes OUT-classes.txt --input-size S` (and the release) read it back.
    Example: [bold]devias-tk scenes export --teacher runs/scene-video --out scene_teacher.pth[/]
    """
    from devias_tk.scenes.export import export_teacher

    if not teacher:
        raise DeviasError("only --teacher (the DEVIAS release's layout) is offered")
    done = export_teacher(model, out)
    console.print(f"wrote {done.file}: {done.tensors} tensors from {done.source}; class names in {done.classes}")
