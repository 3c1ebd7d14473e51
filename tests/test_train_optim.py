import math

import pytest

from devias_tk.engine.optim import lr_at, param_groups
from devias_tk.models.factory import build_model


def test_warmup_then_cosine():
    assert lr_at(0, 100, 10, 1.0, 0.0) == 0.0
    assert lr_at(5, 100, 10, 1.0, 0.0) == pytest.approx(0.5)
    assert lr_at(10, 100, 10, 1.0, 0.1) == pytest.approx(1.0)
    assert lr_at(55, 100, 10, 1.0, 0.0) == pytest.approx(0.5)  # half way through the cosine
    assert lr_at(100, 100, 10, 1.0, 0.1) == pytest.approx(0.1)
    assert lr_at(150, 100, 10, 1.0, 0.1) == pytest.approx(0.1)


def test_parameter_groups():
    model = build_model("devias", num_actions=5, num_scenes=4, size="tiny", depth=2, frames=4, img_size=32)
    groups = param_groups(model, weight_decay=0.05, layer_decay=0.5, slot_lr_scale=0.1)
    by_name = {name: g for g in groups for name in g["names"]}
    assert sum(len(g["params"]) for g in groups) == sum(1 for p in model.parameters() if p.requires_grad)
    # depth 2: patch embedding is layer 0 -> 0.5 ** 3; block 1 -> 0.5 ** 1; heads -> 1
    assert by_name["backbone.patch_embed.proj.weight"]["lr_scale"] == pytest.approx(0.125)
    assert by_name["backbone.blocks.1.mlp.fc1.weight"]["lr_scale"] == pytest.approx(0.5)
    assert by_name["head.weight"]["lr_scale"] == 1.0 and by_name["head.weight"]["weight_decay"] == 0.05
    assert by_name["slot_attention.slots"]["lr_scale"] == pytest.approx(0.1)
    assert by_name["slot_attention.slots"]["weight_decay"] == 0.0  # slot initialisation: no decay
    for name in ("head.bias", "backbone.norm.weight", "backbone.blocks.0.attn.q_bias"):
        assert by_name[name]["weight_decay"] == 0.0
    assert not math.isclose(by_name["backbone.blocks.0.attn.qkv.weight"]["weight_decay"], 0.0)
