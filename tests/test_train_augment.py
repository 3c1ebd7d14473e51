"""Scene mix (eq. 8), BE, the top-beta hard mask and the pooled mask targets."""

from __future__ import annotations

import pytest
import torch

from devias_tk.models.backbone import PatchEmbed3d
from devias_tk.train.augment import (
    amd_target,
    be_mix,
    clear_foreground,
    random_derangement,
    scene_mix,
    top_beta_mask,
    tubelet_targets,
)


def clips_and_masks(batch: int = 4):
    # clip i is constant i + 1 (so the source of every pixel is readable); random hard masks
    clips = (torch.arange(batch, dtype=torch.float32) + 1).view(batch, 1, 1, 1, 1).expand(batch, 3, 2, 4, 5).clone()
    masks = (torch.rand(batch, 4, 5, generator=torch.Generator().manual_seed(3)) > 0.5).float()
    return clips, masks


def test_scene_mix_pastes_foreground_exactly_where_mask_is_one():
    clips, masks = clips_and_masks()
    scene = torch.tensor([10, 11, 12, 13])
    out = scene_mix(clips, masks, scene, p_aug=1.0, generator=torch.Generator().manual_seed(0))
    assert out.mixed.all()
    assert (out.perm != torch.arange(4)).all()  # derangement: every sample gets another background
    assert sorted(out.perm.tolist()) == [0, 1, 2, 3]
    for i in range(4):
        fg = masks[i].bool().expand(3, 2, 4, 5)
        assert (out.clips[i][fg] == i + 1).all()
        assert (out.clips[i][~fg] == out.perm[i] + 1).all()
    assert out.scene.tolist() == [10 + p for p in out.perm.tolist()]


def test_clear_foreground_fills_the_mask_with_the_frames_other_pixels_mean():
    # one clip, one channel, two frames of 2 x 2: the mask covers the top-left pixel
    clip = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[10.0, 20.0], [30.0, 60.0]]]])[None]  # (1, 1, 2, 2, 2)
    mask = torch.tensor([[1.0, 0.0], [0.0, 0.0]])[None, None, None]
    out = clear_foreground(clip, mask)
    assert out[0, 0, 0].tolist() == [[3.0, 2.0], [3.0, 4.0]]  # (2 + 3 + 4) / 3
    assert torch.allclose(out[0, 0, 1], torch.tensor([[110 / 3, 20.0], [30.0, 60.0]]))
    assert torch.equal(clear_foreground(clip, torch.ones_like(mask)), torch.zeros_like(clip))  # nothing to average


def test_scene_mix_with_a_cleared_donor_shows_one_actor():
    clips, masks = clips_and_masks()
    clips = clips + torch.linspace(0, 1, 5)  # a gradient across each frame, so a flattened region is visible
    out = scene_mix(clips, masks, torch.arange(4), 1.0, torch.Generator().manual_seed(0), clear_donor=True)
    plain = scene_mix(clips, masks, torch.arange(4), 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(out.perm, plain.perm)  # the same draws
    for i in range(4):
        j = int(out.perm[i])
        own, donor = masks[i].bool(), masks[j].bool()
        assert torch.equal(out.clips[i][:, :, own], clips[i][:, :, own])  # clip i's actor as it was
        rest = ~own & ~donor
        assert torch.equal(out.clips[i][:, :, rest], clips[j][:, :, rest])  # the donor's scene as it was
        hidden = ~own & donor  # the donor's actor, where clip i's does not cover it: its scene's mean colour
        want = (clips[j][:, :, ~donor].mean(-1, keepdim=True)).expand(3, 2, int(hidden.sum()))
        assert torch.allclose(out.clips[i][:, :, hidden], want)


def test_scene_mix_carries_distributions_and_respects_probability():
    clips, masks = clips_and_masks()
    dist = torch.eye(4)[:, :3] + 0.1
    out = scene_mix(clips, masks[:, None, None], dist, p_aug=1.0, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(out.scene, dist[out.perm])
    none = scene_mix(clips, masks, dist, p_aug=0.0, generator=torch.Generator().manual_seed(1))
    assert not none.mixed.any() and torch.equal(none.clips, clips) and torch.equal(none.scene, dist)
    # unmixed samples stay bit-identical, mixed ones change; the rate follows p_aug
    big = torch.randn(2000, 1, 1, 1, 1)
    res = scene_mix(big, torch.zeros(2000, 1, 1), torch.arange(2000), 0.5, torch.Generator().manual_seed(2))
    assert 0.45 < res.mixed.float().mean().item() < 0.55
    assert torch.equal(res.clips[~res.mixed], big[~res.mixed])
    assert torch.equal(res.clips[res.mixed], big[res.perm[res.mixed]])
    assert torch.equal(res.scene, torch.where(res.mixed, res.perm, torch.arange(2000)))


def test_scene_mix_is_reproducible_and_single_clip_batches_are_left_alone():
    clips, masks = clips_and_masks()
    a = scene_mix(clips, masks, torch.arange(4), 0.5, torch.Generator().manual_seed(7))
    b = scene_mix(clips, masks, torch.arange(4), 0.5, torch.Generator().manual_seed(7))
    assert torch.equal(a.clips, b.clips) and torch.equal(a.mixed, b.mixed) and torch.equal(a.perm, b.perm)
    one = scene_mix(clips[:1], masks[:1], torch.arange(1), 1.0)
    assert not one.mixed.any() and torch.equal(one.clips, clips[:1])


def test_random_derangement_has_no_fixed_points():
    g = torch.Generator().manual_seed(0)
    for n in (2, 3, 7, 12):
        for _ in range(20):
            perm = random_derangement(n, g)
            assert sorted(perm.tolist()) == list(range(n)) and (perm != torch.arange(n)).all()


def test_be_formula():
    # clip b, frame t has value 10 * b + t
    clips = (10 * torch.arange(2.0).view(2, 1, 1, 1, 1) + torch.arange(3.0).view(1, 1, 3, 1, 1)).expand(2, 2, 3, 2, 2)
    out, lam, index = be_mix(clips, torch.Generator().manual_seed(5))
    assert 0 <= lam.item() <= 0.3 and index.shape == (2,)
    for b in range(2):
        for t in range(3):
            expected = (1 - lam.item()) * (10 * b + t) + lam.item() * (10 * b + index[b].item())
            assert torch.allclose(out[b, :, t], torch.full((2, 2, 2), expected))
    same, lam2, index2 = be_mix(clips, torch.Generator().manual_seed(5))
    assert torch.equal(same, out) and lam2 == lam and torch.equal(index2, index)


def test_top_beta_mask_counts_and_ties():
    soft = torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(0))
    hard = top_beta_mask(soft, 0.3)  # round(0.3 * 20) = 6 per map
    assert hard.shape == soft.shape and hard.dtype == torch.float32
    assert hard.sum(dim=(-2, -1)).eq(6).all()
    assert (soft[hard.bool()].view(2, 3, 6).amin(-1) > soft.masked_fill(hard.bool(), -1).amax((-2, -1))).all()
    flat = torch.full((1, 2, 3), 0.5)  # all tied: raster order decides
    assert top_beta_mask(flat, 0.5).flatten().tolist() == [1, 1, 1, 0, 0, 0]
    tie = torch.tensor([[0.9, 0.5, 0.5], [0.5, 0.1, 0.0]])
    assert top_beta_mask(tie, 0.5).flatten().tolist() == [1, 1, 1, 0, 0, 0]
    assert top_beta_mask(torch.rand(2, 2), 0.0).sum() == 0 and top_beta_mask(torch.rand(2, 2), 1.0).sum() == 4
    assert top_beta_mask(torch.rand(10, 10), 0.125).sum() == 12  # round(12.5) == 12, as the masks stage counts
    # a ground-truth-like map smaller than beta: only its positive pixels, not the first rows of zeros
    small = torch.zeros(4, 5)
    small[2, 1:3] = 1.0
    assert top_beta_mask(small, 0.3).nonzero().tolist() == [[2, 1], [2, 2]]


def _masks():
    m = torch.zeros(1, 4, 4, 4)  # (B, T, H, W), patch 2, tubelet 2
    m[0, 0, 0, 0] = 1  # frame 0: one pixel of patch (0, 0)
    m[0, 1, :2, :2] = 1  # frame 1: all of patch (0, 0)
    m[0, 3, 3, 3] = 1  # frame 3: one pixel of patch (1, 1)
    return m


def test_amd_target_hand_values():
    target = amd_target(_masks(), 2)
    expected = torch.tensor([[(0.25 + 1) / 4, 0, 0, 0.25 / 4]])
    torch.testing.assert_close(target, expected)
    torch.testing.assert_close(amd_target(_masks()[:, 1], 2), torch.tensor([[1.0, 0, 0, 0]]))


def test_tubelet_targets_hand_values_and_token_order():
    masks = _masks()
    target = tubelet_targets(masks, 2, 2)
    expected = torch.zeros(1, 8)
    expected[0, 0] = (0.25 + 1) / 2  # tubelet 0, patch (0, 0)
    expected[0, 4 + 3] = 0.25 / 2  # tubelet 1, patch (1, 1)
    torch.testing.assert_close(target, expected)
    # same order as the backbone's tokens: an averaging patch embedding gives the same vector
    embed = PatchEmbed3d(1, 1, patch_size=2, tubelet_size=2)
    with torch.no_grad():
        embed.proj.weight.fill_(1 / 8)
        embed.proj.bias.zero_()
        torch.testing.assert_close(embed(masks[:, None])[..., 0], target)
    # per-pair masks already made: tubelet 1
    pairs = masks.view(1, 2, 2, 4, 4).mean(2)
    torch.testing.assert_close(tubelet_targets(pairs, 2, 1), target)


@pytest.mark.parametrize("p_aug", [0.0, 1.0])
def test_scene_mix_generator_can_differ_from_clip_device(p_aug):
    clips, masks = clips_and_masks()
    out = scene_mix(clips.double(), masks, torch.arange(4), p_aug, torch.Generator().manual_seed(0))
    assert out.clips.dtype == torch.float64 and out.mixed.device == clips.device
