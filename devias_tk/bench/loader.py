"""`bench train --with-loader`: the real training loader on files, its rate per core and where each clip's time goes.

Two measurements. The loader run: worker processes as in training, batches timed after the first (worker
start-up); its clips/s divided by the workers is the rate per core when workers = cores. The breakdown: items
built in this process, one thread, with each phase of `TrainClips` timed (devias_tk.utils.laps) in CPU time,
which is what a clip costs a core whatever else the machine runs, plus the collation of their batches.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from devias_tk.engine.optim import build_optimizer, param_groups
from devias_tk.models.factory import build_model
from devias_tk.train.losses import LossConfig
from devias_tk.train.step import StepSpec, compute_loss, step_generator
from devias_tk.utils.laps import Laps


@dataclass
class LoaderBench:
    workers: int
    batch: int  # videos per batch
    repeats: int  # clips per decoded window (data.repeats)
    device_transforms: bool  # uint8 windows out, crop and normalisation in the step
    batches: int
    first_batch_s: float  # worker start-up included
    loader_clips_per_s: float  # the loader alone, after the first batch
    clips_per_s_per_worker: float
    end_to_end_clips_per_s: float | None  # loader + the training step on `device`
    device: str
    # The in-process breakdown: phase -> {"cpu_ms", "wall_ms"} per clip, and its total
    breakdown: dict[str, dict[str, float]] = field(default_factory=dict)
    cpu_ms_per_clip: float = 0.0
    clips_per_s_per_core: float = 0.0  # 1000 / cpu_ms_per_clip
    frames_decoded_per_window: float = 0.0  # from the key frame before the window to its last frame
    frames_before_window: float = 0.0  # of which decoded only to reach the window (the seek)
    profiled_items: int = 0
    decoder: str = ""  # the video file decoder measured (devias_tk.data.video.decoder: decord or pyav)


def decoded_span(path: str, indices: np.ndarray) -> tuple[int, int] | None:
    """(frames a decoder decodes to return `indices` of a video file, of which before the first index): from the
    key frame at or before the first index to the last one. None for sources without key frames (folders)."""
    from pathlib import Path

    from devias_tk.data.video import open_source

    source = open_source(Path(path))  # the decoder the loader uses (devias_tk.data.video.set_decoder)
    if not hasattr(source, "key_indices"):
        return None
    keys = np.asarray(source.key_indices())
    first, last = int(indices.min()), int(indices.max())
    key = int(keys[keys <= first].max()) if (keys <= first).any() else 0
    return last - key + 1, first - key


def profile_items(dataset, items: int, batch: int) -> tuple[Laps, int, tuple[float, float]]:
    """Build `items` training items in this process on one thread with every phase timed, then collate them in
    batches of `batch`; returns the laps, the clips made and the mean decoded span (devias_tk.train.data)."""
    import cv2

    from devias_tk.data.lists import resolve
    from devias_tk.data.windows import window_indices
    from devias_tk.engine.sampler import EpochSampler
    from devias_tk.train.data import collate_train

    threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    sampler = EpochSampler(len(dataset), 1, seed=1)
    keys, epoch = [], 0
    while len(keys) < items + 2:
        sampler.set_epoch(epoch)
        keys += list(sampler)
        epoch += 1
    try:
        for key in keys[:2]:  # warm-up: stores opened, imports done
            dataset[key]
        laps = dataset.laps = Laps()
        built = [dataset[key] for key in keys[2 : items + 2]]
        dataset.laps = None
        for i in range(0, len(built), batch):
            laps.start()
            collate_train(built[i : i + batch])
            laps.lap("collate")
    finally:
        torch.set_num_threads(threads)
        cv2.setNumThreads(cv2_threads)
    spans = []
    for key, item in zip(keys[2 : items + 2], built, strict=True):
        entry = dataset.entries[key[1]]
        source = dataset._source(entry)
        k = int(torch.as_tensor(item["window"]).reshape(-1)[0])
        span = decoded_span(str(resolve(dataset.root, entry)),
                            window_indices(len(source.video), [source.starts[k]], dataset.spec.grid)[0])
        if span is not None:
            spans.append(span)
    mean_span = tuple(np.mean(spans, axis=0).tolist()) if spans else (0.0, 0.0)
    return laps, items * dataset.spec.repeats, mean_span


def bench_loader(root: str, list_path: str, mask_store: str, scene_store: str, frames: int = 16, stride: int = 4,
                 size: int = 224, batch: int = 12, workers: int = 16, batches: int = 20, method: str = "devias",
                 model_size: str = "base", device: str = "cpu", train_steps: int = 0, repeats: int = 1,
                 device_transforms: bool = False, profile: int = 24) -> LoaderBench:
    """The real training loader (decode, crop, masks and scene windows from the stores) on files: the rate
    it sustains, with `profile` > 0 the per-clip breakdown of `profile` items, and with `train_steps` > 0 the
    end-to-end rate of loader + step. `batch` counts videos; a batch holds batch x repeats clips."""
    from torch.utils.data import DataLoader

    from devias_tk.cache.store import VideoStore
    from devias_tk.data.lists import read_list
    from devias_tk.data.video import decoder
    from devias_tk.data.windows import ClipGrid
    from devias_tk.engine.sampler import EpochSampler
    from devias_tk.train.data import TrainClips, TrainDataSpec, collate_train

    entries = read_list(list_path)
    scenes = VideoStore(scene_store).attrs["class_names"]
    grid_side = size // 16
    spec = TrainDataSpec(grid=ClipGrid(frames, stride, stride), size=size, guide_shape=(4 * grid_side,) * 2,
                         scene_source="store", num_scenes=len(scenes), repeats=repeats,
                         device_transforms=device_transforms)
    dataset = TrainClips(root, entries, spec, mask_store, scene_store, seed=0)
    result = LoaderBench(workers, batch, repeats, device_transforms, batches, 0.0, 0.0, 0.0, None, device)
    result.decoder = decoder()
    if profile > 0:
        laps, clips, (decoded, before) = profile_items(dataset, profile, batch)
        result.breakdown = laps.per(clips)
        result.cpu_ms_per_clip = sum(v["cpu_ms"] for v in result.breakdown.values())
        result.clips_per_s_per_core = 1000 / result.cpu_ms_per_clip
        result.frames_decoded_per_window, result.frames_before_window = decoded, before
        result.profiled_items = profile
    if batches <= 0:
        return result
    sampler = EpochSampler(len(dataset), batch, seed=0)
    loader = DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=workers, collate_fn=collate_train,
                        persistent_workers=workers > 0, prefetch_factor=4 if workers > 0 else None,
                        multiprocessing_context="spawn" if workers > 0 else None, pin_memory=device == "cuda")

    def batches_forever():
        epoch = 0
        while True:
            sampler.set_epoch(epoch)
            yield from loader
            epoch += 1

    stream = batches_forever()
    started = time.perf_counter()
    next(stream)
    result.first_batch_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(batches):
        next(stream)
    result.loader_clips_per_s = batches * batch * repeats / (time.perf_counter() - started)
    result.clips_per_s_per_worker = result.loader_clips_per_s / max(workers, 1)
    if train_steps > 0:
        dev = torch.device(device)
        num_actions = max(e.action for e in entries) + 1
        model = build_model(method, num_actions=num_actions, num_scenes=len(scenes),
                            size=model_size, frames=frames, img_size=size).to(dev)
        optimizer = build_optimizer(param_groups(model, 0.05, 0.75, 0.1), (0.9, 0.999))
        step_spec = StepSpec(method=method, num_actions=num_actions, mix="fame", beta=0.3, p_aug=0.4,
                             be_max_lambda=0.3, patch_size=16, guide_pool=4, loss=LossConfig(), clip_size=size)
        use_amp = dev.type == "cuda"
        started = time.perf_counter()
        for i in range(train_steps):
            data = {k: v.to(dev, non_blocking=True) if torch.is_tensor(v) else v for k, v in next(stream).items()}
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
                loss, _ = compute_loss(model, data, step_spec, step_generator(0, i, dev))
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        result.end_to_end_clips_per_s = train_steps * batch * repeats / (time.perf_counter() - started)
    return result
