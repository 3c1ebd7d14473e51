"""Report figures: action- and scene-head confusion, a 2-D projection of action vs scene features, slot attention
maps, training curves (`devias_tk.engine.curves`) and the seen / unseen comparison of `eval compare`."""

from __future__ import annotations

from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np

from devias_tk.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from devias_tk.engine.curves import save_figure, training_curves
from devias_tk.utils.atomic import atomic_path

__all__ = ["attention_grid", "comparison_figure", "confusion_figure", "projection_figure", "training_curves"]

LABELLED = 30  # classes up to which a confusion matrix names its ticks (beyond, the names cannot be read)
NUMBERED = 20  # classes up to which it writes each cell's count


def cluster_order(matrix: np.ndarray) -> np.ndarray:
    """A class order that puts classes confused with each other side by side: the leaves of an average-linkage
    clustering of the classes' symmetrised confusion (row-normalised), so confused blocks show on the diagonal."""
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    n = len(matrix)
    if n < 3:
        return np.arange(n)
    norm = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    affinity = (norm + norm.T) / 2
    np.fill_diagonal(affinity, 0)
    distance = 1 - affinity / max(float(affinity.max()), 1e-12)
    np.fill_diagonal(distance, 0)
    return leaves_list(linkage(squareform(distance, checks=False), method="average"))


def confusion_figure(matrix: np.ndarray, names: list[str], title: str, path: Path, task: str = "action") -> Path:
    """Row-normalised confusion matrix (rows: true class). Up to LABELLED classes in the list's order with the
    class names (and up to NUMBERED the counts); beyond, without names in `cluster_order`, a fixed-size picture
    (report.md lists the most confused pairs by name)."""
    norm = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    n = len(names)
    labelled = n <= LABELLED
    if not labelled:
        order = cluster_order(matrix)
        norm = norm[np.ix_(order, order)]
    size = max(4.0, 0.45 * n + 2) if labelled else 8.0
    fig, ax = plt.subplots(figsize=(size, size))
    # square root: off-diagonal mass of a large matrix is spread thin and would vanish on a linear scale
    shown = norm if labelled else np.sqrt(norm)
    ax.imshow(shown, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    if labelled:
        ax.set_xticks(range(n), names, rotation=90, fontsize=7)
        ax.set_yticks(range(n), names, fontsize=7)
        ax.set_xlabel(f"predicted {task}")
        ax.set_ylabel(f"true {task}")
    else:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"predicted {task} ({n} classes, clustered by confusion)")
        ax.set_ylabel(f"true {task} (same order; colour: square root of the row share)")
    ax.set_title(title, fontsize=9)
    if n <= NUMBERED:
        for (i, j), v in np.ndenumerate(matrix):
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=6,
                        color="white" if norm[i, j] > 0.5 else "black")
    return save_figure(fig, path)


def _pca2(x: np.ndarray) -> np.ndarray:
    """Rows L2-normalised, then projected on their first two principal components."""
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


def _class_colours(labels: np.ndarray) -> tuple[str, float, float]:
    """(colour map, vmin, vmax) that give every class of `labels` its own colour where a qualitative map has
    enough colours; beyond 20 classes neighbouring classes share hues of a continuous map."""
    top = max(int(labels.max(initial=0)), 1)
    if top < 10:
        return "tab10", 0.0, 9.0
    if top < 20:
        return "tab20", 0.0, 19.0
    return "turbo", 0.0, float(top)


def projection_figure(action_feat: np.ndarray, scene_feat: np.ndarray, actions: np.ndarray, scenes: np.ndarray | None,
                      title: str, path: Path) -> Path:
    """The k-NN table as a picture: a 2x2 grid of the action-slot (top) and scene-slot (bottom) features, each
    projected by its own PCA (L2-normalised, as k-NN sees them), coloured by the video's action (left) and scene
    (right). Disentangled: action features cluster by action and mix the scenes, scene features the reverse.
    Videos without a label for a panel (-1) are grey; `scenes` None (no scene labels) leaves the right column
    empty."""
    rows = (("action", _pca2(action_feat)), ("scene", _pca2(scene_feat)))
    columns = (("action", actions), ("scene", scenes))
    fig, axes = plt.subplots(2, 2, figsize=(8, 8))
    for r, (feature, xy) in enumerate(rows):
        for c, (by, labels) in enumerate(columns):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            pairing = f"{feature[0].upper()}-{by[0].upper()}"
            ax.set_title(f"{feature}-slot features by {by} ({pairing})", fontsize=9)
            if labels is None:
                ax.text(0.5, 0.5, f"no {by} labels", ha="center", va="center", transform=ax.transAxes)
                continue
            known = labels >= 0
            ax.scatter(xy[~known, 0], xy[~known, 1], s=6, c="lightgrey")
            cmap, vmin, vmax = _class_colours(labels)
            ax.scatter(xy[known, 0], xy[known, 1], s=8, c=labels[known], cmap=cmap, vmin=vmin, vmax=vmax, alpha=0.8)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def comparison_figure(rows: dict[str, dict[str, list[float]]], title: str, path: Path) -> Path:
    """Grouped bars per method of seen action, unseen action and H.M. (%): the mean over the method's seeds,
    the error bar their sample standard deviation (none with one seed). `rows`: label -> column -> values."""
    columns = (("seen_action", "seen action"), ("unseen_action_mean", "unseen action"), ("hm", "H.M."))
    labels = list(rows)
    width = 0.8 / len(columns)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(labels) + 2), 4))
    x = np.arange(len(labels))
    for k, (key, name) in enumerate(columns):
        values = [rows[label].get(key, []) for label in labels]
        means = [float(np.mean(v)) if v else np.nan for v in values]
        spread = [float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for v in values]
        ax.bar(x + (k - (len(columns) - 1) / 2) * width, means, width, yerr=spread, capsize=3, label=name)
    ax.set_xticks(x, labels, rotation=20 if len(labels) > 4 else 0, ha="right" if len(labels) > 4 else "center",
                  fontsize=8)
    ax.set_ylabel("%")
    ax.set_ylim(0, 115)  # headroom for the legend above bars near 100
    ax.set_yticks(range(0, 101, 20))
    ax.legend(fontsize=8, ncol=3, loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


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
