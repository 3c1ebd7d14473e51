"""Downstream fine-tuning models (the paper's transfer experiments, supplementary F.3 and Table 11).

A source run's encoder under a NEW classification head, trained on the target labels only:

- `SlotFineTune`, from a DEVIAS run: backbone -> disentangling encoder -> the action slot and the scene
  slot -> `FusionHead`. The roles are assigned per clip by the source run's unified head exactly as at
  DEVIAS inference (`assign_by_probability`); that head is kept frozen: it only picks which slot is which,
  through an argmax no gradient passes (the authors' release does the same).
- `PooledFineTune`, from a Naive Action / Naive Scene run (or DEVIAS with fusion "gap"): the mean of the
  last-layer tokens -> (LayerNorm for "gap") -> dropout -> linear head, the usual VideoMAE fine-tuning.

`fusion` (two-feature sources):
- "project" (default): the paper's "concat." (supp. F.3): each slot projected to D/2 (Linear + LayerNorm,
  one projection per role), concatenated (D), LayerNorm, ReLU, dropout, linear classifier; the head the
  release's downstream scripts run (there the scene slot goes through the action projection, the scene one
  being left unused; here each role has its own).
- "concat": [action slot; scene slot] (2D) -> dropout -> linear classifier.
- "gap": the paper's "GAP": the mean of the backbone's last-layer tokens, no slots.

Outputs follow `devias_tk.models.devias`: `forward` gives action_logits (B, C) and scene_logits None (the
target task is the only task), `predict` gives action_feat = the classifier's input and scene_feat None.
`inherits` names the parameters that come from the source run; everything else starts fresh.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from devias_tk.models.backbone import VideoViT
from devias_tk.models.baselines import PooledClassifier
from devias_tk.models.devias import DEVIAS, Output, assign_by_probability, select_slot
from devias_tk.models.heads import linear_head
from devias_tk.models.slots import SLOT_KEYS

SOURCES = ("devias", "naive-action", "naive-scene")  # methods a run can be fine-tuned from
FUSIONS = ("project", "concat", "gap")
SLOT_SOURCE_KEYS = SLOT_KEYS | {"encoder"}  # the DEVIAS encoder's architecture, taken from the source run
FINETUNE_KEYS = frozenset({"source", "fusion", "head_dropout", "source_actions", "source_scenes"}) | SLOT_SOURCE_KEYS


class FusionHead(nn.Module):
    """(action feature, scene feature), each (B, D) -> (fused feature (B, F), logits (B, C)); see module doc."""

    def __init__(self, dim: int, num_classes: int, fusion: str = "project", dropout: float = 0.0) -> None:
        super().__init__()
        if fusion not in ("project", "concat"):
            raise ValueError(f"a two-feature head fuses by 'project' or 'concat' (got {fusion!r})")
        self.fusion = fusion
        if fusion == "project":
            half = dim // 2
            self.action_proj = nn.Sequential(linear_head(dim, half), nn.LayerNorm(half))
            self.scene_proj = nn.Sequential(linear_head(dim, half), nn.LayerNorm(half))
            self.norm = nn.LayerNorm(2 * half)
            width = 2 * half
        else:
            width = 2 * dim
        self.drop = nn.Dropout(dropout)
        self.fc = linear_head(width, num_classes)

    def forward(self, action: torch.Tensor, scene: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.fusion == "project":
            fused = torch.relu(self.norm(torch.cat([self.action_proj(action), self.scene_proj(scene)], dim=-1)))
        else:
            fused = torch.cat([action, scene], dim=-1)
        return fused, self.fc(self.drop(fused))


class SlotFineTune(DEVIAS):
    """A DEVIAS encoder (backbone + slots + the frozen source unified head) under a `FusionHead`."""

    inherits = ("backbone.", "slot_attention.", "slot_tokens", "head.")

    def __init__(self, backbone: VideoViT, num_actions: int, *, source_actions: int, source_scenes: int,
                 fusion: str = "project", head_dropout: float = 0.0, **slot_config: Any) -> None:
        if source_actions < 1 or source_scenes < 1:
            raise ValueError("fine-tuning a DEVIAS encoder needs the source run's class counts (source_actions, "
                             f"source_scenes; got {source_actions}, {source_scenes}): they shape the unified head "
                             "that assigns the roles")
        super().__init__(backbone, source_actions, source_scenes, use_amd=False, **slot_config)
        self.head.requires_grad_(False)  # picks the roles only (argmax): no gradient would reach it
        self.source, self.fusion, self.source_actions = "devias", fusion, source_actions
        self.num_actions, self.num_scenes = num_actions, 0
        self.target_head = FusionHead(backbone.embed_dim, num_actions, fusion, head_dropout)

    def forward(self, x: torch.Tensor) -> Output:
        """Clip -> slots (B, K, D), attn (B, K, N), action_slot / scene_slot (B,), features (B, F),
        action_logits (B, C) over the target classes, scene_logits None."""
        out = super().forward(x)
        slots = out["slots"]
        action_slot, scene_slot = assign_by_probability(out["logits"].detach(), self.source_actions)
        fused, logits = self.target_head(select_slot(slots, action_slot), select_slot(slots, scene_slot))
        return {"slots": slots, "attn": out["attn"], "action_slot": action_slot, "scene_slot": scene_slot,
                "features": fused, "action_logits": logits, "scene_logits": None}

    def predict_from_output(self, out: Output) -> Output:
        return {"action_logits": out["action_logits"], "scene_logits": None, "action_feat": out["features"],
                "scene_feat": None, "action_slot": out["action_slot"], "scene_slot": out["scene_slot"]}


class PooledFineTune(PooledClassifier):
    """Mean-pooled last-layer tokens -> (LayerNorm) -> dropout -> a new linear head over the target classes."""

    inherits = ("backbone.",)

    def __init__(self, backbone: VideoViT, num_actions: int, *, source: str, norm: bool = False,
                 head_dropout: float = 0.0) -> None:
        super().__init__(backbone, num_actions, 0, target="action", head_dropout=head_dropout)
        self.source, self.fusion = source, "gap" if norm else None
        self.norm = nn.LayerNorm(backbone.embed_dim) if norm else None

    def forward(self, x: torch.Tensor) -> Output:
        features = self.backbone(x).mean(dim=1)
        if self.norm is not None:
            features = self.norm(features)
        return {"features": features, "action_logits": self.head(self.head_drop(features)), "scene_logits": None}


def build_finetune(backbone: VideoViT, num_actions: int, num_scenes: int = 0, *, source: str = "devias",
                   fusion: str = "project", head_dropout: float = 0.0, source_actions: int = 0,
                   source_scenes: int = 0, **slot_config: Any) -> nn.Module:
    """The fine-tuning model for a `source` method (`num_scenes` is unused: the target task has actions only).
    Slot keys only matter for a DEVIAS source; the training stage fills them, and the source class counts,
    from the source run."""
    if source not in SOURCES:
        raise ValueError(f"model.source must be one of {', '.join(SOURCES)} (got {source!r})")
    if fusion not in FUSIONS:
        raise ValueError(f"model.fusion must be one of {', '.join(FUSIONS)} (got {fusion!r})")
    if source == "devias" and fusion != "gap":
        return SlotFineTune(backbone, num_actions, source_actions=source_actions, source_scenes=source_scenes,
                            fusion=fusion, head_dropout=head_dropout, **slot_config)
    return PooledFineTune(backbone, num_actions, source=source, norm=source == "devias", head_dropout=head_dropout)
