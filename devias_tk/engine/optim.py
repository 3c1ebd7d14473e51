"""Optimizer parameter groups (layer-wise lr decay, slot-block lr scale, no decay on 1-D params)
and the warm-up + cosine learning-rate schedule, as plain functions."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from devias_tk.models.factory import is_slot_block, layer_id


def param_groups(
    model: nn.Module, weight_decay: float, layer_decay: float, slot_lr_scale: float
) -> list[dict]:
    """AdamW groups keyed by (lr scale, decay). Biases, norms and other 1-D parameters, and learned
    tokens / slot initialisations, get no weight decay; block i of a depth-L backbone gets
    layer_decay ** (L + 1 - layer_id); the slot block's lr is further scaled by slot_lr_scale."""
    depth = model.backbone.depth if hasattr(model, "backbone") else 0
    groups: dict[tuple[float, float], dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        no_decay = param.ndim <= 1 or name.endswith((".bias", ".slots")) or "token" in name
        scale = layer_decay ** (depth + 1 - layer_id(name, depth))
        if is_slot_block(name):
            scale *= slot_lr_scale
        key = (round(scale, 12), 0.0 if no_decay else weight_decay)
        group = groups.setdefault(key, {"params": [], "lr_scale": key[0], "weight_decay": key[1], "names": []})
        group["params"].append(param)
        group["names"].append(name)
    return list(groups.values())


@dataclass(frozen=True)
class Schedule:
    """How many steps a training run makes: batches (per process) and optimizer updates per epoch, in all,
    in the warm-up, and the base lr after scaling by the total batch."""

    batches_per_epoch: int
    updates_per_epoch: int
    total_updates: int
    warmup_updates: int
    total_batch: int  # clips per optimizer update over all processes
    base_lr: float


def schedule(train_videos: int, batch_size: int, accum_steps: int, world: int, epochs: int, warmup_epochs: float,
             lr: float) -> Schedule:
    """The schedule of `train_videos` videos (whole batches per process only, as `EpochSampler` draws them);
    `lr` is the base lr per 256 clips."""
    batches = train_videos // (batch_size * world)
    updates = max(1, batches // accum_steps)
    total_batch = batch_size * accum_steps * world
    return Schedule(batches, updates, updates * epochs, round(warmup_epochs * updates), total_batch,
                    lr * total_batch / 256)


def lr_at(step: int, total_steps: int, warmup_steps: int, base_lr: float, min_lr: float) -> float:
    """Linear warm-up from 0 to base_lr over warmup_steps, then cosine decay to min_lr at total_steps."""
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * step / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)


def build_optimizer(groups: Iterable[dict], betas: tuple[float, float]) -> torch.optim.AdamW:
    # foreach keeps CPU and GPU fast; the group's extra keys (lr_scale, names) ride along.
    return torch.optim.AdamW(list(groups), lr=0.0, betas=betas, foreach=True)
