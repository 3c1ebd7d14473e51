"""`bench scenes`: scene-labelling throughput for an architecture, on in-memory frames and on real files.

Figures:
- images/s of the image model on random uint8 frames of the input size, including the host-to-device
  copy and normalisation, as the stage does them (`image_probs`);
- clips/s with one clip (`frames` frames) inferred on its own, as a teacher run per training clip pays;
- clips/s on the cached temporal grid, where overlapping windows share frames: images/s divided by
  the distinct frames per window of a `video_frames`-frame video (UCF-101 averages about 7 s);
- optionally, the whole stage (decode workers + batched inference + store writes) on real files.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from devias_tk.data.lists import read_list, write_list
from devias_tk.data.windows import ClipGrid, window_indices, window_starts
from devias_tk.scenes.inflate import image_probs
from devias_tk.scenes.label import label
from devias_tk.scenes.model import build_image_model, default_normalisation, load_scene_model, save_checkpoint
from devias_tk.scenes.preprocess import resize_size_for
from devias_tk.utils.device import amp_dtype_for, resolve_device


@dataclass
class SceneBench:
    arch: str
    size: int
    frames: int  # per clip
    batch: int
    device: str
    precision: str
    images_per_s: float = 0.0
    clips_per_s_per_clip: float = 0.0
    video_frames: int = 175
    frames_per_window: float = 0.0  # distinct frames per grid window for a video_frames-long video
    clips_per_s_grid: float = 0.0
    peak_gib: float | None = None
    stage: dict = field(default_factory=dict)


def grid_frames_per_window(num_frames: int, grid: ClipGrid) -> float:
    """Distinct frames the stage decodes and infers per window of one video."""
    starts, _ = window_starts(num_frames, grid)
    return len(np.unique(window_indices(num_frames, starts, grid))) / len(starts)


def bench_scenes(
    arch: str = "vit_tiny_patch16_224", size: int = 112, frames: int = 16, batch: int = 64, device: str = "auto",
    num_classes: int = 365, iters: int = 10, warmup: int = 2, video_frames: int = 175, grid: ClipGrid | None = None,
    model_path: Path | None = None, root: Path | None = None, list_path: Path | None = None, videos: int = 32,
    jobs: int = 2, work: Path = Path("data/bench"),
) -> SceneBench:
    grid = grid or ClipGrid(window=frames, stride=4, hop=4)
    dev = resolve_device(device)
    amp = amp_dtype_for(dev)
    if model_path is not None:
        model = load_scene_model(model_path)
        module, mean, std, arch, size = model.module, model.mean, model.std, model.arch, model.input_size
        num_classes = model.num_classes
    else:
        torch.manual_seed(0)
        module, kwargs = build_image_model(arch, num_classes, size)
        mean, std = default_normalisation(arch)
    module = module.to(dev).eval()
    result = SceneBench(arch, size, frames, batch, dev.type, str(amp).removeprefix("torch.") if amp else "float32",
                        video_frames=video_frames)
    host = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (batch, size, size, 3), np.uint8))

    def step() -> None:
        image_probs(module, host.to(dev, non_blocking=True), mean, std, amp).cpu()

    for _ in range(warmup):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    for _ in range(iters):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
        result.peak_gib = torch.cuda.max_memory_allocated() / 2**30
    result.images_per_s = iters * batch / (time.perf_counter() - started)
    result.clips_per_s_per_clip = result.images_per_s / frames
    result.frames_per_window = grid_frames_per_window(video_frames, grid)
    result.clips_per_s_grid = result.images_per_s / result.frames_per_window

    if root is not None and list_path is not None:
        work.mkdir(parents=True, exist_ok=True)
        entries = read_list(list_path)[:videos]
        write_list(work / "scenes_bench_list.txt", entries)
        checkpoint = model_path
        if checkpoint is None:  # random weights of the same architecture: throughput does not depend on them
            checkpoint = save_checkpoint(
                work / "scenes_bench_model.pt", module.cpu(), arch=arch, model_kwargs=kwargs,
                class_names=[f"class{i}" for i in range(num_classes)], input_size=size,
                resize_size=resize_size_for(size), mean=mean, std=std)
        store = work / "scenes_bench.zarr"
        shutil.rmtree(store, ignore_errors=True)
        summary = label(root, work / "scenes_bench_list.txt", checkpoint, store, grid, device=dev.type, batch=batch,
                        jobs=jobs)
        shutil.rmtree(store, ignore_errors=True)
        done = max(1, summary.done)
        result.stage = {
            "videos": summary.done, "failed": len(summary.failed), "clips": summary.clips, "frames": summary.frames,
            "seconds": summary.seconds, "clips_per_s": summary.clips_per_s, "jobs": jobs,
            "videos_per_s": summary.done / summary.seconds,
            **{f"{k.removesuffix('_s')}_ms_per_video": 1000 * v / done for k, v in summary.timings.items()},
        }
    return result
