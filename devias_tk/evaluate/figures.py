"""Report figures: action-head confusion, a 2-D projection of action vs scene features, slot attention maps."""

from __future__ import annotations

from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np

from devias_tk.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from devias_tk.utils.atomic import atomic_path


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def confusion_figure(matrix: np.ndarray, names: list[str], title: str, path: Path) -> Path:
    """Row-normalised confusion matrix (rows: true class)."""
    norm = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.45 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlabel("predicted action")
    ax.set_ylabel("true action")
    ax.set_title(title, fontsize=9)
    if len(names) <= 20:
        for (i, j), v in np.ndenumerate(matrix):
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=6,
                        color="white" if norm[i, j] > 0.5 else "black")
    return _save(fig, path)


def projection_figure(action_feat: np.ndarray, scene_feat: np.ndarray, actions: np.ndarray, title: str,
                      path: Path) -> Path:
    """PCA of action and scene features together (L2-normalised), coloured by kind; action features
    also by class (marker colour) so clustering by action shows."""
    a = action_feat / np.maximum(np.linalg.norm(action_feat, axis=1, keepdims=True), 1e-12)
    s = scene_feat / np.maximum(np.linalg.norm(scene_feat, axis=1, keepdims=True), 1e-12)
    both = np.concatenate([a, s])
    centred = both - both.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(xy[len(a):, 0], xy[len(a):, 1], s=8, c="tab:orange", alpha=0.6, label="scene features")
    ax.scatter(xy[: len(a), 0], xy[: len(a), 1], s=8, c=actions, cmap="tab10", marker="^", alpha=0.8,
               label="action features (colour = action)")
    ax.legend(fontsize=7, loc="best")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    return _save(fig, path)


def denormalise(clip: np.ndarray) -> np.ndarray:
    """(C, T, H, W) normalised -> (T, H, W, 3) uint8."""
    x = clip.transpose(1, 2, 3, 0) * np.asarray(IMAGENET_STD) + np.asarray(IMAGENET_MEAN)
    return np.clip(x * 255, 0, 255).astype(np.uint8)


def heat_overlay(frame: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """An attention map (h', w'), min-max normalised and blown up to the frame (H, W, 3) uint8, blended
    over it in the JET colours (red = most attended)."""
    h, w = frame.shape[:2]
    heat = heat.astype(np.float32)
    heat = (heat - heat.min()) / (heat.max() - heat.min() + 1e-8)
    heat = cv2.resize(heat, (w, h), interpolation=cv2.INTER_NEAREST)
    colour = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)[:, :, ::-1]
    return (0.45 * frame + 0.55 * colour).astype(np.uint8)


def text_bar(lines: list[str], width: int, line_height: int = 14) -> np.ndarray:
    """White (len(lines) * line_height + 2, width, 3) uint8 strip with the lines written in black."""
    bar = np.full((len(lines) * line_height + 2, width, 3), 255, np.uint8)
    for i, line in enumerate(lines):
        cv2.putText(bar, line, (3, (i + 1) * line_height - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return bar


def attention_grid(examples: list[dict], path: Path, scale: int = 2) -> Path:
    """Rows per example: one frame per tubelet, then the action slot's and the scene slot's attention
    over it. Each example: clip (C, T, H, W) normalised, attn (K, t', h', w') or None (a model without
    slot attention: the frames row only), action_slot, scene_slot, title, optionally `tubelets` (t' when
    attn is None) and `lines` (extra text under the title)."""
    rows = []
    for ex in examples:
        frames = denormalise(ex["clip"])
        attn = ex.get("attn")
        t_tokens = attn.shape[1] if attn is not None else ex.get("tubelets", frames.shape[0])
        step = frames.shape[0] // t_tokens
        picked = frames[::step][:t_tokens]
        tiles = [[], [], []] if attn is not None else [[]]
        for t in range(t_tokens):
            tiles[0].append(picked[t])
            if attn is not None:
                for row, slot in ((1, ex["action_slot"]), (2, ex["scene_slot"])):
                    tiles[row].append(heat_overlay(picked[t], attn[slot, t]))
        block = np.concatenate([np.concatenate(r, axis=1) for r in tiles], axis=0)
        block = cv2.resize(block, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        legend = "  (rows: frames, action slot, scene slot)" if attn is not None else ""
        bar = text_bar([ex["title"] + legend, *ex.get("lines", [])], block.shape[1])
        rows.append(np.concatenate([bar, block], axis=0))
    width = max(r.shape[1] for r in rows)
    sheet = np.concatenate([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows])
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        cv2.imwrite(str(tmp), sheet[:, :, ::-1])
    return path


MIX_CURVES = ("action_mixed", "action_unmixed")  # action loss over the scene mix's mixed / unmixed samples


def training_curves(metrics_path: Path, path: Path) -> Path | None:
    """Loss terms and learning rate against the step, from a run's metrics.jsonl; with the scene mix also the
    action loss over the mixed and over the unmixed samples (dashed; gaps where a log window had none)."""
    import json

    rows = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "loss" in r]
    if not rows:
        return None
    steps = [r["step"] for r in rows]
    terms = [k for k in ("loss", "action", "scene", "cos", "amd", "guide") if k in rows[0]]
    fig, (ax, ax_lr) = plt.subplots(2, 1, figsize=(6, 5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for term in terms:
        ax.plot(steps, [r[term] for r in rows], label=term, linewidth=1.5 if term == "loss" else 1.0)
    for term, colour in zip(MIX_CURVES, ("black", "tab:olive"), strict=True):
        if any(term in r for r in rows):
            ax.plot(steps, [r.get(term, np.nan) for r in rows], label=term.replace("_", " "), color=colour,
                    linestyle="--", linewidth=1.0, marker=".", markersize=3)
    ax.legend(fontsize=7, ncol=3)
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax_lr.plot(steps, [r["lr"] for r in rows], color="tab:gray")
    ax_lr.set_ylabel("lr")
    ax_lr.set_xlabel("step")
    ax_lr.grid(alpha=0.3)
    return _save(fig, path)
