"""Torch datasets of video clips read from a list.

Training items are one randomly placed, randomly cropped and flipped clip: ``clip`` is float32
(C, T, H, W). Test items are ``num_clips x num_crops`` views: ``clip`` is (V, C, T, H, W), views
ordered temporal-major (clip 0 crop 0, clip 0 crop 1, ...). Every item's ``warning`` is '' or the
note of a partly decodable video (`VideoInfo.read_note`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from devias_tk.data import sampling, transforms
from devias_tk.data.lists import VideoEntry, resolve
from devias_tk.data.video import Video


@dataclass(frozen=True)
class ClipSpec:
    """How clips are cut and shaped."""

    clip_len: int = 16
    stride: int = 4
    size: int = 224
    short: sampling.ShortPolicy = "loop"
    # training only
    scale: tuple[float, float] = (0.08, 1.0)
    flip: bool = True
    # test only: short side is resized to `size`, then views are taken
    num_clips: int = 2
    num_crops: int = 3


class ClipDataset(Dataset):
    """Clips of the videos in `entries` (paths resolved against `root`)."""

    def __init__(
        self, root: str | os.PathLike, entries: Sequence[VideoEntry], spec: ClipSpec, train: bool
    ) -> None:
        self.root = root
        self.entries = list(entries)
        self.spec = spec
        self.train = train

    def __len__(self) -> int:
        return len(self.entries)

    def _train_clip(self, video: Video, rng: np.random.Generator) -> np.ndarray:
        s = self.spec
        start = sampling.random_start(len(video), s.clip_len, s.stride, rng)
        frames = video.frames(sampling.clip_indices(len(video), s.clip_len, s.stride, start, s.short))
        box = transforms.random_resized_box(frames.shape[1], frames.shape[2], rng, scale=s.scale)
        frames = transforms.crop_resize(frames, box, s.size)
        if s.flip and rng.random() < 0.5:
            frames = transforms.hflip(frames)
        return transforms.to_normalized_tensor_layout(frames)

    def _test_views(self, video: Video) -> np.ndarray:
        s = self.spec
        starts = sampling.spread_starts(len(video), s.clip_len, s.stride, s.num_clips)
        per_clip = [sampling.clip_indices(len(video), s.clip_len, s.stride, st, s.short) for st in starts]
        # One decode for all temporal views.
        frames = video.frames(np.concatenate(per_clip))
        frames = transforms.resize_short_side(frames, s.size)
        boxes = transforms.spatial_boxes(frames.shape[1], frames.shape[2], s.size, s.num_crops)
        views = []
        for k in range(len(starts)):
            clip = frames[k * s.clip_len : (k + 1) * s.clip_len]
            for box in boxes:
                views.append(transforms.to_normalized_tensor_layout(transforms.crop_resize(clip, box, s.size)))
        return np.stack(views)

    def __getitem__(self, index: int) -> dict:
        entry = self.entries[index]
        video = Video(resolve(self.root, entry))
        s = self.spec
        # a partly decodable video is still used; the item says so for the stage to record
        warning = video.info.read_note(len(video) < sampling.clip_span(s.clip_len, s.stride))
        if self.train:
            # Seeded from torch's generator so DataLoader workers differ and runs are reproducible
            # under torch.manual_seed.
            rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))
            clip = self._train_clip(video, rng)
        else:
            clip = self._test_views(video)
        return {
            "clip": torch.from_numpy(clip),
            "action": entry.action,
            "scene": entry.scene,
            "index": index,
            "path": entry.path,
            "warning": warning,
        }
