"""Pre-training figures: reconstructions (original / masked input / reconstruction) and the loss curve."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np

from devias_tk.engine.curves import save_figure

ROWS = ("original", "masked input", "reconstruction")


def reconstruction_figure(original: np.ndarray, masked: np.ndarray, reconstruction: np.ndarray, title: str,
                          path: Path, frames: int = 4) -> Path:
    """Clips (K, C, T, H, W) in [0, 1]: for each clip three rows (original, masked input, reconstruction)
    of `frames` frames spread over the clip."""
    count, _, length = original.shape[:3]
    shown = np.linspace(0, length - 1, min(frames, length)).round().astype(int)
    fig, axes = plt.subplots(3 * count, len(shown), figsize=(1.6 * len(shown), 1.6 * 3 * count + 0.4), squeeze=False,
                             layout="constrained")
    for k in range(count):
        for r, clips in enumerate((original, masked, reconstruction)):
            for c, t in enumerate(shown):
                ax = axes[3 * k + r, c]
                ax.imshow(np.clip(clips[k, :, t].transpose(1, 2, 0), 0, 1))
                ax.set_xticks([])
                ax.set_yticks([])
                if c == 0:
                    ax.set_ylabel(f"clip {k + 1}\n{ROWS[r]}" if r == 0 else ROWS[r], fontsize=7)
                if k == 0 and r == 0:
                    ax.set_title(f"frame {t}", fontsize=7)
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path, dpi=110)


def read_losses(metrics_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, losses) of the logged training steps in a metrics.jsonl."""
    points = []
    for line in metrics_path.read_text().splitlines() if metrics_path.is_file() else []:
        row = json.loads(line)
        if "loss" in row and "epoch" in row:
            points.append((row["epoch"], row["loss"]))
    points.sort()
    return np.array([p[0] for p in points]), np.array([p[1] for p in points])


def loss_curve(metrics_path: Path, path: Path, title: str = "pre-training loss (masked tokens, MSE)") -> Path | None:
    """The loss over epochs (None when nothing is logged yet)."""
    epochs, losses = read_losses(metrics_path)
    if not len(epochs):
        return None
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(epochs, losses, lw=1)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    return save_figure(fig, path, dpi=110)
