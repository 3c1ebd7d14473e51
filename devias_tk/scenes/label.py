"""`scenes label`: per-window and per-video pseudo scene distributions for every video of a list, into a store.

Root attributes (besides VideoStore's `format`): kind "scene-labels" and format_version
(devias_tk.cache.kinds.SCENE_LABELS), toolkit_version, model {arch, checkpoint, sha256, input_size}, class_names,
num_classes, inflation, window, stride, hop, short_policy, crop_grid (C boxes [y0, x0, y1, x1] in normalised frame
coordinates, devias_tk.data.crop_grid), source_list, list_sha256, num_videos.

Per video group `videos/<key>`:

- ``probs``        float16 (K, S): softmax scene distribution of each of the K windows of the shared
                   temporal grid (devias_tk.data.windows, the same `starts` as the mask store), on the
                   scene model's eval view (short side resized, centre crop)
- ``top5``         int16 (K, 5): class indices per window, most probable first (-1 past S classes)
- ``video_probs``  float16 (S,): the mean of `probs` over windows, the video-level pseudo label (evaluation)
- ``crop_probs``   float16 (K, C, S): each window's distribution on each crop of the crop grid (the box
                   cut from the frames and resized to the model's input); training uses the crop that
                   best covers its random-resized crop. Absent with an empty grid (`--crops none`, for
                   lists that are only evaluated: they need `video_probs` alone)
- attrs: path, num_frames, starts, padded, video_top5, and warning for a partly decodable video (decoded
  N of M declared frames)

Work: worker processes (`supervised_map`, killed and recorded past `timeout`) decode each distinct
frame the windows need once and cut the model's 1 + C views of it (eval view, crops); the main process
batches them, for consecutive videos, through the image model (`batch` images per forward, autocast on
GPU), averages each window's frames per view (frame-average inflation) and commits the video's group
atomically. Cost: (1 + C) image forwards per distinct frame.

A clip model (inflation "clip-model", the DEVIAS video teacher) gets each (window, view)'s frames as one
clip instead, `batch // window` clips per forward (at least one); the frames are still decoded once and
the clips cut from them in the main process. Its cost is a full clip forward per window and view.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from devias_tk.cache.kinds import SCENE_LABELS
from devias_tk.cache.store import StageSummary, VideoStore, finish_run, open_for_run
from devias_tk.data.crop_grid import DEFAULT_GRID, NormBox, square_grid
from devias_tk.data.lists import read_list, resolve
from devias_tk.data.windows import SHORT_POLICY, ClipGrid
from devias_tk.errors import DeviasError, DiskFullError
from devias_tk.scenes.decode import DecodeTask, decode_for_labels
from devias_tk.scenes.inflate import CLIP_MODEL, clip_model_probs, image_probs, topk_padded, window_probs
from devias_tk.scenes.model import SceneModel, load_scene_model
from devias_tk.utils.device import amp_dtype_for, resolve_device
from devias_tk.utils.progress import progress_bar
from devias_tk.utils.workers import LOCAL, Backend, run_tasks, single_threaded_cv2

TOP_K = 5
CHUNK_WINDOWS = 1024
IDENTITY = ("kind", "format_version", "model.sha256", "model.input_size", "inflation", "window", "stride", "hop",
            "short_policy", "crop_grid", "list_sha256")


def store_attributes(model: SceneModel, grid: ClipGrid, list_path: Path, num_videos: int,
                     crops: Sequence[NormBox]) -> dict:
    return SCENE_LABELS.stamp(list_path, num_videos, model=model.describe(), class_names=list(model.class_names),
                              num_classes=model.num_classes, inflation=model.inflation, window=grid.window,
                              stride=grid.stride, hop=grid.hop, short_policy=SHORT_POLICY,
                              crop_grid=[list(b) for b in crops])


def video_arrays(item_probs: np.ndarray, positions: np.ndarray | None, num_views: int) -> dict[str, np.ndarray]:
    """The arrays of one video's group from the distributions of its items, view-major (view 0 the eval
    view, then the crops): of its distinct frames, (V * F, S), with the window rows (K, T) of those frames;
    or (positions None, a clip model) of its windows, (V * K, S)."""
    probs = item_probs.astype(np.float64).reshape(num_views, -1, item_probs.shape[-1])
    per_view = probs if positions is None else np.stack([window_probs(p, positions) for p in probs])  # (V, K, S)
    eval_windows = per_view[0]
    video = eval_windows.mean(axis=0)
    return {
        "probs": eval_windows.astype(np.float16),
        "top5": topk_padded(eval_windows, TOP_K),
        "video_probs": video.astype(np.float16),
        "video_top5": topk_padded(video, TOP_K),
        "crop_probs": np.ascontiguousarray(per_view[1:].transpose(1, 0, 2)).astype(np.float16),
    }


class WindowClips:
    """A video's (view, window) clips, view-major, cut on demand from its views of the distinct frames
    (V, F, S, S, 3): `[lo:hi]` -> (hi - lo, T, S, S, 3)."""

    def __init__(self, views: np.ndarray, positions: np.ndarray) -> None:
        self.views, self.positions = views, positions

    def __len__(self) -> int:
        return len(self.views) * len(self.positions)

    def __getitem__(self, rows: slice) -> np.ndarray:
        index = np.arange(len(self))[rows]
        view, window = np.divmod(index, len(self.positions))
        return self.views[view[:, None], self.positions[window]]


@dataclass
class _Pending:
    video: str
    decoded: dict
    probs: np.ndarray  # (F, S) float32, filled as batches finish
    filled: int = 0


class FrameBatcher:
    """Groups the distinct frames of consecutive videos into fixed-size batches for the image model.

    `add` queues a decoded video; `batches(final)` yields (uint8 frames, [(pending, lo, hi)]) with
    exactly `size` frames (fewer only when `final`); `finished()` pops the videos all of whose
    frames have a distribution, in the order they were added. With `item` = "windows" the items are
    the video's window clips (`decoded["windows"]`, a `WindowClips`) instead of its frames.
    """

    def __init__(self, size: int, num_classes: int, item: str = "frames") -> None:
        if size < 1:
            raise ValueError("batch size must be >= 1")
        self.size = size
        self.num_classes = num_classes
        self.item = item
        self.queue: deque[_Pending] = deque()
        self._next = 0  # index into the queue of the first video with frames not yet batched
        self._offset = 0  # first unbatched frame of that video
        self.queued = 0  # frames not yet batched

    def add(self, video: str, decoded: dict) -> None:
        items = decoded[self.item]
        self.queue.append(_Pending(video, decoded, np.zeros((len(items), self.num_classes), np.float32)))
        self.queued += len(items)

    def batches(self, final: bool = False) -> Iterator[tuple[np.ndarray, list[tuple[_Pending, int, int]]]]:
        while self.queued >= self.size or (final and self.queued):
            parts, pieces, need = [], [], self.size
            while need and self._next < len(self.queue):
                p = self.queue[self._next]
                items = p.decoded[self.item]
                take = min(need, len(items) - self._offset)
                parts.append(items[self._offset : self._offset + take])
                pieces.append((p, self._offset, self._offset + take))
                need -= take
                self._offset += take
                if self._offset == len(items):
                    self._next += 1
                    self._offset = 0
            self.queued -= self.size - need
            yield np.concatenate(parts), pieces

    def finished(self) -> list[_Pending]:
        done = []
        while self.queue and self.queue[0].filled == len(self.queue[0].probs):
            done.append(self.queue.popleft())
            self._next -= 1
        return done


@dataclass
class LabelSummary(StageSummary):
    """`StageSummary` (timings: decode_s summed over workers, infer_s, write_s) and the work done."""

    clips: int = 0  # windows labelled in this run
    frames: int = 0  # images through the model in this run (a clip model: clips x frames)

    @property
    def clips_per_s(self) -> float:
        return self.clips / self.seconds if self.seconds else 0.0


def label(
    root: str | Path,
    list_path: str | Path,
    model: SceneModel | str | Path,
    out: str | Path,
    grid: ClipGrid | None = None,
    device: str = "auto",
    batch: int = 64,
    jobs: int = 1,
    shard: tuple[int, int] = (0, 1),
    timeout: float = 120.0,  # devias_tk.cli.defaults.DECODE_TIMEOUT
    retry_failed: bool = True,
    show_progress: bool = True,
    log: Callable[[str], None] = lambda _msg: None,
    backend: Backend = LOCAL,
    crops: str | Sequence[NormBox] = DEFAULT_GRID,
) -> LabelSummary:
    """Fill `out` with scene distributions for every video of `list_path` (this shard); resumes finished work.

    `crops`: the crop grid (a `side:n,...` spec or normalised boxes, devias_tk.data.crop_grid).
    """
    grid = grid or ClipGrid()
    grid.validate()
    crops = [tuple(float(v) for v in b) for b in (square_grid(crops) if isinstance(crops, str) else crops)]
    started = time.perf_counter()
    dev = resolve_device(device)
    model = _checked_model(model if isinstance(model, SceneModel) else load_scene_model(model), grid)
    entries = read_list(list_path)
    attrs = store_attributes(model, grid, Path(list_path), len(entries), crops)
    store, mine, todo = open_for_run(out, attrs, IDENTITY, entries, shard, retry_failed, log, writer="scenes label")
    try:
        summary = LabelSummary(Path(out), len(mine), len(mine) - len(todo), 0)
        tasks = [DecodeTask(e.path, str(resolve(root, e)), grid, model.input_size, model.resize_size, tuple(crops))
                 for e in todo]
        work = _Labelling(model, dev, grid, len(crops), batch, store, summary, len(tasks))
        if tasks:
            with progress_bar("scenes", len(tasks), "videos", show_failures=True, count_unit="clips",
                              disable=not show_progress) as advance:
                for result in run_tasks(decode_for_labels, tasks, jobs, timeout, single_threaded_cv2, backend):
                    value = result.value if result.ok else {"ok": False, "reason": result.error}
                    work.take(result.item.video, value, advance)
                work.run_batches(advance, final=True)
        return finish_run(store, summary, mine, work.timings, started)
    finally:
        store.release()


def _checked_model(model: SceneModel, grid: ClipGrid) -> SceneModel:
    """A clip scene model must take the window whole, in its tubelets, at the clip length it was trained on."""
    tubelet = getattr(model.module, "tubelet_size", 1)
    if model.inflation == CLIP_MODEL and grid.window % tubelet:
        raise DeviasError(f"the clip scene model takes clips in tubelets of {tubelet} frames; "
                          f"window {grid.window} does not divide")
    if model.inflation == CLIP_MODEL and model.frames is not None and model.frames != grid.window:
        # the fixed positions of tokens past the trained clip length were never seen in training
        raise DeviasError(f"{model.checkpoint}: a clip scene model trained on {model.frames}-frame clips; label with "
                          f"--window {model.frames} (not {grid.window}), or train it with that clip length")
    return model


class _Labelling:
    """The main process's side of `label`: decoded videos batched through the model, each finished video's
    distributions committed to the store, the time spent on each."""

    def __init__(self, model: SceneModel, dev: torch.device, grid: ClipGrid, num_crops: int, batch: int,
                 store: VideoStore, summary: LabelSummary, num_tasks: int) -> None:
        self.model, self.dev, self.grid, self.num_crops = model, dev, grid, num_crops
        self.module = model.module.to(dev).eval()
        self.amp = amp_dtype_for(dev)
        self.clip_model = model.inflation == CLIP_MODEL
        self.store, self.summary, self.num_tasks = store, summary, num_tasks
        self.timings = {"decode_s": 0.0, "infer_s": 0.0, "write_s": 0.0}
        self.batcher = (FrameBatcher(max(1, batch // grid.window), model.num_classes, item="windows")
                        if self.clip_model else FrameBatcher(batch, model.num_classes))

    def take(self, video: str, value: dict, advance: Callable) -> None:
        """One worker's result: a decoded video joins the batches (and full batches run), a failure is recorded."""
        if not value["ok"]:
            self.store.record_failure(video, value["reason"])
            advance(1, 1)
            return
        self.timings["decode_s"] += value["decode_s"]
        views = value.pop("views")
        if self.clip_model:
            value["windows"] = WindowClips(views, value["positions"])
        else:
            value["frames"] = views.reshape(-1, *views.shape[2:])  # view-major
        self.batcher.add(video, value)
        self.run_batches(advance, final=False)

    def run_batches(self, advance: Callable, final: bool) -> None:
        model = self.model
        for images, pieces in self.batcher.batches(final):
            t0 = time.perf_counter()
            x = torch.from_numpy(images).to(self.dev, non_blocking=True)
            if self.clip_model:
                probs = clip_model_probs(self.module, x, model.mean, model.std, self.amp).cpu().numpy()
            else:
                probs = image_probs(self.module, x, model.mean, model.std, self.amp).cpu().numpy()
            self.timings["infer_s"] += time.perf_counter() - t0
            self.summary.frames += len(images) * (self.grid.window if self.clip_model else 1)
            row = 0
            for p, lo, hi in pieces:
                p.probs[lo:hi] = probs[row : row + hi - lo]
                p.filled += hi - lo
                row += hi - lo
            self.commit_finished(advance)

    def commit_finished(self, advance: Callable) -> None:
        num_classes, summary = self.model.num_classes, self.summary
        for p in self.batcher.finished():
            t0 = time.perf_counter()
            arrays = video_arrays(p.probs, None if self.clip_model else p.decoded["positions"], 1 + self.num_crops)
            k = len(arrays["probs"])
            chunk = min(CHUNK_WINDOWS, k)  # one file per array for any video shorter than ~70 minutes
            written = {"probs": (arrays["probs"], (chunk, num_classes)),
                       "top5": (arrays["top5"], (chunk, TOP_K)),
                       "video_probs": (arrays["video_probs"], (num_classes,))}
            if self.num_crops:  # an empty grid (--crops none): a store for evaluation, without training targets
                written["crop_probs"] = (arrays["crop_probs"], (chunk, self.num_crops, num_classes))
            try:
                self.store.commit(
                    p.video, written,
                    {"num_frames": p.decoded["num_frames"], "starts": p.decoded["starts"],
                     "padded": p.decoded["padded"], "video_top5": arrays["video_top5"].tolist(),
                     **({"warning": p.decoded["warning"]} if p.decoded.get("warning") else {})},
                )
            except DiskFullError as exc:  # the store keeps what is done; a re-run resumes there
                raise self.store.out_of_space(exc.needed, self.num_tasks - summary.done) from None
            self.timings["write_s"] += time.perf_counter() - t0
            summary.done += 1
            summary.clips += k
            if p.decoded["padded"]:
                summary.padded.append(p.video)
            if p.decoded.get("warning"):
                summary.partial[p.video] = p.decoded["warning"]
            advance(1, 0, count=k)
