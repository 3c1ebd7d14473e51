"""`masks extract`: FAME soft masks for every cached window of every video of a list, into a store.

Per video group (see devias_tk.cache.store for the store layout):

- ``soft``     uint8 (num_windows, H, W): clip-level soft mask at the working size (short side `size`)
- ``tubelet``  uint8 (num_windows, window // 2, h, w): per-tubelet soft masks, computed at the working
               size and area-pooled to the grid of short side `tubelet_size`
- attrs: path, num_frames, fps, source_height/width, starts (window start frames), padded, and warning for a
  partly decodable video (decoded N of M declared frames)

Root attributes: kind "fame-masks" and format_version (devias_tk.cache.kinds.FAME_MASKS), toolkit_version,
algorithm, params (the FameParams, motion_comp included), window, stride, hop, size, tubelet_size, short_policy,
source_list, list_sha256, num_videos. Format history: 1 computed the tubelet masks on frames
resized to `tubelet_size` (too coarse for FAME's colour model and blur); 2 computes them at `size`
and pools. A store of another format is refused: re-run `masks extract` into a new store.

Both arrays are chunked by up to CHUNK_WINDOWS windows along the first axis (one file per array for a
UCF-101-length video), zstd-compressed.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from devias_tk.cache.kinds import FAME_MASKS
from devias_tk.cache.store import StageSummary, VideoStore, finish_run, open_for_run
from devias_tk.data.lists import VideoEntry, read_list, resolve
from devias_tk.data.video import Video
from devias_tk.errors import DeviasError, DiskFullError, VideoReadError
from devias_tk.masks import fame
from devias_tk.masks.windows import SHORT_POLICY, WindowSpec, compute_windows, window_indices, window_starts
from devias_tk.utils.progress import progress_bar
from devias_tk.utils.workers import FAULT_ENV as FAULT_ENV  # re-exported: the fault-injection tests set it
from devias_tk.utils.workers import LOCAL, Backend, run_tasks, single_threaded_cv2
from devias_tk.utils.workers import inject_fault as _inject_fault

CHUNK_WINDOWS = 32
IDENTITY = ("kind", "format_version", "params", "window", "stride", "hop", "size", "tubelet_size",
            "short_policy", "list_sha256")


def check_format_version(path: str | Path, command: str = "masks extract") -> None:
    """Refuse an existing mask store written in another format (its arrays mean something else)."""
    if not (Path(path) / "zarr.json").is_file():
        return
    attrs = VideoStore(path).attrs
    found = attrs.get("format_version")
    if attrs.get("kind") == FAME_MASKS.name and found != FAME_MASKS.version:
        raise DeviasError(
            f"{path}: mask store format {found}, this toolkit writes format {FAME_MASKS.version} (per-tubelet masks "
            f"now computed at the working size, then pooled); re-run `{command}` into a new store (another --out)")


def store_attributes(spec: WindowSpec, params: fame.FameParams, list_path: Path, num_videos: int) -> dict:
    algorithm = ("FAME soft masks (motion seeds + 1000-bin HSV colour model)" if params.colour_model else
                 "FAME's blurred, min-max normalised motion map (no colour model)")
    return mask_attributes(spec, algorithm + " at the working size, tubelet masks area-pooled to tubelet_size; "
                           "uint8 = round(255 * p)", params.to_dict(), list_path, num_videos)


def mask_attributes(spec: WindowSpec, algorithm: str, params: dict, list_path: Path, num_videos: int) -> dict:
    """A mask store's root attributes (`masks extract`, `masks import-gt`)."""
    return FAME_MASKS.stamp(list_path, num_videos, algorithm=algorithm, params=params, **dataclasses.asdict(spec),
                            short_policy=SHORT_POLICY)


@dataclass(frozen=True)
class _Task:
    video: str  # path as written in the list (the store key)
    source: str  # file to decode
    store: str
    spec: WindowSpec
    params: fame.FameParams



def process_video(task: _Task) -> dict:
    """Decode once, compute every window's masks, commit the group. Runs in a worker process."""
    _inject_fault(task.source)
    started = time.perf_counter()
    try:
        video = Video(task.source)
        starts, padded = window_starts(len(video), task.spec)
        indices = window_indices(len(video), starts, task.spec)
        unique, positions = np.unique(indices, return_inverse=True)
        decoded = video.frames(unique)
    except VideoReadError as exc:
        return {"ok": False, "reason": exc.reason}
    note = video.info.read_note(padded)
    decoded_at = time.perf_counter()
    soft, tubelet = compute_windows(decoded, positions.reshape(indices.shape), task.spec, task.params)
    computed_at = time.perf_counter()
    try:
        VideoStore(task.store).commit(
            task.video,
            {name: (data, (min(CHUNK_WINDOWS, len(data)), *data.shape[1:])) for name, data in
             (("soft", soft), ("tubelet", tubelet))},
            {
                "num_frames": len(video), "fps": video.info.fps, "source_height": video.info.height,
                "source_width": video.info.width, "starts": starts, "padded": padded,
                **({"warning": note} if note else {}),
            },
        )
    except DiskFullError as exc:  # not this video's fault: the stage stops (see `extract`)
        return {"ok": False, "disk_full": True, "needed": exc.needed}
    return {
        "ok": True, "padded": padded, "warning": note, "num_frames": len(video), "windows": len(starts),
        "decode_s": decoded_at - started, "fame_s": computed_at - decoded_at,
        "write_s": time.perf_counter() - computed_at,
    }


def parse_shard(text: str) -> tuple[int, int]:
    """'i/n' -> (i, n) with 0 <= i < n."""
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise DeviasError(f"--shard must look like i/n (e.g. 0/4), got {text!r}") from None
    if not 0 <= i < n:
        raise DeviasError(f"--shard {text}: need 0 <= i < n")
    return i, n


def extract(
    root: str | Path,
    list_path: str | Path,
    out: str | Path,
    spec: WindowSpec = WindowSpec(),
    params: fame.FameParams = fame.FameParams(),
    jobs: int = 1,
    shard: tuple[int, int] = (0, 1),
    timeout: float = 120.0,  # devias_tk.cli.defaults.DECODE_TIMEOUT
    retry_failed: bool = True,
    show_progress: bool = True,
    log: Callable[[str], None] = lambda _msg: None,
    backend: Backend = LOCAL,
) -> StageSummary:
    """Fill `out` with masks for every video of `list_path` (this shard); resumes finished work. A full disk
    stops the run (DiskFullError naming the store and the space needed); the store stays valid."""
    spec.validate()
    started = time.perf_counter()
    entries: list[VideoEntry] = read_list(list_path)
    check_format_version(out)
    store, mine, todo = open_for_run(out, store_attributes(spec, params, Path(list_path), len(entries)), IDENTITY,
                                     entries, shard, retry_failed, log, writer="masks extract")
    try:
        summary = StageSummary(Path(out), len(mine), len(mine) - len(todo), 0)
        tasks = [_Task(e.path, str(resolve(root, e)), str(store.path), spec, params) for e in todo]
        timings = {"decode_s": 0.0, "fame_s": 0.0, "write_s": 0.0}
        if tasks:
            with progress_bar("masks", len(tasks), "videos", show_failures=True, disable=not show_progress) as advance:
                for seen, result in enumerate(run_tasks(process_video, tasks, jobs, timeout, single_threaded_cv2,
                                                        backend)):
                    task: _Task = result.item
                    value = result.value if result.ok else {"ok": False, "reason": result.error}
                    if value.get("disk_full"):  # the store keeps what is done; a re-run resumes there
                        raise store.out_of_space(value["needed"], len(tasks) - seen)
                    if value["ok"]:
                        summary.done += 1
                        if value["padded"]:
                            summary.padded.append(task.video)
                        if value.get("warning"):
                            summary.partial[task.video] = value["warning"]
                        for k in timings:
                            timings[k] += value[k]
                    else:
                        store.record_failure(task.video, value["reason"])
                    advance(1, 0 if value["ok"] else 1)
        return finish_run(store, summary, mine, timings, started)
    finally:
        store.release()
