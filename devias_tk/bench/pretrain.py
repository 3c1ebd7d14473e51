"""`bench pretrain`: the real pre-training step (targets, encoder on the visible tokens, decoder, masked
MSE, AdamW) on in-memory clips with tube masks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from devias_tk.bench.train import time_steps, vit_forward_flops
from devias_tk.engine.optim import build_optimizer, param_groups
from devias_tk.models.backbone import VideoViT
from devias_tk.models.videomae import VideoMAEPretrainer
from devias_tk.pretrain.mae import tube_mask
from devias_tk.pretrain.step import MAEStepSpec, compute_loss


@dataclass
class PretrainBench:
    model: str
    batch: int
    frames: int
    size: int
    mask_ratio: float
    tokens: int
    visible_tokens: int
    decoder: str  # "depth x width"
    device: str
    precision: str
    compiled: bool
    steps: int
    step_ms: float
    clips_per_s: float
    peak_memory_gib: float
    tflops_per_s: float  # counting 3 x the forward FLOPs per clip


def pretrain_forward_flops(model: VideoMAEPretrainer, tokens: int, visible: int) -> float:
    """Forward FLOPs of one clip: patch embedding of every token, encoder blocks on the visible ones,
    encoder_to_decoder, decoder blocks on all tokens and the pixel head on the masked ones."""
    backbone, dim, width = model.backbone, model.backbone.embed_dim, model.decoder_dim
    voxels = backbone.tubelet_size * backbone.patch_size ** 2
    embed = 2 * tokens * dim * voxels * backbone.patch_embed.proj.in_channels
    encoder = vit_forward_flops(backbone.depth, dim, visible, 0)
    decoder = vit_forward_flops(len(model.decoder.blocks), width, tokens, 0)
    head = 2 * (tokens - visible) * width * model.pixels_per_token
    return embed + encoder + 2 * visible * dim * width + decoder + head


def bench_pretrain(model_size: str = "base", frames: int = 16, size: int = 224, mask_ratio: float = 0.9,
                   batch: int = 8, device: str = "cpu", steps: int = 3, warmup: int = 1, compile_model: bool = False,
                   amp: bool | None = None, decoder_depth: int = 4) -> PretrainBench:
    """Steady-state speed and peak memory of the pre-training step (VideoMAE's decoder: half the encoder width)."""
    dev = torch.device(device)
    torch.manual_seed(0)
    model = VideoMAEPretrainer(VideoViT(model_size, frames=frames, img_size=size), decoder_depth=decoder_depth).to(dev)
    optimizer = build_optimizer(param_groups(model, 0.05, 1.0, 1.0), (0.9, 0.95))
    for group in optimizer.param_groups:
        group["lr"] = 1e-4
    grid = tuple(model.backbone.grid())
    rng = np.random.default_rng(0)
    masks = torch.from_numpy(np.stack([tube_mask(grid, mask_ratio, rng) for _ in range(batch)])).to(dev)
    data = {"clip": torch.randn(batch, 3, frames, size, size, generator=torch.Generator().manual_seed(0)).to(dev),
            "mask": masks}
    spec = MAEStepSpec(model.backbone.patch_size, model.backbone.tubelet_size)
    use_amp = dev.type == "cuda" if amp is None else amp
    net = torch.compile(model) if compile_model else model

    def one_step(_i: int) -> None:
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
            loss, _ = compute_loss(net, data, spec)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    seconds, peak = time_steps(one_step, warmup, steps, dev)
    tokens = grid[0] * grid[1] * grid[2]
    visible = int((~masks[0]).sum())
    clips_per_s = batch / seconds
    flops = pretrain_forward_flops(model, tokens, visible)
    return PretrainBench(model_size, batch, frames, size, mask_ratio, tokens, visible,
                         f"{decoder_depth} x {model.decoder_dim}", str(dev), "bf16 autocast" if use_amp else "fp32",
                         compile_model, steps, 1000 * seconds, clips_per_s, peak, 3 * flops * clips_per_s / 1e12)
