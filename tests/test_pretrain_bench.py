"""`bench pretrain`: the step runs on in-memory clips, and its FLOP count is torch's count of the forward."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from typer.testing import CliRunner

from devias_tk.bench.pretrain import bench_pretrain, pretrain_forward_flops
from devias_tk.cli import app
from devias_tk.models.backbone import VideoViT
from devias_tk.models.videomae import VideoMAEPretrainer
from devias_tk.pretrain.mae import tube_mask

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def test_forward_flops_equal_torchs_count():
    model = VideoMAEPretrainer(VideoViT("tiny", depth=2, frames=8, img_size=64), decoder_depth=2)
    mask = torch.from_numpy(np.stack([tube_mask((4, 4, 4), 0.75, np.random.default_rng(i)) for i in range(2)]))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(2, 3, 8, 64, 64), mask)
    counted = counter.get_total_flops() / 2  # per clip
    # torch counts no FLOPs for the CPU kernel of fused attention: add QK^T and AV (2 x 2 N^2 D per block) by hand
    attention = 2 * 4 * 16**2 * 192 + 2 * 4 * 64**2 * 96
    assert pretrain_forward_flops(model, tokens=64, visible=16) == pytest.approx(counted + attention, rel=1e-9)


def test_bench_pretrain_runs_the_step_and_prints_a_table(tmp_path):
    r = bench_pretrain("tiny", frames=4, size=32, mask_ratio=0.5, batch=2, steps=1, warmup=0, decoder_depth=1)
    assert (r.tokens, r.visible_tokens, r.decoder, r.precision) == (8, 4, "1 x 96", "fp32")
    assert r.clips_per_s > 0 and r.peak_memory_gib > 0 and r.tflops_per_s > 0
    out = tmp_path / "bench.json"
    result = runner.invoke(app, ["bench", "pretrain", "--model", "tiny", "--frames", "4", "--size", "32", "--ratio",
                                 "0.5", "--batch", "2", "--steps", "1", "--warmup", "0", "--decoder-depth", "1",
                                 "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "4 of 8 tokens visible" in result.output and "clips/s" in result.output
    assert out.is_file()
