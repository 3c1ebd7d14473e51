"""The VideoMAE-compatible backbone: position table, checkpoint keys, token order, attention."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from devias_tk.models.backbone import PatchEmbed3d, VideoViT, sinusoid_table, token_layout


def tiny(**kw) -> VideoViT:
    cfg = {"size": "tiny", "depth": 2, "frames": 4, "img_size": 32}
    cfg.update(kw)
    return VideoViT(**cfg)


def test_sinusoid_table_formula():
    table = sinusoid_table(5, 6)
    assert table.shape == (5, 6) and table.dtype == torch.float32
    for pos in range(5):
        for j in range(6):
            angle = pos / 10000 ** (2 * (j // 2) / 6)
            expected = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert table[pos, j].item() == pytest.approx(expected, abs=1e-6)
    assert table[3, 2].item() == pytest.approx(math.sin(3 / 10000 ** (2 / 6)), abs=1e-7)


def videomae_finetuned_state(embed: int, depth: int, heads_mlp: int, patch: int = 16, tubelet: int = 2,
                             num_classes: int = 7, mean_pooling: bool = True, layer_scale: bool = False):
    """Fabricated tensors under the key names and shapes of an official VideoMAE fine-tuned checkpoint."""
    g = torch.Generator().manual_seed(0)
    sd = {
        "patch_embed.proj.weight": torch.randn(embed, 3, tubelet, patch, patch, generator=g),
        "patch_embed.proj.bias": torch.randn(embed, generator=g),
    }
    for i in range(depth):
        p = f"blocks.{i}."
        sd |= {
            p + "norm1.weight": torch.randn(embed, generator=g), p + "norm1.bias": torch.randn(embed, generator=g),
            p + "attn.qkv.weight": torch.randn(3 * embed, embed, generator=g),
            p + "attn.q_bias": torch.randn(embed, generator=g), p + "attn.v_bias": torch.randn(embed, generator=g),
            p + "attn.proj.weight": torch.randn(embed, embed, generator=g),
            p + "attn.proj.bias": torch.randn(embed, generator=g),
            p + "norm2.weight": torch.randn(embed, generator=g), p + "norm2.bias": torch.randn(embed, generator=g),
            p + "mlp.fc1.weight": torch.randn(heads_mlp, embed, generator=g),
            p + "mlp.fc1.bias": torch.randn(heads_mlp, generator=g),
            p + "mlp.fc2.weight": torch.randn(embed, heads_mlp, generator=g),
            p + "mlp.fc2.bias": torch.randn(embed, generator=g),
        }
        if layer_scale:
            sd |= {p + "gamma_1": torch.randn(embed, generator=g), p + "gamma_2": torch.randn(embed, generator=g)}
    norm = "fc_norm" if mean_pooling else "norm"
    sd |= {f"{norm}.weight": torch.randn(embed, generator=g), f"{norm}.bias": torch.randn(embed, generator=g)}
    sd |= {"head.weight": torch.randn(num_classes, embed, generator=g)}
    sd |= {"head.bias": torch.randn(num_classes, generator=g)}
    return sd


def encoder_part(sd: dict) -> dict:
    """What a caller does with a fine-tuned checkpoint: drop the head, fc_norm -> norm."""
    out = {k: v for k, v in sd.items() if not k.startswith("head.")}
    return {k.replace("fc_norm.", "norm.", 1) if k.startswith("fc_norm.") else k: v for k, v in out.items()}


@pytest.mark.parametrize("mean_pooling", [True, False])
def test_videomae_finetuned_keys_load_strictly(mean_pooling):
    model = tiny()
    sd = encoder_part(videomae_finetuned_state(192, 2, 768, mean_pooling=mean_pooling))
    result = model.load_state_dict(sd, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert torch.equal(model.blocks[1].attn.q_bias, sd["blocks.1.attn.q_bias"])
    assert torch.equal(model.norm.weight, sd["norm.weight"])
    # the position table is no parameter and no buffer in the state dict
    assert not any("pos" in k for k in model.state_dict())
    assert set(model.state_dict()) == set(sd)


def test_videomae_layer_scale_keys_load_strictly():
    model = tiny(init_values=0.1)
    model.load_state_dict(encoder_part(videomae_finetuned_state(192, 2, 768, layer_scale=True)), strict=True)


def test_vit_base_shapes_match_videomae():
    model = VideoViT("base", depth=1)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["patch_embed.proj.weight"] == (768, 3, 2, 16, 16)
    assert shapes["blocks.0.attn.qkv.weight"] == (2304, 768)
    assert shapes["blocks.0.attn.q_bias"] == (768,) and shapes["blocks.0.attn.v_bias"] == (768,)
    assert shapes["blocks.0.mlp.fc1.weight"] == (3072, 768)
    assert "blocks.0.attn.k_bias" not in shapes and "blocks.0.attn.qkv.bias" not in shapes
    assert model.norm.eps == 1e-6 and model.blocks[0].norm1.eps == 1e-6


def _manual_videomae_forward(model: VideoViT, x: torch.Tensor) -> torch.Tensor:
    """VideoMAE's forward written out by hand (explicit softmax attention, zero k bias)."""
    t = F.conv3d(x, model.patch_embed.proj.weight, model.patch_embed.proj.bias, stride=(2, 16, 16))
    t = t.flatten(2).transpose(1, 2)
    t = t + sinusoid_table(t.shape[1], t.shape[2])
    for blk in model.blocks:
        a = blk.attn
        h = F.layer_norm(t, (t.shape[-1],), blk.norm1.weight, blk.norm1.bias, 1e-6)
        bias = torch.cat([a.q_bias, torch.zeros_like(a.q_bias), a.v_bias])
        qkv = F.linear(h, a.qkv.weight, bias).reshape(t.shape[0], t.shape[1], 3, a.num_heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attn = ((q * a.head_dim**-0.5) @ k.transpose(-2, -1)).softmax(-1)
        t = t + a.proj((attn @ v).transpose(1, 2).reshape(t.shape))
        h = F.layer_norm(t, (t.shape[-1],), blk.norm2.weight, blk.norm2.bias, 1e-6)
        t = t + blk.mlp.fc2(F.gelu(blk.mlp.fc1(h)))
    return F.layer_norm(t, (t.shape[-1],), model.norm.weight, model.norm.bias, 1e-6)


def test_forward_matches_videomae_reference_and_any_clip_shape():
    torch.manual_seed(0)
    model = tiny().eval()
    for blk in model.blocks:  # non-zero biases so a wrong k bias would show
        torch.nn.init.normal_(blk.attn.q_bias)
        torch.nn.init.normal_(blk.attn.v_bias)
    assert all(blk.attn.fused_attn for blk in model.blocks)
    with torch.no_grad():
        for shape in [(4, 32, 32), (6, 48, 32)]:  # the configured shape and another one
            x = torch.randn(2, 3, *shape)
            out = model(x)
            n = (shape[0] // 2) * (shape[1] // 16) * (shape[2] // 16)
            assert out.shape == (2, n, 192)
            torch.testing.assert_close(out, _manual_videomae_forward(model, x), atol=2e-5, rtol=1e-4)


def test_token_order_is_tubelet_major_then_raster():
    embed = PatchEmbed3d(1, 1, patch_size=2, tubelet_size=2)
    with torch.no_grad():
        embed.proj.weight.fill_(1.0)
        embed.proj.bias.zero_()
    x = torch.zeros(1, 1, 4, 4, 6)
    x[0, 0, 2, 2, 4] = 1.0  # frame 2 -> tubelet 1; row 2 -> i=1; column 4 -> j=2
    out = embed(x)[0, :, 0]
    grid = embed.grid(4, 4, 6)
    assert grid == (2, 2, 3)
    assert out.nonzero().flatten().tolist() == [1 * 6 + 1 * 3 + 2]
    layout = token_layout(tiny())
    assert layout.grid == (2, 2, 2) and layout.num_tokens == 8 and layout.patches_per_frame == 4


def test_prefix_tokens_and_their_attention_map():
    torch.manual_seed(1)
    model = tiny().eval()
    prefix = torch.randn(2, 192)
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        tokens, attn = model(x, prefix=prefix, return_prefix_attn=True)
        assert tokens.shape == (2, 2 + 8, 192) and attn.shape == (2, 2, 8)
        # reference: the full explicit attention of the last block at its input
        h = model.patch_embed(x) + sinusoid_table(8, 192)
        h = torch.cat([prefix.expand(2, -1, -1), h], dim=1)
        h = model.blocks[0](h)
        a = model.blocks[1].attn
        z = model.blocks[1].norm1(h)
        bias = torch.cat([a.q_bias, torch.zeros_like(a.q_bias), a.v_bias])
        q, k, _ = F.linear(z, a.qkv.weight, bias).reshape(2, 10, 3, a.num_heads, -1).permute(2, 0, 3, 1, 4)
        full = ((q @ k.transpose(-2, -1)) * a.head_dim**-0.5).softmax(-1).mean(1)
    torch.testing.assert_close(attn, full[:, :2, 2:], atol=1e-5, rtol=1e-4)
    assert (attn.sum(-1) < 1).all()  # part of the mass goes to the prefix keys


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="divisible"):
        tiny()(torch.randn(1, 3, 3, 32, 32))
    with pytest.raises(ValueError, match="unknown backbone size"):
        VideoViT("huge")


@pytest.mark.parametrize("stem", ["conv", "conv3d", "hmlp"])
def test_stems_keep_the_token_grid_and_their_receptive_fields(stem):
    torch.manual_seed(0)
    embed = PatchEmbed3d(3, 24, patch_size=8, tubelet_size=2, stem=stem).eval()
    x = torch.randn(1, 3, 4, 16, 24)
    out = embed(x)
    assert out.shape == (1, 2 * 2 * 3, 24)
    # one pixel changed in frame 2 (tubelet 1), row 7 (i=0), column 15 (j=1): on a patch corner, so the
    # 3x3 kernels (receptive field of a token: its patch +- 7 px) reach the next row and column of tokens
    y = x.clone()
    y[0, :, 2, 7, 15] += 5.0
    changed = ((embed(y) - out).abs().amax(-1)[0] > 1e-6).nonzero().flatten().tolist()
    own = 1 * 6 + 0 * 3 + 1
    assert own in changed
    if stem == "hmlp":  # per-patch: only its own token moves
        assert changed == [own]
    else:  # overlapping 3x3 kernels reach neighbouring tokens
        assert len(changed) > 1
    if stem == "conv3d":  # 3-frame kernels: frame 2 also reaches tubelet 0 (frames 0-1)
        assert any(t < 6 for t in changed)
    else:
        assert all(t >= 6 for t in changed)


def test_an_unknown_stem_is_refused():
    with pytest.raises(ValueError, match="unknown stem"):
        PatchEmbed3d(3, 24, patch_size=8, tubelet_size=2, stem="resnet")


def _stem_channels(embed: PatchEmbed3d) -> list[int]:
    return [m.out_channels for m in embed.stem if isinstance(m, torch.nn.Conv3d)]


def test_stem_width_sets_the_channels_of_each_stage():
    assert _stem_channels(PatchEmbed3d(3, 192, patch_size=16, tubelet_size=2, stem="conv3d")) == [12, 24, 48, 96]
    wide = PatchEmbed3d(3, 192, patch_size=16, tubelet_size=2, stem="conv3d", stem_width=32)
    assert _stem_channels(wide) == [32, 64, 128, 192]  # doubling, capped at the embedding width
    assert wide(torch.randn(1, 3, 2, 32, 32)).shape == (1, 4, 192)


@pytest.mark.parametrize("stem", ["conv", "conv3d", "hmlp"])
def test_channels_last_stem_matches_the_plain_layout(stem):
    # On CPU the stem runs on channels-last input; tokens and gradients must equal the plain layout's.
    torch.manual_seed(0)
    embed = PatchEmbed3d(3, 48, 8, 2, stem=stem).eval()
    clip = torch.randn(2, 3, 4, 32, 32, requires_grad=True)
    layouts = []
    embed.stem.register_forward_pre_hook(
        lambda _m, args: layouts.append(args[0].is_contiguous(memory_format=torch.channels_last_3d)))
    fast = embed(clip)
    assert layouts == [True]
    fast.square().sum().backward()
    grads_fast = [p.grad.clone() for p in embed.parameters()]
    embed.zero_grad()
    plain = embed.proj(embed.stem(clip)).flatten(2).transpose(1, 2)  # the layout PyTorch picks by default
    plain.square().sum().backward()
    assert fast.shape == plain.shape == (2, 2 * 4 * 4, 48)
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-5)
    for got, want in zip(grads_fast, (p.grad for p in embed.parameters()), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-4)
