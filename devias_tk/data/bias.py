"""How much of the action label a background-only classifier can read from the scene.

The classifier sees only a heavily downsampled temporal-mean frame (actor present, but reduced to
a faint blur) and is a multinomial logistic regression. High seen accuracy with near-chance
unseen accuracy means the dataset carries the action-scene bias DEVIAS is about.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from devias_tk.data.lists import read_list, resolve
from devias_tk.data.video import Video
from devias_tk.utils.progress import parallel_map


def mean_frame_feature(path: str, size: tuple[int, int] = (16, 12), num_frames: int = 8) -> np.ndarray:
    """Temporal mean of `num_frames` evenly spaced frames, area-resized to `size` (w, h), in [0, 1]."""
    video = Video(path)
    idx = np.linspace(0, len(video) - 1, num_frames).round().astype(int)
    mean = video.frames(idx).astype(np.float32).mean(axis=0)
    return (cv2.resize(mean, size, interpolation=cv2.INTER_AREA) / 255.0).reshape(-1)


@dataclass
class LinearClassifier:
    weight: np.ndarray  # (num_classes, dim)
    bias: np.ndarray  # (num_classes,)
    mean: np.ndarray  # feature standardisation
    std: np.ndarray

    def logits(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.std) @ self.weight.T + self.bias

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.logits(features).argmax(axis=1)


def fit_logistic_regression(
    features: np.ndarray, labels: np.ndarray, num_classes: int, l2: float = 1e-2, max_iter: int = 300
) -> LinearClassifier:
    """Multinomial logistic regression on standardised features, L-BFGS, mean CE + l2 * ||W||^2 / 2."""
    mean = features.mean(axis=0)
    std = features.std(axis=0) + 1e-6
    x = torch.as_tensor((features - mean) / std, dtype=torch.float64)
    y = torch.as_tensor(labels, dtype=torch.long)
    weight = torch.zeros(num_classes, x.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([weight, bias], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ weight.T + bias, y) + 0.5 * l2 * (weight**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return LinearClassifier(weight.detach().numpy(), bias.detach().numpy(), mean, std)


@dataclass
class BiasResult:
    split: str
    videos: int
    accuracy: float
    chance: float


def run_bias_check(root: str | Path, train_list: str | Path, eval_lists: list[Path], num_actions: int,
                   jobs: int = 1, size: tuple[int, int] = (16, 12)) -> list[BiasResult]:
    """Train the background-only classifier on `train_list`, report action accuracy on every list.

    Lists are toolkit list files; entries without an action label (-1) are skipped.
    """
    splits = {Path(p).stem: [e for e in read_list(p) if e.action >= 0] for p in [train_list, *eval_lists]}
    paths = sorted({str(resolve(root, e)) for entries in splits.values() for e in entries})
    # Results arrive in completion order, so each carries its own path.
    feats = dict(parallel_map(_feature_job, paths, jobs, "mean frames", "videos", (size,)))
    train_name = Path(train_list).stem
    x = np.stack([feats[str(resolve(root, e))] for e in splits[train_name]])
    y = np.array([e.action for e in splits[train_name]])
    clf = fit_logistic_regression(x, y, num_actions)
    results = []
    for name, entries in splits.items():
        if not entries:
            continue
        xs = np.stack([feats[str(resolve(root, e))] for e in entries])
        ys = np.array([e.action for e in entries])
        results.append(BiasResult(name, len(entries), float((clf.predict(xs) == ys).mean()), 1.0 / num_actions))
    return results


def _feature_job(path: str, size: tuple[int, int]) -> tuple[str, np.ndarray]:
    return path, mean_frame_feature(path, size)
