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
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from devias_tk.cache.store import VideoStore
from devias_tk.data import randaugment, transforms
from devias_tk.data.crop_grid import NormBox, best_crop, normalised_box
from devias_tk.data.lists import VideoEntry, resolve
from devias_tk.data.memo import ByteLRU
from devias_tk.data.video import Video
from devias_tk.data.windows import ClipGrid, window_indices, window_starts
from devias_tk.errors import DeviasError


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

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.entries)

    def _open_stores(self) -> tuple[VideoStore | None, VideoStore | None]:
        if self._stores is None or self._stores[0] != os.getpid():
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

    def __getitem__(self, key: int | tuple[int, ...]) -> dict:
        # (epoch, index), or (epoch, index, salt) for a sample standing in for a failed one (devias_tk.data.guarded)
        epoch, index, *salt = key if isinstance(key, tuple) else (self.epoch, key)
        spec = self.spec
        entry = self.entries[index]
        rng = np.random.default_rng([self.seed, epoch, index, *salt])
        source = self._source(entry)
        k = int(rng.integers(len(source.starts)))
        frames = source.frames(k)
        height, width = frames.shape[1:3]
        # A child generator: the crop and flip below draw the same with RandAugment on or off.
        ops = randaugment.draw(self.augment, rng.spawn(1)[0]) if self.augment is not None else ()
        frames = randaugment.apply_to_frames(frames, ops)
        box = transforms.random_resized_box(height, width, rng, scale=spec.scale)
        flip = spec.flip and bool(rng.random() < 0.5)
        clip = transforms.color_jitter(transforms.crop_resize(frames, box, spec.size), spec.color_jitter, rng)
        if flip:
            clip = transforms.hflip(clip)
        crop_box = normalised_box(box, height, width)
        item = {"clip": torch.from_numpy(transforms.to_normalized_tensor_layout(clip)), "action": entry.action,
                "index": index, "window": k, "crop_box": torch.tensor(crop_box, dtype=torch.float32)}
        if source.has_masks:
            soft, tubelet = source.masks(k)
            soft = randaugment.warp_masks(soft, ops, (height, width))
            tubelet = randaugment.warp_masks(tubelet, ops, (height, width))
            soft = transforms.crop_resize(soft[None], _scaled_box(box, soft.shape[0] / height, soft.shape[1] / width),
                                          spec.size)[0]
            tub_box = _scaled_box(box, tubelet.shape[1] / height, tubelet.shape[2] / width)
            tubelet = transforms.crop_resize(tubelet, tub_box, spec.guide_shape or spec.size)
            if flip:
                soft, tubelet = soft[:, ::-1], tubelet[:, :, ::-1]
            item["soft_mask"] = torch.from_numpy(np.ascontiguousarray(soft))
            item["tubelet_mask"] = torch.from_numpy(np.ascontiguousarray(tubelet))
        if spec.scene_source == "store":
            if not source.has_scenes:
                raise DeviasError("scene_source is 'store' but no scene store was given")
            item["scene"] = torch.from_numpy(source.crop_probs(k, self._best_crop(crop_box)).astype(np.float32))
        else:
            item["scene"] = entry.scene
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
        group = self.masks_store.group(self.key)
        return group["soft"][k], group["tubelet"][k]

    def crop_probs(self, k: int, crop: int) -> np.ndarray:
        return self.scenes_store.group(self.key)["crop_probs"][k, crop]

    def load_all(self) -> dict[str, np.ndarray]:
        """Every window's frames (each distinct frame decoded once) and store rows, for the memo."""
        indices = window_indices(len(self.video), self.starts, self.grid)
        unique, positions = np.unique(indices, return_inverse=True)
        out = {"starts": np.asarray(self.starts), "frames": self.video.frames(unique),
               "positions": positions.reshape(indices.shape)}
        if self.masks_store is not None:
            group = self.masks_store.group(self.key)
            out["soft"], out["tubelet"] = group["soft"][:], group["tubelet"][:]
        if self.scenes_store is not None:
            out["crop_probs"] = self.scenes_store.group(self.key)["crop_probs"][:]
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

    def crop_probs(self, k: int, crop: int) -> np.ndarray:
        return self.arrays["crop_probs"][k, crop]


class EpochSampler(Sampler[tuple[int, int]]):
    """A seeded permutation per epoch, split across ranks, whole batches only, resumable mid-epoch.

    Yields (epoch, index) pairs. Every rank gets the same number of full batches; `skip_batches`
    drops the batches a resumed run has already trained on.
    """

    def __init__(self, size: int, batch_size: int, seed: int, rank: int = 0, world: int = 1) -> None:
        self.size, self.batch_size, self.seed, self.rank, self.world = size, batch_size, seed, rank, world
        self.epoch, self.skip = 0, 0
        if self.batches_per_epoch == 0:
            raise DeviasError(f"{size} training videos are fewer than one batch of {batch_size} x {world} processes")

    @property
    def batches_per_epoch(self) -> int:
        return self.size // (self.batch_size * self.world)

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        self.epoch, self.skip = epoch, skip_batches

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.size, generator=generator).tolist()
        mine = order[self.rank :: self.world][: self.batches_per_epoch * self.batch_size]
        return iter([(self.epoch, i) for i in mine[self.skip * self.batch_size :]])

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.skip) * self.batch_size
