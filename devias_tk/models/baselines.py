"""The paper's baselines on the same backbone (supplementary C): naive single-task and multi-task token models.

Training outputs (dicts; absent entries are None):
- `PooledClassifier` (Naive Action / Naive Scene): features (B, D) = mean of the last-layer tokens;
  action_logits (B, A) or scene_logits (B, S).
- `TokenClassifier` (One-Token / Two-Token): tokens (B, P, D), the outputs of the P learned tokens;
  action_logits (B, A) and scene_logits (B, S); with a unified head also unified_logits (B, 2, A + S),
  row 0 = the action role (token 0), row 1 = the scene role (token 0 for One-Token, token 1 for
  Two-Token). Roles are fixed: the tokens are distinct parameters, so there is nothing to match.
Predictions follow the convention in `devias_tk.models.devias`.
"""

from __future__ import annotations

import torch
from timm.layers import trunc_normal_
from torch import nn

from devias_tk.models.backbone import VideoViT
from devias_tk.models.devias import Output
from devias_tk.models.heads import linear_head


class PooledClassifier(nn.Module):
    """Mean-pooled tokens -> dropout -> linear head; `target` is "action" (Naive Action) or "scene"."""

    def __init__(
        self,
        backbone: VideoViT,
        num_actions: int,
        num_scenes: int,
        *,
        target: str = "action",
        head_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if target not in ("action", "scene"):
            raise ValueError(f"target must be 'action' or 'scene' (got {target!r})")
        self.backbone, self.target = backbone, target
        self.num_actions, self.num_scenes = num_actions, num_scenes
        self.head_drop = nn.Dropout(head_dropout)
        self.head = linear_head(backbone.embed_dim, num_actions if target == "action" else num_scenes)

    def forward(self, x: torch.Tensor) -> Output:
        features = self.backbone(x).mean(dim=1)
        logits = self.head(self.head_drop(features))
        out: Output = {"features": features, "action_logits": None, "scene_logits": None}
        out[f"{self.target}_logits"] = logits
        return out

    def predict_from_output(self, out: Output) -> Output:
        action = self.target == "action"
        return {
            "action_logits": out["action_logits"],
            "scene_logits": out["scene_logits"],
            "action_feat": out["features"] if action else None,
            "scene_feat": None if action else out["features"],
        }

    def predict(self, x: torch.Tensor) -> Output:
        return self.predict_from_output(self(x))


class TokenClassifier(nn.Module):
    """One-Token (num_tokens=1) or Two-Token (num_tokens=2) with separate heads or one unified head."""

    def __init__(
        self,
        backbone: VideoViT,
        num_actions: int,
        num_scenes: int,
        *,
        num_tokens: int = 2,
        unified: bool = False,
        head_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if num_tokens not in (1, 2):
            raise ValueError(f"num_tokens must be 1 or 2 (got {num_tokens})")
        self.backbone, self.num_tokens, self.unified = backbone, num_tokens, unified
        self.num_actions, self.num_scenes = num_actions, num_scenes
        dim = backbone.embed_dim
        self.tokens = nn.Parameter(trunc_normal_(torch.empty(num_tokens, dim), std=0.02))
        self.head_drop = nn.Dropout(head_dropout)
        if unified:
            self.head = linear_head(dim, num_actions + num_scenes)
        else:
            self.action_head = linear_head(dim, num_actions)
            self.scene_head = linear_head(dim, num_scenes)

    def forward(self, x: torch.Tensor) -> Output:
        tokens = self.backbone(x, prefix=self.tokens)[:, : self.num_tokens]
        action_tok, scene_tok = tokens[:, 0], tokens[:, self.num_tokens - 1]
        out: Output = {"tokens": tokens}
        if self.unified:
            unified = self.head(self.head_drop(torch.stack([action_tok, scene_tok], dim=1)))
            out["unified_logits"] = unified
            out["action_logits"] = unified[:, 0, : self.num_actions]
            out["scene_logits"] = unified[:, 1, self.num_actions :]
        else:
            out["action_logits"] = self.action_head(self.head_drop(action_tok))
            out["scene_logits"] = self.scene_head(self.head_drop(scene_tok))
        return out

    def predict_from_output(self, out: Output) -> Output:
        tokens = out["tokens"]
        return {
            "action_logits": out["action_logits"],
            "scene_logits": out["scene_logits"],
            "action_feat": tokens[:, 0],
            "scene_feat": tokens[:, self.num_tokens - 1],
        }

    def predict(self, x: torch.Tensor) -> Output:
        return self.predict_from_output(self(x))
