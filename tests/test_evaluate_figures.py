"""Report figures: confusion at hundreds of classes, the 2x2 features grid, the compare chart, training curves
(drawn by the train loop at each epoch end, and never stopping training when drawing fails)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np

from devias_tk.engine import curves
from devias_tk.evaluate import figures
from devias_tk.evaluate.metrics import confusion_matrix, top_confusions
from devias_tk.train import engine
from devias_tk.train.config import config_from

RECIPE = """
data: {root: ROOT, train_list: lists/train.txt, scene_source: list, frames: 8, stride: 2, hop: 2, size: 32,
       num_workers: 0, val_fraction: 0.25}
model: {method: naive-action, size: tiny, depth: 1, embed_dim: 32, num_heads: 2}
aug: {mix: none}
optim: {lr: 1.0e-3, epochs: 2, batch_size: 4, warmup_epochs: 0}
run: {seed: 1, threads: 1, log_every: 2}
"""


def png_shape(path: Path) -> tuple[int, int]:
    """(height, width) of a PNG file, asserting that it is one."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    image = cv2.imread(str(path))
    assert image is not None, path
    return image.shape[:2]


def _capture(monkeypatch) -> list:
    """Figures handed to figures.save_figure, kept open for inspection (then saved as usual)."""
    kept = []
    save = figures.save_figure

    def keep(fig, path):
        kept.append([(len(ax.get_xticklabels()), len(ax.get_yticklabels()), len(ax.texts)) for ax in fig.axes])
        return save(fig, path)

    monkeypatch.setattr(figures, "save_figure", keep)
    return kept


def test_a_400_class_confusion_has_no_names_and_renders_quickly(tmp_path, monkeypatch):
    kept = _capture(monkeypatch)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 400, 6000)
    predicted = np.where(rng.random(6000) < 0.5, labels, rng.integers(0, 400, 6000))
    matrix = confusion_matrix(predicted, labels, 400)
    started = time.perf_counter()
    path = figures.confusion_figure(matrix, [f"class {i}" for i in range(400)], "k400", tmp_path / "c.png", "action")
    assert time.perf_counter() - started < 20
    height, width = png_shape(path)
    assert 400 <= height <= 1500 and 400 <= width <= 1500  # a fixed-size picture, not 0.45 inch per class
    assert kept == [[(0, 0, 0)]]  # no tick labels, no cell counts
    small = figures.confusion_figure(matrix[:12, :12], [f"c{i}" for i in range(12)], "12", tmp_path / "s.png", "scene")
    png_shape(small)
    ticks_x, ticks_y, texts = kept[1][0]
    assert ticks_x == ticks_y == 12 and texts == np.count_nonzero(matrix[:12, :12])


def test_cluster_order_puts_confused_classes_together():
    matrix = np.diag([10] * 6)
    matrix[0, 4] = matrix[4, 0] = 5  # 0 and 4 confused, 1 and 5 confused
    matrix[1, 5] = matrix[5, 1] = 5
    order = list(figures.cluster_order(matrix))
    assert sorted(order) == list(range(6))
    assert abs(order.index(0) - order.index(4)) == 1 and abs(order.index(1) - order.index(5)) == 1


def test_top_confusions_lists_the_largest_off_diagonal_cells():
    matrix = np.array([[5, 3, 0], [1, 4, 0], [0, 3, 2]])
    assert top_confusions(matrix, 2) == [(0, 1, 3, 3 / 8), (2, 1, 3, 3 / 5)]
    assert top_confusions(np.eye(3, dtype=int)) == []


def test_features_grid_and_comparison_chart(tmp_path):
    rng = np.random.default_rng(1)
    actions, scenes = rng.integers(0, 4, 40), rng.integers(-1, 30, 40)  # -1: a video without a scene label
    grid = figures.projection_figure(rng.normal(size=(40, 16)), rng.normal(size=(40, 16)), actions, scenes, "x",
                                     tmp_path / "features_pca.png")
    height, width = png_shape(grid)
    assert width > 600 and height > 600  # four panels
    png_shape(figures.projection_figure(rng.normal(size=(40, 16)), rng.normal(size=(40, 16)), actions, None, "x",
                                        tmp_path / "no_scenes.png"))
    chart = figures.comparison_figure({"DEVIAS": {"seen_action": [80.0, 84.0], "unseen_action_mean": [50.0, 52.0],
                                                  "hm": [60.0, 61.0]},
                                       "Naive": {"seen_action": [70.0]}}, "t", tmp_path / "comparison.png")
    png_shape(chart)


def test_curves_show_validation_and_a_failed_figure_never_raises(tmp_path, monkeypatch):
    rows = [{"step": s, "epoch": s / 4, "lr": 1e-3, "loss": 2.0 - s / 10, "action": 1.0} for s in range(1, 9)]
    rows.insert(4, {"epoch": 1, "step": 4, "val_action_top1": 0.5, "val_hm": 0.5})
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 9, "lo')
    refresh = curves.CurvesRefresher(tmp_path, enabled=True)
    height, _ = png_shape(refresh())
    assert height > 500  # three panels: loss, validation, lr

    def broken(*_a, **_k):
        raise RuntimeError("no fonts")

    monkeypatch.setattr(curves, "training_curves", broken)
    assert refresh() is None and not refresh.enabled  # logged once, not tried again
    assert curves.CurvesRefresher(tmp_path, enabled=False)() is None


def test_training_redraws_the_curves_at_each_epoch_end(tiny_benchmark, tmp_path, monkeypatch):
    drawn = []
    draw = curves.training_curves

    def counting(metrics_path, path):
        rows = [json.loads(line) for line in metrics_path.read_text().splitlines()]
        drawn.append(sum("val_hm" in r for r in rows))  # validation rows logged so far
        return draw(metrics_path, path)

    monkeypatch.setattr(curves, "training_curves", counting)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.replace("ROOT", str(tiny_benchmark)))
    engine.train(config_from(recipe), tmp_path / "run")
    assert drawn == [1, 2]  # once per epoch, after that epoch's validation
    png_shape(tmp_path / "run" / "training_curves.png")


def test_confusion_at_ucf101_size(tmp_path, monkeypatch):
    kept = _capture(monkeypatch)
    classes = 101
    matrix = np.diag(np.full(classes, 3))
    matrix[0, 1] = 2
    png_shape(figures.confusion_figure(matrix, [str(i) for i in range(classes)], "ucf", tmp_path / "c.png"))
    assert kept == [[(0, 0, 0)]]
