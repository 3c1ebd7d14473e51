"""Training data: a clip joined with the cached masks and scene distribution of the very same window.

Each item draws a window of the shared temporal grid (devias_tk.data.windows), decodes its frames,
optionally applies RandAugment to them (VideoMAE's place: before the crop; the geometric ops move the cached
masks too), takes one random-resized crop and flip, and applies the same crop and flip to the cached soft masks.
Its cached scene target is the window's distribution on the scene store's grid crop with the highest
IoU with the training crop (devias_tk.data.crop_grid; ties to the lower grid index; the flip is
ignored, a mirrored view being the same scene).
Stores are opened lazily in each worker process (Zarr runs an event loop thread that must not be
forked). Randomness is a function of (seed, epoch, index), so a resumed run sees the same samples;
the sampler hands each worker (epoch, index) pairs, so workers can persist across epochs.
With `cache_mb` (data.cache_mb) each process keeps every video it has read (all windows' frames, decoded
once, and its store rows) up to that budget, so a small dataset is decoded once per worker for the whole
run; items are identical with and without it.
With `repeats` R > 1 (data.repeats) an item cuts R clips from its one decoded window, each with its own crop,
flip and augmentation (copy 0 is the single-clip item); `collate_train` flattens them into the batch. With
`device_transforms` an item carries the uint8 window and each clip's crop and flip instead of float clips, and
the step cuts the clips on its device (devias_tk.train.device_clips). The store rows of a window are read once
per item (devias_tk.cache.rows). Where the time goes per clip: docs/loader.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info
from torch.utils.data.dataloader import default_collate

from devias_tk.cache.kinds import MASK_ROWS, SCENE_ROWS
from devias_tk.cache.rows import read_rows
from devias_tk.cache.store import VideoStore
from devias_tk.data import randaugment, transforms
from devias_tk.data.crop_grid import NormBox, best_crop, normalised_box
from devias_tk.data.lists import VideoEntry, resolve
from devias_tk.data.memo import ByteLRU
from devias_tk.data.video import Video
from devias_tk.data.windows import ClipGrid, window_indices, window_starts
from devias_tk.errors import DeviasError
from devias_tk.utils.laps import Laps


@dataclass(frozen=True)
class TrainDataSpec:
    grid: ClipGrid
    size: int  # crop size fed to the model
    scale: tuple[float, float] = (0.08, 1.0)
    flip: bool = True
    color_jitter: float = 0.0
    guide_shape: tuple[int, int] = (0, 0)  # (h, w) the per-tubelet masks are resized to (0: not needed)
    scene_source: str = "list"  # "list" | "store" | "online" (the step computes it; items carry the list's)
    num_scenes: int = 0
    rand_augment: str | None = None  # timm RandAugment string (e.g. "rand-m7-n4-mstd0.5-inc1"); None: off
    repeats: int = 1  # augmented clips cut from each decoded window (VideoMAE's num_sample); 1: the paper's
    device_transforms: bool = False  # items carry the uint8 window and the crop; the step crops and normalises


@dataclass
class Window:
    """What an item reads once, however many clips it cuts: the window's frames and its store rows."""

    frames: np.ndarray  # (T, H, W, 3) uint8
    soft: np.ndarray | None = None
    tubelet: np.ndarray | None = None
    probs: np.ndarray | None = None  # (crops, classes)


def _scaled_box(box: transforms.Box, sy: float, sx: float) -> transforms.Box:
    y, x = round(box.y * sy), round(box.x * sx)
    return transforms.Box(y, x, max(1, round(box.h * sy)), max(1, round(box.w * sx)))


class TrainClips(Dataset):
    """Items: clip (C, T, S, S) float32 normalised, action, scene (int, or float (num_scenes,) from the
    scene store), index, window (index into the video's grid), crop_box float32 (4,) (the crop in
    normalised frame coordinates); with a mask store also soft_mask uint8 (S, S) and tubelet_mask uint8
    (T/2, h, w)."""

    def __init__(self, root: str | Path, entries: list[VideoEntry], spec: TrainDataSpec,
                 mask_store: str | Path | None = None, scene_store: str | Path | None = None, seed: int = 0,
                 cache_mb: float = 0) -> None:
        self.root = Path(root)
        self.entries = entries
        self.spec = spec
        self.mask_path = None if mask_store is None else str(mask_store)
        self.scene_path = None if scene_store is None else str(scene_store)
        self.seed = seed
        self.epoch = 0
        self.augment = None if spec.rand_augment is None else randaugment.parse_rand_augment(spec.rand_augment)
        self._stores: tuple[int, VideoStore | None, VideoStore | None] | None = None
        self._crop_grid: np.ndarray | None = None
        self.cache_bytes = int(cache_mb * 2**20)
        self._memo: tuple[int, ByteLRU] | None = None
        self.laps: Laps | None = None  # set (in-process) by `bench train --with-loader` to time each phase
        if spec.repeats < 1:
            raise DeviasError(f"data.repeats is clips per decoded window, 1 or more (got {spec.repeats})")
        if spec.device_transforms and spec.color_jitter > 0:
            raise DeviasError("data.device_transforms crops on the device and has no colour jitter; set "
                              "data.color_jitter to 0 or data.device_transforms to false")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.entries)

    def _open_stores(self) -> tuple[VideoStore | None, VideoStore | None]:
        if self._stores is None or self._stores[0] != os.getpid():
            if get_worker_info() is not None:  # the loader already runs one worker per core
                cv2.setNumThreads(1)
            masks = VideoStore(self.mask_path) if self.mask_path else None
            scenes = VideoStore(self.scene_path) if self.scene_path else None
            self._stores = (os.getpid(), masks, scenes)
        return self._stores[1], self._stores[2]

    def _source(self, entry: VideoEntry) -> _WindowReads | _LoadedVideo:
        """Where this item's window comes from: the file and stores, or (data.cache_mb) this worker's memo."""
        def reads() -> _WindowReads:
            masks, scenes = self._open_stores()
            return _WindowReads(resolve(self.root, entry), entry.path, self.spec.grid, masks,
                                scenes if self.spec.scene_source == "store" else None)

        if self.cache_bytes <= 0:
            return reads()
        if self._memo is None or self._memo[0] != os.getpid():
            self._memo = (os.getpid(), ByteLRU(self.cache_bytes))
        # a kept video is not even opened again (opening costs about as much as decoding these small clips)
        return _LoadedVideo(self._memo[1].get(entry.path, lambda: reads().load_all()))

    def _lap(self, name: str) -> None:
        if self.laps is not None:
            self.laps.lap(name)

    def __getitem__(self, key: int | tuple[int, ...]) -> dict:
        # (epoch, index), or (epoch, index, salt) for a sample standing in for a failed one (devias_tk.data.guarded)
        epoch, index, *salt = key if isinstance(key, tuple) else (self.epoch, key)
        spec = self.spec
        entry = self.entries[index]
        if self.laps is not None:
            self.laps.start()
        rng = np.random.default_rng([self.seed, epoch, index, *salt])
        source = self._source(entry)
        self._lap("open")
        k = int(rng.integers(len(source.starts)))
        window = Window(source.frames(k))
        self._lap("decode")
        if source.has_masks:
            window.soft, window.tubelet = source.masks(k)
        self._lap("mask read")
        if spec.scene_source == "store":
            if not source.has_scenes:
                raise DeviasError("scene_source is 'store' but no scene store was given")
            window.probs = source.window_probs(k)
        self._lap("scene read")
        # Copy 0 draws exactly what a single-clip item draws; later copies continue the same stream.
        clips = None  # the copies' float clips, written in place (no stacking copy)
        if spec.repeats > 1 and not spec.device_transforms:
            clips = torch.empty((spec.repeats, 3, spec.grid.window, spec.size, spec.size))
        copies = [self._cut(window, rng, None if clips is None else clips[r]) for r in range(spec.repeats)]
        scene = {} if spec.scene_source == "store" else {"scene": entry.scene}
        if spec.repeats == 1:
            return {**copies[0], **scene, "action": entry.action, "index": index, "window": k}
        item = {name: torch.stack([c[name] for c in copies]) for name in copies[0] if name not in ("frames", "clip")}
        if clips is not None:
            item["clip"] = clips
        if "frames" in copies[0]:  # one decoded window for all copies, unless RandAugment changed each
            item["frames"] = copies[0]["frames"] if self.augment is None else \
                torch.cat([c["frames"] for c in copies])
        per_copy = {name: torch.full((spec.repeats,), value) for name, value in
                    {**scene, "action": entry.action, "index": index, "window": k}.items()}
        self._lap("stack")
        return {**item, **per_copy}

    def _cut(self, window: Window, rng: np.random.Generator, clip_out: torch.Tensor | None = None) -> dict:
        """One augmented clip of a decoded window: RandAugment, random-resized crop, flip, jitter; the same crop
        and flip on the window's masks; the scene distribution of the grid crop that best covers the crop. The
        normalised clip goes into `clip_out` when given."""
        spec = self.spec
        frames = window.frames
        height, width = frames.shape[1:3]
        # A child generator: the crop and flip below draw the same with RandAugment on or off.
        ops = randaugment.draw(self.augment, rng.spawn(1)[0]) if self.augment is not None else ()
        frames = randaugment.apply_to_frames(frames, ops)
        self._lap("augment")
        box = transforms.random_resized_box(height, width, rng, scale=spec.scale)
        flip = spec.flip and bool(rng.random() < 0.5)
        crop_box = normalised_box(box, height, width)
        item = {"crop_box": torch.tensor(crop_box, dtype=torch.float32)}
        if spec.device_transforms:  # the step crops, flips and normalises (devias_tk.train.device_clips)
            item["frames"] = torch.from_numpy(np.ascontiguousarray(frames[None]))
            item["crop_px"] = torch.tensor([box.y, box.x, box.h, box.w], dtype=torch.float32)
            item["flip"] = torch.tensor(flip)
        else:
            clip = transforms.color_jitter(transforms.crop_resize(frames, box, spec.size), spec.color_jitter, rng)
            if flip:
                clip = transforms.hflip(clip)
            self._lap("crop")
            out = None if clip_out is None else clip_out.numpy()
            item["clip"] = torch.from_numpy(transforms.to_normalized_tensor_layout(clip, out=out))
            self._lap("normalise")
        if window.soft is not None:
            soft = randaugment.warp_masks(window.soft, ops, (height, width))
            tubelet = randaugment.warp_masks(window.tubelet, ops, (height, width))
            soft = transforms.crop_resize(soft[None], _scaled_box(box, soft.shape[0] / height, soft.shape[1] / width),
                                          spec.size)[0]
            tub_box = _scaled_box(box, tubelet.shape[1] / height, tubelet.shape[2] / width)
            tubelet = transforms.crop_resize(tubelet, tub_box, spec.guide_shape or spec.size)
            if flip:
                soft, tubelet = soft[:, ::-1], tubelet[:, :, ::-1]
            item["soft_mask"] = torch.from_numpy(np.ascontiguousarray(soft))
            item["tubelet_mask"] = torch.from_numpy(np.ascontiguousarray(tubelet))
            self._lap("mask crop")
        if window.probs is not None:
            item["scene"] = torch.from_numpy(window.probs[self._best_crop(crop_box)].astype(np.float32))
        return item

    def _best_crop(self, crop_box: NormBox) -> int:
        """The scene store's grid crop that best covers `crop_box`."""
        if self._crop_grid is None:
            _, scenes = self._open_stores()
            if scenes is None or not scenes.attrs.get("crop_grid"):
                version = None if scenes is None else scenes.attrs.get("format_version")
                raise DeviasError(f"{self.scene_path}: a scene store without crop targets (format version "
                                  f"{version}, or --crops none); re-run `devias-tk scenes label` with a crop grid")
            self._crop_grid = np.asarray(scenes.attrs["crop_grid"], np.float64)
        return best_crop(crop_box, self._crop_grid)


class _WindowReads:
    """One video's windows read on demand from the file and the stores (the window grid as the stores saw it)."""

    def __init__(self, file: Path, key: str, grid: ClipGrid, masks: VideoStore | None,
                 scenes: VideoStore | None) -> None:
        self.video, self.key, self.grid, self.masks_store, self.scenes_store = Video(file), key, grid, masks, scenes
        cached = masks or scenes
        if cached is not None:
            attrs = cached.video_attrs(key)
            if attrs["num_frames"] != len(self.video):
                raise DeviasError(f"{key}: the store saw {attrs['num_frames']} frames, the decoder "
                                  f"{len(self.video)}; rebuild the store for these files")
            self.starts = list(attrs["starts"])
        else:
            self.starts, _ = window_starts(len(self.video), grid)
        self.has_masks, self.has_scenes = masks is not None, scenes is not None

    def frames(self, k: int) -> np.ndarray:
        return self.video.frames(window_indices(len(self.video), [self.starts[k]], self.grid)[0])

    def masks(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        soft, tubelet = read_rows(self.masks_store, self.key, MASK_ROWS, k)
        return soft, tubelet

    def window_probs(self, k: int) -> np.ndarray:
        """Window k's distribution on every crop of the store's grid, (crops, classes)."""
        return read_rows(self.scenes_store, self.key, SCENE_ROWS, k)[0]

    def load_all(self) -> dict[str, np.ndarray]:
        """Every window's frames (each distinct frame decoded once) and store rows, for the memo."""
        indices = window_indices(len(self.video), self.starts, self.grid)
        unique, positions = np.unique(indices, return_inverse=True)
        out = {"starts": np.asarray(self.starts), "frames": self.video.frames(unique),
               "positions": positions.reshape(indices.shape)}
        for store, names in ((self.masks_store, MASK_ROWS), (self.scenes_store, SCENE_ROWS)):
            if store is not None:
                group = store.group(self.key)
                out.update({name: group[name][:] for name in names})
        return out


class _LoadedVideo:
    """The same reads as `_WindowReads`, from arrays already in memory."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays
        self.starts = arrays["starts"].tolist()
        self.has_masks, self.has_scenes = "soft" in arrays, "crop_probs" in arrays

    def frames(self, k: int) -> np.ndarray:
        return self.arrays["frames"][self.arrays["positions"][k]]

    def masks(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.arrays["soft"][k], self.arrays["tubelet"][k]

    def window_probs(self, k: int) -> np.ndarray:
        return self.arrays["crop_probs"][k]


def collate_train(items: list[dict]) -> dict:
    """Training items into a batch: default collation, then with data.repeats > 1 each video's copies flattened
    into the batch (clip r of video b at b * repeats + r), and with data.device_transforms the uint8 windows
    (one per video, or per clip under RandAugment) padded to the batch's largest frame and flattened too."""
    if "frames" in items[0]:
        height = max(it["frames"].shape[2] for it in items)
        width = max(it["frames"].shape[3] for it in items)
        # Never sampled: the step's crop positions stay inside each clip's own crop.
        items = [{**it, "frames": torch.nn.functional.pad(it["frames"], (0, 0, 0, width - it["frames"].shape[3],
                                                                        0, height - it["frames"].shape[2]))}
                 for it in items]
    batch = default_collate(items)
    flatten = [name for name, value in batch.items() if torch.is_tensor(value) and value.dim() >= 2
               and (name == "frames" or ("crop_box" in items[0] and items[0]["crop_box"].dim() == 2))]
    return {**batch, **{name: batch[name].flatten(0, 1) for name in flatten}}
