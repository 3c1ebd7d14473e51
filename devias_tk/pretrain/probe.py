"""How much a pre-trained encoder knows: a weighted k-NN and a linear probe (L2-regularised softmax
regression) on its mean-pooled tokens (centre view), for action and scene labels, fitted on one list and
scored on others, beside a randomly initialised encoder of the same shape (the floor a pre-training must
beat)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from devias_tk.data.dataset import ClipDataset, ClipSpec
from devias_tk.data.lists import VideoEntry, read_list
from devias_tk.errors import DeviasError
from devias_tk.evaluate.knn import weighted_knn_predict
from devias_tk.models.backbone import VideoViT
from devias_tk.pretrain.export import load_run_checkpoint, run_checkpoint
from devias_tk.utils.device import resolve_device
from devias_tk.utils.progress import progress_bar


@torch.no_grad()
def pooled_features(encoders: dict[str, VideoViT], root: Path, entries: Sequence[VideoEntry], spec: ClipSpec,
                    device: torch.device, batch: int = 16, workers: int = 2,
                    description: str = "features") -> dict[str, np.ndarray]:
    """name -> (N, D) float32: the mean of each encoder's final tokens for each video's centre view (each
    video decoded once for all encoders)."""
    for encoder in encoders.values():
        encoder.eval().to(device)
    loader = DataLoader(ClipDataset(root, entries, spec, train=False), batch_size=batch, num_workers=workers)
    out: dict[str, list[np.ndarray]] = {name: [] for name in encoders}
    with progress_bar(description, total=len(entries), unit="videos") as advance:
        for item in loader:
            clips = item["clip"][:, 0].to(device)  # one view per video
            for name, encoder in encoders.items():
                out[name].append(encoder(clips).float().mean(dim=1).cpu().numpy())
            advance(len(clips))
    return {name: np.concatenate(parts) for name, parts in out.items()}


def knn_top1(train: np.ndarray, train_labels: np.ndarray, test: np.ndarray, test_labels: np.ndarray,
             k: int = 10, temperature: float = 0.07) -> float | None:
    """Top-1 of the weighted k-NN on the labelled (>= 0) rows; None when either side has none."""
    fit, score = train_labels >= 0, test_labels >= 0
    if not fit.any() or not score.any():
        return None
    classes = int(max(train_labels.max(), test_labels.max())) + 1
    pred = weighted_knn_predict(train[fit], train_labels[fit], test[score], classes, k, temperature).argmax(1)
    return float((pred == test_labels[score]).mean())


def linear_top1(train: np.ndarray, train_labels: np.ndarray, test: np.ndarray, test_labels: np.ndarray,
                weight_decay: float = 1e-3, max_iter: int = 200) -> float | None:
    """Top-1 of a softmax regression fitted (L-BFGS, from zero weights: deterministic) on the labelled
    (>= 0) training rows, features standardised with the training statistics; None when either side
    has no labelled row."""
    fit, score = train_labels >= 0, test_labels >= 0
    if not fit.any() or not score.any():
        return None
    mean, std = train[fit].mean(axis=0), train[fit].std(axis=0) + 1e-6
    x = torch.from_numpy((train[fit] - mean) / std).double()
    y = torch.from_numpy(train_labels[fit]).long()
    classes = int(max(train_labels.max(), test_labels.max())) + 1
    weight = torch.zeros(x.shape[1], classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(x @ weight + bias, y) + weight_decay * (weight ** 2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        logits = torch.from_numpy((test[score] - mean) / std).double() @ weight + bias
    return float((logits.argmax(dim=1).numpy() == test_labels[score]).mean())


def encoders(run: str | Path, seed: int = 0) -> tuple[dict[str, VideoViT], dict[str, Any]]:
    """{"pretrained": the run's encoder, "random": a freshly initialised one of the same shape} and the
    run's configuration."""
    state = load_run_checkpoint(run_checkpoint(run))
    config = state["model_config"]
    torch.manual_seed(seed)
    random = VideoViT(**config)
    pretrained = VideoViT(**config)
    prefix = "backbone."
    pretrained.load_state_dict({k[len(prefix):]: v for k, v in state["model"].items() if k.startswith(prefix)})
    return {"pretrained": pretrained, "random": random}, state["config"]


def feature_probe(run: str | Path, root: str | Path, train_list: str | Path, test_lists: Sequence[str | Path],
                  device: str = "auto", batch: int = 16, workers: int = 2, k: int = 10,
                  temperature: float = 0.07) -> dict[str, dict[str, dict[str, float | None]]]:
    """{encoder: {test list name: {"knn_action", "knn_scene", "linear_action", "linear_scene": top-1 (None
    without labels), "videos": n}}} for the pre-trained and the random encoder."""
    root = Path(root)
    models, config = encoders(run)
    data = config["data"]
    spec = ClipSpec(clip_len=data["frames"], stride=data["stride"], size=data["size"], num_clips=1, num_crops=1,
                    short="repeat_last")
    lists = {"train": read_list(train_list), **{Path(p).stem: read_list(p) for p in test_lists}}
    if not lists["train"]:
        raise DeviasError(f"{train_list}: no videos")
    dev = resolve_device(device)  # auto: cuda when available, else cpu (as `eval knn`)
    feats = {split: pooled_features(models, root, entries, spec, dev, batch, workers, f"features: {split}")
             for split, entries in lists.items()}
    labels = {split: (np.array([e.action for e in entries]), np.array([e.scene for e in entries]))
              for split, entries in lists.items()}
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for name in models:
        train = feats["train"][name]
        out[name] = {}
        for split in lists:
            if split == "train":
                continue
            row: dict[str, float | None] = {"videos": len(lists[split])}
            for i, target in enumerate(("action", "scene")):
                args = (train, labels["train"][i], feats[split][name], labels[split][i])
                row[f"knn_{target}"] = knn_top1(*args, k, temperature)
                row[f"linear_{target}"] = linear_top1(*args)
            out[name][split] = row
    return out
