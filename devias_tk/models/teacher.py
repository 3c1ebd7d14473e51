"""The DEVIAS scene teacher: a video ViT with a cls token and a scene head, run on whole clips.

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
    ) -> None:
        super().__init__()
        self.backbone = VideoViT(
            embed_dim=embed_dim, depth=depth, num_heads=num_heads, patch_size=patch_size,
            tubelet_size=tubelet_size, frames=frames, img_size=img_size, in_chans=in_chans,
            mlp_ratio=mlp_ratio, init_values=init_values,
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
