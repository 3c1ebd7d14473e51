"""Slot attention, the disentangling encoder (paper eq. 1-4, supplementary Algorithm 1).

Per iteration: LayerNorm on slots and on tokens; q from slots, k and v from tokens (no bias), split
into heads; logits = q.k / sqrt(d_head); softmax over the SLOT axis (slots compete for each token);
renormalise over keys, a / (sum_keys a + 1e-7); weighted mean of the values; output projection;
update the slots. Defaults follow the authors' release: 4 heads of 512 dims each, residual update
`slots = attn_out + slots; slots = MLP(LN(slots)) + slots` (MLP 4x, GELU), weights shared across
iterations, a final LayerNorm. The original slot attention's GRU update is an option.

The returned attention map is the one the guidance loss uses: the last iteration's slot-softmax map
BEFORE the key renormalisation (values in [0, 1], summing to 1 over slots for each token), mean over
heads. The paper's guidance compares this map with 0/1 pseudo masks, which only makes sense for the
un-renormalised map (the renormalised one sums to 1 over ~1568 keys); the release does the same.
With `softmax_axis="keys"` (ablation) the map instead sums to 1 over keys.
"""

from __future__ import annotations

import torch
from torch import nn

SLOT_KEYS = frozenset({
    "num_slots", "slot_iters", "slot_heads", "slot_head_dim", "slot_mlp_ratio", "slot_update",
    "softmax_axis", "shared_slot_weights",
})


def normalize_attention(
    logits: torch.Tensor, softmax_axis: str, eps: float = 1e-7
) -> tuple[torch.Tensor, torch.Tensor]:
    """logits (..., K, N) -> (attn, weights).

    attn: softmax over the slot axis (-2) or the key axis (-1); weights: attn renormalised over keys,
    attn / (sum_keys attn + eps), i.e. the coefficients of a weighted mean of the values.
    Done in float32 even under autocast: the eps and sums over ~1568 keys need it.
    """
    attn = logits.float().softmax(dim=-2 if softmax_axis == "slots" else -1)
    return attn, attn / (attn.sum(dim=-1, keepdim=True) + eps)


class SlotIteration(nn.Module):
    """The weights of one slot-attention iteration (shared by all iterations by default)."""

    def __init__(self, dim: int, heads: int, head_dim: int, mlp_ratio: float, update: str) -> None:
        super().__init__()
        inner = heads * head_dim
        self.heads, self.head_dim = heads, head_dim
        self.norm_slots = nn.LayerNorm(dim)
        self.norm_inputs = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(dim, inner, bias=False)
        self.to_v = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.Linear(inner, dim)
        self.gru = nn.GRUCell(dim, dim) if update == "gru" else None
        self.norm_mlp = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def keys_values(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N, D) -> k, v as (B, heads, N, head_dim)."""
        batch, n, _ = tokens.shape
        x = self.norm_inputs(tokens)
        k = self.to_k(x).view(batch, n, self.heads, self.head_dim).transpose(1, 2)
        v = self.to_v(x).view(batch, n, self.heads, self.head_dim).transpose(1, 2)
        return k, v

    def forward(
        self, slots: torch.Tensor, k: torch.Tensor, v: torch.Tensor, softmax_axis: str, eps: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One update. Returns new slots (B, K, D) and the pre-renormalisation map (B, heads, K, N)."""
        batch, num_slots, dim = slots.shape
        q = self.to_q(self.norm_slots(slots)).view(batch, num_slots, self.heads, self.head_dim).transpose(1, 2)
        logits = torch.matmul(q, k.transpose(-2, -1)).float() * self.head_dim**-0.5  # (B, h, K, N)
        attn, weights = normalize_attention(logits, softmax_axis, eps)
        out = torch.matmul(weights.to(v.dtype), v)  # (B, h, K, head_dim)
        out = self.to_out(out.transpose(1, 2).reshape(batch, num_slots, -1))
        if self.gru is not None:
            slots = self.gru(out.reshape(-1, dim), slots.reshape(-1, dim)).view(batch, num_slots, dim)
        else:
            slots = out + slots
        slots = slots + self.mlp(self.norm_mlp(slots))
        return slots, attn


class SlotAttention(nn.Module):
    """K learned slots attend iteratively to the tokens; returns (slots (B, K, D), attn (B, K, N)).

    num_slots: K (default 2). iters: 4 (UCF-101 recipe) or 8 (Kinetics-400, HVU).
    heads x head_dim: the attention width inside the block (release: 4 x 512).
    update: "residual" (release) or "gru" (original slot attention).
    softmax_axis: "slots" (paper) or "keys" (the conventional cross-attention, Table 14h ablation).
    shared: one set of weights for all iterations (paper) or one per iteration (Table 14d ablation).
    """

    def __init__(
        self,
        dim: int,
        num_slots: int = 2,
        iters: int = 4,
        heads: int = 4,
        head_dim: int = 512,
        mlp_ratio: float = 4.0,
        update: str = "residual",
        softmax_axis: str = "slots",
        shared: bool = True,
        eps: float = 1e-7,
    ) -> None:
        super().__init__()
        if update not in ("residual", "gru"):
            raise ValueError(f"slot update must be 'residual' or 'gru' (got {update!r})")
        if softmax_axis not in ("slots", "keys"):
            raise ValueError(f"softmax axis must be 'slots' or 'keys' (got {softmax_axis!r})")
        if num_slots < 1 or iters < 1:
            raise ValueError("need at least one slot and one iteration")
        self.num_slots, self.iters, self.softmax_axis, self.eps = num_slots, iters, softmax_axis, eps
        self.slots = nn.Parameter(torch.randn(num_slots, dim))  # N(0, 1), as in the release
        count = 1 if shared else iters
        self.layers = nn.ModuleList(SlotIteration(dim, heads, head_dim, mlp_ratio, update) for _ in range(count))
        self.norm = nn.LayerNorm(dim)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens (B, N, D) -> slots (B, K, D) after the final LayerNorm, attention (B, K, N) float32."""
        batch = tokens.shape[0]
        slots = self.slots.unsqueeze(0).expand(batch, -1, -1).to(tokens.dtype)
        kv = self.layers[0].keys_values(tokens) if len(self.layers) == 1 else None  # shared: compute once
        attn = None
        for i in range(self.iters):
            layer = self.layers[0] if len(self.layers) == 1 else self.layers[i]
            k, v = kv if kv is not None else layer.keys_values(tokens)
            slots, attn = layer(slots, k, v, self.softmax_axis, self.eps)
        return self.norm(slots), attn.mean(dim=1)
