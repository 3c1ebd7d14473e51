"""DEVIAS losses as pure functions over tensors, and the criteria that combine them.

Choices (paper first, release as an option):
- Classification over the unified head: the paper's eq. 5 zero-pads the label to A + S entries, i.e. a
  cross-entropy over the softmax of ALL A + S outputs (the release does the same); `class_loss="split"`
  restricts the action loss to the A action outputs and the scene loss to the S scene outputs.
- Scene loss: "ce" = cross-entropy with the pseudo label (paper; a cached distribution is reduced to
  its argmax); "kl" = KL(teacher || student) to the cached scene distribution, averaged over the
  batch; "release-kl" = the release's scaling of the same KL: weight 4000 times the per-sample KL
  divided by the number of outputs (what 'batchmean' does to a 1-D input), averaged over the batch.
  For a unified output the teacher is widened as the release does: its action positions get the
  logit min(log p) - 1 before a softmax over all A + S outputs.
- AMD: BCE with logits applied once (the release's extra sigmoid is a bug) against the patch-averaged
  clip mask in [0, 1]. Guidance: MSE between the action slot's attention map and the per-tubelet masks.
- Cosine (`cosine`): over the off-diagonal cosines of the L2-normalised slots, "signed" = their mean (paper
  and release); minimising it pushes two slots towards anti-parallel (cos -> -1), which is not
  disentanglement. "abs" = mean |cos| and "squared" = mean cos^2 are minimal at orthogonal slots.
- Unmatched slots get no classification or mask loss.
- Monitoring only: with targets["mixed"] (B,) bool (which samples the scene mix changed) the criteria also
  return the sums and counts of the per-sample action loss over the mixed and the unmixed samples
  (`MIX_TERMS`), computed on detached logits, so the loss and its gradients are untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

from devias_tk.models.devias import select_slot
from devias_tk.train.matching import ASSIGNMENTS, COSTS, assign_roles, match_slots, matching_cost, scene_index

SCENE_LOSSES = ("ce", "kl", "release-kl")
CLASS_LOSSES = ("unified", "split")
COSINE_LOSSES = ("signed", "abs", "squared")
MATCH_TERMS = ("class", "all")
Targets = Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class LossConfig:
    """Knobs of the DEVIAS and baseline criteria (defaults: the paper, with the recipes' weights 1, 1, 1)."""

    assignment: str = "hungarian"  # "hungarian" | "hard" | "greedy" (Table 14g)
    match_cost: str = "ce"  # "ce" (cross-entropy, the paper's supp. A) | "prob" (-p, the release's)
    # what the action role's matching cost holds: "class" (the classification cost alone, the paper) | "all"
    # (plus the role's own weighted mask terms, guidance and AMD, as set-prediction matchers add mask costs)
    match_terms: str = "class"
    class_loss: str = "unified"  # "unified" (softmax over A + S, eq. 5) | "split"
    scene_loss: str = "ce"  # "ce" | "kl" | "release-kl"
    cosine: str = "signed"  # "signed" (paper, release) | "abs" | "squared" (orthogonality)
    release_kl_weight: float = 4000.0
    lambda_scene: float = 1.0
    lambda_cos: float = 1.0
    lambda_mask: float = 1.0
    lambda_guide: float = 1.0
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        if self.scene_loss not in SCENE_LOSSES:
            raise ValueError(f"scene_loss must be one of {SCENE_LOSSES} (got {self.scene_loss!r})")
        if self.class_loss not in CLASS_LOSSES:
            raise ValueError(f"class_loss must be one of {CLASS_LOSSES} (got {self.class_loss!r})")
        if self.cosine not in COSINE_LOSSES:
            raise ValueError(f"cosine must be one of {COSINE_LOSSES} (got {self.cosine!r})")
        if self.assignment not in ASSIGNMENTS:
            raise ValueError(f"assignment must be one of {ASSIGNMENTS} (got {self.assignment!r})")
        if self.match_cost not in COSTS:
            raise ValueError(f"match_cost must be one of {COSTS} (got {self.match_cost!r})")
        if self.match_terms not in MATCH_TERMS:
            raise ValueError(f"match_terms must be one of {MATCH_TERMS} (got {self.match_terms!r})")


LOSS_KEYS = frozenset(f.name for f in fields(LossConfig))
# terms the criteria add when targets hold "mixed": sums and counts, for averages over several steps
MIX_TERMS = ("action_mixed_sum", "action_mixed_count", "action_unmixed_sum", "action_unmixed_count")


def action_loss(logits: torch.Tensor, action: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy of logits (B, C) with action indices (B,); actions occupy the first outputs."""
    return F.cross_entropy(logits.float(), action, label_smoothing=label_smoothing)


def action_loss_per_sample(logits: torch.Tensor, action: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """`action_loss` of each sample (B,), without a graph (monitoring): its mean is the action loss."""
    return F.cross_entropy(logits.detach().float(), action, reduction="none", label_smoothing=label_smoothing)


def mix_terms(per_sample: torch.Tensor, mixed: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-sample losses (B,) and which samples were mixed (B,) bool -> the `MIX_TERMS` (float32 scalars)."""
    mixed = mixed.to(per_sample.device).bool()
    zero = torch.zeros_like(per_sample)
    return {
        "action_mixed_sum": torch.where(mixed, per_sample, zero).sum(),
        "action_mixed_count": mixed.sum().float(),
        "action_unmixed_sum": torch.where(mixed, zero, per_sample).sum(),
        "action_unmixed_count": (~mixed).sum().float(),
    }


def _action_logits(unified: torch.Tensor, num_actions: int, cfg: LossConfig) -> torch.Tensor:
    """The action role's logits as the classification loss sees them (all A + S outputs, or the A for "split")."""
    return unified[:, :num_actions] if cfg.class_loss == "split" else unified


def teacher_distribution(scene_dist: torch.Tensor, offset: int) -> torch.Tensor:
    """A cached scene distribution (B, S) widened to (B, offset + S): the release's unified teacher.

    offset 0 returns the distribution renormalised; otherwise the `offset` leading (action) positions
    get the logit min(log p) - 1 and a softmax runs over all positions (log p are valid logits of p).
    """
    p = scene_dist.float()
    p = p / p.sum(dim=-1, keepdim=True)
    if offset == 0:
        return p
    logp = p.clamp_min(1e-12).log()
    fill = (logp.amin(dim=-1, keepdim=True) - 1).expand(-1, offset)
    return torch.cat([fill, logp], dim=-1).softmax(dim=-1)


def scene_loss(
    logits: torch.Tensor,
    scene: torch.Tensor,
    *,
    offset: int = 0,
    mode: str = "ce",
    release_kl_weight: float = 4000.0,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Scene loss of logits (B, C) whose scene classes start at `offset` (A for a unified head, else 0).

    scene: indices (B,) or a distribution (B, S). See the module docstring for the modes.
    """
    if mode == "ce":
        return F.cross_entropy(logits.float(), scene_index(scene) + offset, label_smoothing=label_smoothing)
    if mode not in ("kl", "release-kl"):
        raise ValueError(f"scene loss must be one of {SCENE_LOSSES} (got {mode!r})")
    if not scene.is_floating_point():
        raise ValueError(f"scene loss {mode!r} needs the cached scene distribution (B, S), not class indices")
    teacher = teacher_distribution(scene, offset)
    if teacher.shape != logits.shape:
        raise ValueError(f"scene distribution widened to {tuple(teacher.shape)} != logits {tuple(logits.shape)}")
    per_sample = F.kl_div(logits.float().log_softmax(dim=-1), teacher, reduction="none").sum(dim=-1)
    if mode == "kl":
        return per_sample.mean()
    return release_kl_weight * (per_sample / logits.shape[-1]).mean()


def amd_loss(mask_logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BCE with logits (one sigmoid) between AMD logits (B, P) and the patch-averaged mask (B, P) in [0, 1]."""
    return F.binary_cross_entropy_with_logits(mask_logits.float(), target.float())


def guide_loss(attn: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE between the action slot's attention map (B, N) and the per-tubelet masks flattened to (B, N)."""
    return F.mse_loss(attn.float(), target.float())


def cosine_loss(slots: torch.Tensor, mode: str = "signed") -> torch.Tensor:
    """Mean over ordered pairs of distinct slots of cos ("signed"), |cos| ("abs") or cos^2 ("squared");
    slots (B, K, D), K >= 2."""
    batch, num_slots, _ = slots.shape
    unit = F.normalize(slots.float(), dim=-1)
    gram = unit @ unit.transpose(1, 2)
    if mode == "abs":
        gram = gram.abs()
    elif mode == "squared":
        gram = gram.square()
    elif mode != "signed":
        raise ValueError(f"cosine loss must be one of {COSINE_LOSSES} (got {mode!r})")
    off_diagonal = gram.sum(dim=(1, 2)) - gram.diagonal(dim1=1, dim2=2).sum(dim=-1)
    return off_diagonal.sum() / (batch * num_slots * (num_slots - 1))


def _classification(
    action_logits: torch.Tensor, scene_logits: torch.Tensor, targets: Targets, num_actions: int, cfg: LossConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Action and scene losses from the unified outputs (B, A + S) of the action and the scene role."""
    if cfg.class_loss == "split":
        action_logits, scene_logits, offset = action_logits[:, :num_actions], scene_logits[:, num_actions:], 0
    else:
        offset = num_actions
    l_action = action_loss(action_logits, targets["action"], cfg.label_smoothing)
    l_scene = scene_loss(
        scene_logits, targets["scene"], offset=offset, mode=cfg.scene_loss,
        release_kl_weight=cfg.release_kl_weight, label_smoothing=cfg.label_smoothing,
    )
    return l_action, l_scene


def _need(targets: Targets, key: str, why: str) -> torch.Tensor:
    if key not in targets or targets[key] is None:
        raise ValueError(f"targets lack {key!r}, needed for {why}")
    return targets[key]


def action_mask_costs(out: Mapping[str, torch.Tensor | None], targets: Targets, cfg: LossConfig) -> torch.Tensor:
    """(B, K): what the action role's mask terms would cost on each slot, weighted as in the loss:
    lambda_guide * MSE(slot's attention, guidance target) + lambda_mask * BCE(slot's AMD mask, AMD target).
    With them in the matching cost, the slot whose attention and mask follow the pseudo-human mask takes
    the action role, so the roles do not swap between samples while the slots are still alike."""
    logits = out["logits"]
    cost = logits.new_zeros(logits.shape[:2], dtype=torch.float32)
    if out.get("attn") is not None and cfg.lambda_guide and "guide" in targets:
        cost += cfg.lambda_guide * (out["attn"].float() - targets["guide"].float()[:, None]).square().mean(dim=-1)
    if out.get("mask_logits") is not None and cfg.lambda_mask and "amd" in targets:
        mask_logits = out["mask_logits"].float()
        target = targets["amd"].float()[:, None].expand_as(mask_logits)
        cost += cfg.lambda_mask * F.binary_cross_entropy_with_logits(mask_logits, target, reduction="none").mean(-1)
    return cost


def devias_loss(
    out: Mapping[str, torch.Tensor | None],
    targets: Targets,
    num_actions: int,
    cfg: LossConfig = LossConfig(),
    assignment: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """L_action + L_scene + lambda_cos L_cos + lambda_mask L_amd + lambda_guide L_guide for a DEVIAS output.

    out: `DEVIAS.forward`'s dict. targets: "action" (B,) long; "scene" (B,) long or (B, S) float;
    "amd" (B, h'*w') when the model has an AMD and lambda_mask > 0; "guide" (B, N) when lambda_guide > 0.
    assignment: (action_slot, scene_slot) if already matched (`match_slots`); else matched here.
    Returns the total and a dict of detached terms (action, scene, cos, amd, guide; absent terms are 0), plus
    the `MIX_TERMS` when targets hold "mixed" (B,) bool.
    """
    logits = out["logits"]
    if assignment is None and cfg.match_terms == "all":
        with torch.no_grad():
            cost = matching_cost(logits, targets["action"], targets["scene"], num_actions, cfg.match_cost)
            cost[..., 0] += action_mask_costs(out, targets, cfg)
            assignment = assign_roles(cost, cfg.assignment)
    elif assignment is None:
        assignment = match_slots(
            logits, targets["action"], targets["scene"], num_actions, cfg.assignment, cfg.match_cost
        )
    action_slot, scene_slot = assignment
    l_action, l_scene = _classification(
        select_slot(logits, action_slot), select_slot(logits, scene_slot), targets, num_actions, cfg
    )
    zero = logits.new_zeros((), dtype=torch.float32)
    l_cos = cosine_loss(out["slots"], cfg.cosine) if cfg.lambda_cos else zero
    l_amd = zero
    if out.get("mask_logits") is not None and cfg.lambda_mask:
        l_amd = amd_loss(select_slot(out["mask_logits"], action_slot), _need(targets, "amd", "the AMD loss"))
    l_guide = zero
    if out.get("attn") is not None and cfg.lambda_guide:
        l_guide = guide_loss(select_slot(out["attn"], action_slot), _need(targets, "guide", "the guidance loss"))
    total = (l_action + cfg.lambda_scene * l_scene + cfg.lambda_cos * l_cos + cfg.lambda_mask * l_amd
             + cfg.lambda_guide * l_guide)
    terms = {"action": l_action, "scene": l_scene, "cos": l_cos, "amd": l_amd, "guide": l_guide}
    if targets.get("mixed") is not None:
        action_logits = _action_logits(select_slot(logits, action_slot), num_actions, cfg)
        terms.update(mix_terms(action_loss_per_sample(action_logits, targets["action"], cfg.label_smoothing),
                               targets["mixed"]))
    return total, {k: v.detach() for k, v in terms.items()}


def baseline_loss(
    out: Mapping[str, torch.Tensor | None],
    targets: Targets,
    num_actions: int,
    cfg: LossConfig = LossConfig(),
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Action + scene loss of a baseline's output (terms it cannot have are 0).

    With "unified_logits" (B, 2, A + S) (unified-head token models) the losses are DEVIAS's
    classification losses on the fixed roles; otherwise cross-entropy / scene loss on the separate
    heads' action_logits (B, A) and scene_logits (B, S), whichever exist. With targets["mixed"] (and an
    action output) the terms also hold the `MIX_TERMS`.
    """
    unified = out.get("unified_logits")
    if unified is not None:
        l_action, l_scene = _classification(unified[:, 0], unified[:, 1], targets, num_actions, cfg)
    else:
        ref = out["action_logits"] if out.get("action_logits") is not None else out["scene_logits"]
        l_action = l_scene = ref.new_zeros((), dtype=torch.float32)
        if out.get("action_logits") is not None:
            l_action = action_loss(out["action_logits"], targets["action"], cfg.label_smoothing)
        if out.get("scene_logits") is not None:
            l_scene = scene_loss(
                out["scene_logits"], targets["scene"], mode=cfg.scene_loss,
                release_kl_weight=cfg.release_kl_weight, label_smoothing=cfg.label_smoothing,
            )
    total = l_action + cfg.lambda_scene * l_scene
    terms = {"action": l_action.detach(), "scene": l_scene.detach()}
    if targets.get("mixed") is not None:
        action_logits = _action_logits(unified[:, 0], num_actions, cfg) if unified is not None \
            else out.get("action_logits")
        if action_logits is not None:
            terms.update(mix_terms(action_loss_per_sample(action_logits, targets["action"], cfg.label_smoothing),
                                   targets["mixed"]))
    return total, terms
