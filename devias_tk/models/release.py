"""The authors' DEVIAS release: its slot model's key names, mapped onto the toolkit's `DEVIAS`.

The release's slot model (`modeling_slot.py`, facts only) is a VideoMAE ViT (`patch_embed.proj`,
`blocks.i.*` with `q_bias` / `v_bias`, final `norm`; no position table in the file) followed by:

- ``agg_block``, the slot block: learned queries ``latents`` (K, D); per iteration i a cross-attention
  ``layers.i.0`` (a pre-norm wrapper: ``norm`` on the slots, ``norm_context`` on the tokens, its inner
  ``fn`` with bias-free ``to_q`` / ``to_k`` / ``to_v`` and ``to_out.0`` (linear with bias)) and a feed-forward
  ``layers.i.2`` (``norm``, then ``fn.net.0`` - GELU - ``fn.net.3``); ``layers.i.1`` / ``layers.i.3`` are
  identity post-norms without tensors; a final LayerNorm ``last_layer.0``. Inside: 4 heads (fixed in the
  release's code, not stored) of ``to_q.out_features / 4`` dims. With tied weights every ``layers.i`` holds
  the same tensors (a state dict writes a shared module under each of its names).
- ``mask_predictor.decoder.{0,2,4}``: the action mask decoder's three linear layers (ReLU between; the
  release ends with a sigmoid inside the module, the toolkit's AMD returns logits: the same mask).
- ``head``: the unified linear head, actions first, then scenes (``head_type='mlp'`` files, with
  ``head.fc1`` / ``head.fc2``, have no toolkit counterpart).

Semantics checked against the toolkit's `SlotAttention`: softmax over the slot axis, renormalisation over
keys with 1e-7, residual update, feed-forward residual, final LayerNorm, LayerNorms with eps 1e-5 (the
ViT's are 1e-6, as the toolkit's). Pure name and shape logic; `devias_tk.models.checkpoints` uses it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

RELEASE_SLOT_HEADS = 4  # the release builds its slot attention with 4 heads; the file does not say
SLOT_PARTS = ("agg_block.", "mask_predictor.", "head.")
_LAYER = re.compile(r"^agg_block\.layers\.(\d+)\.(.+)$")
# per-iteration tensors: the release's name after `agg_block.layers.i.` -> the toolkit's after `layers.i.`
_ITERATION = {
    "0.norm.": "norm_slots.", "0.norm_context.": "norm_inputs.", "0.fn.to_q.": "to_q.", "0.fn.to_k.": "to_k.",
    "0.fn.to_v.": "to_v.", "0.fn.to_out.0.": "to_out.", "2.norm.": "norm_mlp.", "2.fn.net.0.": "mlp.0.",
    "2.fn.net.3.": "mlp.2.",
}
_FIXED = {
    "agg_block.latents": "slot_attention.slots",
    "agg_block.last_layer.0.weight": "slot_attention.norm.weight",
    "agg_block.last_layer.0.bias": "slot_attention.norm.bias",
    "head.weight": "head.weight", "head.bias": "head.bias",
}
_AMD = re.compile(r"^mask_predictor\.decoder\.([024])\.(weight|bias)$")


def is_release(state: Mapping[str, Any]) -> bool:
    """A release slot model: the slot block's queries beside a video ViT's tubelet embedding."""
    w = state.get("patch_embed.proj.weight")
    return "agg_block.latents" in state and w is not None and len(w.shape) == 5


def is_slot_part(name: str) -> bool:
    """A tensor of the slot block, the mask decoder or the unified head (not of the ViT)."""
    return name.startswith(SLOT_PARTS)


def iteration(name: str) -> int | None:
    """The slot iteration `agg_block.layers.i.*` belongs to (None for other names)."""
    match = _LAYER.match(name)
    return int(match.group(1)) if match else None


def first_iteration_name(name: str) -> str:
    """The same tensor's name in iteration 0 (its tied original)."""
    return re.sub(r"^agg_block\.layers\.\d+\.", "agg_block.layers.0.", name)


def toolkit_name(name: str) -> str | None:
    """The toolkit `DEVIAS` name of a release slot-model tensor (iteration index kept); None when the
    toolkit has no counterpart (an MLP head, a slot block built with options the paper does not use)."""
    if name in _FIXED:
        return _FIXED[name]
    match = _LAYER.match(name)
    if match:
        for old, new in _ITERATION.items():
            if match.group(2).startswith(old):
                return f"slot_attention.layers.{match.group(1)}.{new}{match.group(2)[len(old):]}"
        return None
    match = _AMD.match(name)
    return f"amd.mlp.{match.group(1)}.{match.group(2)}" if match else None


def tied(state: Mapping[str, torch.Tensor]) -> bool:
    """Whether every slot iteration holds iteration 0's tensors (the release's weight-tied layers); tensors
    without data (meta) are not shown equal."""
    later = [(v, state[first_iteration_name(k)]) for k, v in state.items()
             if (iteration(k) or 0) > 0 and first_iteration_name(k) in state]
    return all(not a.is_meta and torch.equal(a, b) for a, b in later)


def slot_config(state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """The toolkit `DEVIAS` keywords of the slot block, mask decoder and head read off a release state dict
    (`num_outputs`: the unified head's outputs, actions + scenes)."""
    iterations = sorted({i for k in state if (i := iteration(k)) is not None})
    q = state.get("agg_block.layers.0.0.fn.to_q.weight")
    ff = state.get("agg_block.layers.0.2.fn.net.0.weight")
    if not iterations or q is None or ff is None:
        raise ValueError("no slot iteration (agg_block.layers.0.0.fn.to_q.weight, agg_block.layers.0.2.fn.net.0."
                         "weight) in the file")
    dim = state["agg_block.latents"].shape[1]
    config: dict[str, Any] = {
        "num_slots": state["agg_block.latents"].shape[0], "slot_iters": len(iterations),
        "shared_slot_weights": tied(state), "slot_heads": RELEASE_SLOT_HEADS,
        "slot_head_dim": q.shape[0] // RELEASE_SLOT_HEADS, "slot_mlp_ratio": ff.shape[0] / dim,
        "use_amd": "mask_predictor.decoder.0.weight" in state,
    }
    if config["use_amd"]:
        config["amd_hidden"] = [state[f"mask_predictor.decoder.{i}.weight"].shape[0] for i in (0, 2)]
    if "head.weight" in state:
        config["num_outputs"] = state["head.weight"].shape[0]
    return config
