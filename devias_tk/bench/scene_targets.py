"""`bench scene-targets`: how often a cached scene target names the class the scene model gives the very
crop training feeds it, per crop scale, for the eval view (a format-1 store's only target) and for crop grids.

Samples are real training items (`TrainClips`: a window, a random-resized crop of area in `scale`, a
flip); for each, the "online" target is the scene model on the training clip itself
(`SceneModel.training_clip_probs`, what `data.scene_source=online` uses). The cached targets come from
a scene store labelled by the same model: "centre" is the window's eval-view distribution (`probs`),
a grid's target the window's distribution on the grid crop with the highest IoU with the training
crop (`crop_probs`; a grid is scored on any subset of the store's crop grid, so one store labelled with
the largest grid scores the smaller ones). Agreement = the same argmax; beside it the mean total
variation distance between the two distributions (half the L1 distance; 0 = equal, 1 = disjoint), which
also sees how close a soft (KL) target is.

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

from devias_tk.cache.kinds import SCENE_LABELS
from devias_tk.cache.store import VideoStore
from devias_tk.data.crop_grid import best_crops, iou, normalised_box, square_grid
from devias_tk.data.lists import read_list, resolve
from devias_tk.data.transforms import IMAGENET_MEAN, IMAGENET_STD, random_resized_box
from devias_tk.data.video import Video
from devias_tk.data.windows import ClipGrid
from devias_tk.errors import DeviasError
from devias_tk.models.scene_model import SceneModel
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
    # target -> per bin [agreeing, samples, summed total variation distance]
    plain: dict[str, list[list[float]]] = field(default_factory=dict)
    mixed: dict[str, list[list[float]]] = field(default_factory=dict)
    coverage: dict[str, list[float]] = field(default_factory=dict)  # `grid_coverage` on the first video's frame
    seconds: float = 0.0

    def percent(self, which: str, target: str) -> list[float]:
        """Agreement in percent per bin, then over all bins (nan where a bin is empty)."""
        rows = getattr(self, which)[target]
        hits, counts = [r[0] for r in rows], [r[1] for r in rows]
        return [100.0 * h / c if c else float("nan") for h, c in [*zip(hits, counts, strict=True),
                                                                  (sum(hits), sum(counts))]]

    def mean_tv(self, which: str, target: str) -> list[float]:
        """Mean total variation distance per bin, then over all bins (nan where a bin is empty)."""
        rows = getattr(self, which)[target]
        sums, counts = [r[2] for r in rows], [r[1] for r in rows]
        return [s / c if c else float("nan") for s, c in [*zip(sums, counts, strict=True), (sum(sums), sum(counts))]]


def grid_coverage(grids: Mapping[str, np.ndarray], height: int, width: int, scale: tuple[float, float],
                  samples: int = 20000, seed: int = 0) -> dict[str, list[float]]:
    """Mean IoU of the best-covering crop of each grid (name -> boxes (G, 4)) with random-resized crops of
    a (height, width) frame, per area bin of `BINS`, then overall: the geometry behind the grid choice."""
    rng = np.random.default_rng(seed)
    boxes = np.array([normalised_box(random_resized_box(height, width, rng, scale=scale), height, width)
                      for _ in range(samples)])
    bins = _bin_of((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), BINS)
    out = {}
    for name, grid in grids.items():
        best = iou(boxes, grid).max(axis=1)
        out[name] = [float(best[bins == b].mean()) if (bins == b).any() else float("nan")
                     for b in range(len(BINS))] + [float(best.mean())]
    return out


def eval_view_box(height: int, width: int, input_size: int, resize_size: int) -> np.ndarray:
    """The scene model's eval view (short side to resize_size, centre crop input_size) as a normalised box (1, 4)."""
    side = input_size / resize_size * min(height, width)  # in pixels of the frame
    h, w = side / height, side / width
    return np.array([[(1 - h) / 2, (1 - w) / 2, (1 + h) / 2, (1 + w) / 2]])


def _bin_of(area: np.ndarray, bins: Sequence[tuple[float, float]]) -> np.ndarray:
    return np.searchsorted(np.array([b[0] for b in bins[1:]]), area, side="right")


def grid_columns(store_grid: np.ndarray, spec: str) -> np.ndarray:
    """Indices into the store's crop grid of the crops of `spec`; a crop the store lacks is an error."""
    columns = []
    for box in square_grid(spec):
        hits = np.flatnonzero(np.abs(store_grid - np.asarray(box)).max(axis=1) < 1e-6)
        if not len(hits):
            raise DeviasError(f"crop grid {spec!r}: crop {list(box)} is not in the scene store's grid; label a "
                              "store whose --crops contain it")
        columns.append(int(hits[0]))
    return np.array(columns)


def _open_store(path: str | Path, model: SceneModel, grid: ClipGrid) -> VideoStore:
    store = VideoStore(path)
    attrs = store.attrs
    if (attrs.get("kind"), attrs.get("format_version")) != (SCENE_LABELS.name, SCENE_LABELS.version):
        raise DeviasError(f"{path}: not a format-{SCENE_LABELS.version} scene-label store; "
                          "label it with `scenes label`")
    if attrs["model"].get("sha256") != model.sha256:
        raise DeviasError(f"{path}: labelled by {attrs['model'].get('checkpoint')}, not by {model.checkpoint}")
    if [attrs.get(k) for k in ("window", "stride", "hop")] != [grid.window, grid.stride, grid.hop]:
        raise DeviasError(f"{path}: built with window/stride/hop {attrs.get('window')}/{attrs.get('stride')}/"
                          f"{attrs.get('hop')}, not {grid.window}/{grid.stride}/{grid.hop}")
    return store


def bench_scene_targets(
    root: str | Path, list_path: str | Path, model: SceneModel, scene_store: str | Path, grid: ClipGrid, size: int,
    grids: Mapping[str, str] | None = None, scale: tuple[float, float] = (0.08, 1.0), samples: int = 2000,
    mask_store: str | Path | None = None, beta: float = 0.3, batch: int = 16, seed: int = 0,
    device: str | torch.device = "cpu", progress: Callable[[int], None] = lambda _n: None,
) -> TargetAgreement:
    """Agreement of cached targets with the online one on `samples` training crops (see the module docstring).

    `grids`: name -> `side:n` spec, each a subset of the store's crop grid (default: the store's whole grid
    as "store").
    """
    dev = torch.device(device)
    model.module.to(dev).eval()
    entries = read_list(list_path)
    store = _open_store(scene_store, model, grid)
    store_grid = np.asarray(store.attrs["crop_grid"], np.float64)
    columns = ({name: grid_columns(store_grid, spec) for name, spec in grids.items()} if grids
               else {"store": np.arange(len(store_grid))})
    spec = TrainDataSpec(grid=grid, size=size, scale=scale, flip=True, guide_shape=(8, 8), scene_source="list")
    data = TrainClips(root, entries, spec, mask_store=mask_store, seed=seed)
    targets = [CENTRE, *columns]
    result = TargetAgreement(samples, list(BINS), targets, {k: store_grid[v].tolist() for k, v in columns.items()})
    for which in ("plain", "mixed"):
        getattr(result, which).update({t: [[0, 0, 0.0] for _ in BINS] for t in targets})
    info = Video(resolve(root, entries[0])).info
    height, width = info.height, info.width
    result.coverage = grid_coverage({CENTRE: eval_view_box(height, width, model.input_size, model.resize_size),
                                     **{k: store_grid[v] for k, v in columns.items()}}, height, width, scale, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    for lo in range(0, samples, batch):
        keys = [(s // len(entries), s % len(entries)) for s in range(lo, min(samples, lo + batch))]
        items = [data[key] for key in keys]
        cached = []  # per sample (1 + grids, S): the eval view, then each grid's best-covering crop
        for (_, index), item in zip(keys, items, strict=True):
            group = store.group(entries[index].path)
            k, box = item["window"], item["crop_box"].numpy()[None].astype(np.float64)
            crop_probs = group["crop_probs"][k].astype(np.float32)
            cached.append(np.stack([group["probs"][k].astype(np.float32),
                                    *(crop_probs[cols[best_crops(box, store_grid[cols])[0]]]
                                      for cols in columns.values())]))
        cached_t = torch.from_numpy(np.stack(cached))
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


def _tally(table: dict[str, list[list[float]]], targets: Sequence[str], cached: torch.Tensor, online: torch.Tensor,
           bins: np.ndarray) -> None:
    agree = (cached.argmax(-1) == online.argmax(-1)[:, None]).numpy()  # (B, 1 + G)
    tv = (0.5 * (cached.float() - online[:, None].float()).abs().sum(-1)).numpy()
    for j, name in enumerate(targets):
        for b, ok, d in zip(bins, agree[:, j], tv[:, j], strict=True):
            table[name][b][0] += int(ok)
            table[name][b][1] += 1
            table[name][b][2] += float(d)
