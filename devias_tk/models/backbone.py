"""A VideoMAE-compatible video ViT: tubelet patch embedding, fixed sinusoid positions, timm EVA blocks.

Parameter names follow VideoMAE's fine-tuned checkpoints (`patch_embed.proj`, `blocks.i.norm1`,
`blocks.i.attn.qkv/q_bias/v_bias/proj`, `blocks.i.norm2`, `blocks.i.mlp.fc1/fc2`, optional
`blocks.i.gamma_1/gamma_2`, `norm`), so an encoder state dict loads with `strict=True`. The position
table is not a parameter and not in the state dict. What the caller does with a foreign checkpoint:

- fine-tuned VideoMAE: drop `head.*`; a mean-pooling checkpoint has `fc_norm.*` instead of `norm.*`
  (its LayerNorm was applied after pooling): rename it to `norm.*` or load with `strict=False` and keep
  the fresh `norm`;
- pre-training VideoMAE: keep the `encoder.`-prefixed keys without the prefix, drop `decoder.*`,
  `encoder_to_decoder.*`, `mask_token`;
- weights may sit under `model` or `module` in the file.

Attention is timm's fused SDPA (`fused_attn` is forced on); the only explicit softmax here is the
optional K x N map of appended tokens (`return_prefix_attn`), never the N x N map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from timm.layers import trunc_normal_
from timm.models.eva import EvaBlock
from torch import nn
from torch.utils.checkpoint import checkpoint

PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"embed_dim": 192, "depth": 12, "num_heads": 3},
    "small": {"embed_dim": 384, "depth": 12, "num_heads": 6},
    "base": {"embed_dim": 768, "depth": 12, "num_heads": 12},
}

# Keyword arguments VideoViT accepts; the model factory uses this to route a flat config.
BACKBONE_KEYS = frozenset({
    "size", "embed_dim", "depth", "num_heads", "patch_size", "tubelet_size", "frames", "img_size",
    "in_chans", "mlp_ratio", "drop_path", "init_values", "grad_checkpointing", "stem", "stem_width",
})


def sinusoid_table(num_positions: int, dim: int, device: torch.device | str | None = None) -> torch.Tensor:
    """VideoMAE's fixed 1-D table (num_positions, dim), float32.

    angle[p, j] = p / 10000 ** (2 * (j // 2) / dim); sin on even j, cos on odd j. Computed in float64
    (as the numpy original) and rounded once to float32.
    """
    pos = torch.arange(num_positions, dtype=torch.float64, device=device)[:, None]
    j = torch.arange(dim, device=device)
    inv = torch.pow(10000.0, -(2 * (j // 2)).double() / dim)  # scalar base: no host-to-device copy
    angle = pos * inv[None, :]
    table = torch.where(j[None, :] % 2 == 0, torch.sin(angle), torch.cos(angle))
    return table.float()


STEMS = ("patch", "conv", "conv3d", "hmlp")


def _stem_stages(patch_size: int) -> int:
    stages = patch_size.bit_length() - 1
    if 1 << stages != patch_size or stages < 1:
        raise ValueError(f"a {patch_size}-pixel patch cannot be built from stride-2 stem stages (use a power of two)")
    return stages


def _stem_layers(kind: str, in_chans: int, embed_dim: int, patch_size: int,
                 width: int | None = None) -> tuple[nn.Sequential, int, int]:
    """Per-frame layers in front of the tubelet projection: (layers, output channels, spatial stride left).

    "conv": 3x3 stride-2 convolutions with BatchNorm and ReLU (the convolutional stem of Xiao et al.,
    "Early convolutions help transformers see better", 2021), channels doubling up to embed_dim / 2;
    its receptive fields overlap neighbouring patches; `width` sets the first stage's channels instead
    (doubling per stage, capped at embed_dim). "conv3d": the same with 3x3x3 kernels (stride 1
    in time), so the first features already respond to motion. "hmlp": the hierarchical per-patch stem of DeiT III
    (Touvron et al., 2022): non-overlapping 4x4 then 2x2 convolutions (kernel = stride), so every token
    still depends on its own patch only, which keeps masked pre-training honest.
    """
    stages = _stem_stages(patch_size)
    layers: list[nn.Module] = []
    if kind in ("conv", "conv3d"):
        if width is None:
            channels = [max(8, embed_dim >> (stages - i)) for i in range(stages)]
        else:
            channels = [min(embed_dim, width << i) for i in range(stages)]
        kt = 3 if kind == "conv3d" else 1
        prev = in_chans
        for c in channels:
            layers += [nn.Conv3d(prev, c, (kt, 3, 3), (1, 2, 2), (kt // 2, 1, 1), bias=False), nn.BatchNorm3d(c),
                       nn.ReLU(inplace=True)]
            prev = c
        return nn.Sequential(*layers), prev, 1
    width = max(8, embed_dim // 4)
    first = min(4, patch_size // 2) if patch_size > 2 else 1
    layers += [nn.Conv3d(in_chans, width, (1, first, first), (1, first, first)), nn.BatchNorm3d(width), nn.GELU()]
    left = patch_size // first
    while left > 2:
        layers += [nn.Conv3d(width, width, (1, 2, 2), (1, 2, 2)), nn.BatchNorm3d(width), nn.GELU()]
        left //= 2
    return nn.Sequential(*layers), width, left


class PatchEmbed3d(nn.Module):
    """Tubelet embedding: (B, C, T, H, W) -> one token per tubelet x patch.

    stem "patch" (VideoMAE): a Conv3d with kernel = stride = (tubelet, patch, patch), named `proj` as in
    VideoMAE's checkpoints. "conv" / "hmlp": per-frame layers (`stem`, see `_stem_layers`) and then `proj`,
    a Conv3d merging the tubelet's frames (and the remaining spatial stride) into embed_dim channels. A
    convolutional inductive bias lets a small model learn from a few hundred videos what a linear patch
    projection learns only from far more data.
    """

    def __init__(self, in_chans: int, embed_dim: int, patch_size: int, tubelet_size: int, stem: str = "patch",
                 stem_width: int | None = None) -> None:
        super().__init__()
        if stem not in STEMS:
            raise ValueError(f"unknown stem {stem!r}; choose from {', '.join(STEMS)}")
        self.in_chans = in_chans  # pixels' channels (proj's input is the stem's width when there is a stem)
        self.patch_size = patch_size
        self.tubelet_size = tubelet_size
        self.stem_kind = stem
        if stem == "patch":
            self.stem = None
            kernel = (tubelet_size, patch_size, patch_size)
            self.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=kernel, stride=kernel)
        else:
            self.stem, channels, left = _stem_layers(stem, in_chans, embed_dim, patch_size, stem_width)
            kernel = (tubelet_size, left, left)
            self.proj = nn.Conv3d(channels, embed_dim, kernel_size=kernel, stride=kernel)

    def grid(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        """Token grid (t', h', w') for a clip of frames x height x width."""
        if frames % self.tubelet_size or height % self.patch_size or width % self.patch_size:
            raise ValueError(
                f"clip {frames}x{height}x{width} is not divisible by tubelet {self.tubelet_size} "
                f"and patch {self.patch_size}"
            )
        return frames // self.tubelet_size, height // self.patch_size, width // self.patch_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> (B, t'*h'*w', D); token index = t*h'*w' + i*w' + j (raster within a tubelet)."""
        if self.stem is not None:
            if x.device.type == "cpu":
                # oneDNN's 3-D convolutions run ~1.5x faster forward and backward on channels-last input (the
                # demo's fp32 step: 18% less CPU time, docs/measured.md#training); values agree to float rounding.
                x = x.contiguous(memory_format=torch.channels_last_3d)
            x = self.stem(x)
        return self.proj(x).flatten(2).transpose(1, 2)


class VideoViT(nn.Module):
    """Video ViT encoder returning every last-layer token, after the final LayerNorm.

    `frames` and `img_size` only set the default clip shape (its position table is precomputed);
    any clip whose sides divide by the tubelet and patch sizes works, with a table cached per token count.
    """

    def __init__(
        self,
        size: str = "base",
        *,
        embed_dim: int | None = None,
        depth: int | None = None,
        num_heads: int | None = None,
        patch_size: int = 16,
        tubelet_size: int = 2,
        frames: int = 16,
        img_size: int = 224,
        in_chans: int = 3,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
        init_values: float | None = None,
        grad_checkpointing: bool = False,
        stem: str = "patch",
        stem_width: int | None = None,
    ) -> None:
        super().__init__()
        if size not in PRESETS:
            raise ValueError(f"unknown backbone size {size!r}; choose from {sorted(PRESETS)}")
        preset = PRESETS[size]
        self.embed_dim = embed_dim if embed_dim is not None else preset["embed_dim"]
        depth = depth if depth is not None else preset["depth"]
        self.num_heads = num_heads if num_heads is not None else preset["num_heads"]
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        self.frames, self.img_size = frames, img_size
        self.grad_checkpointing = grad_checkpointing

        self.patch_embed = PatchEmbed3d(in_chans, self.embed_dim, patch_size, tubelet_size, stem, stem_width)
        rates = torch.linspace(0, drop_path, depth).tolist()  # stochastic depth grows linearly with depth
        self.blocks = nn.ModuleList(
            EvaBlock(
                self.embed_dim,
                self.num_heads,
                qkv_bias=True,
                qkv_fused=True,
                mlp_ratio=mlp_ratio,
                num_prefix_tokens=0,
                drop_path=rate,
                init_values=init_values,
            )
            for rate in rates
        )
        for blk in self.blocks:
            blk.attn.fused_attn = True  # never the explicit N x N softmax, whatever TIMM_FUSED_ATTN says
        self.norm = nn.LayerNorm(self.embed_dim, eps=1e-6)

        try:  # fail early on an impossible default shape, naming the keys a recipe sets
            self.patch_embed.grid(frames, img_size, img_size)
        except ValueError as exc:
            raise ValueError(f"{exc} (set by model.frames / data.frames, model.img_size / data.size, "
                             "model.tubelet_size and model.patch_size)") from None
        # Position tables are plain cached tensors, not buffers: out of the state dict, and not
        # re-broadcast by DDP every step. One per (token count, device), built on that device.
        self._pos_cache: dict[tuple[int, str], torch.Tensor] = {}
        self.apply(_init_weights)

    @property
    def patch_size(self) -> int:
        return self.patch_embed.patch_size

    @property
    def tubelet_size(self) -> int:
        return self.patch_embed.tubelet_size

    @property
    def depth(self) -> int:
        return len(self.blocks)

    def grid(self, frames: int | None = None, height: int | None = None, width: int | None = None) -> tuple[int, ...]:
        """Token grid (t', h', w') for a clip shape (defaults: the configured one)."""
        return self.patch_embed.grid(frames or self.frames, height or self.img_size, width or self.img_size)

    def position_table(self, num_tokens: int, device: torch.device) -> torch.Tensor:
        """(num_tokens, D) float32 sinusoid table on `device`, computed once per (num_tokens, device)."""
        key = (num_tokens, str(device))
        table = self._pos_cache.get(key)
        if table is None:
            table = sinusoid_table(num_tokens, self.embed_dim, device=device)
            self._pos_cache[key] = table
        return table

    def _run_block(self, blk: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.grad_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(blk, x, use_reentrant=False)
        return blk(x)

    def forward(
        self,
        x: torch.Tensor,
        prefix: torch.Tensor | None = None,
        return_prefix_attn: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """(B, C, T, H, W) -> tokens (B, P + N, D), P = number of prefix tokens (0 by default).

        prefix: optional learned tokens (P, D) or (B, P, D) placed before the patch tokens (no position
        added; being learned, they carry their own). With `return_prefix_attn` also returns the last
        block's attention of the prefix tokens over the patch tokens, mean over heads, softmax over all
        P + N keys and then restricted to the N patch keys: (B, P, N).
        """
        self.patch_embed.grid(*x.shape[2:])  # a clip that does not tile would be silently cropped
        tokens = self.patch_embed(x)
        batch, num_patches, _ = tokens.shape
        tokens = tokens + self.position_table(num_patches, tokens.device).to(tokens.dtype)
        num_prefix = 0
        if prefix is not None:
            if prefix.dim() == 2:
                prefix = prefix.unsqueeze(0).expand(batch, -1, -1)
            num_prefix = prefix.shape[1]
            tokens = torch.cat([prefix.to(tokens.dtype), tokens], dim=1)
        if return_prefix_attn and num_prefix == 0:
            raise ValueError("return_prefix_attn needs prefix tokens")
        last = len(self.blocks) - 1
        attn = None
        for i, blk in enumerate(self.blocks):
            if return_prefix_attn and i == last:
                attn = _prefix_attention(blk, tokens, num_prefix)
            tokens = self._run_block(blk, tokens)
        tokens = self.norm(tokens)
        if return_prefix_attn:
            return tokens, attn
        return tokens


def _prefix_attention(blk: EvaBlock, x: torch.Tensor, num_prefix: int) -> torch.Tensor:
    """Attention rows of the first `num_prefix` tokens in `blk` (mean over heads), patch keys only."""
    attn = blk.attn
    h = blk.norm1(x)
    dim = attn.qkv.weight.shape[0] // 3
    w_q, w_k, _ = attn.qkv.weight.split(dim)
    q = F.linear(h[:, :num_prefix], w_q, attn.q_bias)
    k = F.linear(h, w_k, attn.k_bias)
    batch, n_all, _ = k.shape
    q = q.reshape(batch, num_prefix, attn.num_heads, -1).transpose(1, 2)
    k = k.reshape(batch, n_all, attn.num_heads, -1).transpose(1, 2)
    logits = (q @ k.transpose(-2, -1)).float() * attn.scale  # (B, heads, P, P + N): only P rows
    return logits.softmax(dim=-1).mean(dim=1)[:, :, num_prefix:]


def _init_weights(m: nn.Module) -> None:
    # ViT/VideoMAE initialisation; pretrained weights replace it in practice.
    if isinstance(m, nn.Linear):
        trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Conv3d):
        # like a Linear over the flattened tubelet
        fan_in = m.in_channels * math.prod(m.kernel_size)
        nn.init.trunc_normal_(m.weight, std=math.sqrt(1.0 / fan_in))
        if m.bias is not None:
            nn.init.zeros_(m.bias)


@dataclass(frozen=True)
class TokenLayout:
    """How tokens map to the clip: grid (t', h', w') and the pixel sizes behind one token."""

    grid: tuple[int, int, int]
    patch_size: int
    tubelet_size: int

    @property
    def num_tokens(self) -> int:
        return self.grid[0] * self.grid[1] * self.grid[2]

    @property
    def patches_per_frame(self) -> int:
        return self.grid[1] * self.grid[2]


def token_layout(backbone: VideoViT, frames: int | None = None, img_size: int | None = None) -> TokenLayout:
    """The token layout of `backbone` for a square clip (defaults: the configured shape)."""
    size = img_size or backbone.img_size
    return TokenLayout(tuple(backbone.grid(frames, size, size)), backbone.patch_size, backbone.tubelet_size)
