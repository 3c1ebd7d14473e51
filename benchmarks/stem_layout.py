"""The demo recipe's fp32 training step with the conv stem on channels-last input (as the model runs on CPU)
and on the plain layout: wall and process-CPU milliseconds per step, one thread.

CPU time is the figure to compare on a shared machine: wall time there depends on the neighbours' load.

    .venv/bin/python benchmarks/stem_layout.py [--method devias] [--steps 8] [--rounds 3] [--amp]
"""

from __future__ import annotations

import argparse
import time

import torch

from devias_tk.bench.train import _fake_batch
from devias_tk.engine.optim import build_optimizer, param_groups
from devias_tk.models import backbone
from devias_tk.models.factory import build_model
from devias_tk.train.config import LossConfig
from devias_tk.train.step import StepSpec, compute_loss, step_generator


def _plain_forward(self: backbone.PatchEmbed3d, x: torch.Tensor) -> torch.Tensor:
    if self.stem is not None:
        x = self.stem(x)
    return self.proj(x).flatten(2).transpose(1, 2)


def measure(method: str, steps: int, rounds: int, amp: bool) -> tuple[float, float]:
    """(min wall ms, min CPU ms) per step over `rounds` rounds of `steps` steps, after 3 warm-up steps."""
    torch.manual_seed(0)
    slots = {"slot_iters": 4, "slot_head_dim": 64, "amd_hidden": [128, 64]} if method == "devias" else {}
    model = build_model(method, num_actions=10, num_scenes=10, size="tiny", frames=8, img_size=64, depth=4,
                        stem="conv3d", **slots)
    optimizer = build_optimizer(param_groups(model, 0.05, 0.75, 0.1), (0.9, 0.999))
    for group in optimizer.param_groups:
        group["lr"] = 1e-4 * group["lr_scale"]
    patch = model.backbone.patch_size
    spec = StepSpec(method=method, num_actions=10, mix="fame", beta=0.2, p_aug=0.8, be_max_lambda=0.3,
                    patch_size=patch, guide_pool=4, loss=LossConfig())
    data = _fake_batch(16, 8, 64, 64 // patch, 10, 10, torch.device("cpu"), torch.Generator().manual_seed(0))

    def step(i: int) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            loss, _ = compute_loss(model, data, spec, step_generator(0, i, torch.device("cpu")))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for i in range(3):
        step(i)
    walls, cpus = [], []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(steps):
            step(i)
        walls.append((time.perf_counter() - wall) / steps * 1000)
        cpus.append((time.process_time() - cpu) / steps * 1000)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="devias")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--amp", action="store_true", help="bf16 autocast (default: fp32)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    channels_last = backbone.PatchEmbed3d.forward
    for name, forward in (("plain", _plain_forward), ("channels-last", channels_last)):
        backbone.PatchEmbed3d.forward = forward
        wall, cpu = measure(args.method, args.steps, args.rounds, args.amp)
        print(f"{name:14s} {args.method}: {wall:6.0f} ms wall, {cpu:6.0f} ms CPU per step")
    backbone.PatchEmbed3d.forward = channels_last


if __name__ == "__main__":
    main()
