"""DEVIAS: backbone -> disentangling encoder -> one unified head on every slot, plus the action mask decoder.

Every model in this package shares two conventions so that training and evaluation code can treat
them alike:

- `model(x)` (training) returns a dict of tensors that the matching criterion in
  `devias_tk.train.losses` consumes;
- `model.predict(x)` / `model.predict_from_output(out)` return a dict with `action_logits` (B, A),
  `scene_logits` (B, S), `action_feat` (B, D) and `scene_feat` (B, D); a method without an action
  or a scene branch puts None there.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from timm.layers import trunc_normal_
from torch import nn

from devias_tk.models.backbone import VideoViT
from devias_tk.models.heads import ActionMaskDecoder, linear_head
from devias_tk.models.slots import SlotAttention

Output = dict[str, torch.Tensor | None]

DEVIAS_KEYS = frozenset({
    "encoder", "num_slots", "slot_iters", "slot_heads", "slot_head_dim", "slot_mlp_ratio", "slot_update",
    "softmax_axis", "shared_slot_weights", "use_amd", "amd_hidden", "head_dropout",
})


def select_slot(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x (B, K, ...) and a slot index per sample (B,) -> (B, ...); a gather, so no host sync."""
    shape = (x.shape[0], 1, *x.shape[2:])
    idx = index.view(-1, *([1] * (x.dim() - 1))).expand(shape)
    return x.gather(1, idx).squeeze(1)


def assign_by_probability(logits: torch.Tensor, num_actions: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inference assignment from per-slot unified logits (B, K, A + S).

    Softmax over the whole unified output; the action slot is the slot whose largest action-class
    probability is highest, the scene slot likewise over the scene classes (the two are chosen
    independently, as in the paper, so they can coincide). Returns (action_slot, scene_slot), (B,) each.
    """
    prob = logits.float().softmax(dim=-1)
    action_slot = prob[..., :num_actions].amax(dim=-1).argmax(dim=1)
    scene_slot = prob[..., num_actions:].amax(dim=-1).argmax(dim=1)
    return action_slot, scene_slot


class DEVIAS(nn.Module):
    """The DEVIAS model. Ablation switches follow the paper's Table 14.

    encoder: "slots" (the disentangling encoder, slot attention) or "tokens" (without DE: `num_slots`
      learned tokens appended to the ViT input play the slots, as in the Two-Token baseline, while the
      unified head, matching, AMD and all losses stay; their attention map is the ViT's last-block
      attention of each token over the patch tokens, softmax over keys, so it sums to 1 over patches
      and the guidance loss then compares maps of a different scale; the paper does not specify this).
    num_slots, slot_iters, slot_heads, slot_head_dim, slot_mlp_ratio, slot_update, softmax_axis,
      shared_slot_weights: see `SlotAttention` (defaults 2, 4, 4, 512, 4.0, "residual", "slots", True).
    use_amd: build the action mask decoder (False = "without AMD"); amd_hidden: its hidden widths.
    head_dropout: dropout on the slots before the unified head (UCF-101 recipe: 0.5).
    """

    def __init__(
        self,
        backbone: VideoViT,
        num_actions: int,
        num_scenes: int,
        *,
        encoder: str = "slots",
        num_slots: int = 2,
        slot_iters: int = 4,
        slot_heads: int = 4,
        slot_head_dim: int = 512,
        slot_mlp_ratio: float = 4.0,
        slot_update: str = "residual",
        softmax_axis: str = "slots",
        shared_slot_weights: bool = True,
        use_amd: bool = True,
        amd_hidden: Sequence[int] = (512, 256),
        head_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if num_slots < 2:
            raise ValueError(f"DEVIAS needs at least 2 slots, one per role (got {num_slots})")
        if encoder not in ("slots", "tokens"):
            raise ValueError(f"encoder must be 'slots' or 'tokens' (got {encoder!r})")
        self.backbone = backbone
        self.num_actions, self.num_scenes, self.num_slots = num_actions, num_scenes, num_slots
        self.encoder = encoder
        dim = backbone.embed_dim
        if encoder == "slots":
            self.slot_attention = SlotAttention(
                dim, num_slots, slot_iters, slot_heads, slot_head_dim, slot_mlp_ratio, slot_update,
                softmax_axis, shared_slot_weights,
            )
        else:
            self.slot_tokens = nn.Parameter(trunc_normal_(torch.empty(num_slots, dim), std=0.02))
        self.head_drop = nn.Dropout(head_dropout)
        self.head = linear_head(dim, num_actions + num_scenes)
        _, h, w = backbone.grid()
        self.amd = ActionMaskDecoder(dim, h * w, amd_hidden) if use_amd else None

    def forward(self, x: torch.Tensor) -> Output:
        """Clip (B, C, T, H, W) -> dict of

        slots (B, K, D); logits (B, K, A + S), the unified head on every slot; attn (B, K, N) float32,
        the last slot-attention iteration's map (see `SlotAttention`); mask_logits (B, K, h'*w') from
        the AMD for every slot (cheap; the loss picks the matched action slot), or None without AMD.
        """
        if self.encoder == "slots":
            slots, attn = self.slot_attention(self.backbone(x))
        else:
            tokens, attn = self.backbone(x, prefix=self.slot_tokens, return_prefix_attn=True)
            slots = tokens[:, : self.num_slots]
        logits = self.head(self.head_drop(slots))
        mask_logits = self.amd(slots) if self.amd is not None else None
        return {"slots": slots, "logits": logits, "attn": attn, "mask_logits": mask_logits}

    def predict_from_output(self, out: Output) -> Output:
        """Training-forward dict -> the shared prediction dict, plus action_slot / scene_slot (B,)."""
        action_slot, scene_slot = assign_by_probability(out["logits"], self.num_actions)
        action_all = select_slot(out["logits"], action_slot)
        scene_all = select_slot(out["logits"], scene_slot)
        return {
            "action_logits": action_all[:, : self.num_actions],
            "scene_logits": scene_all[:, self.num_actions :],
            "action_feat": select_slot(out["slots"], action_slot),
            "scene_feat": select_slot(out["slots"], scene_slot),
            "action_slot": action_slot,
            "scene_slot": scene_slot,
        }

    def predict(self, x: torch.Tensor) -> Output:
        return self.predict_from_output(self(x))
