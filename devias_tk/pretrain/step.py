"""One pre-training step's computation: targets from the clip, forward on the visible tokens, masked MSE.

Shared by the stage and `bench pretrain`, so the benchmark measures what pre-training runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from devias_tk.pretrain.mae import masked_mse, pixel_targets, unnormalize


@dataclass(frozen=True)
class MAEStepSpec:
    patch_size: int
    tubelet_size: int
    norm_target: bool = True


def compute_loss(model: nn.Module, batch: Mapping[str, torch.Tensor],
                 spec: MAEStepSpec) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Loss and (no) extra terms for a batch of normalised clips and their masks, on the model's device."""
    clips, mask = batch["clip"], batch["mask"].bool()
    with torch.no_grad():
        targets = pixel_targets(unnormalize(clips.float()), spec.patch_size, spec.tubelet_size, spec.norm_target)
    return masked_mse(model(clips, mask), targets, mask), {}
