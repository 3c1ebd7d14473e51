"""VideoMAE's pre-training network around the toolkit's own encoder.

`VideoMAEPretrainer` = the `VideoViT` that `devias-tk train` builds (attribute `backbone`, so its
tensors are named exactly as in a training model) run on the visible tokens only, a linear
`encoder_to_decoder` (no bias), a learned `mask_token`, and a light `decoder` (transformer blocks with
fixed sinusoid positions, a final norm, a linear head to the pixels of one tubelet). The decoder's
names follow VideoMAE's pre-training checkpoints (`decoder.blocks.i.*`, `decoder.norm`, `decoder.head`),
so `videomae_state_dict` only renames `backbone.` to `encoder.` to write the published layout.

The encoder takes the patch embedding and the position table of the whole clip, then keeps the
visible tokens: any per-tubelet embedding works unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from timm.layers import trunc_normal_
from timm.models.eva import EvaBlock
from torch import nn
from torch.utils.checkpoint import checkpoint

from devias_tk.models.backbone import VideoViT, sinusoid_table

ENCODER_PREFIX = "backbone."  # the toolkit's name of the encoder (as in every training model)
VIDEOMAE_ENCODER_PREFIX = "encoder."  # VideoMAE's pre-training checkpoints


def decoder_defaults(embed_dim: int, num_heads: int) -> tuple[int, int]:
    """(width, heads) of the decoder when not given: half the encoder's (VideoMAE: ViT-B 768/12 -> 384/6,
    ViT-S 384/6 -> 192/3)."""
    return max(1, embed_dim // 2), max(1, num_heads // 2)


def _blocks(dim: int, depth: int, heads: int, mlp_ratio: float) -> nn.ModuleList:
    blocks = nn.ModuleList(EvaBlock(dim, heads, qkv_bias=True, qkv_fused=True, mlp_ratio=mlp_ratio,
                                    num_prefix_tokens=0) for _ in range(depth))
    for blk in blocks:
        blk.attn.fused_attn = True  # fused SDPA, never the explicit N x N softmax
    return blocks


class MAEDecoder(nn.Module):
    """Blocks over [visible, mask] tokens; the head reads the last `num_masked` tokens after the norm."""

    def __init__(self, dim: int, depth: int, num_heads: int, out_dim: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"decoder width {dim} is not divisible by its {num_heads} heads")
        self.blocks = _blocks(dim, depth, num_heads, mlp_ratio)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, out_dim)

    def forward(self, tokens: torch.Tensor, num_masked: int) -> torch.Tensor:
        for blk in self.blocks:
            tokens = blk(tokens)
        return self.head(self.norm(tokens[:, -num_masked:]))


class VideoMAEPretrainer(nn.Module):
    """Masked-tubelet reconstruction: `forward(clips, mask)` -> predicted pixels of the masked tokens.

    clips (B, C, T, H, W); mask (B, N) bool, True = masked, the same count in every row (tube masking
    guarantees it). Output (B, M, tubelet * patch * patch * C), masked tokens in ascending token order.
    """

    def __init__(self, backbone: VideoViT, decoder_dim: int | None = None, decoder_depth: int = 4,
                 decoder_heads: int | None = None, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        width, heads = decoder_defaults(backbone.embed_dim, backbone.num_heads)
        self.decoder_dim = decoder_dim or width
        self.backbone = backbone
        self.encoder_to_decoder = nn.Linear(backbone.embed_dim, self.decoder_dim, bias=False)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, self.decoder_dim))
        self.pixels_per_token = backbone.tubelet_size * backbone.patch_size ** 2 * backbone.patch_embed.in_chans
        self.decoder = MAEDecoder(self.decoder_dim, decoder_depth, decoder_heads or heads, self.pixels_per_token,
                                  mlp_ratio)
        # VideoMAE initialises every linear layer of the pre-training network with Xavier-uniform, the
        # encoder's included (fine-tuning ViTs use a truncated normal, as VideoViT does on its own).
        for module in (self.backbone, self.encoder_to_decoder, self.decoder):
            module.apply(xavier_init)
        trunc_normal_(self.mask_token, std=0.02)
        self._pos_cache: dict[tuple[int, str], torch.Tensor] = {}

    def decoder_positions(self, num_tokens: int, device: torch.device) -> torch.Tensor:
        key = (num_tokens, str(device))
        if key not in self._pos_cache:
            self._pos_cache[key] = sinusoid_table(num_tokens, self.decoder_dim, device=device)
        return self._pos_cache[key]

    def encode_visible(self, clips: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Encoder tokens (B, N_visible, D) of the visible tubelets, after the encoder's final norm."""
        backbone = self.backbone
        backbone.patch_embed.grid(*clips.shape[2:])
        tokens = backbone.patch_embed(clips)
        batch, num_tokens, dim = tokens.shape
        if mask.shape != (batch, num_tokens):
            raise ValueError(f"mask {tuple(mask.shape)} does not match {num_tokens} tokens of {batch} clips")
        tokens = tokens + backbone.position_table(num_tokens, tokens.device).to(tokens.dtype)
        visible = tokens[~mask].reshape(batch, -1, dim)
        for blk in backbone.blocks:
            if backbone.grad_checkpointing and self.training and torch.is_grad_enabled():
                visible = checkpoint(blk, visible, use_reentrant=False)
            else:
                visible = blk(visible)
        return backbone.norm(visible)

    def forward(self, clips: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        visible = self.encoder_to_decoder(self.encode_visible(clips, mask))
        batch, num_tokens = mask.shape
        positions = self.decoder_positions(num_tokens, visible.device).to(visible.dtype).expand(batch, -1, -1)
        masked_positions = positions[mask].reshape(batch, -1, self.decoder_dim)
        tokens = torch.cat([visible + positions[~mask].reshape(batch, -1, self.decoder_dim),
                            self.mask_token.to(visible.dtype) + masked_positions], dim=1)
        return self.decoder(tokens, masked_positions.shape[1])


def xavier_init(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.xavier_uniform_(m.weight)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def _rename_prefix(state: Mapping[str, torch.Tensor], old: str, new: str) -> dict[str, torch.Tensor]:
    return {(new + k[len(old):] if k.startswith(old) else k): v for k, v in state.items()}


def videomae_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A `VideoMAEPretrainer` state dict in VideoMAE's pre-training key layout (`backbone.` -> `encoder.`)."""
    return _rename_prefix(state, ENCODER_PREFIX, VIDEOMAE_ENCODER_PREFIX)


def from_videomae_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of `videomae_state_dict`: a VideoMAE pre-training state dict in this module's names."""
    return _rename_prefix(state, VIDEOMAE_ENCODER_PREFIX, ENCODER_PREFIX)
