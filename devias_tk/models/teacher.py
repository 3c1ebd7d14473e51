"""The DEVIAS scene teacher: a video ViT with a cls token and a scene head, run on whole clips.

The same module is the toolkit's own video scene model (`scenes train --video`): `teacher_state_dict` writes
its weights in the release's key layout, and `map_image_vit` starts it from an image ViT (timm's names) by
patch-kernel inflation (`inflate_patch_kernel`).

Architecture of the release's teacher (a VideoMAE ViT built without mean pooling): tubelet patch
embedding, a learned cls token placed before the patch tokens, the fixed sinusoid table over all
1 + N tokens (the cls token takes position 0, patch token i position i + 1), the blocks, a final
LayerNorm, and a linear head on the cls token. The trunk is the toolkit's `VideoViT` (same block and
parameter names); only the token assembly differs from `VideoViT.forward`, whose patch tokens take
positions 0..N-1 and whose prefix tokens take none.
"""

from __future__ import annotations

import torch
from torch import nn

from devias_tk.models.backbone import VideoViT
from devias_tk.models.checkpoints import KeyMap

TEACHER_PREFIX = "backbone."  # the module's trunk; the release's file has the trunk's names at the top level


class VideoSceneTeacher(nn.Module):
    """Normalised clips (B, C, T, H, W) -> scene logits (B, num_classes).

    Parameters: `backbone.*` (a `VideoViT`), `cls_token` (1, 1, D), `head` (D -> num_classes).
    """

    def __init__(
        self,
        num_classes: int,
        *,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        patch_size: int = 16,
        tubelet_size: int = 2,
        frames: int = 16,
        img_size: int = 224,
        in_chans: int = 3,
        mlp_ratio: float = 4.0,
        init_values: float | None = None,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.backbone = VideoViT(
            embed_dim=embed_dim, depth=depth, num_heads=num_heads, patch_size=patch_size,
            tubelet_size=tubelet_size, frames=frames, img_size=img_size, in_chans=in_chans,
            mlp_ratio=mlp_ratio, init_values=init_values, drop_path=drop_path,
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.head = nn.Linear(embed_dim, num_classes)

    @property
    def tubelet_size(self) -> int:
        return self.backbone.tubelet_size

    @property
    def patch_size(self) -> int:
        return self.backbone.patch_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bb = self.backbone
        bb.patch_embed.grid(*x.shape[2:])  # a clip that does not tile would be silently cropped
        patches = bb.patch_embed(x)
        cls = self.cls_token.to(patches.dtype).expand(patches.shape[0], -1, -1)
        tokens = torch.cat([cls, patches], dim=1)
        tokens = tokens + bb.position_table(tokens.shape[1], tokens.device).to(tokens.dtype)
        for blk in bb.blocks:
            tokens = blk(tokens)
        return self.head(bb.norm(tokens[:, 0]))


def teacher_state_dict(module: VideoSceneTeacher) -> dict[str, torch.Tensor]:
    """The weights in the DEVIAS release's teacher layout: the trunk's names at the top level (`patch_embed.proj`,
    `blocks.i.*`, `norm`), `cls_token`, `head`; CPU tensors, ready for ``torch.save({"model": ...})``."""
    out = {}
    for name, value in module.state_dict().items():
        out[name.removeprefix(TEACHER_PREFIX)] = value.detach().cpu().clone()
    return out


def inflate_patch_kernel(weight: torch.Tensor, frames: int) -> torch.Tensor:
    """A 2D patch-embedding kernel (D, C, p, p) tiled over `frames` and divided by it: (D, C, frames, p, p).

    A Conv3d with this kernel (and the 2D bias) maps a clip of identical frames to the same
    embedding as the Conv2d maps one of them.
    """
    if weight.ndim != 4:
        raise ValueError(f"expected a (D, C, p, p) kernel, got shape {tuple(weight.shape)}")
    if frames < 1:
        raise ValueError("frames must be >= 1")
    return weight.unsqueeze(2).repeat(1, 1, frames, 1, 1) / frames


# timm's per-block names that differ from the video ViT's (EvaBlock) ones
_TIMM_BLOCK_RENAMES = {"ls1.gamma": "gamma_1", "ls2.gamma": "gamma_2"}


def map_image_vit(state: dict[str, torch.Tensor], target_shapes: dict[str, torch.Size]) -> KeyMap:
    """An image ViT in timm's names (a `scenes train` ViT, MAE's ImageNet encoder, ...) onto a `VideoSceneTeacher`.

    The patch kernel is inflated over the model's tubelet (a static clip then embeds as the image does); the
    fused qkv bias splits into q_bias and v_bias (the k bias adds the same number to every key's score for
    a query, which the softmax cancels, so dropping it changes nothing); the learned `pos_embed` is set
    aside (the video ViT uses the fixed sinusoid table); `fc_norm` (global-average fine-tuning) is taken as
    the final norm; the head is kept only when its class count matches.
    """
    mapped = KeyMap()
    kernel_shape = target_shapes.get(TEACHER_PREFIX + "patch_embed.proj.weight")
    for name, value in state.items():
        target = None
        if name == "patch_embed.proj.weight" and value.ndim == 4 and kernel_shape is not None:
            value, target = inflate_patch_kernel(value, kernel_shape[2]), TEACHER_PREFIX + name
            mapped.notes.append(f"patch kernel inflated over {kernel_shape[2]} frames (tiled, divided by "
                                f"{kernel_shape[2]})")
        elif name == "pos_embed":
            mapped.ignored[name] = "a learned position table; the video ViT uses the fixed sinusoid table"
        elif name == "cls_token":
            target = name
        elif name.startswith("head."):
            if "head.weight" in target_shapes and state.get("head.weight") is not None \
                    and state["head.weight"].shape[0] == target_shapes["head.weight"][0]:
                target = name
            else:
                mapped.ignored[name] = "the source's classifier has another class count: the head starts fresh"
        elif name.endswith(".attn.qkv.bias"):
            q, _k, v = value.chunk(3)
            stem = TEACHER_PREFIX + name[: -len("qkv.bias")]
            mapped.put(stem + "q_bias", q, name)
            mapped.put(stem + "v_bias", v, name)
            continue
        elif name.startswith("fc_norm.") and "norm.weight" not in state:
            target = TEACHER_PREFIX + "norm." + name[len("fc_norm."):]
        else:
            for old, new in _TIMM_BLOCK_RENAMES.items():
                if name.endswith(old):
                    name_new = name[: -len(old)] + new
                    break
            else:
                name_new = name
            target = TEACHER_PREFIX + name_new
        if target is not None:
            mapped.put(target, value, name)
    if any(k.endswith(".attn.qkv.bias") for k in state):
        mapped.notes.append("qkv bias split into q_bias and v_bias; the k bias is dropped (softmax-invariant)")
    return mapped
