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
                 mask_store: str | Path | None = None, scene_store: str | Path | None = None, seed: int = 0) -> None:
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

    def __getitem__(self, key: int | tuple[int, ...]) -> dict:
        # (epoch, index), or (epoch, index, salt) for a sample standing in for a failed one (devias_tk.data.guarded)
        epoch, index, *salt = key if isinstance(key, tuple) else (self.epoch, key)
        spec = self.spec
        entry = self.entries[index]
        rng = np.random.default_rng([self.seed, epoch, index, *salt])
        masks, scenes = self._open_stores()
        video = Video(resolve(self.root, entry))
        cached = masks or (scenes if spec.scene_source == "store" else None)
        if cached is not None:
            attrs = cached.video_attrs(entry.path)
            if attrs["num_frames"] != len(video):
                raise DeviasError(f"{entry.path}: the store saw {attrs['num_frames']} frames, the decoder "
                                  f"{len(video)}; rebuild the store for these files")
            starts = attrs["starts"]
        else:
            starts, _ = window_starts(len(video), spec.grid)
        k = int(rng.integers(len(starts)))
        frames = video.frames(window_indices(len(video), [starts[k]], spec.grid)[0])
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
        if masks is not None:
            group = masks.group(entry.path)
            soft = group["soft"][k]
            tubelet = group["tubelet"][k]
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
            if scenes is None:
                raise DeviasError("scene_source is 'store' but no scene store was given")
            item["scene"] = self._scene_target(scenes, entry.path, k, crop_box)
        else:
            item["scene"] = entry.scene
        return item


    def _scene_target(self, scenes: VideoStore, path: str, k: int, crop_box: NormBox) -> torch.Tensor:
        """Window k's cached distribution on the grid crop that best covers `crop_box`, float32 (S,)."""
        if self._crop_grid is None:
            if not scenes.attrs.get("crop_grid"):
                raise DeviasError(f"{self.scene_path}: a scene store without crop targets (format version "
                                  f"{scenes.attrs.get('format_version')}, or --crops none); re-run "
                                  "`devias-tk scenes label` with a crop grid")
            self._crop_grid = np.asarray(scenes.attrs["crop_grid"], np.float64)
        c = best_crop(crop_box, self._crop_grid)
        return torch.from_numpy(scenes.group(path)["crop_probs"][k, c].astype(np.float32))


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
