"""The paper's Table 1 check: weighted k-NN (k = 10, temperature 0.07) on L2-normalised features.

'A-S' fits the k-NN on the training videos' ACTION features and classifies the test videos' SCENE
features, scoring against action labels; disentangled features put such cross pairings near chance.
"""

from __future__ import annotations

import numpy as np


def l2_normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def weighted_knn_predict(train: np.ndarray, train_labels: np.ndarray, test: np.ndarray, num_classes: int,
                         k: int = 10, temperature: float = 0.07, chunk: int = 1024) -> np.ndarray:
    """Class scores (N_test, C): each of the k nearest (cosine) training samples votes exp(sim / T)
    for its label (the InstDisc/DINO weighted k-NN)."""
    train, test = l2_normalise(train.astype(np.float32)), l2_normalise(test.astype(np.float32))
    k = min(k, len(train))
    scores = np.zeros((len(test), num_classes), np.float64)
    for start in range(0, len(test), chunk):
        sims = test[start : start + chunk] @ train.T
        idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(sims, idx, axis=1)
        weights = np.exp(top / temperature)
        rows = np.repeat(np.arange(len(idx)), k)
        np.add.at(scores[start : start + chunk], (rows, train_labels[idx].reshape(-1)), weights.reshape(-1))
    return scores


def knn_table(train_action: np.ndarray, train_scene: np.ndarray, train_a: np.ndarray, train_s: np.ndarray,
              test_action: np.ndarray, test_scene: np.ndarray, test_a: np.ndarray, test_s: np.ndarray,
              num_actions: int, num_scenes: int, k: int = 10, temperature: float = 0.07) -> dict[str, float]:
    """Top-1 of A-A, S-S, A-S, S-A and the chance levels (features (N, D), labels (N,))."""
    def acc(train_f, labels_train, test_f, labels_test, classes):
        pred = weighted_knn_predict(train_f, labels_train, test_f, classes, k, temperature).argmax(1)
        return float((pred == labels_test).mean())

    return {
        "A-A": acc(train_action, train_a, test_action, test_a, num_actions),
        "S-S": acc(train_scene, train_s, test_scene, test_s, num_scenes),
        "A-S": acc(train_action, train_a, test_scene, test_a, num_actions),
        "S-A": acc(train_scene, train_s, test_action, test_s, num_scenes),
        "chance_action": 1.0 / num_actions,
        "chance_scene": 1.0 / num_scenes,
    }
