"""Small heads shared by DEVIAS and the baselines: linear classifiers and the action mask decoder."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from timm.layers import trunc_normal_
from torch import nn


def linear_head(dim: int, num_outputs: int) -> nn.Linear:
    """A classifier initialised like VideoMAE's (truncated normal, std 0.02, zero bias)."""
    head = nn.Linear(dim, num_outputs)
    trunc_normal_(head.weight, std=0.02)
    nn.init.zeros_(head.bias)
    return head


class ActionMaskDecoder(nn.Module):
    """AMD: an MLP from a slot (B, ..., D) to mask LOGITS (B, ..., P), P = patches per frame.

    Three linear layers with ReLU in between (release, ViT-B: 768-512-256-196). It returns logits:
    the sigmoid belongs to the loss (BCE with logits, applied once) or to whoever wants a mask.
    """

    def __init__(self, dim: int, num_patches: int, hidden: Sequence[int] = (512, 256)) -> None:
        super().__init__()
        widths = [dim, *hidden, num_patches]
        layers: list[nn.Module] = []
        for i, (w_in, w_out) in enumerate(itertools.pairwise(widths)):
            layers.append(nn.Linear(w_in, w_out))
            if i < len(widths) - 2:
                layers.append(nn.ReLU())
        self.mlp = nn.Sequential(*layers)
        self.num_patches = num_patches

    def forward(self, slots: torch.Tensor) -> torch.Tensor:
        return self.mlp(slots)
