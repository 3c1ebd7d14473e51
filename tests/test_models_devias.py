"""DEVIAS and the baselines: shapes, inference assignment, ablation switches, the factory."""

from __future__ import annotations

import pytest
import torch

from devias_tk.models import DEVIAS, METHODS, build_model, is_slot_block, layer_id
from devias_tk.models.devias import assign_by_probability, select_slot
from devias_tk.train.augment import amd_target, tubelet_targets
from devias_tk.train.losses import baseline_loss, devias_loss

A, S = 5, 4
TINY = {"size": "tiny", "embed_dim": 32, "num_heads": 2, "depth": 2, "frames": 4, "img_size": 32}
DEVIAS_TINY = {"slot_head_dim": 16, "amd_hidden": (24, 12)}


def build(method: str, **kw):
    cfg = dict(TINY, **(DEVIAS_TINY if method == "devias" else {}))
    cfg.update(kw)
    return build_model(method, num_actions=A, num_scenes=S, **cfg)


def batch(b: int = 3):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(b, 3, 4, 32, 32, generator=g)
    masks = (torch.rand(b, 4, 32, 32, generator=g) > 0.5).float()
    targets = {
        "action": torch.randint(0, A, (b,), generator=g),
        "scene": torch.rand(b, S, generator=g).softmax(-1),
        "amd": amd_target(masks, 16),
        "guide": tubelet_targets(masks, 16, 2),
    }
    return x, targets


# finetune is built on a source run's encoder (its class counts shape the role head): tests/test_models_finetune.py
@pytest.mark.parametrize("method", [m for m in METHODS if m != "finetune"])
def test_every_method_trains_and_predicts_with_the_shared_convention(method):
    torch.manual_seed(0)
    model = build(method)
    x, targets = batch()
    out = model(x)
    if method == "devias":
        loss, terms = devias_loss(out, targets, A)
        assert set(terms) == {"action", "scene", "cos", "amd", "guide"}
    else:
        loss, terms = baseline_loss(out, targets, A)
    assert torch.isfinite(loss) and loss.requires_grad
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads), "every parameter takes part (DDP without find_unused_parameters)"
    assert model.backbone.patch_embed.proj.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        pred = model.predict(x)
    has_action = method != "naive-scene"
    has_scene = method != "naive-action"
    expected = {"action_logits": (3, A), "scene_logits": (3, S), "action_feat": (3, 32), "scene_feat": (3, 32)}
    for key, shape in expected.items():
        present = has_action if key.startswith("action") else has_scene
        assert (pred[key] is not None) == present, key
        if present:
            assert tuple(pred[key].shape) == shape, key


def test_devias_training_output_shapes():
    model = build("devias", num_slots=3)
    out = model(batch()[0])
    assert out["slots"].shape == (3, 3, 32)
    assert out["logits"].shape == (3, 3, A + S)
    assert out["attn"].shape == (3, 3, 8)  # N = 2 x 2 x 2 tokens
    assert out["mask_logits"].shape == (3, 3, 4)  # 2 x 2 patches per frame
    torch.testing.assert_close(out["attn"].sum(1), torch.ones(3, 8))


def test_inference_assignment_by_softmax_probability():
    # unified logits over A=2, S=2; slot 1 is the most confident action slot, slot 0 the scene slot
    logits = torch.log(torch.tensor([[[0.3, 0.1, 0.5, 0.1], [0.6, 0.1, 0.2, 0.1]]]))
    action_slot, scene_slot = assign_by_probability(logits, 2)
    assert action_slot.tolist() == [1] and scene_slot.tolist() == [0]
    model = DEVIAS.__new__(DEVIAS)
    torch.nn.Module.__init__(model)
    model.num_actions = 2
    slots = torch.arange(6.0).view(1, 2, 3)
    pred = model.predict_from_output({"logits": logits, "slots": slots})
    torch.testing.assert_close(pred["action_logits"], logits[:, 1, :2])
    torch.testing.assert_close(pred["scene_logits"], logits[:, 0, 2:])
    torch.testing.assert_close(pred["action_feat"], slots[:, 1])
    torch.testing.assert_close(pred["scene_feat"], slots[:, 0])
    # the same slot may win both roles
    both = torch.log(torch.tensor([[[0.5, 0.0, 0.5, 0.0], [0.25, 0.25, 0.25, 0.25]]]) + 1e-9)
    assert [t.item() for t in assign_by_probability(both, 2)] == [0, 0]


def test_select_slot_gathers_per_sample():
    x = torch.arange(24.0).view(2, 3, 4)
    torch.testing.assert_close(select_slot(x, torch.tensor([2, 0])), torch.stack([x[0, 2], x[1, 0]]))


def test_ablation_switches():
    no_amd = build("devias", use_amd=False)
    out = no_amd(batch()[0])
    assert no_amd.amd is None and out["mask_logits"] is None
    no_de = build("devias", encoder="tokens")
    assert not hasattr(no_de, "slot_attention")
    out = no_de(batch()[0])
    assert out["slots"].shape == (3, 2, 32) and out["attn"].shape == (3, 2, 8)
    assert (out["attn"].sum(-1) <= 1 + 1e-6).all()
    for kw in ({"slot_update": "gru"}, {"shared_slot_weights": False, "slot_iters": 2},
               {"softmax_axis": "keys"}, {"num_slots": 4, "slot_iters": 8}):
        build("devias", **kw)(batch(2)[0])


def test_base_amd_widths_match_the_release():
    model = build_model("devias", num_actions=101, num_scenes=365, size="base", depth=1)
    widths = [(m.in_features, m.out_features) for m in model.amd.mlp if isinstance(m, torch.nn.Linear)]
    assert widths == [(768, 512), (512, 256), (256, 196)]
    assert model.head.out_features == 466


def test_factory_rejects_unknown_methods_and_keys():
    with pytest.raises(ValueError, match="unknown method"):
        build_model("three-token", num_actions=2, num_scenes=2)
    with pytest.raises(ValueError, match="slot_iters"):
        build_model("two-token", num_actions=2, num_scenes=2, slot_iters=4)
    with pytest.raises(ValueError, match="num_slotz"):
        build_model("devias", num_actions=2, num_scenes=2, num_slotz=2)


def test_parameter_grouping_helpers():
    model = build("devias")
    depth = model.backbone.depth
    ids = {name: layer_id(name, depth) for name, _ in model.named_parameters()}
    assert ids["backbone.patch_embed.proj.weight"] == 0
    assert ids["backbone.blocks.1.attn.qkv.weight"] == 2
    assert ids["backbone.norm.weight"] == depth + 1 and ids["head.weight"] == depth + 1
    slot_names = [n for n in ids if is_slot_block(n)]
    assert slot_names and all(n.startswith("slot_attention.") for n in slot_names)
    assert "slot_attention.slots" in slot_names
