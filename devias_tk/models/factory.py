"""`build_model(method, ...)`: every method from one flat config, plus parameter-grouping helpers.

A flat config (what a recipe file or `key=value` overrides give) is split into the backbone's keys
(`BACKBONE_KEYS`) and the method's own; an unknown key raises ValueError naming the allowed ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from torch import nn

from devias_tk.models.backbone import BACKBONE_KEYS, VideoViT
from devias_tk.models.baselines import PooledClassifier, TokenClassifier
from devias_tk.models.devias import DEVIAS, DEVIAS_KEYS
from devias_tk.models.finetune import FINETUNE_KEYS, build_finetune

_HEAD_KEYS = frozenset({"head_dropout"})


def _pooled(target: str) -> Callable[..., nn.Module]:
    return lambda bb, a, s, **kw: PooledClassifier(bb, a, s, target=target, **kw)


def _tokens(num_tokens: int, unified: bool) -> Callable[..., nn.Module]:
    return lambda bb, a, s, **kw: TokenClassifier(bb, a, s, num_tokens=num_tokens, unified=unified, **kw)


# method -> (constructor(backbone, num_actions, num_scenes, **kw), the method's own config keys)
METHODS: dict[str, tuple[Callable[..., nn.Module], frozenset[str]]] = {
    "devias": (DEVIAS, DEVIAS_KEYS),
    "naive-action": (_pooled("action"), _HEAD_KEYS),
    "naive-scene": (_pooled("scene"), _HEAD_KEYS),
    "one-token": (_tokens(1, False), _HEAD_KEYS),
    "one-token-unified": (_tokens(1, True), _HEAD_KEYS),
    "two-token": (_tokens(2, False), _HEAD_KEYS),
    "two-token-unified": (_tokens(2, True), _HEAD_KEYS),
    "finetune": (build_finetune, FINETUNE_KEYS),
}
# methods without a scene output: they need no scene classes, labels or stores
SCENE_FREE = frozenset({"naive-action", "finetune"})


def has_scene_branch(method: str) -> bool:
    """Whether `method` predicts scenes (and so needs scene classes and scene targets to train)."""
    return method not in SCENE_FREE


def split_config(method: str, config: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(keys `method` uses, keys only other methods use). Lets one recipe switch methods by override;
    a key no method knows is left in the first part so that `build_model` names it."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    own = BACKBONE_KEYS | METHODS[method][1]
    others = frozenset().union(*(keys for _, keys in METHODS.values())) - own
    kept = {k: v for k, v in config.items() if k not in others}
    return kept, sorted(k for k in config if k in others)


def build_model(method: str, *, num_actions: int, num_scenes: int, **config: Any) -> nn.Module:
    """Build `method` (a key of METHODS) with a fresh `VideoViT` backbone (`model.backbone`).

    Backbone keys: size ("tiny" | "small" | "base", default "base"), embed_dim, depth, num_heads,
    patch_size (16), tubelet_size (2), frames (16), img_size (224), in_chans (3), mlp_ratio (4.0),
    drop_path (0.0), init_values (None), grad_checkpointing (False). Method keys: see `DEVIAS`
    (`DEVIAS_KEYS`), `devias_tk.models.finetune` (`FINETUNE_KEYS`) and, for the baselines, head_dropout.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    build, own_keys = METHODS[method]
    unknown = set(config) - BACKBONE_KEYS - own_keys
    if unknown:
        allowed = ", ".join(sorted(BACKBONE_KEYS | own_keys))
        raise ValueError(f"unknown config key(s) for {method}: {', '.join(sorted(unknown))} (allowed: {allowed})")
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
