"""Pre-training data: a multi-scale-cropped, optionally flipped clip and its tube mask, and the check
that every listed video opens before any work.

Items are decoded with the training loader's pieces (`Video`, the shared window grid, `transforms`);
no store is needed. Randomness (window, crop, flip, mask) is a function of (seed, epoch, index), and
`EpochSampler` (devias_tk.engine.sampler) hands out (epoch, index) pairs, so a resumed run sees the very
same samples and masks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from devias_tk.data import transforms
from devias_tk.data.check import probe
from devias_tk.data.lists import VideoEntry, resolve
from devias_tk.data.video import Video
from devias_tk.data.windows import ClipGrid, window_indices, window_starts
from devias_tk.pretrain.mae import tube_mask
from devias_tk.utils.workers import single_threaded_cv2, supervised_map


@dataclass(frozen=True)
class PretrainDataSpec:
    grid: ClipGrid
    size: int
    token_grid: tuple[int, int, int]  # (t', h', w') of the encoder for a size x size clip
    mask_ratio: float
    scales: tuple[float, ...] = (1.0, 0.875, 0.75, 0.66)
    max_distort: int = 1
    flip: bool = True


def decode_window(video: Video, grid: ClipGrid, rng: np.random.Generator | None) -> np.ndarray:
    """Frames (T, H, W, 3) of one window of the shared grid: a random one, or the middle one (rng None)."""
    starts, _ = window_starts(len(video), grid)
    k = len(starts) // 2 if rng is None else int(rng.integers(len(starts)))
    return video.frames(window_indices(len(video), [starts[k]], grid)[0])


class PretrainClips(Dataset):
    """Items: clip (C, T, S, S) float32 normalised, mask (N,) bool (True = masked), index."""

    def __init__(self, root: str | Path, entries: list[VideoEntry], spec: PretrainDataSpec, seed: int = 0) -> None:
        self.root, self.entries, self.spec, self.seed = Path(root), entries, spec, seed

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, key: int | tuple[int, ...]) -> dict:
        epoch, index, *salt = key if isinstance(key, tuple) else (0, key)  # salt: a stand-in sample's own draw
        spec = self.spec
        rng = np.random.default_rng([self.seed, epoch, index, *salt])
        frames = decode_window(Video(resolve(self.root, self.entries[index])), spec.grid, rng)
        box = transforms.multi_scale_box(frames.shape[1], frames.shape[2], spec.size, rng, spec.scales,
                                         spec.max_distort)
        clip = transforms.crop_resize(frames, box, spec.size)
        if spec.flip and rng.random() < 0.5:
            clip = transforms.hflip(clip)
        return {"clip": torch.from_numpy(transforms.to_normalized_tensor_layout(clip)),
                "mask": torch.from_numpy(tube_mask(spec.token_grid, spec.mask_ratio, rng)), "index": index}


def unreadable_videos(root: str | Path, entries: list[VideoEntry], jobs: int, timeout: float = 120.0,
                      advance: Callable[[], None] = lambda: None) -> dict[str, str]:
    """Listed path -> reason for every video that does not open (in supervised worker processes, so a
    decoder that hangs or crashes on a broken file is a recorded failure, as in `data check`)."""
    paths = list(dict.fromkeys(e.path for e in entries))
    tasks = [(str(resolve(root, VideoEntry(p))), False) for p in paths]
    failed = {}
    for result in supervised_map(probe, tasks, jobs, timeout, single_threaded_cv2) if tasks else ():
        advance()
        _count, kind, reason = result.value if result.ok else (None, "unreadable", result.error)
        if kind is not None:
            failed[paths[result.index]] = reason
    return failed


def fixed_clips(root: str | Path, entries: list[VideoEntry], spec: PretrainDataSpec, count: int,
                seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` clips spread over the list, each its middle window, short side resized to the crop size
    and centre-cropped, with a tube mask fixed by `seed`: (clips (K, C, T, S, S) normalised, masks (K, N)).
    The same clips and masks at every epoch, so reconstruction figures compare."""
    picks = np.linspace(0, len(entries) - 1, min(count, len(entries))).round().astype(int)
    clips, masks = [], []
    for i in picks:
        frames = transforms.resize_short_side(decode_window(Video(resolve(root, entries[i])), spec.grid, None),
                                              spec.size)
        box = transforms.center_box(frames.shape[1], frames.shape[2], spec.size)
        clips.append(transforms.to_normalized_tensor_layout(transforms.crop_resize(frames, box, spec.size)))
        masks.append(tube_mask(spec.token_grid, spec.mask_ratio, np.random.default_rng([seed, int(i)])))
    return torch.from_numpy(np.stack(clips)), torch.from_numpy(np.stack(masks))
