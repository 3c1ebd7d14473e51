"""Each loss on a hand-computed case, and the criteria that combine them."""

from __future__ import annotations

import math

import pytest
import torch

from devias_tk.train.losses import (
    LossConfig,
    action_loss,
    amd_loss,
    baseline_loss,
    cosine_loss,
    devias_loss,
    guide_loss,
    scene_loss,
    teacher_distribution,
)

LOG = torch.log
P1234 = torch.tensor([[0.1, 0.2, 0.3, 0.4]])  # unified softmax over A=2 actions + S=2 scenes


def test_action_loss():
    assert action_loss(LOG(P1234), torch.tensor([1])).item() == pytest.approx(-math.log(0.2))
    assert action_loss(torch.zeros(2, 4), torch.tensor([0, 3])).item() == pytest.approx(math.log(4))


def test_scene_ce_over_unified_and_split_outputs():
    logits = LOG(P1234)
    # unified: scene 1 sits at index A + 1 = 3
    assert scene_loss(logits, torch.tensor([1]), offset=2).item() == pytest.approx(-math.log(0.4))
    # split: softmax over the scene part only, [0.3, 0.4] -> 3/7, 4/7
    assert scene_loss(logits[:, 2:], torch.tensor([1])).item() == pytest.approx(-math.log(4 / 7))
    # a cached distribution is reduced to its argmax in "ce" mode
    assert scene_loss(logits, torch.tensor([[0.2, 0.8]]), offset=2).item() == pytest.approx(-math.log(0.4))


def test_teacher_distribution_fills_action_positions():
    t = teacher_distribution(torch.tensor([[0.25, 0.75]]), offset=2)
    z = 1 + 0.5 / math.e  # [0.25/e, 0.25/e, 0.25, 0.75] normalised
    torch.testing.assert_close(t, torch.tensor([[0.25 / math.e / z, 0.25 / math.e / z, 0.25 / z, 0.75 / z]]))
    torch.testing.assert_close(teacher_distribution(torch.tensor([[1.0, 3.0]]), 0), torch.tensor([[0.25, 0.75]]))


def test_scene_kl_and_release_scaling():
    logits = LOG(P1234)
    dist = torch.tensor([[0.25, 0.75]])
    z = 1 + 0.5 / math.e
    t = [0.25 / math.e / z, 0.25 / math.e / z, 0.25 / z, 0.75 / z]
    kl = sum(ti * math.log(ti / qi) for ti, qi in zip(t, [0.1, 0.2, 0.3, 0.4], strict=True))
    assert scene_loss(logits, dist, offset=2, mode="kl").item() == pytest.approx(kl, rel=1e-5)
    assert scene_loss(logits, dist, offset=2, mode="release-kl").item() == pytest.approx(4000 * kl / 4, rel=1e-5)
    # separate scene head: plain KL to the distribution
    q = torch.tensor([[0.5, 0.5]])
    expected = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    assert scene_loss(LOG(q), dist, mode="kl").item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="distribution"):
        scene_loss(logits, torch.tensor([1]), offset=2, mode="kl")


def test_amd_bce_applies_one_sigmoid():
    logits = torch.tensor([[0.0, math.log(3.0)]])  # sigmoid: 0.5, 0.75
    target = torch.tensor([[0.5, 1.0]])
    expected = (math.log(2) - math.log(0.75)) / 2
    assert amd_loss(logits, target).item() == pytest.approx(expected, rel=1e-6)


def test_guide_mse():
    assert guide_loss(torch.tensor([[0.2, 0.8]]), torch.tensor([[0.0, 1.0]])).item() == pytest.approx(0.04)


def test_cosine_loss():
    assert cosine_loss(torch.tensor([[[1.0, 0.0], [1.0, 1.0]]])).item() == pytest.approx(1 / math.sqrt(2))
    three = torch.tensor([[[2.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]])  # pairs: 0, -1, 0
    assert cosine_loss(three).item() == pytest.approx(-1 / 3)
    batch = torch.cat([torch.tensor([[[1.0, 0.0], [1.0, 1.0]]]), torch.tensor([[[1.0, 0.0], [-1.0, 0.0]]])])
    assert cosine_loss(batch).item() == pytest.approx((1 / math.sqrt(2) - 1) / 2)


def _at_angles(*degrees: float) -> torch.Tensor:
    """One sample of unit-free 2-D slots at the given angles (lengths differ: the loss normalises)."""
    rad = [math.radians(d) for d in degrees]
    return torch.tensor([[[(i + 1) * math.cos(a), (i + 1) * math.sin(a)] for i, a in enumerate(rad)]])


@pytest.mark.parametrize(
    ("degrees", "signed", "absolute", "squared"),
    [
        ((0, 60), 0.5, 0.5, 0.25),
        ((0, 120), -0.5, 0.5, 0.25),
        ((0, 90), 0.0, 0.0, 0.0),
        ((0, 180), -1.0, 1.0, 1.0),  # the signed loss's minimum is the abs/squared maximum
        ((0, 90, 135), (0 - math.sqrt(0.5) + math.sqrt(0.5)) / 3, 2 * math.sqrt(0.5) / 3, 1 / 3),
    ],
)
def test_cosine_loss_variants(degrees, signed, absolute, squared):
    slots = _at_angles(*degrees)
    assert cosine_loss(slots, "signed").item() == pytest.approx(signed, abs=1e-6)
    assert cosine_loss(slots, "abs").item() == pytest.approx(absolute, abs=1e-6)
    assert cosine_loss(slots, "squared").item() == pytest.approx(squared, abs=1e-6)


def test_cosine_variants_descend_to_orthogonal_slots():
    """A few gradient steps from 120 degrees: signed opens the angle towards 180, abs/squared close it to 90."""
    def angle_after(mode: str) -> float:
        slots = _at_angles(0, 120).requires_grad_(True)
        optimizer = torch.optim.SGD([slots], lr=0.05)
        for _ in range(400):
            optimizer.zero_grad()
            cosine_loss(slots, mode).backward()
            optimizer.step()
        a, b = slots.detach()[0]
        return math.degrees(math.acos(float(a @ b / (a.norm() * b.norm()))))

    assert angle_after("signed") > 170
    assert angle_after("abs") == pytest.approx(90, abs=2)  # |cos| has a kink at 90: SGD ends near it
    assert angle_after("squared") == pytest.approx(90, abs=1)


def test_devias_loss_uses_the_configured_cosine():
    out, targets = _devias_case()  # slots at 45 degrees
    for mode, value in (("signed", math.sqrt(0.5)), ("abs", math.sqrt(0.5)), ("squared", 0.5)):
        _, terms = devias_loss(out, targets, 2, LossConfig(cosine=mode))
        assert terms["cos"].item() == pytest.approx(value, rel=1e-5), mode
    out = dict(out, slots=torch.tensor([[[1.0, 0.0], [-1.0, 1.0]]]))  # 135 degrees
    _, signed = devias_loss(out, targets, 2, LossConfig(cosine="signed"))
    _, absolute = devias_loss(out, targets, 2, LossConfig(cosine="abs"))
    assert signed["cos"].item() == pytest.approx(-math.sqrt(0.5), rel=1e-5)
    assert absolute["cos"].item() == pytest.approx(math.sqrt(0.5), rel=1e-5)


def _devias_case():
    # slot 0: [.1 .2 .3 .4], slot 1: [.4 .3 .2 .1]; action 0, scene 1 (unified index 3)
    # cost identity: -.1 - .1 ; swap: -.4 - .4 -> slot 1 is the action slot, slot 0 the scene slot
    out = {
        "logits": LOG(torch.tensor([[[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]]])),
        "slots": torch.tensor([[[1.0, 0.0], [1.0, 1.0]]]),
        "mask_logits": torch.tensor([[[5.0, 5.0], [0.0, math.log(3.0)]]]),
        "attn": torch.tensor([[[0.8, 0.2], [0.2, 0.8]]]),
    }
    targets = {
        "action": torch.tensor([0]),
        "scene": torch.tensor([1]),
        "amd": torch.tensor([[0.5, 1.0]]),
        "guide": torch.tensor([[0.0, 1.0]]),
    }
    return out, targets


def test_devias_loss_total_uses_the_matched_slots_only():
    out, targets = _devias_case()
    total, terms = devias_loss(out, targets, num_actions=2)
    expected = {
        "action": -math.log(0.4),
        "scene": -math.log(0.4),
        "cos": 1 / math.sqrt(2),
        "amd": (math.log(2) - math.log(0.75)) / 2,  # slot 1's mask logits
        "guide": 0.04,  # slot 1's map
    }
    for key, value in expected.items():
        assert terms[key].item() == pytest.approx(value, rel=1e-5), key
        assert not terms[key].requires_grad
    assert total.item() == pytest.approx(sum(expected.values()), rel=1e-5)
    weighted = LossConfig(lambda_mask=2.0, lambda_guide=0.5, lambda_cos=0.0)
    total, terms = devias_loss(out, targets, 2, weighted)
    assert total.item() == pytest.approx(2 * -math.log(0.4) + 2 * expected["amd"] + 0.02, rel=1e-5)
    total, terms = devias_loss(out, targets, 2, LossConfig(lambda_scene=0.25))
    assert terms["scene"].item() == pytest.approx(expected["scene"], rel=1e-5)  # the term is reported unweighted
    assert total.item() == pytest.approx(sum(expected.values()) - 0.75 * expected["scene"], rel=1e-5)
    # hard assignment: slot 0 action (p=.1), slot 1 scene (p=.1)
    _, terms = devias_loss(out, targets, 2, LossConfig(assignment="hard"))
    assert terms["action"].item() == pytest.approx(-math.log(0.1), rel=1e-5)
    assert terms["guide"].item() == pytest.approx(0.64, rel=1e-5)  # slot 0's map [.8, .2] vs [0, 1]
    # precomputed assignment is used as given
    _, terms = devias_loss(out, targets, 2, assignment=(torch.tensor([0]), torch.tensor([1])))
    assert terms["scene"].item() == pytest.approx(-math.log(0.1), rel=1e-5)


def test_devias_loss_split_and_kl_modes_and_missing_targets():
    out, targets = _devias_case()
    _, terms = devias_loss(out, targets, 2, LossConfig(class_loss="split"))
    assert terms["action"].item() == pytest.approx(-math.log(0.4 / 0.7), rel=1e-5)  # slot 1 actions [.4 .3]
    assert terms["scene"].item() == pytest.approx(-math.log(0.4 / 0.7), rel=1e-5)  # slot 0 scenes [.3 .4]
    soft = dict(targets, scene=torch.tensor([[0.25, 0.75]]))
    _, kl_terms = devias_loss(out, soft, 2, LossConfig(scene_loss="kl"))
    assert kl_terms["scene"].item() > 0
    no_amd = {k: v for k, v in targets.items() if k != "amd"}
    with pytest.raises(ValueError, match="'amd'"):
        devias_loss(out, no_amd, 2)
    _, terms = devias_loss(dict(out, mask_logits=None), no_amd, 2)
    assert terms["amd"].item() == 0


def test_baseline_loss_separate_and_unified_heads():
    targets = {"action": torch.tensor([1]), "scene": torch.tensor([0])}
    sep = {"action_logits": LOG(torch.tensor([[0.25, 0.75]])), "scene_logits": LOG(torch.tensor([[0.6, 0.4]]))}
    total, terms = baseline_loss(sep, targets, 2)
    assert total.item() == pytest.approx(-math.log(0.75) - math.log(0.6), rel=1e-5)
    total, _ = baseline_loss(sep, targets, 2, LossConfig(lambda_scene=0.0))
    assert total.item() == pytest.approx(-math.log(0.75), rel=1e-5)
    naive = {"action_logits": None, "scene_logits": LOG(torch.tensor([[0.6, 0.4]]))}
    total, terms = baseline_loss(naive, targets, 2)
    assert terms["action"].item() == 0 and total.item() == pytest.approx(-math.log(0.6), rel=1e-5)
    unified = {"unified_logits": LOG(torch.tensor([[[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]]]))}
    total, terms = baseline_loss(unified, targets, 2)  # action row: p[1]=.2; scene row: p[2+0]=.2
    assert terms["action"].item() == pytest.approx(-math.log(0.2), rel=1e-5)
    assert terms["scene"].item() == pytest.approx(-math.log(0.2), rel=1e-5)


def test_bad_config_raises():
    with pytest.raises(ValueError, match="scene_loss"):
        LossConfig(scene_loss="mse")
    with pytest.raises(ValueError, match="cosine must be one of"):
        LossConfig(cosine="orthogonal")
    with pytest.raises(ValueError, match="cosine loss must be one of"):
        cosine_loss(torch.ones(1, 2, 2), "l2")


def test_cosine_variant_from_a_config_override():
    from devias_tk.errors import DeviasError
    from devias_tk.train.config import config_from

    assert config_from(None, ["loss.cosine=abs"]).loss.cosine == "abs"
    assert config_from(None, []).loss.cosine == "signed"  # the paper's form stays the default
    with pytest.raises(DeviasError, match="loss: cosine must be one of"):
        config_from(None, ["loss.cosine=l2"])


def test_matching_on_all_role_terms_gives_the_action_role_to_the_slot_on_the_mask():
    # both slots classify alike (the class costs tie), slot 1's attention and AMD follow the pseudo-human mask:
    # the class cost alone keeps the identity (a tie), match_terms="all" gives slot 1 the action role
    logits = torch.log(torch.tensor([[[0.4, 0.1, 0.4, 0.1], [0.4, 0.1, 0.4, 0.1]]]))
    out = {"logits": logits, "slots": torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]),
           "attn": torch.tensor([[[0.9, 0.1], [0.1, 0.9]]]), "mask_logits": torch.tensor([[[4.0, -4.0], [-4.0, 4.0]]])}
    targets = {"action": torch.tensor([0]), "scene": torch.tensor([0]), "guide": torch.tensor([[0.0, 1.0]]),
               "amd": torch.tensor([[0.0, 1.0]])}
    _, plain = devias_loss(out, targets, 2)
    assert plain["guide"].item() == pytest.approx(0.81, rel=1e-5)  # slot 0 took the action role
    _, matched = devias_loss(out, targets, 2, LossConfig(match_terms="all"))
    assert matched["guide"].item() == pytest.approx(0.01, rel=1e-5)  # slot 1 did
    assert matched["action"].item() == pytest.approx(plain["action"].item())
    # the mask terms enter with their loss weights: weight 0 leaves the class cost alone
    _, unweighted = devias_loss(out, targets, 2, LossConfig(match_terms="all", lambda_guide=0, lambda_mask=0))
    assert unweighted["guide"].item() == 0.0 and unweighted["amd"].item() == 0.0
    with pytest.raises(ValueError, match="match_terms"):
        LossConfig(match_terms="some")
