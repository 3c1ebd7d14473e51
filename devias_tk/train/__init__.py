"""Training pieces as pure functions: slot matching, losses, batch augmentation and mask targets."""

from devias_tk.train.augment import (
    SceneMix,
    amd_target,
    be_mix,
    random_derangement,
    scene_mix,
    top_beta_mask,
    tubelet_targets,
)
from devias_tk.train.losses import (
    LOSS_KEYS,
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
from devias_tk.train.matching import assign_roles, hungarian_scipy, match_slots, matching_cost, scene_index

__all__ = [
    "LOSS_KEYS",
    "LossConfig",
    "SceneMix",
    "action_loss",
    "amd_loss",
    "amd_target",
    "assign_roles",
    "baseline_loss",
    "be_mix",
    "cosine_loss",
    "devias_loss",
    "guide_loss",
    "hungarian_scipy",
    "match_slots",
    "matching_cost",
    "random_derangement",
    "scene_index",
    "scene_loss",
    "scene_mix",
    "teacher_distribution",
    "top_beta_mask",
    "tubelet_targets",
]
