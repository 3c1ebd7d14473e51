"""Slot attention: normalisation axes, a per-head reference loop, and the ablation variants."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from devias_tk.models.slots import SlotAttention, normalize_attention


def test_slot_softmax_sums_to_one_over_slots_then_over_keys():
    logits = torch.randn(2, 3, 4, 11) * 3  # (B, heads, K, N)
    attn, weights = normalize_attention(logits, "slots")
    torch.testing.assert_close(attn.sum(dim=-2), torch.ones(2, 3, 11))
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(2, 3, 4), atol=1e-5, rtol=0)
    assert not torch.allclose(attn.sum(dim=-1), torch.ones(2, 3, 4))
    # hand case: two slots, two keys
    attn, weights = normalize_attention(torch.tensor([[0.0, 0.0], [0.0, 2 * torch.log(torch.tensor(3.0))]]), "slots")
    torch.testing.assert_close(attn, torch.tensor([[0.5, 0.1], [0.5, 0.9]]))
    expected = torch.tensor([[0.5 / 0.6, 0.1 / 0.6], [0.5 / 1.4, 0.9 / 1.4]])
    torch.testing.assert_close(weights, expected, atol=1e-6, rtol=0)


def test_key_softmax_ablation_sums_over_keys():
    attn, weights = normalize_attention(torch.randn(2, 4, 9), "keys")
    torch.testing.assert_close(attn.sum(dim=-1), torch.ones(2, 4))
    torch.testing.assert_close(weights, attn / (1 + 1e-7))


def _reference(module: SlotAttention, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Algorithm 1 written with explicit loops over iterations and heads (shared residual variant)."""
    layer = module.layers[0]
    slots = module.slots.expand(tokens.shape[0], -1, -1)
    x = layer.norm_inputs(tokens)
    k_all, v_all = layer.to_k(x), layer.to_v(x)
    d = layer.head_dim
    for _ in range(module.iters):
        q_all = layer.to_q(layer.norm_slots(slots))
        outs, maps = [], []
        for h in range(layer.heads):
            q, k, v = (t[..., h * d : (h + 1) * d] for t in (q_all, k_all, v_all))
            a = torch.einsum("bkd,bnd->bkn", q, k) / d**0.5
            a = a.softmax(dim=1)  # over slots
            maps.append(a)
            w = a / (a.sum(dim=2, keepdim=True) + 1e-7)
            outs.append(torch.einsum("bkn,bnd->bkd", w, v))
        slots = layer.to_out(torch.cat(outs, dim=-1)) + slots
        slots = slots + layer.mlp(layer.norm_mlp(slots))
    return F.layer_norm(slots, slots.shape[-1:], module.norm.weight, module.norm.bias), torch.stack(maps).mean(0)


def test_matches_per_head_reference_and_attention_is_pre_renormalisation():
    torch.manual_seed(0)
    module = SlotAttention(16, num_slots=3, iters=3, heads=2, head_dim=8)
    tokens = torch.randn(2, 10, 16)
    slots, attn = module(tokens)
    ref_slots, ref_attn = _reference(module, tokens)
    assert slots.shape == (2, 3, 16) and attn.shape == (2, 3, 10) and attn.dtype == torch.float32
    torch.testing.assert_close(slots, ref_slots, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(attn, ref_attn, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(attn.sum(dim=1), torch.ones(2, 10))  # sums to 1 over slots


@pytest.mark.parametrize(
    ("kw", "layers"),
    [({"update": "gru"}, 1), ({"shared": False}, 4), ({"softmax_axis": "keys"}, 1)],
)
def test_variants_run_and_backpropagate(kw, layers):
    torch.manual_seed(0)
    module = SlotAttention(16, num_slots=2, iters=4, heads=2, head_dim=8, **kw)
    assert len(module.layers) == layers
    tokens = torch.randn(2, 6, 16, requires_grad=True)
    slots, attn = module(tokens)
    slots.sum().backward()
    assert tokens.grad is not None and torch.isfinite(tokens.grad).all()
    assert module.slots.grad is not None
    axis = 2 if kw.get("softmax_axis") == "keys" else 1
    torch.testing.assert_close(attn.sum(dim=axis), torch.ones(attn.shape[0], attn.shape[3 - axis]))
    if "gru" in kw:
        assert module.layers[0].gru is not None
    if kw.get("shared") is False:
        n_shared = sum(p.numel() for p in SlotAttention(16, 2, 4, 2, 8).layers.parameters())
        assert sum(p.numel() for p in module.layers.parameters()) == 4 * n_shared


def test_release_defaults():
    module = SlotAttention(768)
    layer = module.layers[0]
    assert (module.num_slots, module.iters, layer.heads, layer.head_dim) == (2, 4, 4, 512)
    assert layer.to_q.bias is None and layer.to_k.bias is None and layer.to_v.bias is None
    assert module.slots.shape == (2, 768) and len(module.layers) == 1 and layer.gru is None


def test_bad_options_raise():
    with pytest.raises(ValueError, match="update"):
        SlotAttention(8, update="lstm")
    with pytest.raises(ValueError, match="axis"):
        SlotAttention(8, softmax_axis="rows")
