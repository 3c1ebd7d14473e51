"""`bench masks`: throughput of the mask stage, where its time goes, store size and read latency,
beside the release's per-clip recomputation as the anchor."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from devias_tk.bench.release_fame import release_style_masks
from devias_tk.cache.store import VideoStore
from devias_tk.data import sampling
from devias_tk.data.lists import read_list, resolve, write_list
from devias_tk.data.video import Video
from devias_tk.masks.extract import extract
from devias_tk.masks.windows import WindowSpec


@dataclass
class MaskBench:
    videos: int
    windows_per_video: float
    runs: dict[int, dict] = field(default_factory=dict)  # jobs -> figures
    store_bytes_per_video: float = 0.0
    clip_read_ms: float = 0.0
    release_decode_ms_per_clip: float = 0.0
    release_fame_ms_per_clip: float = 0.0


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def bench_masks(root: Path, list_path: Path, work: Path, videos: int, jobs_list: list[int], spec: WindowSpec,
                anchor_clips: int = 24, seed: int = 0) -> MaskBench:
    entries = read_list(list_path)[:videos]
    work.mkdir(parents=True, exist_ok=True)
    sub_list = work / "bench_list.txt"
    write_list(sub_list, entries)
    result = MaskBench(videos=len(entries), windows_per_video=0.0)
    store_path = work / "bench.zarr"
    for jobs in jobs_list:
        shutil.rmtree(store_path, ignore_errors=True)
        summary = extract(root, sub_list, store_path, spec, jobs=jobs, show_progress=True)
        done = max(1, summary.done)
        result.runs[jobs] = {
            "seconds": summary.seconds,
            "videos_per_s": summary.done / summary.seconds,
            "videos_per_s_per_core": summary.done / summary.seconds / jobs,
            **{f"{k.removesuffix('_s')}_ms_per_video": 1000 * v / done for k, v in summary.timings.items()},
        }
    store = VideoStore(store_path)
    done = sorted(store.done())
    result.store_bytes_per_video = _dir_bytes(store_path / "videos") / max(1, len(done))
    result.windows_per_video = float(np.mean([len(store.video_attrs(v)["starts"]) for v in done]))
    rng = np.random.default_rng(seed)
    picks = [done[i] for i in rng.integers(0, len(done), 200)]
    started = time.perf_counter()
    for video in picks:  # what a training step reads for one clip: open the group, one window of each array
        group = VideoStore(store_path).group(video)
        k = int(rng.integers(group["soft"].shape[0]))
        group["soft"][k], group["tubelet"][k]
    result.clip_read_ms = 1000 * (time.perf_counter() - started) / len(picks)

    # Anchor: the release recomputes masks per training clip on the 224x224 crop.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        decode = fame = 0.0
        for i in range(anchor_clips):
            entry = entries[i % len(entries)]
            t0 = time.perf_counter()
            video = Video(resolve(root, entry))
            start = sampling.random_start(len(video), 16, 4, rng)
            frames = video.frames(sampling.clip_indices(len(video), 16, 4, start))
            clip = np.stack([cv2.resize(f, (224, 224), interpolation=cv2.INTER_LINEAR) for f in frames])
            x = torch.from_numpy(clip).permute(3, 0, 1, 2)[None].float() / 255
            t1 = time.perf_counter()
            release_style_masks(x)
            t2 = time.perf_counter()
            decode += t1 - t0
            fame += t2 - t1
        result.release_decode_ms_per_clip = 1000 * decode / anchor_clips
        result.release_fame_ms_per_clip = 1000 * fame / anchor_clips
    finally:
        torch.set_num_threads(threads)
    return result
