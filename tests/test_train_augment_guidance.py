"""Guidance targets of mixed clips: clip i's per-tubelet masks cut to the pixels the mix kept from clip i."""

from __future__ import annotations

import torch

from devias_tk.train import step as step_mod
from devias_tk.train.augment import guidance_after_mix
from devias_tk.train.losses import LossConfig


def test_guidance_after_mix_hand_computed():
    tubelets = torch.zeros(2, 2, 2, 2)
    tubelets[:, 0] = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    tubelets[:, 1] = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
    pasted = torch.zeros(2, 4, 4)
    pasted[:, :2, :2] = 1  # M_i keeps the top-left guidance pixel whole ...
    pasted[:, :2, 2] = 1  # ... and half of the top-right one
    out = guidance_after_mix(tubelets, pasted, torch.tensor([True, False]))
    # sample 0 was mixed: masks x [[1, 0.5], [0, 0]] (the share of each guidance pixel M_0 kept)
    assert out[0, 0].tolist() == [[1.0, 0.5], [0.0, 0.0]]
    assert out[0, 1].tolist() == [[0.0, 0.5], [0.0, 0.0]]
    assert torch.equal(out[1], tubelets[1])  # not mixed: unchanged


def test_guidance_after_mix_is_the_intersection_for_aligned_hard_masks():
    gen = torch.Generator().manual_seed(0)
    tubelets = (torch.rand(3, 4, 6, 6, generator=gen) > 0.5).float()
    coarse = torch.rand(3, 6, 6, generator=gen) > 0.5
    pasted = coarse.repeat_interleave(2, 1).repeat_interleave(2, 2)  # (3, 12, 12), aligned to the 6x6 grid
    out = guidance_after_mix(tubelets, pasted, torch.tensor([True, True, False]))
    assert torch.equal(out[:2], (tubelets[:2].bool() & coarse[:2, None]).float())
    assert torch.equal(out[2], tubelets[2])


class _NoModel(torch.nn.Module):
    def forward(self, clips: torch.Tensor) -> dict:
        return {"mask_logits": None}


def _guide_target(monkeypatch, p_aug: float) -> torch.Tensor:
    seen = {}

    def capture(out, targets, num_actions, cfg):
        seen.update(targets)
        return torch.zeros(()), {}

    monkeypatch.setattr(step_mod, "devias_loss", capture)
    soft = torch.zeros(2, 8, 8, dtype=torch.uint8)
    soft[:, :4, :4] = 255  # beta 0.25 of 64 pixels: M_i = the top-left quadrant
    tubelet = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
    tubelet[:, 0, :, 0] = 255  # beta 0.25 of 16 guidance pixels: the left column
    batch = {"clip": torch.rand(2, 3, 2, 8, 8), "action": torch.tensor([0, 1]), "scene": torch.tensor([1, 0]),
             "soft_mask": soft, "tubelet_mask": tubelet}
    spec = step_mod.StepSpec(method="devias", num_actions=2, mix="fame", beta=0.25, p_aug=p_aug, be_max_lambda=0.3,
                             patch_size=4, guide_pool=2, loss=LossConfig(lambda_mask=0.0))
    step_mod.compute_loss(_NoModel(), batch, spec, torch.Generator().manual_seed(0))
    return seen["guide"]


def test_compute_loss_cuts_the_guidance_of_mixed_clips(monkeypatch):
    # tokens = 2x2 blocks of the 4x4 guidance grid; M_i at that grid = its top-left 2x2 pixels. The left
    # column's lower half lies on the other clip's background once mixed: token (1, 0) loses its 0.5.
    assert _guide_target(monkeypatch, p_aug=1.0).tolist() == [[0.5, 0.0, 0.0, 0.0]] * 2
    assert _guide_target(monkeypatch, p_aug=0.0).tolist() == [[0.5, 0.0, 0.5, 0.0]] * 2
