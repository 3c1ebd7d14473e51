"""Metrics as plain functions over arrays: top-k accuracy, view averaging, harmonic mean, confusion."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    z = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def average_views(view_logits: np.ndarray) -> np.ndarray:
    """(N, V, C) per-view logits -> (N, C): the softmax probabilities averaged over the V views."""
    return softmax(view_logits.astype(np.float64), axis=-1).mean(axis=1)


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Share of rows whose label is among the k highest scores; rows labelled -1 are ignored."""
    keep = labels >= 0
    if not keep.any():
        return float("nan")
    top = np.argsort(-scores[keep], axis=1, kind="stable")[:, :k]
    return float((top == labels[keep, None]).any(axis=1).mean())


def harmonic_mean(values: Sequence[float]) -> float:
    """Harmonic mean; 0 if any value is 0 (a method that fails one axis fails the balance)."""
    values = [float(v) for v in values]
    if any(v <= 0 for v in values):
        return 0.0
    return len(values) / sum(1.0 / v for v in values)


def confusion_matrix(predicted: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) counts, rows = true class, columns = predicted; labels -1 ignored."""
    keep = labels >= 0
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (labels[keep], predicted[keep]), 1)
    return matrix


def top_confusions(matrix: np.ndarray, k: int = 10) -> list[tuple[int, int, int, float]]:
    """The k largest off-diagonal cells of a confusion matrix as (true, predicted, count, share of the true
    class's videos), largest count first (ties: lower true, then predicted class); empty cells left out."""
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    flat = np.argsort(-off, axis=None, kind="stable")[:k]
    totals = matrix.sum(axis=1)
    pairs = []
    for i, j in zip(*np.unravel_index(flat, off.shape), strict=True):
        if off[i, j] > 0:
            pairs.append((int(i), int(j), int(off[i, j]), float(off[i, j] / totals[i])))
    return pairs
