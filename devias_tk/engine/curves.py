"""Training curves from a run's metrics.jsonl: loss terms, validation accuracy where the run validates, lr.

Drawn by `eval` into its report and, during training, into RUN/training_curves.png at every epoch end
(`refresh_curves`), so a run in progress can be watched without a tracker. matplotlib is imported on
the first figure, not with the run machinery.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

from devias_tk.utils.atomic import atomic_path
from devias_tk.utils.runlog import log

if TYPE_CHECKING:
    from matplotlib.figure import Figure

LOSS_TERMS = ("loss", "action", "scene", "cos", "amd", "guide")
MIX_CURVES = ("action_mixed", "action_unmixed")  # action loss over the scene mix's mixed / unmixed samples
VAL_CURVES = {"val_action_top1": "val. action", "val_scene_top1": "val. scene", "val_hm": "val. H.M."}  # in [0, 1]
CURVES = "training_curves.png"


def _rows(metrics_path: Path) -> tuple[list[dict], list[dict]]:
    """(training log rows, validation rows) of a metrics.jsonl; a line cut short by a kill is passed over."""
    train, val = [], []
    for line in metrics_path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if not isinstance(row, dict) or "step" not in row:
            continue
        if "loss" in row:
            train.append(row)
        elif any(k in row for k in VAL_CURVES):
            val.append(row)
    return train, val


def training_curves(metrics_path: Path, path: Path) -> Path | None:
    """Loss terms against the step (with the scene mix also the action loss over the mixed and the unmixed
    samples, dashed, gaps where a log window had none), validation top-1 per epoch where the run validated,
    and the learning rate; None when the log holds no training step."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    rows, val = _rows(metrics_path)
    if not rows:
        return None
    steps = [r["step"] for r in rows]
    heights = [3, 2, 1] if val else [3, 1]
    fig, axes = plt.subplots(len(heights), 1, figsize=(6, 1.7 * sum(heights)), sharex=True,
                             gridspec_kw={"height_ratios": heights})
    ax, ax_lr = axes[0], axes[-1]
    for term in [k for k in LOSS_TERMS if k in rows[0]]:
        ax.plot(steps, [r.get(term, math.nan) for r in rows], label=term, linewidth=1.5 if term == "loss" else 1.0)
    for term, colour in zip(MIX_CURVES, ("black", "tab:olive"), strict=True):
        if any(term in r for r in rows):
            ax.plot(steps, [r.get(term, math.nan) for r in rows], label=term.replace("_", " "), color=colour,
                    linestyle="--", linewidth=1.0, marker=".", markersize=3)
    ax.legend(fontsize=7, ncol=3)
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    if val:
        ax_val = axes[1]
        for key in VAL_CURVES:
            if any(key in r for r in val):
                ax_val.plot([r["step"] for r in val], [100 * r.get(key, math.nan) for r in val], marker="o",
                            markersize=3, linewidth=1.2, label=VAL_CURVES[key])
        ax_val.set_ylabel("validation top-1 %")
        ax_val.set_ylim(0, 100)
        ax_val.legend(fontsize=7, ncol=3)
        ax_val.grid(alpha=0.3)
    ax_lr.plot(steps, [r.get("lr", math.nan) for r in rows], color="tab:gray")
    ax_lr.set_ylabel("lr")
    ax_lr.set_xlabel("step")
    ax_lr.grid(alpha=0.3)
    return save_figure(fig, path)


def save_figure(fig: Figure, path: Path, dpi: int = 120) -> Path:
    """`fig` written to `path` as a PNG (atomically, its folder created), then closed."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


class CurvesRefresher:
    """RUN/training_curves.png redrawn from RUN/metrics.jsonl when called (once per epoch end, main process).
    A figure never stops training: the first failure (no matplotlib, a font cache that cannot be written,
    ...) is logged once and the figure is not tried again in this run."""

    def __init__(self, run_dir: Path, enabled: bool) -> None:
        self.metrics = Path(run_dir) / "metrics.jsonl"
        self.path = Path(run_dir) / CURVES
        self.enabled = enabled

    def __call__(self) -> Path | None:
        if not self.enabled or not self.metrics.is_file():
            return None
        try:
            return training_curves(self.metrics, self.path)
        except Exception as exc:  # any plotting failure: training goes on without the figure
            self.enabled = False
            log.warning(f"{self.path.name} not drawn ({type(exc).__name__}: {exc}); not tried again this run")
            return None
