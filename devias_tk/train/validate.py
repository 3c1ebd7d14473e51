"""A quick single-view validation during training: action and scene top-1 on a list."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torch.utils.data import DataLoader

from devias_tk.train.checkpoint import unwrap


@torch.no_grad()
def quick_eval(model: nn.Module, loader: DataLoader, device: torch.device, video_scenes: Mapping[int, int] | None,
               autocast: bool) -> dict[str, float]:
    """Top-1 accuracies over the loader's videos (centre view). `video_scenes` maps a list index to its
    scene label when scene labels come from a store; otherwise the list's scene column is used."""
    net = unwrap(model)
    was_training = net.training
    net.eval()
    hits = {"action": 0, "scene": 0}
    counts = {"action": 0, "scene": 0}
    for batch in loader:
        clips = batch["clip"].to(device, non_blocking=True).flatten(0, 1) if batch["clip"].dim() == 6 \
            else batch["clip"].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            pred = net.predict(clips)
        index = batch["index"].tolist()
        if pred.get("action_logits") is not None:
            action = batch["action"].to(device)
            ok = action >= 0
            hits["action"] += int((pred["action_logits"].argmax(1)[ok] == action[ok]).sum())
            counts["action"] += int(ok.sum())
        if pred.get("scene_logits") is not None:
            scene = torch.tensor([video_scenes[i] for i in index] if video_scenes is not None
                                 else batch["scene"].tolist(), device=device)
            ok = scene >= 0
            hits["scene"] += int((pred["scene_logits"].argmax(1)[ok] == scene[ok]).sum())
            counts["scene"] += int(ok.sum())
    net.train(was_training)
    return {f"val_{k}_top1": hits[k] / counts[k] for k in hits if counts[k]}
