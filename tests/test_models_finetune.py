"""Fine-tuning models: roles from the frozen source head, the fusion heads by hand, what learns, what is built."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from devias_tk.engine.optim import param_groups
from devias_tk.models.factory import build_model
from devias_tk.models.finetune import PooledFineTune, SlotFineTune
from devias_tk.train.losses import baseline_loss

TINY = {"size": "tiny", "depth": 1, "embed_dim": 8, "num_heads": 2, "slot_head_dim": 4, "frames": 4, "img_size": 32}


def _finetune(**kw) -> nn.Module:
    torch.manual_seed(0)
    return build_model("finetune", num_actions=5, num_scenes=0, **{**TINY, "source_actions": 3, "source_scenes": 2,
                                                                   **kw})


class FixedSlots(nn.Module):
    """Stands in for the slot encoder: returns the given slots (B, K, D) and a uniform attention map."""

    def __init__(self, slots: torch.Tensor) -> None:
        super().__init__()
        self.slots = slots

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, k = self.slots.shape[:2]
        return self.slots, torch.full((b, k, tokens.shape[1]), 1 / k)


def test_the_source_head_assigns_the_roles_per_clip():
    model = _finetune(fusion="concat").eval()
    e1, e2 = torch.eye(8)[0], torch.eye(8)[1]
    # clip 0: slot 0 looks like an action, slot 1 like a scene; clip 1: the other way round
    model.slot_attention = FixedSlots(torch.stack([torch.stack([e1, e2]), torch.stack([e2, e1])]))
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
        model.head.weight[:3, 0] = 5.0  # the 3 source actions respond to e1
        model.head.weight[3:, 1] = 5.0  # the 2 source scenes to e2
    out = model(torch.randn(2, 3, 4, 32, 32))
    assert out["action_slot"].tolist() == [0, 1] and out["scene_slot"].tolist() == [1, 0]
    expected = torch.cat([e1, e2]).expand(2, -1)  # [action slot; scene slot] whatever its index
    assert torch.equal(out["features"], expected)
    assert torch.allclose(out["action_logits"], model.target_head.fc(expected))
    assert out["scene_logits"] is None and out["action_logits"].shape == (2, 5)
    pred = model.predict_from_output(out)
    assert pred["scene_logits"] is None and pred["scene_feat"] is None and torch.equal(pred["action_feat"], expected)


def test_project_fusion_by_hand():
    model = _finetune(fusion="project").eval()
    head = model.target_head
    a, s = torch.randn(3, 8), torch.randn(3, 8)
    with torch.no_grad():  # non-trivial affine parameters, so a swapped or skipped norm shows
        for p in head.parameters():
            p.copy_(torch.randn_like(p))
    fused, logits = head(a, s)

    def proj(seq: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
        lin, norm = seq[0], seq[1]
        return F.layer_norm(x @ lin.weight.T + lin.bias, (4,), norm.weight, norm.bias)

    cat = torch.cat([proj(head.action_proj, a), proj(head.scene_proj, s)], dim=1)
    expected = torch.relu(F.layer_norm(cat, (8,), head.norm.weight, head.norm.bias))
    assert fused.shape == (3, 8) and torch.allclose(fused, expected, atol=1e-6)
    assert torch.allclose(logits, expected @ head.fc.weight.T + head.fc.bias, atol=1e-6)
    # each role has its own projection (the release sends the scene slot through the action one)
    assert not torch.equal(head.action_proj[0].weight, head.scene_proj[0].weight)


def test_only_the_encoder_and_the_new_head_learn():
    model = _finetune()
    x, y = torch.randn(2, 3, 4, 32, 32), torch.tensor([4, 1])
    out = model(x)
    loss, terms = baseline_loss(out, {"action": y, "scene": torch.tensor([-1, -1])}, 5)
    assert torch.allclose(loss, F.cross_entropy(out["action_logits"], y)) and float(terms["scene"]) == 0.0
    loss.backward()
    assert all(not p.requires_grad and p.grad is None for p in model.head.parameters())
    for part in (model.backbone.blocks, model.slot_attention, model.target_head):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())
    groups = param_groups(model, 0.05, 0.75, 0.1)
    names = {n: g["lr_scale"] for g in groups for n in g["names"]}
    assert not any(n.startswith("head.") for n in names)  # frozen: not in the optimizer
    assert names["target_head.fc.weight"] == 1.0 and names["slot_attention.slots"] == pytest.approx(0.1)
    assert names["backbone.blocks.0.attn.qkv.weight"] == pytest.approx(0.75)


def test_pooled_sources_and_gap():
    x = torch.randn(2, 3, 4, 32, 32)
    naive = _finetune(source="naive-action", slot_iters=3)  # slot keys of a shared recipe do not matter
    assert isinstance(naive, PooledFineTune) and naive.norm is None and naive.inherits == ("backbone.",)
    out = naive(x)
    pooled = naive.backbone(x).mean(dim=1)
    assert torch.allclose(out["features"], pooled) and torch.allclose(out["action_logits"], naive.head(pooled))
    gap = _finetune(fusion="gap")  # the paper's DEVIAS (GAP): no slots, a LayerNorm on the pooled tokens
    assert isinstance(gap, PooledFineTune) and gap.source == "devias" and gap.fusion == "gap"
    assert not hasattr(gap, "slot_attention")
    assert torch.allclose(gap(x)["features"], gap.norm(gap.backbone(x).mean(dim=1)))
    slots = _finetune()
    assert isinstance(slots, SlotFineTune) and slots.amd is None and slots.head.out_features == 5


def test_bad_model_keys():
    with pytest.raises(ValueError, match=r"model\.source must be one of"):
        _finetune(source="two-token")
    with pytest.raises(ValueError, match=r"model\.fusion must be one of"):
        _finetune(fusion="sum")
    with pytest.raises(ValueError, match="source run's class counts"):
        _finetune(source_actions=0)
    with pytest.raises(ValueError, match="unknown config key"):
        _finetune(use_amd=True)  # DEVIAS's own key: no mask decoder in a fine-tuning model
