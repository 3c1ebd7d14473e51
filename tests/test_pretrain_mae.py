"""VideoMAE's method pieces against hand computations, and the pre-training network against a plain-torch
reference of VideoMAE's pre-training forward on a fabricated checkpoint in the published layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from checkpoint_fixtures import EPS, _block, sinusoid, videomae_pretraining

from devias_tk.data.transforms import FIXED_OFFSETS, multi_scale_box
from devias_tk.models.backbone import VideoViT
from devias_tk.models.videomae import VideoMAEPretrainer, from_videomae_state_dict, videomae_state_dict
from devias_tk.pretrain import mae


@pytest.mark.parametrize(("grid", "ratio", "expected"), [((8, 14, 14), 0.9, 176), ((8, 14, 14), 0.75, 147),
                                                         ((8, 6, 6), 0.75, 27), ((2, 10, 10), 0.29, 29)])
def test_tube_mask_ratio_is_exact_and_the_same_in_every_frame(grid, ratio, expected):
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(20):
        mask = mae.tube_mask(grid, ratio, rng)
        t, h, w = grid
        assert mask.shape == (t * h * w,) and mask.dtype == bool
        frames = mask.reshape(t, h * w)
        assert (frames == frames[0]).all(), "every tubelet of a clip shares the spatial mask"
        assert frames[0].sum() == expected and mask.sum() == t * expected
        seen.add(frames[0].tobytes())
    assert len(seen) == 20, "masks are random across draws"


def test_a_ratio_that_masks_nothing_or_everything_is_refused():
    with pytest.raises(ValueError, match="at least one patch masked and one visible"):
        mae.num_masked(4, 0.2)
    with pytest.raises(ValueError, match="at least one patch masked and one visible"):
        mae.num_masked(4, 1.0)


def test_patchify_follows_the_patch_embedding_token_order_and_inverts():
    torch.manual_seed(0)
    video = torch.rand(2, 3, 4, 8, 12)
    patches = mae.patchify(video, patch=4, tubelet=2)
    assert patches.shape == (2, 2 * 2 * 3, 2 * 4 * 4, 3)
    # token (t=1, i=0, j=2) is index 1*6 + 0*3 + 2 = 8; its pixel (frame 1, row 3, col 0) is 1*16 + 3*4 + 0
    assert torch.equal(patches[1, 8, 1 * 16 + 3 * 4 + 0], video[1, :, 2 + 1, 0 + 3, 8 + 0])
    assert torch.equal(mae.unpatchify(patches, (2, 2, 3), 4, 2), video)
    # the Conv3d patch embedding numbers tokens the same way: a kernel that reads one pixel of channel 2
    conv = torch.nn.Conv3d(3, 1, kernel_size=(2, 4, 4), stride=(2, 4, 4), bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 2, 1, 3, 0] = 1
    embedded = conv(video).flatten(2).transpose(1, 2)[..., 0]
    assert torch.equal(embedded, patches[:, :, 1 * 16 + 3 * 4 + 0, 2])


def test_normalised_pixel_target_equals_a_hand_computation():
    # one tubelet (2 frames of 2 x 2 pixels, patch 2), channel c holds 10 c + the pixel's position 0..7
    video = torch.zeros(1, 3, 2, 2, 2)
    for c in range(3):
        video[0, c] = (torch.arange(8.0) * (c + 1) + 10 * c).reshape(2, 2, 2)
    target = mae.pixel_targets(video, patch=2, tubelet=2)
    assert target.shape == (1, 1, 8 * 3)
    for c in range(3):
        values = [10 * c + k * (c + 1) for k in range(8)]
        mean = sum(values) / 8
        std = (sum((v - mean) ** 2 for v in values) / 7) ** 0.5  # unbiased, as VideoMAE
        for k in range(8):  # pixel k = (frame, row, column) in raster order, channels last
            assert target[0, 0, k * 3 + c].item() == pytest.approx((values[k] - mean) / (std + 1e-6), rel=1e-6)
    raw = mae.pixel_targets(video, 2, 2, normalize=False)
    assert raw[0, 0, 5 * 3 + 1].item() == pytest.approx(10 + 5 * 2)


def test_loss_depends_only_on_masked_tokens():
    g = torch.Generator().manual_seed(1)
    targets = torch.randn(2, 8, 6, generator=g)
    mask = torch.from_numpy(np.stack([mae.tube_mask((2, 2, 2), 0.5, np.random.default_rng(i)) for i in range(2)]))
    pred = torch.randn(2, 4, 6, generator=g)
    loss = mae.masked_mse(pred, targets, mask)
    changed = targets.clone()
    changed[~mask] = torch.randn(int((~mask).sum()), 6, generator=g) * 100
    assert mae.masked_mse(pred, changed, mask).item() == loss.item()
    expected = ((pred - targets[mask].reshape(2, 4, 6)) ** 2).mean()
    assert loss.item() == pytest.approx(expected.item())
    changed[mask] += 1.0  # a masked target moves: so does the loss
    assert mae.masked_mse(pred, changed, mask).item() != pytest.approx(loss.item())


def test_reconstruction_of_a_perfect_prediction_is_the_clip():
    torch.manual_seed(2)
    video = torch.rand(2, 3, 4, 8, 8)
    mask = torch.from_numpy(np.stack([mae.tube_mask((2, 2, 2), 0.5, np.random.default_rng(i)) for i in range(2)]))
    targets = mae.pixel_targets(video, 4, 2)
    perfect = targets[mask].reshape(2, -1, targets.shape[-1])
    torch.testing.assert_close(mae.reconstruct(video, mask, perfect, 4, 2), video, atol=1e-5, rtol=0)
    zeros = mae.reconstruct(video, mask, torch.zeros_like(perfect), 4, 2)  # prediction 0 = the patch's mean
    patches = mae.patchify(zeros, 4, 2)
    means = mae.patchify(video, 4, 2).mean(dim=2, keepdim=True)
    assert torch.allclose(patches[mask], means[mask].expand_as(patches[mask]), atol=1e-6)
    assert torch.equal(patches[~mask], mae.patchify(video, 4, 2)[~mask])
    shown = mae.patchify(mae.masked_input(video, mask, 4, 2), 4, 2)
    assert (shown[mask] == 0.5).all() and torch.equal(shown[~mask], mae.patchify(video, 4, 2)[~mask])


def test_unnormalize_inverts_the_imagenet_normalisation():
    x = torch.rand(1, 3, 2, 4, 4)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1, 1)
    torch.testing.assert_close(mae.unnormalize((x - mean) / std), x)


def test_multi_scale_box_sizes_and_positions():
    rng = np.random.default_rng(0)
    height, width, size = 240, 320, 224
    sides = {int(240 * s) for s in (1, 0.875, 0.75, 0.66)}  # 240, 210, 180, 158: none within 3 px of 224
    order = sorted(sides, reverse=True)
    for _ in range(300):
        box = multi_scale_box(height, width, size, rng)
        assert box.h in sides and box.w in sides
        assert abs(order.index(box.h) - order.index(box.w)) <= 1
        assert box.y + box.h <= height and box.x + box.w <= width
        step_y, step_x = (height - box.h) // 4, (width - box.w) // 4
        assert (box.y, box.x) in {(oy * step_y, ox * step_x) for oy, ox in FIXED_OFFSETS}
    near = multi_scale_box(226, 300, 224, np.random.default_rng(1), scales=(1.0,))
    assert (near.h, near.w) == (224, 224), "sides within 3 pixels of the input size snap to it"


# ------------------------------------------------------------------------- the network vs VideoMAE's forward

DIM, HEADS, DEC, DEC_HEADS = 64, 2, 32, 2


def _reference_pretrain_forward(sd: dict, clips: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """VideoMAE's pre-training forward, written out: encoder on the visible tokens (sinusoid positions),
    encoder_to_decoder, [visible + pos, mask_token + pos], decoder blocks, norm and head on the masked tokens."""
    w = sd["encoder.patch_embed.proj.weight"]
    x = F.conv3d(clips, w, sd["encoder.patch_embed.proj.bias"], stride=tuple(w.shape[2:])).flatten(2).transpose(1, 2)
    b, n, d = x.shape
    x = x + sinusoid(n, d)
    x = x[~mask].reshape(b, -1, d)
    for i in range(2):
        x = _block(x, sd, f"encoder.blocks.{i}.", HEADS)
    x = F.layer_norm(x, (d,), sd["encoder.norm.weight"], sd["encoder.norm.bias"], EPS)
    x = x @ sd["encoder_to_decoder.weight"].T
    pos = sinusoid(n, DEC).expand(b, -1, -1)
    full = torch.cat([x + pos[~mask].reshape(b, -1, DEC), sd["mask_token"] + pos[mask].reshape(b, -1, DEC)], dim=1)
    full = _block(full, sd, "decoder.blocks.0.", DEC_HEADS)
    m = int(mask[0].sum())
    out = F.layer_norm(full[:, -m:], (DEC,), sd["decoder.norm.weight"], sd["decoder.norm.bias"], EPS)
    return F.linear(out, sd["decoder.head.weight"], sd["decoder.head.bias"])


def _pretrainer() -> VideoMAEPretrainer:
    backbone = VideoViT("tiny", embed_dim=DIM, depth=2, num_heads=HEADS, frames=4, img_size=32)
    return VideoMAEPretrainer(backbone, decoder_dim=DEC, decoder_depth=1, decoder_heads=DEC_HEADS).eval()


def test_a_published_layout_checkpoint_loads_strictly_and_the_forward_matches_videomae():
    sd = videomae_pretraining(DIM, 2, decoder_dim=DEC)
    model = _pretrainer()
    model.load_state_dict(from_videomae_state_dict(sd), strict=True)
    assert videomae_state_dict(model.state_dict()).keys() == sd.keys()
    clips = torch.randn(3, 3, 4, 32, 32, generator=torch.Generator().manual_seed(4))
    mask = torch.from_numpy(np.stack([mae.tube_mask((2, 2, 2), 0.5, np.random.default_rng(i)) for i in range(3)]))
    with torch.no_grad():
        got = model(clips, mask)
    assert got.shape == (3, 4, 3 * 2 * 16 * 16)
    torch.testing.assert_close(got, _reference_pretrain_forward(sd, clips, mask), atol=2e-5, rtol=1e-4)


def test_the_encoder_sees_only_visible_tokens():
    torch.manual_seed(0)
    model = _pretrainer()
    clips = torch.randn(1, 3, 4, 32, 32)
    mask = torch.from_numpy(mae.tube_mask((2, 2, 2), 0.5, np.random.default_rng(0)))[None]
    with torch.no_grad():
        before = model.encode_visible(clips, mask)
        pixels = mae.patchify(clips, 16, 2)
        pixels[mask] = torch.randn_like(pixels[mask]) * 10  # change every masked tubelet's pixels
        after = model.encode_visible(mae.unpatchify(pixels, (2, 2, 2), 16, 2), mask)
    assert before.shape == (1, 4, DIM)
    torch.testing.assert_close(before, after)


def test_every_linear_layer_of_the_pretraining_network_is_xavier_uniform():
    torch.manual_seed(0)
    model = VideoMAEPretrainer(VideoViT("tiny", depth=2, frames=4, img_size=32), decoder_depth=1)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert any(name.startswith("backbone.") for name, m in model.named_modules() if m in linears)
    for m in linears:
        fan_out, fan_in = m.weight.shape
        bound = (6 / (fan_in + fan_out)) ** 0.5
        # uniform on [-bound, bound]: its extremes near the bound, its std bound / sqrt(3)
        assert m.weight.abs().max() <= bound and m.weight.abs().max() > 0.9 * bound
        assert abs(m.weight.std().item() - bound / 3 ** 0.5) < 0.15 * bound / 3 ** 0.5
        assert m.bias is None or not m.bias.any()
    # a fine-tuning backbone keeps its truncated normal (std 0.02)
    plain = VideoViT("tiny", depth=2, frames=4, img_size=32)
    assert abs(plain.blocks[0].attn.qkv.weight.std().item() - 0.02) < 0.003


@pytest.mark.parametrize("stem", ["patch", "hmlp"])
def test_the_decoder_predicts_a_tubelets_pixels_whatever_the_stem(stem):
    # the hMLP stem's last projection sees its own channels, not the pixels': the target is 2 x 16 x 16 x 3
    model = VideoMAEPretrainer(VideoViT("tiny", depth=1, frames=4, img_size=32, stem=stem), decoder_depth=1)
    assert model.pixels_per_token == 2 * 16 * 16 * 3
    clips = torch.rand(2, 3, 4, 32, 32)
    mask = torch.from_numpy(np.stack([mae.tube_mask((2, 2, 2), 0.5, np.random.default_rng(i)) for i in range(2)]))
    pred = model(clips, mask)
    assert pred.shape == (2, int(mask[0].sum()), 2 * 16 * 16 * 3)
    targets = mae.pixel_targets(clips, 16, 2)
    assert torch.isfinite(mae.masked_mse(pred, targets, mask))
