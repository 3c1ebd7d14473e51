"""The optimizer every trainer builds: parameter groups (layer-wise lr decay, slot-block lr scale, no decay on
1-D params), AdamW, and the one warm-up + cosine learning-rate schedule."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from devias_tk.models.factory import is_slot_block, layer_id


def param_groups(
    model: nn.Module, weight_decay: float, layer_decay: float, slot_lr_scale: float,
    no_decay_names: Collection[str] = (),
) -> list[dict]:
    """AdamW groups keyed by (lr scale, decay). Biases, norms and other 1-D parameters, learned
    tokens / slot initialisations and `no_decay_names` (e.g. timm's `no_weight_decay()`) get no weight decay;
    block i of a depth-L backbone gets layer_decay ** (L + 1 - layer_id); the slot block's lr is further scaled
    by slot_lr_scale."""
    depth = model.backbone.depth if hasattr(model, "backbone") else 0
    groups: dict[tuple[float, float], dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        no_decay = param.ndim <= 1 or name.endswith((".bias", ".slots")) or "token" in name or name in no_decay_names
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
    """The one learning-rate schedule every trainer runs: per optimizer update, a linear warm-up from 0 to `base_lr`,
    then a cosine decay to `min_lr` at the last update. Also what `train --dry-run` reports of a run."""

    epochs: int
    batches_per_epoch: int  # per process: whole batches only, as `EpochSampler` draws them
    accum_steps: int
    base_lr: float  # already scaled to the total batch
    min_lr: float
    warmup_epochs: float
    clip_grad: float | None = None
    total_batch: int = 0  # clips per optimizer update over all processes

    @property
    def updates_per_epoch(self) -> int:
        return max(1, self.batches_per_epoch // self.accum_steps)

    @property
    def total_updates(self) -> int:
        return self.updates_per_epoch * self.epochs

    @property
    def warmup_updates(self) -> int:
        return round(self.warmup_epochs * self.updates_per_epoch)

    def lr(self, step: int) -> float:
        """The learning rate of batch `step` (micro-steps since the start of the run)."""
        return lr_at(step // self.accum_steps, self.total_updates, self.warmup_updates, self.base_lr, self.min_lr)


def scaled_schedule(optim: Any, batches_per_epoch: int, world: int, scale_min_lr: bool = True) -> Schedule:
    """The recipe's `optim` section as a Schedule: `optim.lr` is per 256 clips, scaled by the total batch / 256;
    `optim.min_lr` likewise (`pretrain`, `scenes train --video`, as VideoMAE does) or as given (`train`:
    scale_min_lr=False, the floor of the decay)."""
    total_batch = optim.batch_size * optim.accum_steps * world
    scale = total_batch / 256
    return Schedule(optim.epochs, batches_per_epoch, optim.accum_steps, optim.lr * scale,
                    optim.min_lr * scale if scale_min_lr else optim.min_lr, optim.warmup_epochs, optim.clip_grad,
                    total_batch)


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
