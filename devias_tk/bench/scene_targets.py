"""`bench scene-targets`: how often a cached scene target names the class the scene model gives the very
crop training feeds it, per crop scale, for the eval view (the store's `probs`) and for crop grids.

Samples are real training items (`TrainClips`: a window, a random-resized crop of area in `scale`, a
flip); for each, the "online" target is the scene model on the training clip itself
(`SceneModel.training_clip_probs`, what `data.scene_source=online` uses). The cached targets are
computed here the way `scenes label` caches them (`eval_view`, `crop_views`, frame-average or clip
forward) on the same window's frames: "centre" is the eval view (a format-1 store's only target), a
grid's target is its crop with the highest IoU with the training crop. Agreement = same argmax.

With a mask store, the same samples are also scene-mixed in batches (eq. 8, every sample mixed with
another's background, the hard mask of `beta`): the cached target of a mixed clip is its background
donor's, the online one the model on the mixed clip; the scale bin is the donor's crop area.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from devias_tk.data.crop_grid import best_crops, square_grid
from devias_tk.data.lists import read_list, resolve
from devias_tk.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from devias_tk.data.video import Video
from devias_tk.data.windows import ClipGrid, window_indices, window_starts
from devias_tk.models.scene_model import CLIP_MODEL, SceneModel, clip_model_probs, image_probs
from devias_tk.scenes.preprocess import crop_views, eval_view
from devias_tk.train import augment
from devias_tk.train.data import TrainClips, TrainDataSpec

BINS = ((0.08, 0.2), (0.2, 0.4), (0.4, 0.7), (0.7, 1.0))
CENTRE = "centre"


@dataclass
class TargetAgreement:
    samples: int
    bins: list[tuple[float, float]]
    targets: list[str]  # "centre", then the grids' names
    grids: dict[str, list[list[float]]]
    plain: dict[str, list[list[int]]] = field(default_factory=dict)  # target -> per bin [agreeing, samples]
    mixed: dict[str, list[list[int]]] = field(default_factory=dict)
    seconds: float = 0.0

    def percent(self, which: str, target: str) -> list[float]:
        """Agreement in percent per bin, then over all bins (nan where a bin is empty)."""
        rows = getattr(self, which)[target]
        hits, counts = [r[0] for r in rows], [r[1] for r in rows]
        return [100.0 * h / c if c else float("nan") for h, c in [*zip(hits, counts, strict=True),
                                                                  (sum(hits), sum(counts))]]


def view_probs(model: SceneModel, views: np.ndarray, device: torch.device, batch: int = 256) -> np.ndarray:
    """Cached-style distributions (N, K) of N views, each uint8 (T, S, S, 3): frame-averaged image
    forwards, or one clip forward each for a clip model."""
    n, t = views.shape[:2]
    if model.inflation == CLIP_MODEL:
        step = max(1, batch // t)
        parts = [clip_model_probs(model.module, torch.from_numpy(views[i:i + step]).to(device), model.mean,
                                  model.std) for i in range(0, n, step)]
        return torch.cat(parts).cpu().numpy()
    flat = views.reshape(n * t, *views.shape[2:])
    parts = [image_probs(model.module, torch.from_numpy(flat[i:i + batch]).to(device), model.mean, model.std)
             for i in range(0, len(flat), batch)]
    return torch.cat(parts).cpu().numpy().reshape(n, t, -1).mean(axis=1)


def _bin_of(area: np.ndarray, bins: Sequence[tuple[float, float]]) -> np.ndarray:
    edges = np.array([b[0] for b in bins[1:]])
    return np.searchsorted(edges, area, side="right")


def bench_scene_targets(
    root: str | Path, list_path: str | Path, model: SceneModel, grids: Mapping[str, str], grid: ClipGrid,
    size: int, scale: tuple[float, float] = (0.08, 1.0), samples: int = 2000, mask_store: str | Path | None = None,
    beta: float = 0.3, batch: int = 16, seed: int = 0, device: str | torch.device = "cpu",
    progress: Callable[[int], None] = lambda _n: None,
) -> TargetAgreement:
    """Agreement of cached targets with the online one on `samples` training crops (see the module docstring)."""
    dev = torch.device(device)
    model.module.to(dev).eval()
    entries = read_list(list_path)
    boxes = {name: np.asarray(square_grid(spec)) for name, spec in grids.items()}
    union = sorted({tuple(b) for g in boxes.values() for b in g.tolist()})
    column = {b: i for i, b in enumerate(union)}
    index_in_union = {name: np.array([column[tuple(b)] for b in g.tolist()]) for name, g in boxes.items()}
    spec = TrainDataSpec(grid=grid, size=size, scale=scale, flip=True, guide_shape=(8, 8), scene_source="list")
    data = TrainClips(root, entries, spec, mask_store=mask_store, seed=seed)
    targets = [CENTRE, *grids]
    result = TargetAgreement(samples, list(BINS), targets, {k: v.tolist() for k, v in boxes.items()})
    for which in ("plain", "mixed"):
        getattr(result, which).update({t: [[0, 0] for _ in BINS] for t in targets})
    generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    for lo in range(0, samples, batch):
        keys = [(s // len(entries), s % len(entries)) for s in range(lo, min(samples, lo + batch))]
        items = [data[key] for key in keys]
        cached = []  # per sample: (1 + len(grids), K) targets: centre, then each grid's best crop
        for (_, index), item in zip(keys, items, strict=True):
            entry = entries[index]
            video = Video(resolve(root, entry))
            starts, _ = window_starts(len(video), grid)
            frames = video.frames(window_indices(len(video), [starts[item["window"]]], grid)[0])
            views = np.concatenate([eval_view(frames, model.input_size, model.resize_size)[None],
                                    crop_views(frames, union, model.input_size)])
            probs = view_probs(model, views, dev)
            box = item["crop_box"].numpy()[None]
            cached.append(np.stack([probs[0], *(probs[1 + index_in_union[g][best_crops(box, boxes[g])[0]]]
                                                for g in grids)]))
        cached_t = torch.from_numpy(np.stack(cached))  # (B, 1 + G, K)
        clips = torch.stack([item["clip"] for item in items]).to(dev)
        area = np.array([float((b[2] - b[0]) * (b[3] - b[1])) for b in (item["crop_box"] for item in items)])
        online = model.training_clip_probs(clips, IMAGENET_MEAN, IMAGENET_STD).cpu()
        _tally(result.plain, targets, cached_t, online, _bin_of(area, BINS))
        if mask_store is not None and len(items) > 1:
            soft = torch.stack([item["soft_mask"] for item in items]).float().to(dev)
            mixed = augment.scene_mix(clips, augment.top_beta_mask(soft, beta), cached_t.to(dev), 1.0, generator)
            online_mixed = model.training_clip_probs(mixed.clips, IMAGENET_MEAN, IMAGENET_STD).cpu()
            donor_area = area[mixed.perm.cpu().numpy()]
            _tally(result.mixed, targets, mixed.scene.cpu(), online_mixed, _bin_of(donor_area, BINS))
        progress(len(items))
    result.seconds = time.perf_counter() - started
    return result


def _tally(table: dict[str, list[list[int]]], targets: Sequence[str], cached: torch.Tensor, online: torch.Tensor,
           bins: np.ndarray) -> None:
    agree = (cached.argmax(-1) == online.argmax(-1)[:, None]).numpy()  # (B, 1 + G)
    for j, name in enumerate(targets):
        for b, ok in zip(bins, agree[:, j], strict=True):
            table[name][b][0] += int(ok)
            table[name][b][1] += 1
