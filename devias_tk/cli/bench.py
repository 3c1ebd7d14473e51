"""`devias-tk bench ...`: throughput benchmarks of the stages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from devias_tk.cli.common import console, err_console, resolve_jobs, user_errors

app = typer.Typer(help="Throughput benchmarks of each stage.", no_args_is_help=True)


def _ensure_dataset(root: Path | None, preset: str) -> Path:
    if root is not None:
        return root
    root = Path("data") / preset
    if not (root / "meta.json").exists():
        from devias_tk.synthetic import benchmark  # OpenCV and numpy: not at parse time

        err_console.print(f"generating the '{preset}' synthetic benchmark in {root} (once)")
        benchmark.generate(root, benchmark.PRESETS[preset], seed=0, jobs=resolve_jobs(0), preset=preset)
    return root


@app.command()
@user_errors
def masks(
    root: Annotated[Path | None, typer.Option(help="Dataset root (default: data/ucf-like, generated if missing).")] = None,
    list_file: Annotated[Path | None, typer.Option("--list", help="List file (default: ROOT/lists/train.txt).")] = None,
    videos: Annotated[int, typer.Option(help="Videos to process per run.")] = 48,
    jobs: Annotated[list[int] | None, typer.Option("--jobs", "-j", help="Worker counts to measure (repeatable).")] = None,
    size: Annotated[int, typer.Option(help="Working short side.")] = 112,
    work: Annotated[Path, typer.Option(help="Scratch folder for the benchmark stores.")] = Path("data/bench"),
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures as JSON.")] = None,
) -> None:
    """Mask-stage throughput (videos/s and per core), decode vs FAME time, store size and clip read
    time, beside the release's per-clip torch recomputation on the same CPU.

    Example: [bold]devias-tk bench masks -j 1 -j 2[/]
    """
    from devias_tk.bench.masks import bench_masks
    from devias_tk.masks.windows import WindowSpec

    root = _ensure_dataset(root, "ucf-like")
    list_file = list_file or root / "lists" / "train.txt"
    spec = WindowSpec(size=size, tubelet_size=max(1, size // 4))
    result = bench_masks(root, list_file, work, videos, jobs or [1, 2], spec)
    shutil.rmtree(work / "bench.zarr", ignore_errors=True)
    table = Table(title=f"bench masks: {result.videos} videos from {list_file}, "
                        f"{result.windows_per_video:.1f} windows each (16 frames, stride 4, hop 4, size {size})")
    for col in ("jobs", "videos/s", "videos/s/core", "decode ms/video", "fame ms/video", "write ms/video"):
        table.add_column(col, justify="right")
    for j, r in result.runs.items():
        table.add_row(str(j), f"{r['videos_per_s']:.2f}", f"{r['videos_per_s_per_core']:.2f}",
                      f"{r['decode_ms_per_video']:.0f}", f"{r['fame_ms_per_video']:.0f}", f"{r['write_ms_per_video']:.0f}")
    console.print(table)
    per_window = 1000 / max(r["videos_per_s_per_core"] for r in result.runs.values()) / result.windows_per_video
    release = result.release_decode_ms_per_clip + result.release_fame_ms_per_clip
    console.print(
        f"store: {result.store_bytes_per_video / 1024:.0f} KiB per video; one training clip's masks read in "
        f"{result.clip_read_ms:.2f} ms\n"
        f"release-style per-clip recomputation (torch, 1 thread, 224x224, 1 + 8 masks): "
        f"{result.release_decode_ms_per_clip:.0f} ms decode + {result.release_fame_ms_per_clip:.0f} ms FAME per clip\n"
        f"cached stage: {per_window:.1f} ms per window including decode, once; the release pays "
        f"{release:.0f} ms per clip every epoch ({release / per_window:.0f}x per clip)"
    )
    if json_out:
        json_out.write_text(json.dumps(result.__dict__, indent=1, default=str) + "\n")


@app.command()
@user_errors
def scenes(
    arch: Annotated[str, typer.Option(help="timm architecture (random weights unless --model).")] = "vit_tiny_patch16_224",
    size: Annotated[int, typer.Option(help="Input size in pixels.")] = 112,
    frames: Annotated[int, typer.Option(help="Frames per clip (the grid's window; stride and hop 4).")] = 16,
    batch: Annotated[int, typer.Option(help="Frames per forward pass.")] = 64,
    device: Annotated[str, typer.Option(help="cpu, cuda, or auto.")] = "auto",
    classes: Annotated[int, typer.Option(help="Scene classes of the random model (Places365: 365).")] = 365,
    iters: Annotated[int, typer.Option(help="Timed forward passes.")] = 10,
    model: Annotated[Path | None, typer.Option(help="A scene-model checkpoint instead of random weights.")] = None,
    root: Annotated[Path | None, typer.Option(help="Also run the whole stage on videos of this dataset.")] = None,
    list_file: Annotated[Path | None, typer.Option("--list", help="List file (default: ROOT/lists/train.txt).")] = None,
    videos: Annotated[int, typer.Option(help="Videos for the stage run.")] = 32,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Decoding workers for the stage run (default: all cores).")] = 0,
    work: Annotated[Path, typer.Option(help="Scratch folder for the stage run.")] = Path("data/bench"),
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures as JSON.")] = None,
) -> None:
    """Scene-labelling throughput: image model images/s, clips/s per clip and on the shared grid, and the stage on files.

    Example (GPU): [bold]devias-tk bench scenes --arch vit_base_patch16_224 --size 224 --device cuda --batch 256[/]
    """
    from devias_tk.bench.scenes import bench_scenes

    if root is not None and list_file is None:
        list_file = root / "lists" / "train.txt"
    r = bench_scenes(arch, size, frames, batch, device, classes, iters, model_path=model, root=root,
                     list_path=list_file, videos=videos, jobs=resolve_jobs(jobs), work=work)
    table = Table(title=f"bench scenes: {r.arch} at {r.size}px, {r.frames}-frame clips, batch {r.batch}, "
                        f"{r.device} {r.precision}")
    for col in ("images/s", "clips/s (one clip alone)", f"clips/s (grid, {r.video_frames}-frame video)",
                "frames per window", "peak GiB"):
        table.add_column(col, justify="right")
    table.add_row(f"{r.images_per_s:.1f}", f"{r.clips_per_s_per_clip:.1f}", f"{r.clips_per_s_grid:.1f}",
                  f"{r.frames_per_window:.2f}", f"{r.peak_gib:.2f}" if r.peak_gib is not None else "-")
    console.print(table)
    if r.stage:
        s = r.stage
        console.print(f"stage on {s['videos']} videos of {list_file} (-j {s['jobs']}): {s['clips_per_s']:.1f} clips/s, "
                      f"{s['videos_per_s']:.2f} videos/s; per video {s['decode_ms_per_video']:.0f} ms decode (in workers), "
                      f"{s['infer_ms_per_video']:.0f} ms inference, {s['write_ms_per_video']:.0f} ms write")
    if json_out:
        json_out.write_text(json.dumps(r.__dict__, indent=1, default=str) + "\n")


@app.command("train")
@user_errors
def train_bench(
    model: Annotated[str, typer.Option(help="Backbone size: tiny, small or base.")] = "base",
    method: Annotated[str, typer.Option(help="devias, two-token, naive-action, ...")] = "devias",
    frames: Annotated[int, typer.Option(help="Frames per clip.")] = 16,
    size: Annotated[int, typer.Option(help="Crop size.")] = 224,
    batch: Annotated[list[int] | None, typer.Option(help="Batch size(s) to measure (repeatable).")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    steps: Annotated[int, typer.Option(help="Timed steps (after warm-up).")] = 5,
    warmup: Annotated[int, typer.Option(help="Untimed warm-up steps.")] = 2,
    compile_model: Annotated[bool, typer.Option("--compile", help="torch.compile the model.")] = False,
    amp: Annotated[str, typer.Option(help="Precision as a recipe's run.amp: auto (bf16 on CUDA), native (also on CPUs with bf16 in hardware), bf16, fp16 (loss-scaled), off.")] = "auto",
    depth: Annotated[int | None, typer.Option(help="Transformer blocks (default: the size's; the demo recipe: 4).")] = None,
    stem: Annotated[str, typer.Option(help="Token stem: patch, conv, conv3d or hmlp (the demo recipe: conv3d).")] = "patch",
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures as JSON.")] = None,
    with_loader: Annotated[bool, typer.Option("--with-loader", help="Measure the real loader on files instead (needs --root, --mask-store, --scene-store).")] = False,
    root: Annotated[Path | None, typer.Option(help="--with-loader: dataset root (default data/ucf-like).")] = None,
    list_file: Annotated[Path | None, typer.Option("--list", help="--with-loader: list (default ROOT/lists/train.txt).")] = None,
    mask_store: Annotated[Path | None, typer.Option(help="--with-loader: the list's mask store.")] = None,
    scene_store: Annotated[Path | None, typer.Option(help="--with-loader: the list's scene-label store.")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", "--workers", help="--with-loader: DataLoader worker processes (= cores for the per-core rate).")] = 16,
    loader_batches: Annotated[int, typer.Option(help="--with-loader: timed batches (0: the breakdown only).")] = 20,
    repeats: Annotated[int, typer.Option(help="--with-loader: clips cut from each decoded window (data.repeats); --batch counts videos.")] = 1,
    device_transforms: Annotated[bool, typer.Option("--device-transforms", help="--with-loader: workers send uint8 windows; the step crops and normalises (data.device_transforms).")] = False,
    profile: Annotated[int, typer.Option(help="--with-loader: items built in-process, one thread, to time each phase per clip (0: off).")] = 24,
) -> None:
    """Steady-state clips/s and peak memory of the full training step (scene mix, matching, all losses,
    AdamW) on in-memory clips, UCF-101-sized heads (101 actions, 365 scenes); precision as --amp.

    With --with-loader: the real training loader on files instead, its clips/s per worker and, per clip, the
    CPU milliseconds of each phase (open, decode, store reads, crop, normalise, masks, collate).

    Example: [bold]devias-tk bench train --model base --frames 16 --size 224 --batch 12 --device cuda[/]
    The demo recipe's step: [bold]devias-tk bench train --model tiny --depth 4 --stem conv3d --frames 8 --size 64 --batch 16 --amp native[/]
    Loader: [bold]devias-tk bench train --with-loader --root data/ucf-like --mask-store M --scene-store S -j 2 --steps 0[/]
    """
    import dataclasses

    from devias_tk.bench.train import bench_train

    if with_loader:
        from devias_tk.bench.loader import bench_loader

        root = root or Path("data/ucf-like")
        if mask_store is None or scene_store is None:
            raise typer.BadParameter("--with-loader needs --mask-store and --scene-store built for --list")
        r = bench_loader(str(root), str(list_file or root / "lists" / "train.txt"), str(mask_store), str(scene_store),
                         frames, 4, size, (batch or [12])[0], jobs, loader_batches, method, model, device, steps,
                         repeats, device_transforms, profile)
        _print_loader(r, method, model)
        if json_out:
            json_out.write_text(json.dumps(dataclasses.asdict(r), indent=1) + "\n")
        return
    import torch

    from devias_tk.engine.recipe import check_amp
    from devias_tk.engine.runtime import autocast_dtype

    check_amp(amp, "--amp")
    shape = {"stem": stem} | ({"depth": depth} if depth is not None else {})
    dtype = autocast_dtype(amp, torch.device(device))
    results = [bench_train(method, model, frames, size, b, device, steps, warmup, compile_model, dtype is not None,
                           amp_dtype=dtype or torch.bfloat16, **shape)
               for b in (batch or [12])]
    _print_steps(f"bench train: {method}, ViT-{model}, {frames}x{size}x{size}, {device}", results, json_out)


def _print_loader(r, method: str, model: str) -> None:
    """`bench train --with-loader`'s report: the per-clip breakdown, then the loader run."""
    how = f"{r.decoder}, repeats {r.repeats}" + (", device transforms" if r.device_transforms else "")
    if r.breakdown:
        table = Table(title=f"per clip, {r.profiled_items} items in-process on one thread ({how})")
        for col in ("phase", "CPU ms", "wall ms", "share"):
            table.add_column(col, justify="right")
        for phase, t in r.breakdown.items():
            table.add_row(phase, f"{t['cpu_ms']:.2f}", f"{t['wall_ms']:.2f}", f"{100 * t['cpu_ms'] / r.cpu_ms_per_clip:.0f}%")
        table.add_row("total", f"{r.cpu_ms_per_clip:.2f}", f"{sum(t['wall_ms'] for t in r.breakdown.values()):.2f}", "")
        console.print(table)
        console.print(f"{r.clips_per_s_per_core:.1f} clips/s per core (CPU time); a window decodes "
                      f"{r.frames_decoded_per_window:.1f} frames, {r.frames_before_window:.1f} of them only to reach it "
                      "from the key frame")
    if r.batches > 0:
        console.print(f"loader ({r.workers} workers, batch {r.batch} videos, {how}): {r.loader_clips_per_s:.1f} clips/s, "
                      f"{r.clips_per_s_per_worker:.1f} per worker, after a first batch of {r.first_batch_s:.1f} s" + (
                          f"; end to end with the {method} ViT-{model} step on {r.device}: "
                          f"{r.end_to_end_clips_per_s:.2f} clips/s" if r.end_to_end_clips_per_s is not None else ""))


def _print_steps(title: str, results: list, json_out: Path | None) -> None:
    """The step benchmarks' table (one row per batch size) and, with --json, the figures."""
    import dataclasses

    table = Table(title=title)
    for col in ("batch", "precision", "compiled", "ms/step", "clips/s", "peak GiB", "TFLOP/s (3x fwd)"):
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(str(r.batch), r.precision, str(r.compiled), f"{r.step_ms:.0f}", f"{r.clips_per_s:.2f}",
                      f"{r.peak_memory_gib:.2f}", f"{r.tflops_per_s:.2f}")
    console.print(table)
    if json_out:
        json_out.write_text(json.dumps([dataclasses.asdict(r) for r in results], indent=1) + "\n")


@app.command("pretrain")
@user_errors
def pretrain_bench(
    model: Annotated[str, typer.Option(help="Backbone size: tiny, small or base.")] = "base",
    frames: Annotated[int, typer.Option(help="Frames per clip.")] = 16,
    size: Annotated[int, typer.Option(help="Crop size.")] = 224,
    ratio: Annotated[float, typer.Option(help="Tube-masking ratio (VideoMAE: 0.9 on Kinetics-400, 0.75 on UCF-101).")] = 0.9,
    batch: Annotated[list[int] | None, typer.Option(help="Batch size(s) to measure (repeatable; default 2 on CPU, 32 on CUDA).")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    steps: Annotated[int, typer.Option(help="Timed steps (after warm-up).")] = 3,
    warmup: Annotated[int, typer.Option(help="Untimed warm-up steps.")] = 1,
    decoder_depth: Annotated[int, typer.Option(help="Decoder blocks (VideoMAE: 4).")] = 4,
    compile_model: Annotated[bool, typer.Option("--compile", help="torch.compile the model.")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures as JSON.")] = None,
) -> None:
    """Steady-state clips/s and peak memory of the VideoMAE pre-training step (per-patch normalised targets,
    encoder on the visible tokens, decoder of half the encoder's width, masked MSE, AdamW) on in-memory clips;
    bf16 autocast on CUDA.

    Example: [bold]devias-tk bench pretrain --model base --frames 16 --size 224 --ratio 0.9 --batch 32 --device cuda[/]
    """

    from devias_tk.bench.pretrain import bench_pretrain

    sizes = batch or [32 if device == "cuda" else 2]
    results = [bench_pretrain(model, frames, size, ratio, b, device, steps, warmup, compile_model,
                              decoder_depth=decoder_depth) for b in sizes]
    first = results[0]
    _print_steps(f"bench pretrain: ViT-{model}, {frames}x{size}x{size}, tube ratio {ratio} ({first.visible_tokens} "
                 f"of {first.tokens} tokens visible), decoder {first.decoder}, {device}", results, json_out)


@app.command("scene-targets")
@user_errors
def scene_targets(
    root: Annotated[Path, typer.Option(help="Dataset root.")],
    model: Annotated[Path, typer.Option(help="Scene model file (any `scenes label --model` format).")],
    scene_store: Annotated[Path, typer.Option(help="Scene-label store of the list, labelled by --model (format 2).")],
    list_file: Annotated[Path | None, typer.Option("--list", help="Training list (default: ROOT/lists/train.txt).")] = None,
    classes: Annotated[Path | None, typer.Option(help="Class names of a foreign model file.")] = None,
    grid: Annotated[list[str] | None, typer.Option(help="NAME=SPEC crop grid to score (repeatable; SPEC as `scenes label --crops`, a subset of the store's grid). Default: the store's whole grid.")] = None,
    mask_store: Annotated[Path | None, typer.Option(help="The list's mask store: also score scene-mixed clips.")] = None,
    samples: Annotated[int, typer.Option(help="Training crops to sample.")] = 2000,
    scale: Annotated[tuple[float, float], typer.Option(help="Random-resized-crop area range (data.scale).")] = (0.08, 1.0),
    size: Annotated[int, typer.Option(help="Training crop size (data.size).")] = 96,
    frames: Annotated[int, typer.Option(help="Frames per clip (data.frames).")] = 16,
    stride: Annotated[int, typer.Option(help="Frame step (data.stride).")] = 4,
    hop: Annotated[int, typer.Option(help="Window hop (data.hop).")] = 4,
    beta: Annotated[float, typer.Option(help="Foreground share of the hard mask for mixing (aug.beta).")] = 0.1,
    batch: Annotated[int, typer.Option(help="Clips per mixed batch.")] = 16,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    threads: Annotated[int, typer.Option(help="CPU threads for torch (0: torch's default).")] = 0,
    device: Annotated[str, typer.Option(help="cpu, cuda, or auto.")] = "cpu",
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures as JSON.")] = None,
) -> None:
    """Agreement (same argmax) of cached scene targets with the scene model on the actual training crop,
    per crop-area bin: the eval view (format-1 stores) and crop grids (subsets of the store's), on plain
    and (with --mask-store) scene-mixed clips.

    Example: [bold]devias-tk bench scene-targets --root data/synthetic --model data/cache/scene_model.pt --scene-store data/cache/scenes-train.zarr --mask-store data/cache/masks-train.zarr --grid full=1:1 --grid default=1:1,0.75:2,0.5:3[/]
    """
    import dataclasses

    import torch

    from devias_tk.bench.scene_targets import bench_scene_targets
    from devias_tk.data.windows import ClipGrid
    from devias_tk.scenes.model import load_scene_model
    from devias_tk.utils.device import resolve_device
    from devias_tk.utils.progress import progress_bar

    if threads > 0:
        torch.set_num_threads(threads)
    grids = {}
    for item in grid or []:
        name, sep, spec = item.partition("=")
        if not sep or not name or not spec:
            raise typer.BadParameter(f"--grid {item!r}: use NAME=SPEC (e.g. corners=1:1,0.75:2)")
        grids[name] = spec
    scene_model = load_scene_model(model, classes=classes)
    with progress_bar("scene targets", samples, "clips") as advance:
        r = bench_scene_targets(root, list_file or root / "lists" / "train.txt", scene_model, scene_store,
                                ClipGrid(frames, stride, hop), size, grids, scale, samples, mask_store, beta, batch,
                                seed, resolve_device(device), progress=lambda n: advance(n))
    table = Table(title="mean IoU of the cached crop with the training crop (first video's frame size)")
    table.add_column("target")
    for lo, hi in r.bins:
        table.add_column(f"area {lo:.2f}-{hi:.2f}", justify="right")
    table.add_column("all", justify="right")
    for name in r.targets:
        table.add_row(name, *(f"{v:.3f}" for v in r.coverage[name]))
    console.print(table)
    for which in ("plain", "mixed") if mask_store else ("plain",):
        table = Table(title=f"bench scene-targets ({which} clips): % of {r.samples} training crops whose cached "
                            "target has the online target's argmax (mean total variation distance)")
        table.add_column("target (crops)")
        for lo, hi in r.bins:
            table.add_column(f"area {lo:.2f}-{hi:.2f}", justify="right")
        table.add_column("all", justify="right")
        for name in r.targets:
            crops = "eval view" if name not in r.grids else str(len(r.grids[name]))
            table.add_row(f"{name} ({crops})", *(f"{p:.1f} ({d:.3f})" for p, d in zip(
                r.percent(which, name), r.mean_tv(which, name), strict=True)))
        counts = [row[1] for row in getattr(r, which)[r.targets[0]]]
        table.add_row("samples", *map(str, counts), str(sum(counts)))
        console.print(table)
    console.print(f"{r.seconds:.0f} s on {device}")
    if json_out:
        json_out.write_text(json.dumps(dataclasses.asdict(r), indent=1) + "\n")
