"""`bench train`: the real training step (augmentation, matching, every loss, AdamW) on in-memory clips."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from devias_tk.engine.optim import build_optimizer, param_groups
from devias_tk.engine.runtime import precision_label
from devias_tk.models.factory import build_model
from devias_tk.train.losses import LossConfig
from devias_tk.train.step import StepSpec, compute_loss, step_generator


def vit_forward_flops(depth: int, dim: int, tokens: int, patch_voxels: int, mlp_ratio: float = 4.0) -> float:
    """Forward FLOPs of a ViT (2 per multiply-add): qkv, projection and MLP matmuls, attention, patch embedding.
    ViT-B/16 at 16x224x224 (1568 tokens): about 361 GFLOP."""
    per_layer = 2 * tokens * dim * dim * (4 + 2 * mlp_ratio) + 4 * tokens * tokens * dim
    return depth * per_layer + 2 * tokens * dim * patch_voxels * 3


def time_steps(one_step: Callable[[int], None], warmup: int, steps: int, dev: torch.device) -> tuple[float, float]:
    """(seconds per timed step after `warmup` untimed ones, peak memory in GiB: the CUDA allocator's peak, or on
    CPU the process's peak resident size). `one_step(i)` gets the step's index."""
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    for i in range(warmup):
        one_step(i)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    started = time.perf_counter()
    for i in range(steps):
        one_step(warmup + i)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = (time.perf_counter() - started) / steps
    if dev.type == "cuda":
        return seconds, torch.cuda.max_memory_allocated(dev) / 2**30
    return seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB


@dataclass
class TrainBench:
    method: str
    model: str
    batch: int
    frames: int
    size: int
    device: str
    precision: str
    compiled: bool
    steps: int
    step_ms: float
    clips_per_s: float
    peak_memory_gib: float
    tflops_per_s: float  # counting 3 x forward FLOPs per clip


def _fake_batch(batch: int, frames: int, size: int, grid: int, num_actions: int, num_scenes: int,
                device: torch.device, generator: torch.Generator) -> dict[str, torch.Tensor]:
    return {
        "clip": torch.randn(batch, 3, frames, size, size, generator=generator).to(device),
        "action": torch.randint(0, num_actions, (batch,), generator=generator).to(device),
        "scene": torch.softmax(torch.randn(batch, num_scenes, generator=generator), dim=1).to(device),
        "soft_mask": torch.randint(0, 256, (batch, size, size), generator=generator, dtype=torch.uint8).to(device),
        "tubelet_mask": torch.randint(0, 256, (batch, frames // 2, 4 * grid, 4 * grid), generator=generator,
                                      dtype=torch.uint8).to(device),
    }


def bench_train(method: str = "devias", model_size: str = "base", frames: int = 16, size: int = 224, batch: int = 12,
                device: str = "cpu", steps: int = 5, warmup: int = 2, compile_model: bool = False,
                amp: bool | None = None, num_actions: int = 101, num_scenes: int = 365,
                amp_dtype: torch.dtype = torch.bfloat16, **backbone: object) -> TrainBench:
    """Steady-state speed and peak memory of the full training step (UCF-101-sized heads by default).
    `amp_dtype`: the autocast dtype when `amp`; float16 scales the loss as `train` does (a GradScaler).
    `backbone`: further backbone keys (depth, stem, ...) as a recipe's `model` section gives them."""
    dev = torch.device(device)
    torch.manual_seed(0)
    model = build_model(method, num_actions=num_actions, num_scenes=num_scenes, size=model_size, frames=frames,
                        img_size=size, **backbone).to(dev)
    optimizer = build_optimizer(param_groups(model, 0.05, 0.75, 0.1), (0.9, 0.999))
    for group in optimizer.param_groups:
        group["lr"] = 1e-4 * group["lr_scale"]
    backbone = model.backbone
    grid = size // backbone.patch_size
    spec = StepSpec(method=method, num_actions=num_actions, mix="fame", beta=0.3, p_aug=0.4, be_max_lambda=0.3,
                    patch_size=backbone.patch_size, guide_pool=4, loss=LossConfig())
    data = _fake_batch(batch, frames, size, grid, num_actions, num_scenes, dev, torch.Generator().manual_seed(0))
    use_amp = dev.type == "cuda" if amp is None else amp
    net = torch.compile(model) if compile_model else model
    scaler = torch.amp.GradScaler(dev.type) if use_amp and amp_dtype == torch.float16 else None

    def one_step(i: int) -> None:
        with torch.autocast(dev.type, dtype=amp_dtype, enabled=use_amp):
            loss, _ = compute_loss(net, data, spec, step_generator(0, i, dev))
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:  # what the loop's fp16 update costs: scaled backward, the inf / NaN check, the scale's update
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        optimizer.zero_grad(set_to_none=True)

    seconds, peak = time_steps(one_step, warmup, steps, dev)
    tokens = (frames // backbone.tubelet_size) * grid * grid
    flops = vit_forward_flops(backbone.depth, backbone.embed_dim, tokens,
                              backbone.tubelet_size * backbone.patch_size**2)
    clips_per_s = batch / seconds
    precision = precision_label(amp_dtype if use_amp else None)
    return TrainBench(method, model_size, batch, frames, size, str(dev), precision, compile_model, steps,
                      1000 * seconds, clips_per_s, peak, 3 * flops * clips_per_s / 1e12)
