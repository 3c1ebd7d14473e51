import numpy as np
import pytest

from devias_tk.evaluate import knn, metrics


def test_view_averaging_is_the_mean_of_softmaxes():
    logits = np.array([[[0.0, np.log(3)], [np.log(3), 0.0]]])  # view 1: (1/4, 3/4); view 2: (3/4, 1/4)
    np.testing.assert_allclose(metrics.average_views(logits), [[0.5, 0.5]])
    logits = np.array([[[0.0, 0.0], [0.0, np.log(4)]]])  # (1/2, 1/2) and (1/5, 4/5)
    np.testing.assert_allclose(metrics.average_views(logits), [[0.35, 0.65]])


def test_topk_ignores_unknown_labels():
    scores = np.array([[0.1, 0.5, 0.4], [0.6, 0.3, 0.1], [0.2, 0.3, 0.5], [0.9, 0.05, 0.05]])
    labels = np.array([2, 0, 1, -1])
    assert metrics.topk_accuracy(scores, labels, 1) == pytest.approx(1 / 3)
    assert metrics.topk_accuracy(scores, labels, 2) == pytest.approx(1.0)
    assert np.isnan(metrics.topk_accuracy(scores, np.full(4, -1), 1))


def test_harmonic_mean_hand_computed():
    # the paper's DEVIAS row on UCF-101 (seen/unseen action, seen/unseen scene) gives its H.M. of 61.1
    assert metrics.harmonic_mean([90.1, 39.4, 74.0, 64.5]) == pytest.approx(61.07, abs=0.01)
    assert metrics.harmonic_mean([0.5, 0.5]) == 0.5
    assert metrics.harmonic_mean([0.9, 0.0, 0.8]) == 0.0


def test_confusion_matrix():
    m = metrics.confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 1, 2, -1]), 3)
    assert m.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 0]]


def test_weighted_knn_hand_computed():
    train = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    labels = np.array([0, 1, 1])
    scores = knn.weighted_knn_predict(train, labels, np.array([[1.0, 0.0]]), 2, k=2, temperature=0.5)
    cos = 0.9 / np.hypot(0.9, 0.1)
    np.testing.assert_allclose(scores, [[np.exp(1 / 0.5), np.exp(cos / 0.5)]])  # nearest two: samples 0 and 1


def test_knn_table_separates_disentangled_features():
    rng = np.random.default_rng(0)
    n, a_classes, s_classes = 400, 4, 5
    action = rng.integers(0, a_classes, n)
    scene = rng.integers(0, s_classes, n)
    action_feat = np.eye(a_classes)[action] + 0.1 * rng.normal(size=(n, a_classes))  # knows only the action
    scene_feat = np.eye(s_classes)[scene] + 0.1 * rng.normal(size=(n, s_classes))
    # pad to one width so the cross pairings are defined
    action_feat = np.pad(action_feat, ((0, 0), (0, s_classes)))
    scene_feat = np.pad(scene_feat, ((0, 0), (a_classes, 0)))
    half = n // 2
    table = knn.knn_table(action_feat[:half], scene_feat[:half], action[:half], scene[:half], action_feat[half:],
                          scene_feat[half:], action[half:], scene[half:], a_classes, s_classes)
    assert table["A-A"] > 0.95 and table["S-S"] > 0.95
    assert abs(table["A-S"] - 0.25) < 0.15 and abs(table["S-A"] - 0.2) < 0.15
