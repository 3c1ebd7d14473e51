"""Every method as one record (`Method`, in `METHODS`), `build_model(method, ...)` from one flat config, plus
parameter-grouping helpers. Adding a baseline: its model file and its record here (docs/python.md).

A flat config (what a recipe file or `key=value` overrides give) is split into the backbone's keys
(`BACKBONE_KEYS`) and the method's own; an unknown key raises ValueError naming the allowed ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from devias_tk.models.backbone import BACKBONE_KEYS, VideoViT
from devias_tk.models.baselines import PooledClassifier, TokenClassifier
from devias_tk.models.devias import DEVIAS, DEVIAS_KEYS
from devias_tk.models.finetune import FINETUNE_KEYS, build_finetune
from devias_tk.models.key_types import check_model_values

_HEAD_KEYS = frozenset({"head_dropout"})


def _pooled(target: str) -> Callable[..., nn.Module]:
    return lambda bb, a, s, **kw: PooledClassifier(bb, a, s, target=target, **kw)


def _tokens(num_tokens: int, unified: bool) -> Callable[..., nn.Module]:
    return lambda bb, a, s, **kw: TokenClassifier(bb, a, s, num_tokens=num_tokens, unified=unified, **kw)


@dataclass(frozen=True)
class Method:
    """What the toolkit knows of a method, in one place: how to build it and what every stage asks of it."""

    name: str  # model.method
    build: Callable[..., nn.Module]  # (backbone, num_actions, num_scenes, **own keys) -> the model
    keys: frozenset[str]  # its own model.* keys besides the backbone's
    label: str  # its name in reports and `eval compare` (a mix it trained with is added: "Two-Token w/ FAME")
    features: str  # what `features` stores as its action / scene features
    loss_terms: tuple[str, ...] = ("action", "scene")  # the loss parts a training step logs
    slots: bool = False  # a slot model: matched slot losses (devias_loss) and slot attention to show
    needs_masks: bool = False  # trains on FAME masks whatever aug.mix (AMD and guidance targets)
    scene_free: bool = False  # no scene output: needs no scene classes, labels or stores
    from_run: bool = False  # starts from a trained run (run.init, devias_tk.train.finetune): actions only


_TOKEN = "action / scene = the one learned token's output (the same vector)"
_TOKENS = "action / scene = the outputs of the action token and the scene token"
METHODS: dict[str, Method] = {m.name: m for m in (
    Method("devias", DEVIAS, DEVIAS_KEYS, "DEVIAS",
           "action / scene = the slots the unified head assigns to the roles (per view), averaged over views",
           loss_terms=("action", "scene", "cos", "amd", "guide"), slots=True, needs_masks=True),
    Method("naive-action", _pooled("action"), _HEAD_KEYS, "Naive Action",
           "action = the mean of the last-layer tokens (no scene feature)", scene_free=True),
    Method("naive-scene", _pooled("scene"), _HEAD_KEYS, "Naive Scene",
           "scene = the mean of the last-layer tokens (no action feature)"),
    Method("one-token", _tokens(1, False), _HEAD_KEYS, "One-Token", _TOKEN),
    Method("one-token-unified", _tokens(1, True), _HEAD_KEYS, "One-Token (unified head)", _TOKEN),
    Method("two-token", _tokens(2, False), _HEAD_KEYS, "Two-Token", _TOKENS),
    Method("two-token-unified", _tokens(2, True), _HEAD_KEYS, "Two-Token (unified head)", _TOKENS),
    Method("finetune", build_finetune, FINETUNE_KEYS, "fine-tuned",
           "action = the input of the fine-tuned classifier (fused action and scene slots, or the pooled tokens); "
           "no scene feature (per clip: DEVIAS's slots and roles)", scene_free=True, from_run=True),
)}


def method_record(method: str) -> Method:
    """The record of `method` (model.method); ValueError naming the known ones."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    return METHODS[method]


def split_config(method: str, config: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(keys `method` uses, keys only other methods use). Lets one recipe switch methods by override;
    a key no method knows is left in the first part so that `build_model` names it."""
    own = BACKBONE_KEYS | method_record(method).keys
    others = frozenset().union(*(m.keys for m in METHODS.values())) - own
    kept = {k: v for k, v in config.items() if k not in others}
    return kept, sorted(k for k in config if k in others)


def build_model(method: str, *, num_actions: int, num_scenes: int, **config: Any) -> nn.Module:
    """Build `method` (a key of METHODS) with a fresh `VideoViT` backbone (`model.backbone`).

    Backbone keys: size ("tiny" | "small" | "base", default "base"), embed_dim, depth, num_heads,
    patch_size (16), tubelet_size (2), frames (16), img_size (224), in_chans (3), mlp_ratio (4.0),
    drop_path (0.0), init_values (None), grad_checkpointing (False). Method keys: see `DEVIAS`
    (`DEVIAS_KEYS`), `devias_tk.models.finetune` (`FINETUNE_KEYS`) and, for the baselines, head_dropout.
    """
    record = method_record(method)
    build, own_keys = record.build, record.keys
    unknown = set(config) - BACKBONE_KEYS - own_keys
    if unknown:
        allowed = ", ".join(sorted(BACKBONE_KEYS | own_keys))
        raise ValueError(f"unknown config key(s) for {method}: {', '.join(sorted(unknown))} (allowed: {allowed})")
    check_model_values(config)  # a wrong type named by key, not by the torch call it would reach
    backbone = VideoViT(**{k: v for k, v in config.items() if k in BACKBONE_KEYS})
    return build(backbone, num_actions, num_scenes, **{k: v for k, v in config.items() if k in own_keys})


_BLOCK = re.compile(r"^backbone\.blocks\.(\d+)\.")


def layer_id(name: str, depth: int) -> int:
    """Layer index for layer-wise lr decay: patch embedding 0, block i -> i + 1, everything else
    (final norm, slot block, heads, AMD, learned tokens: mostly fresh parameters) -> depth + 1."""
    if name.startswith("backbone.patch_embed."):
        return 0
    match = _BLOCK.match(name)
    return int(match.group(1)) + 1 if match else depth + 1


def is_slot_block(name: str) -> bool:
    """True for the disentangling encoder's parameters (the recipes scale their lr by 0.1)."""
    return name.startswith("slot_attention.")
