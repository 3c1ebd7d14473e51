"""Splitting a list's videos over the ranks of a distributed evaluation and joining their predictions.

Rank r of W takes videos r, r + W, r + 2W, ... (every rank within one video of the others, whatever the
order of the list); rank 0 puts the shards' rows back in list order, so the joined predictions are
those of one process (up to the float rounding of other batch compositions).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")
ARRAYS = ("action_probs", "scene_probs", "action_feat", "scene_feat")


def shard(items: Sequence[T], rank: int, world: int) -> list[T]:
    """The items rank `rank` of `world` predicts."""
    return list(items[rank::world])


def merge_shards(shards: Sequence[dict[str, Any]], total: int) -> dict[str, Any]:
    """Predictions of `shard(entries, r, W)` for r = 0..W-1 (as `predict_entries` returns them) -> the
    predictions of all `total` entries: rows in list order (NaN for unreadable videos), `failed` and
    `warnings` keyed by list index. An array is None only when every shard lacks it (the method has no such branch)."""
    world = len(shards)
    out: dict[str, Any] = {}
    for key in ARRAYS:
        parts = [s.get(key) for s in shards]
        present = [p for p in parts if p is not None]
        if not present:
            out[key] = None
            continue
        full = np.full((total, present[0].shape[1]), np.nan, dtype=present[0].dtype)
        for rank, part in enumerate(parts):
            if part is not None:
                full[rank::world] = part
        out[key] = full
    out["failed"] = {i * world + rank: why for rank, s in enumerate(shards) for i, why in s["failed"].items()}
    out["warnings"] = {i * world + rank: note for rank, s in enumerate(shards)
                       for i, note in s.get("warnings", {}).items()}
    return out
