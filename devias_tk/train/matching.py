"""Slot matching: which slot plays the action role and which the scene role, per sample.

The cost of giving slot k a role is the cross-entropy between that role's (zero-padded) label and the
unified head's softmax over all A + S outputs, as supp. A has it: cost[b, k, 0] = -log p[b, k, action[b]],
cost[b, k, 1] = -sum_s q[b, s] log p[b, k, A + s] for a scene target q (B, S) (a soft pseudo label
is used whole; a class index is its one-hot). `cost="prob"` is the release's cost instead, minus the
probability of the label (a soft scene target is matched by its argmax); with two roles the two can
pick different permutations.

Assignment methods (Table 14g): "hungarian" (optimal; K = 2 is a choice between two permutations,
done with tensor ops on the device, no host sync; K > 2 calls scipy's linear_sum_assignment per
sample, which copies the small cost matrix to the host), "hard" (slot 0 action, slot 1 scene) and
"greedy" (take the cheapest (slot, role) pair of the whole matrix, then the cheapest remaining slot
for the other role). All return (action_slot, scene_slot), (B,) long tensors on the logits' device.
Ties in the K = 2 path keep the identity (slot 0 action).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

ASSIGNMENTS = ("hungarian", "hard", "greedy")
COSTS = ("ce", "prob")  # the first is the default (the paper's)


def scene_index(scene: torch.Tensor) -> torch.Tensor:
    """A scene target as class indices (B,): indices pass through, a distribution (B, S) gives its argmax."""
    return scene.argmax(dim=-1) if scene.is_floating_point() else scene


def matching_cost(
    logits: torch.Tensor, action: torch.Tensor, scene: torch.Tensor, num_actions: int, cost: str = "ce"
) -> torch.Tensor:
    """Unified logits (B, K, A + S), targets (B,) and (B,) or (B, S) -> cost (B, K, 2) float32 (role 0 action)."""
    if cost not in COSTS:
        raise ValueError(f"matching cost must be one of {COSTS} (got {cost!r})")
    logp = logits.detach().float().log_softmax(dim=-1)
    num_slots = logits.shape[1]
    action_logp = logp.gather(2, action[:, None, None].expand(-1, num_slots, 1))  # (B, K, 1)
    if cost == "ce" and scene.is_floating_point():
        soft = scene.float() / scene.float().sum(dim=-1, keepdim=True).clamp_min(1e-12)
        scene_logp = (logp[..., num_actions:] * soft[:, None, :]).sum(dim=-1, keepdim=True)  # (B, K, 1)
    else:
        scene_logp = logp.gather(2, (scene_index(scene) + num_actions)[:, None, None].expand(-1, num_slots, 1))
    picked = torch.cat([action_logp, scene_logp], dim=2)
    return -picked.exp() if cost == "prob" else -picked


def _pair_assignment(cost: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # K = 2: identity (slot 0 action, slot 1 scene) versus the swap.
    identity = cost[:, 0, 0] + cost[:, 1, 1]
    swapped = cost[:, 1, 0] + cost[:, 0, 1]
    action_slot = (swapped < identity).long()
    return action_slot, 1 - action_slot


def hungarian_scipy(cost: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Optimal assignment per sample with scipy (any K >= 2); cost (B, K, 2)."""
    host = cost.detach().float().cpu().numpy()
    out = np.empty((host.shape[0], 2), dtype=np.int64)
    for b, matrix in enumerate(host):
        slots, roles = linear_sum_assignment(matrix)
        out[b, roles] = slots
    result = torch.from_numpy(out).to(cost.device)
    return result[:, 0], result[:, 1]


def _greedy(cost: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    batch, num_slots, _ = cost.shape
    flat = cost.reshape(batch, num_slots * 2).argmin(dim=1)
    first_slot, first_role = flat // 2, flat % 2
    other = cost.gather(2, (1 - first_role).view(batch, 1, 1).expand(batch, num_slots, 1)).squeeze(2)
    taken = torch.arange(num_slots, device=cost.device)[None, :] == first_slot[:, None]
    second_slot = other.masked_fill(taken, float("inf")).argmin(dim=1)
    action_first = first_role == 0
    return torch.where(action_first, first_slot, second_slot), torch.where(action_first, second_slot, first_slot)


def assign_roles(cost: torch.Tensor, method: str = "hungarian") -> tuple[torch.Tensor, torch.Tensor]:
    """cost (B, K, 2) -> (action_slot, scene_slot), each (B,) long on cost's device."""
    batch, num_slots, roles = cost.shape
    if roles != 2 or num_slots < 2:
        raise ValueError(f"need a (B, K >= 2, 2) cost matrix (got {tuple(cost.shape)})")
    if method == "hungarian":
        return _pair_assignment(cost) if num_slots == 2 else hungarian_scipy(cost)
    if method == "hard":
        zeros = torch.zeros(batch, dtype=torch.long, device=cost.device)
        return zeros, zeros + 1
    if method == "greedy":
        return _greedy(cost)
    raise ValueError(f"slot assignment must be one of {ASSIGNMENTS} (got {method!r})")


def match_slots(
    logits: torch.Tensor,
    action: torch.Tensor,
    scene: torch.Tensor,
    num_actions: int,
    method: str = "hungarian",
    cost: str = "ce",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample (action_slot, scene_slot) from the per-slot unified logits (B, K, A + S)."""
    with torch.no_grad():
        return assign_roles(matching_cost(logits, action, scene, num_actions, cost), method)
