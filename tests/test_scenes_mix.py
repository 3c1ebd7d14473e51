"""Mixup / cutmix / label smoothing of `scenes train --video`, against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from devias_tk.scenes.mix import MixSpec, cut_box, mix_batch, smooth_one_hot, soft_cross_entropy


def test_smooth_one_hot_by_hand():
    t = smooth_one_hot(torch.tensor([2, 0]), 4, 0.1)
    np.testing.assert_allclose(t.numpy(), [[0.025, 0.025, 0.925, 0.025], [0.925, 0.025, 0.025, 0.025]], atol=1e-7)
    assert torch.equal(smooth_one_hot(torch.tensor([1]), 3, 0.0), torch.tensor([[0.0, 1.0, 0.0]]))


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.arange(4, dtype=torch.float32)[:, None, None, None].expand(4, 3, 10, 20).clone()  # image i == i
    return images, torch.tensor([0, 1, 2, 0])


def test_mixup_blends_each_image_with_its_mirror_in_the_batch():
    images, labels = _batch()
    spec = MixSpec(mixup=0.8, cutmix=0.0, label_smoothing=0.0)
    mixed, targets, info = mix_batch(images, labels, 3, spec, np.random.default_rng(5))
    lam = info["lam"]
    assert 0 < lam < 1 and info["cutmix"] == 0.0
    rng = np.random.default_rng(5)
    rng.random()  # the draw of whether to mix
    assert lam == rng.beta(0.8, 0.8)  # mixup only: no draw of the kind
    # sample i is lam * i + (1 - lam) * (3 - i), everywhere
    for i in range(4):
        assert torch.allclose(mixed[i], torch.full_like(mixed[i], lam * i + (1 - lam) * (3 - i)))
    # targets: lam on the own class, 1 - lam on the partner's (samples 0 and 3 share class 0)
    np.testing.assert_allclose(targets[0].numpy(), [1.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(targets[1].numpy(), [0.0, lam, 1 - lam], atol=1e-6)
    np.testing.assert_allclose(targets.sum(1).numpy(), 1.0, atol=1e-6)


def test_cutmix_pastes_one_box_and_weights_targets_by_its_true_area():
    images, labels = _batch()
    spec = MixSpec(mixup=0.0, cutmix=1.0, label_smoothing=0.1)
    mixed, targets, info = mix_batch(images, labels, 3, spec, np.random.default_rng(11))
    assert info["cutmix"] == 1.0
    pasted = mixed[1, 0] != 1  # image 1's pixels replaced by image 2's
    assert torch.all(mixed[1, 0][pasted] == 2)
    rows, cols = pasted.nonzero(as_tuple=True)
    box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    assert int(box) == int(pasted.sum())  # one rectangle
    lam = 1 - float(pasted.float().mean())
    assert info["lam"] == pytest.approx(lam)
    smoothed = smooth_one_hot(labels, 3, 0.1)
    torch.testing.assert_close(targets, smoothed * lam + smoothed.flip(0) * (1 - lam))


def test_cut_box_side_and_clipping():
    rng = np.random.default_rng(0)
    for _ in range(50):
        y0, y1, x0, x1 = cut_box(40, 60, 0.75, rng)  # sides: half of each (sqrt(0.25))
        assert 0 <= y0 <= y1 <= 40 and 0 <= x0 <= x1 <= 60 and y1 - y0 <= 20 and x1 - x0 <= 30


def test_no_mixing_when_off_or_not_drawn():
    images, labels = _batch()
    for spec in (MixSpec(mixup=0.0, cutmix=0.0), MixSpec(prob=0.0)):
        out, targets, info = mix_batch(images, labels, 3, spec, np.random.default_rng(1))
        assert out is images and info["lam"] == 1.0
        torch.testing.assert_close(targets, smooth_one_hot(labels, 3, spec.label_smoothing))


def test_soft_cross_entropy_equals_hard_cross_entropy_on_one_hot_targets():
    logits = torch.randn(5, 7, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 6, 3, 3, 1])
    torch.testing.assert_close(soft_cross_entropy(logits, smooth_one_hot(labels, 7, 0.0)),
                               torch.nn.functional.cross_entropy(logits, labels))
    torch.testing.assert_close(soft_cross_entropy(logits, smooth_one_hot(labels, 7, 0.2)),
                               torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.2))
