"""run.amp=native on a CPU with bf16 in hardware: train in bf16 autocast only where it is measured faster.

bf16 instructions in a CPU do not make a step faster by themselves: for the small matrices of a CPU-sized model
the casts around every operation can cost more than the narrower products save (the demo's step on a 2-core
Intel Xeon with AVX512-BF16: about 1.5x slower in bf16 than in fp32; on an AMD EPYC with it, 1.3-1.5x faster).
So the stage times the run's own first batch both ways, on a copy of the model, and keeps the faster one.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from devias_tk.engine.runtime import precision_label

# bf16 must save at least this share of the fp32 step to be taken: on a near tie fp32 (exact, and a choice that
# does not flip between two runs on the same machine) wins
BF16_MARGIN = 0.1
# a warm-up step slower than this (seconds) gets one timed step per precision instead of `repeats`
SLOW_STEP_S = 2.0

Candidate = torch.dtype | None  # None: fp32


def faster_precision(run: Callable[[Candidate], None], repeats: int = 3,
                     clock: Callable[[], float] = time.process_time) -> tuple[Candidate, dict[str, float]]:
    """Time `run(dtype)` for fp32 (None) and bf16, after one warm-up each (oneDNN builds its kernels on first
    use), `repeats` times interleaved; returns the chosen dtype and the best time of each ({"fp32": s, "bf16": s}).

    Process CPU time by default: what a step costs this process, whatever else the machine is running."""
    candidates: dict[str, Candidate] = {"fp32": None, "bf16": torch.bfloat16}
    best = {name: math.inf for name in candidates}
    warm = {}
    for name, dtype in candidates.items():
        start = clock()
        run(dtype)
        warm[name] = clock() - start
    rounds = 1 if max(warm.values()) > SLOW_STEP_S else repeats
    for _ in range(rounds):
        for name, dtype in candidates.items():
            start = clock()
            run(dtype)
            best[name] = min(best[name], clock() - start)
    chosen = "bf16" if best["bf16"] < (1 - BF16_MARGIN) * best["fp32"] else "fp32"
    return candidates[chosen], best


def probe_step(model: nn.Module, compute: Callable[[nn.Module, Mapping[str, Any], int], tuple[torch.Tensor, dict]],
               batch: Mapping[str, Any], step: int, device: torch.device) -> Callable[[Candidate], None]:
    """`run(dtype)` for `faster_precision`: one forward and backward of `compute` on `batch`, on a copy of `model`
    (its weights, batch-norm statistics and gradients stay as they are), the global RNG put back after."""
    probe = copy.deepcopy(model)
    probe.train()

    def run(dtype: Candidate) -> None:
        rng = torch.get_rng_state()
        with torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            loss, _ = compute(probe, batch, step)
        loss.backward()
        probe.zero_grad(set_to_none=True)
        torch.set_rng_state(rng)

    return run


def probe_line(chosen: Candidate, times: dict[str, float]) -> str:
    """The log line of a measured choice."""
    ms = ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in times.items())
    return (f"precision: {precision_label(chosen)} on cpu (run.amp=native, the faster "
            f"of the two on this CPU; one training step: {ms})")
