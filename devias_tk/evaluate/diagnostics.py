"""Where a run looks: the role slots' attention and the action mask decoder (AMD) against ground-truth
actor masks, for the `eval` report of a benchmark that has them (`<root>/gt_masks/<video>.npz`).

Every video is seen through its centre view only: the centre temporal clip (the eval's clip length and
stride, short videos repeating their last frame) and the centre square crop after resizing the short
side to the crop size, i.e. `ClipDataset` with 1 x 1 views. The video's ground-truth mask (bool
(T, H, W)) goes through the same geometry: the clip's frames, each resized to the same short side with
area interpolation (a resized pixel holds the fraction of its area that is actor), then the centre
crop. From this per-pixel actor fraction (T, S, S):

- token actor fraction f (N = t'*h'*w', the backbone's token order): the mean over a token's tubelet
  frames and patch pixels, i.e. the fraction of the token's pixels that is actor (a token half on the
  actor counts 0.5);
- patch actor fraction g (h'*w', raster): the same averaged over ALL the clip's frames, the AMD's
  target (the temporally averaged mask pooled to the patch grid).

Per video, with a role's attention map a (N,) (DEVIAS: the last slot-attention iteration's map of the
slot inference assigns the role; token baselines: the last block's attention of the role's token over
the patch tokens, mean over heads):

- share on the actor = sum_n a_n f_n / sum_n a_n: the share of the role's attention mass on the actor;
- actor share = mean_n f_n: the same share for a uniform map (the chance level of the two above);
- AMD IoU: P = sigmoid of the AMD's logits from the action slot (h'*w'); k = max(1, #{g >= 0.5});
  truth T = the k patches of largest g (exactly {g >= 0.5} when that set is not empty), prediction =
  the k patches of largest P (ties to the earlier patch); IoU = |P_k & T| / |P_k | T|. The chance
  level is the expected IoU of k patches drawn at random (hypergeometric overlap).

A video without an actor in its centre clip (no mask file, an empty mask, or an actor outside the crop)
is left out and counted. A split's values are the means over its videos (each video weighs the same).
"""

from __future__ import annotations

import hashlib
import math
from contextlib import closing
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from devias_tk.data import sampling, transforms
from devias_tk.data.dataset import ClipSpec
from devias_tk.data.guarded import DEFAULT_TIMEOUT, GuardedItems, GuardedLoader
from devias_tk.data.lists import VideoEntry, resolve
from devias_tk.data.video import Video
from devias_tk.models.baselines import TokenClassifier
from devias_tk.models.devias import DEVIAS, select_slot

VERSION = 1  # of the rules above: part of the cache key
VIEW = "centre view (one clip, one crop) per video"
GT_DIR = "gt_masks"
TRUE_PATCH = 0.5  # a patch at least this much actor (over the clip) is a true AMD patch

# ---------------------------------------------------------------------------------------------------------
# Pure functions over arrays


def centre_indices(num_frames: int, spec: ClipSpec) -> np.ndarray:
    """Frame indices of the centre test clip, as `ClipDataset` takes them for one temporal view."""
    start = sampling.spread_starts(num_frames, spec.clip_len, spec.stride, 1)[0]
    return sampling.clip_indices(num_frames, spec.clip_len, spec.stride, start, spec.short)


def actor_fraction(gt: np.ndarray, size: int) -> np.ndarray:
    """Ground-truth masks (T, H, W) of a clip's frames -> per-pixel actor fraction (T, size, size) float32:
    each frame area-resized so its short side is `size` (the test views' resize), then centre-cropped."""
    height, width = transforms.short_side_size(gt.shape[1], gt.shape[2], size)
    frames = np.stack([cv2.resize(m.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
                       for m in gt])
    box = transforms.center_box(height, width, size)
    return np.clip(transforms.crop(frames, box), 0.0, 1.0)


def token_fractions(actor: np.ndarray, tubelet: int, patch: int) -> np.ndarray:
    """Per-pixel actor fraction (T, H, W) -> fraction of each token's pixels that is actor, (t'*h'*w',) in
    the backbone's token order (tubelet-major, then raster)."""
    t, h, w = actor.shape
    if t % tubelet or h % patch or w % patch:
        raise ValueError(f"clip {t}x{h}x{w} does not tile into tubelets of {tubelet} and patches of {patch}")
    grid = actor.reshape(t // tubelet, tubelet, h // patch, patch, w // patch, patch)
    return grid.mean(axis=(1, 3, 5), dtype=np.float64).reshape(-1).astype(np.float32)


def patch_fractions(actor: np.ndarray, patch: int) -> np.ndarray:
    """Per-pixel actor fraction (T, H, W) -> the temporally averaged mask pooled to the patch grid, (h'*w',)
    raster: the AMD's target."""
    _, h, w = actor.shape
    if h % patch or w % patch:
        raise ValueError(f"frame {h}x{w} does not tile into patches of {patch}")
    mean = actor.mean(axis=0, dtype=np.float64)
    return mean.reshape(h // patch, patch, w // patch, patch).mean(axis=(1, 3)).reshape(-1).astype(np.float32)


def attention_share(attn: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    """Share of an attention map's mass on the actor: attn (..., N) >= 0, token actor fractions (N,) ->
    sum_n a_n f_n / sum_n a_n per map (NaN for a map without mass)."""
    a = np.asarray(attn, np.float64)
    total = a.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a @ np.asarray(fraction, np.float64)) / total


def top_k(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values, ties to the earlier index (a stable descending sort)."""
    return np.argsort(-np.asarray(values, np.float64), kind="stable")[:k]


def true_patches(truth: np.ndarray, threshold: float = TRUE_PATCH) -> int:
    """k of the AMD IoU: the number of patches at least `threshold` actor, at least 1."""
    return max(1, int((np.asarray(truth) >= threshold).sum()))


def topk_iou(pred: np.ndarray, truth: np.ndarray, threshold: float = TRUE_PATCH) -> float:
    """IoU of the k patches of largest predicted probability with the k of largest true actor fraction,
    k = `true_patches(truth)`; both (P,)."""
    k = true_patches(truth, threshold)
    inter = len(np.intersect1d(top_k(pred, k), top_k(truth, k)))
    return inter / (2 * k - inter)


def chance_iou(k: int, n: int) -> float:
    """Expected IoU of k patches drawn at random among n with a fixed set of k (hypergeometric overlap)."""
    total = math.comb(n, k)
    return sum(math.comb(k, i) * math.comb(n - k, k - i) / total * i / (2 * k - i) for i in range(1, k + 1))


def video_record(attn: np.ndarray, action_slot: int, scene_slot: int, tokens: np.ndarray,
                 mask_prob: np.ndarray | None, patches: np.ndarray) -> dict[str, float]:
    """One video's diagnostics: attn (K, N) the role slots' (or tokens') maps, tokens (N,) and patches (P,)
    the actor fractions, mask_prob (P,) the AMD's probabilities from the action slot (None: no AMD)."""
    share = attention_share(attn, tokens)
    record = {"action_slot_on_actor": float(share[action_slot]), "scene_slot_on_actor": float(share[scene_slot]),
              "actor_share": float(np.mean(tokens, dtype=np.float64)), "same_slot": float(action_slot == scene_slot)}
    if mask_prob is not None:
        record["amd_iou"] = topk_iou(mask_prob, patches)
        record["amd_iou_chance"] = chance_iou(true_patches(patches), len(patches))
    return record


KEYS = ("action_slot_on_actor", "scene_slot_on_actor", "actor_share", "same_slot", "amd_iou", "amd_iou_chance")


def summarise(records: list[dict[str, float]], without_actor: int, failed: int) -> dict[str, Any]:
    """A split's diagnostics: the mean of each value over its videos (None where no video has it), the
    number of videos averaged, and those left out (no actor in the centre clip; unreadable)."""
    out: dict[str, Any] = {"videos": len(records), "without_actor": without_actor, "failed": failed}
    for key in KEYS:
        values = [r[key] for r in records if key in r and not math.isnan(r[key])]
        out[key] = round(float(np.mean(values)), 4) if values else None
    return out


def markdown(diagnostics: dict[str, dict[str, Any]]) -> str:
    """The per-split diagnostics as a Markdown table (shares and IoUs in [0, 1]; '-' = not available)."""
    def cell(v: Any) -> str:
        return "-" if v is None else f"{v:.3f}"

    header = ["split", "videos", "action slot on actor", "scene slot on actor", "actor share (uniform)",
              "same slot", "AMD IoU", "AMD IoU chance"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, d in diagnostics.items():
        lines.append("| " + " | ".join([name, str(d["videos"]), *(cell(d[k]) for k in KEYS)]) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------
# The model side: one forward pass, the role maps


def has_role_maps(model: nn.Module) -> bool:
    """Whether `role_maps` can read the model: DEVIAS (slots, or tokens without DE) and the token baselines."""
    return isinstance(model, DEVIAS | TokenClassifier)


@torch.no_grad()
def role_maps(model: nn.Module, clips: torch.Tensor) -> dict[str, torch.Tensor | None]:
    """Clips (B, C, T, H, W) -> attn (B, K, N) float32, action_slot / scene_slot (B,) long, mask_prob (B, P)
    (sigmoid of the AMD's logits from the action slot; None without AMD).

    DEVIAS: the training forward's `attn` and the slots inference assigns (`predict_from_output`). Token
    baselines: the last block's attention of the learned tokens over the patch tokens (one extra partial
    attention row computation), token 0 the action role and the last token the scene role (fixed roles).
    """
    if isinstance(model, DEVIAS):
        out = model(clips)
        pred = model.predict_from_output(out)
        action, scene = pred["action_slot"], pred["scene_slot"]
        mask = out.get("mask_logits")
        prob = None if mask is None else select_slot(mask, action).float().sigmoid()
        return {"attn": out["attn"].float(), "action_slot": action, "scene_slot": scene, "mask_prob": prob}
    if isinstance(model, TokenClassifier):
        _, attn = model.backbone(clips, prefix=model.tokens, return_prefix_attn=True)
        batch = clips.shape[0]
        action = torch.zeros(batch, dtype=torch.long, device=clips.device)
        return {"attn": attn.float(), "action_slot": action, "scene_slot": action + model.num_tokens - 1,
                "mask_prob": None}
    raise TypeError(f"{type(model).__name__} has no slot or token attention to diagnose")


# ---------------------------------------------------------------------------------------------------------
# Reading: centre views with their actor fractions


def gt_path(root: Path, entry: VideoEntry) -> Path:
    """The benchmark's convention: <root>/gt_masks/<video path without extension>.npz."""
    return Path(root) / GT_DIR / Path(entry.path).with_suffix(".npz")


def gt_digest(root: Path, entries: list[VideoEntry]) -> str | None:
    """A fingerprint of the entries' mask files (name, size, modification time); None when none exists."""
    digest, found = hashlib.sha256(), False
    for e in entries:
        path = gt_path(root, e)
        if path.is_file():
            st = path.stat()
            digest.update(f"{e.path}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
            found = True
    return digest.hexdigest()[:16] if found else None


class CentreViews(Dataset):
    """Items: {"index", "clip" (C, T, S, S) float32 normalised, "tokens" (N,), "patches" (P,)} for a video
    whose centre clip shows the actor, {"index", "no_actor": True} otherwise. The clip equals `ClipDataset`'s
    single test view (same indices, resize and crop)."""

    def __init__(self, root: Path, entries: list[VideoEntry], spec: ClipSpec, tubelet: int, patch: int) -> None:
        self.root, self.entries, self.spec, self.tubelet, self.patch = Path(root), entries, spec, tubelet, patch

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict[str, Any]:
        entry, s = self.entries[int(index)], self.spec
        path = gt_path(self.root, entry)
        if not path.is_file():
            return {"index": int(index), "no_actor": True}
        with np.load(path, allow_pickle=False) as data:
            gt = data["mask"]
        video = Video(resolve(self.root, entry))
        idx = centre_indices(len(video), s)
        if gt.shape[0] <= idx.max():
            raise ValueError(f"{path.name}: ground-truth mask of {gt.shape[0]} frames; the clip needs frame "
                             f"{idx.max()}")
        info = video.info
        if transforms.short_side_size(gt.shape[1], gt.shape[2], s.size) != \
                transforms.short_side_size(info.height, info.width, s.size):
            raise ValueError(f"{path.name}: ground-truth mask {gt.shape[1]}x{gt.shape[2]} does not match the video's "
                             f"{info.height}x{info.width} frames")
        actor = actor_fraction(gt[idx], s.size)
        if not actor.any():
            return {"index": int(index), "no_actor": True}
        frames = transforms.resize_short_side(video.frames(idx), s.size)
        box = transforms.center_box(frames.shape[1], frames.shape[2], s.size)
        clip = transforms.to_normalized_tensor_layout(transforms.crop_resize(frames, box, s.size))
        return {"index": int(index), "clip": torch.from_numpy(clip),
                "tokens": torch.from_numpy(token_fractions(actor, self.tubelet, self.patch)),
                "patches": torch.from_numpy(patch_fractions(actor, self.patch))}


def _collate(items: list[dict]) -> dict[str, Any]:
    good = [i for i in items if "clip" in i]
    return {
        "clip": torch.stack([i["clip"] for i in good]) if good else None,
        "tokens": torch.stack([i["tokens"] for i in good]) if good else None,
        "patches": torch.stack([i["patches"] for i in good]) if good else None,
        "no_actor": sum("no_actor" in i for i in items),
        "failed": [(i["index"], i["error"]) for i in items if "error" in i],
    }


def split_diagnostics(model: nn.Module, root: Path, entries: list[VideoEntry], skip: set[int], spec: ClipSpec,
                      device: torch.device, batch_size: int, workers: int,
                      timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any] | None:
    """A split's diagnostics (`summarise`) from one centre-view forward pass per video that has a
    ground-truth mask; None when no video has one or the model has no role maps. `skip`: list indices
    left out (the videos the eval could not read)."""
    if not has_role_maps(model):
        return None
    todo = [e for i, e in enumerate(entries) if i not in skip and gt_path(root, e).is_file()]
    if not todo:
        return None
    centre = ClipSpec(clip_len=spec.clip_len, stride=spec.stride, size=spec.size, num_clips=1, num_crops=1,
                      short=spec.short)
    backbone = model.backbone  # type: ignore[attr-defined]
    items = GuardedItems(CentreViews(root, todo, centre, backbone.tubelet_size, backbone.patch_size),
                         [e.path for e in todo], "report", timeout=timeout)
    loader = GuardedLoader(items, batch_size, workers=workers, collate_fn=_collate, context="forkserver",
                           persistent=False, prefetch=2)
    records: list[dict[str, float]] = []
    without_actor, failed = len(entries) - len(skip) - len(todo), 0
    autocast = device.type == "cuda"
    with closing(loader):
        for batch in loader:
            without_actor += batch["no_actor"]
            failed += len(batch["failed"])
            if batch["clip"] is None:
                continue
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                maps = role_maps(model, batch["clip"].to(device, non_blocking=True))
            attn = maps["attn"].cpu().numpy()
            action, scene = maps["action_slot"].cpu().numpy(), maps["scene_slot"].cpu().numpy()
            prob = None if maps["mask_prob"] is None else maps["mask_prob"].float().cpu().numpy()
            tokens, patches = batch["tokens"].numpy(), batch["patches"].numpy()
            for b in range(len(attn)):
                records.append(video_record(attn[b], int(action[b]), int(scene[b]), tokens[b],
                                            None if prob is None else prob[b], patches[b]))
    if not records:
        return None
    return summarise(records, without_actor, failed)
