"""One training step's computation: masks -> augmentation -> forward -> loss (no optimizer, no I/O).

Shared by the engine and `bench train`, so the benchmark measures exactly what training runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from devias_tk.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from devias_tk.engine.distributed import DistInfo, all_reduce_mean
from devias_tk.models.factory import METHODS
from devias_tk.models.scene_model import SceneModel
from devias_tk.train import augment
from devias_tk.train.device_clips import clips_from_frames
from devias_tk.train.losses import MIX_TERMS, LossConfig, baseline_loss, devias_loss


@dataclass(frozen=True)
class StepSpec:
    method: str
    num_actions: int
    mix: str  # "fame" | "be" | "none"
    beta: float
    p_aug: float
    be_max_lambda: float
    patch_size: int
    guide_pool: int  # pixels of the resized per-tubelet masks per patch (side)
    loss: LossConfig
    clip_size: int = 0  # crop size the step cuts uint8 windows to (batches with "frames": data.device_transforms)
    clear_donor: bool = False  # aug.clear_donor: the background clip's own actor flattened before the paste

    @property
    def needs_masks(self) -> bool:
        return METHODS[self.method].needs_masks or self.mix == "fame"


def step_generator(seed: int, step: int, device: torch.device) -> torch.Generator:
    """Randomness of a step (mix permutation, BE frame) as a function of (seed, step): resume-exact."""
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + step)


def compute_loss(model: nn.Module, batch: Mapping[str, torch.Tensor], spec: StepSpec,
                 generator: torch.Generator, scene_model: SceneModel | None = None,
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss and its detached terms for one batch already on the model's device.

    With the scene mix ("fame") the terms also hold `losses.MIX_TERMS` (sums and counts of the per-sample
    action loss over the mixed and the unmixed samples), which `ActionByMix` turns into logged averages.

    `scene_model` (data.scene_source=online, on the same device, frozen): the scene target is its softmax
    on the clips as the model sees them, after the scene mix, instead of the batch's cached one.
    """
    if "frames" in batch:  # data.device_transforms: crop, flip and normalise here
        if spec.clip_size <= 0:
            raise ValueError("a batch of uint8 windows needs StepSpec.clip_size")
        batch = {**batch, "clip": clips_from_frames(batch["frames"], batch["crop_px"], batch["flip"], spec.clip_size)}
    clips, action, scene = batch["clip"], batch["action"], batch["scene"]
    targets: dict[str, torch.Tensor] = {"action": action}
    hard, mixed = None, None
    if spec.needs_masks:
        hard = augment.top_beta_mask(batch["soft_mask"].float(), spec.beta)
    if spec.mix == "fame":
        mixed = augment.scene_mix(clips, hard, scene, spec.p_aug, generator, spec.clear_donor)
        clips, scene = mixed.clips, mixed.scene
    elif spec.mix == "be":
        clips = augment.be_mix(clips, generator, spec.be_max_lambda)[0]
    if scene_model is not None:
        scene = scene_model.training_clip_probs(clips, IMAGENET_MEAN, IMAGENET_STD)
    targets["scene"] = scene
    if mixed is not None:  # monitoring only: the criteria add the action loss over mixed / unmixed samples
        targets["mixed"] = mixed.mixed
    out = model(clips)
    if not METHODS[spec.method].slots:
        return baseline_loss(out, targets, spec.num_actions, spec.loss)
    if out.get("mask_logits") is not None and spec.loss.lambda_mask:
        targets["amd"] = augment.amd_target(hard, spec.patch_size)
    if spec.loss.lambda_guide:
        tubelet_hard = augment.top_beta_mask(batch["tubelet_mask"].float(), spec.beta)
        if mixed is not None:  # the tokens showing the pasted background are not clip i's actor
            tubelet_hard = augment.guidance_after_mix(tubelet_hard, hard, mixed.mixed)
        targets["guide"] = augment.tubelet_targets(tubelet_hard, spec.guide_pool, 1)
    return devias_loss(out, targets, spec.num_actions, spec.loss)


class ActionByMix:
    """The action loss over the mixed and over the unmixed samples, between two log steps.

    `take(terms)` removes the `MIX_TERMS` from a step's terms and adds them up (on the device: no host sync);
    `values(info)` gives {"action_mixed", "action_unmixed"}: the per-sample action loss averaged over every
    mixed (unmixed) sample of the steps since the last call, all processes together; a key is absent when
    there was no such sample. Monitoring only: nothing here feeds the loss.
    """

    def __init__(self) -> None:
        self.sums: torch.Tensor | None = None

    def take(self, terms: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        rest = {k: v for k, v in terms.items() if k not in MIX_TERMS}
        if all(k in terms for k in MIX_TERMS):
            step = torch.stack([terms[k].detach().float() for k in MIX_TERMS])
            self.sums = step if self.sums is None else self.sums + step
        return rest

    def values(self, info: DistInfo) -> dict[str, float]:
        if self.sums is None:
            return {}
        mixed_sum, mixed_n, unmixed_sum, unmixed_n = all_reduce_mean(self.sums, info).tolist()  # ratios: mean = sum
        self.sums = None
        out = {}
        if mixed_n > 0:
            out["action_mixed"] = mixed_sum / mixed_n
        if unmixed_n > 0:
            out["action_unmixed"] = unmixed_sum / unmixed_n
        return out
