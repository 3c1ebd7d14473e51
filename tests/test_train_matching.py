"""Slot matching against brute force, scipy, and hand cases."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from devias_tk.train.matching import assign_roles, hungarian_scipy, match_slots, matching_cost


def brute_force(cost: torch.Tensor) -> tuple[list[int], list[int]]:
    """Best (action_slot, scene_slot) per sample over all ordered pairs of distinct slots."""
    actions, scenes = [], []
    for c in cost:
        best = min(itertools.permutations(range(c.shape[0]), 2), key=lambda p: c[p[0], 0] + c[p[1], 1])
        actions.append(best[0])
        scenes.append(best[1])
    return actions, scenes


@pytest.mark.parametrize("num_slots", [2, 3, 4])
def test_hungarian_equals_brute_force(num_slots):
    cost = torch.randn(64, num_slots, 2, generator=torch.Generator().manual_seed(num_slots))
    action_slot, scene_slot = assign_roles(cost, "hungarian")
    expected = brute_force(cost)
    assert action_slot.tolist() == expected[0] and scene_slot.tolist() == expected[1]
    assert action_slot.dtype == torch.long and action_slot.shape == (64,)


def test_vectorised_pair_path_equals_scipy():
    cost = -torch.rand(200, 2, 2, generator=torch.Generator().manual_seed(1))
    fast = assign_roles(cost, "hungarian")
    slow = hungarian_scipy(cost)
    assert torch.equal(fast[0], slow[0]) and torch.equal(fast[1], slow[1])
    assert 0 < fast[0].sum() < 200  # both permutations occur


def test_hard_and_greedy():
    cost = torch.tensor([
        # slot: (action cost, scene cost)
        [[-0.5, -0.4], [-0.45, -0.1]],  # greedy: slot 0 action, slot 1 scene (-0.6); Hungarian swaps (-0.85)
        [[-0.5, -0.9], [-0.45, -0.1]],  # cheapest: slot 0 scene -> slot 1 action
        [[-0.6, -0.5], [-0.1, -0.2]],  # greedy: slot 0 action, slot 1 scene; Hungarian too (-0.8 vs -0.6)
        [[-0.6, -0.59], [-0.5, -0.0]],  # greedy takes slot 0 action (total -0.6); Hungarian swaps (-1.09)
    ])
    hard = assign_roles(cost, "hard")
    assert hard[0].tolist() == [0] * 4 and hard[1].tolist() == [1] * 4
    greedy = assign_roles(cost, "greedy")
    assert greedy[0].tolist() == [0, 1, 0, 0] and greedy[1].tolist() == [1, 0, 1, 1]
    hungarian = assign_roles(cost, "hungarian")
    assert hungarian[0].tolist() == [1, 1, 0, 1]


def test_greedy_never_gives_one_slot_both_roles():
    cost = torch.randn(100, 3, 2, generator=torch.Generator().manual_seed(2))
    a, s = assign_roles(cost, "greedy")
    assert (a != s).all()


def test_cost_is_the_cross_entropy_of_the_zero_padded_label_by_default():
    # B=1, K=2, A=2, S=2; softmax over all four outputs
    probs = torch.tensor([[[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]]])
    logits = probs.log()
    action, scene = torch.tensor([1]), torch.tensor([0])  # scene 0 sits at unified index 2
    ce = matching_cost(logits, action, scene, num_actions=2)
    torch.testing.assert_close(ce, -torch.log(torch.tensor([[[0.2, 0.3], [0.3, 0.2]]])))
    prob = matching_cost(logits, action, scene, num_actions=2, cost="prob")  # the release's
    torch.testing.assert_close(prob, -torch.tensor([[[0.2, 0.3], [0.3, 0.2]]]))
    # identity: 0.2 * 0.2 < swap: 0.3 * 0.3 -> slot 1 is the action slot (both costs agree here)
    for cost in ("ce", "prob"):
        a, s = match_slots(logits, action, scene, 2, cost=cost)
        assert a.tolist() == [1] and s.tolist() == [0]


def test_a_soft_scene_target_is_used_whole_by_ce_and_by_its_argmax_by_prob():
    probs = torch.tensor([[[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]]])
    logits, action = probs.log(), torch.tensor([1])
    soft = torch.tensor([[0.7, 0.3]])
    ce = matching_cost(logits, action, soft, 2)
    # scene cost of slot 0: -(0.7 log 0.3 + 0.3 log 0.4); of slot 1: -(0.7 log 0.2 + 0.3 log 0.1)
    expected_scene = torch.tensor([-(0.7 * math.log(0.3) + 0.3 * math.log(0.4)),
                                   -(0.7 * math.log(0.2) + 0.3 * math.log(0.1))])
    torch.testing.assert_close(ce[0, :, 1], expected_scene)
    torch.testing.assert_close(ce[0, :, 0], -torch.log(torch.tensor([0.2, 0.3])))
    # a one-hot distribution is its index; an unnormalised one is normalised first
    torch.testing.assert_close(matching_cost(logits, action, torch.tensor([[2.0, 0.0]]), 2),
                               matching_cost(logits, action, torch.tensor([0]), 2))
    torch.testing.assert_close(matching_cost(logits, action, soft, 2, cost="prob"),
                               matching_cost(logits, action, torch.tensor([0]), 2, cost="prob"))


def test_prob_and_ce_costs_can_disagree():
    # slot 0: p(action)=0.5, p(scene)=0.02; slot 1: p(action)=0.3, p(scene)=0.01
    cost = matching_cost(
        torch.log(torch.tensor([[[0.5, 0.48, 0.02, 0.0001], [0.3, 0.69, 0.01, 0.0001]]])),
        torch.tensor([0]), torch.tensor([0]), 2, cost="prob",
    )
    # -p: identity -0.51 vs swap -0.32 -> identity. -log p: identity 0.69+4.61=5.30 vs swap 1.20+3.91=5.11 -> swap
    assert assign_roles(cost)[0].tolist() == [0]
    ce = matching_cost(
        torch.log(torch.tensor([[[0.5, 0.48, 0.02, 0.0001], [0.3, 0.69, 0.01, 0.0001]]])),
        torch.tensor([0]), torch.tensor([0]), 2, cost="ce",
    )
    assert assign_roles(ce)[0].tolist() == [1]
    assert math.isclose(ce[0, 0, 0].item(), -math.log(0.5 / 1.0001), rel_tol=1e-5)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="K >= 2"):
        assign_roles(torch.zeros(2, 1, 2))
    with pytest.raises(ValueError, match="assignment"):
        assign_roles(torch.zeros(2, 2, 2), "random")
