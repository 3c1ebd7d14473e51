"""VideoMAE weights in the Hugging Face `transformers` layout, renamed into VideoMAE's own layout.

The HF classes (`VideoMAEModel`, `VideoMAEForVideoClassification`, `VideoMAEForPreTraining`; facts from
their conversion script) keep the encoder under ``videomae.``:

- ``embeddings.patch_embeddings.projection`` = ``patch_embed.proj`` (Conv3d);
- ``encoder.layer.N.``: ``layernorm_before`` / ``layernorm_after`` = ``norm1`` / ``norm2``; the fused
  ``attn.qkv`` split into ``attention.attention.query`` / ``key`` / ``value`` (weights only) with the biases
  as ``attention.attention.q_bias`` / ``v_bias``; ``attention.output.dense`` = ``attn.proj``;
  ``intermediate.dense`` / ``output.dense`` = ``mlp.fc1`` / ``mlp.fc2``;
- ``layernorm`` = the final ``norm``; a classifier has ``fc_norm`` (mean pooling) and ``classifier``
  (= ``head``) at the top level; a pre-training file adds ``decoder.*``, ``encoder_to_decoder.weight`` and
  ``mask_token``. The sinusoid position table is not a parameter (``embeddings.position_embeddings`` is
  handled like VideoMAE's ``pos_embed`` if a file has it).

`to_videomae_layout` renames (fusing query / key / value into one ``qkv``) and remembers every new name's
HF source, so load reports speak the file's names. Pure name logic.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

HF_PATCH = "videomae.embeddings.patch_embeddings.projection.weight"
_LAYER = re.compile(r"^videomae\.encoder\.layer\.(\d+)\.(.+)$")
_PER_LAYER = {  # HF name after `layer.N.` -> VideoMAE name after `blocks.N.`
    "layernorm_before.": "norm1.", "layernorm_after.": "norm2.", "attention.output.dense.": "attn.proj.",
    "intermediate.dense.": "mlp.fc1.", "output.dense.": "mlp.fc2.", "attention.attention.q_bias": "attn.q_bias",
    "attention.attention.v_bias": "attn.v_bias", "attention.attention.query.bias": "attn.q_bias",
    "attention.attention.value.bias": "attn.v_bias",
}
_TOP = {
    "videomae.embeddings.patch_embeddings.projection.": "patch_embed.proj.",
    "videomae.embeddings.position_embeddings": "pos_embed", "videomae.layernorm.": "norm.", "fc_norm.": "fc_norm.",
    "classifier.": "head.",
}
_QKV = ("query", "key", "value")


@dataclass
class Renamed:
    """A state dict in VideoMAE's names; `source`: new name -> the HF name(s) it came from."""

    state: dict[str, torch.Tensor] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)
    ignored: dict[str, str] = field(default_factory=dict)  # HF name -> why it is set aside
    unexpected: list[str] = field(default_factory=list)  # HF names with no VideoMAE counterpart


def is_hf_videomae(state: Mapping[str, object]) -> bool:
    return HF_PATCH in state


def _prefix_rename(name: str, table: Mapping[str, str]) -> str | None:
    for old, new in table.items():
        if name.startswith(old):
            return new + name[len(old):]
    return None


def to_videomae_layout(state: Mapping[str, torch.Tensor]) -> Renamed:
    """Rename an HF VideoMAE state dict into VideoMAE's fine-tuning layout (see the module docstring)."""
    out = Renamed()
    qkv: dict[int, dict[str, str]] = {}
    for name, value in state.items():
        if name.startswith(("decoder.", "encoder_to_decoder.")) or name == "mask_token":
            out.ignored[name] = "pre-training decoder"
            continue
        match = _LAYER.match(name)
        if match:
            index, rest = int(match.group(1)), match.group(2)
            part = re.fullmatch(r"attention\.attention\.(query|key|value)\.weight", rest)
            if part:
                qkv.setdefault(index, {})[part.group(1)] = name
                continue
            if rest == "attention.attention.key.bias":
                if torch.count_nonzero(value):
                    out.unexpected.append(name)  # VideoMAE's key bias is zero by construction
                else:
                    out.ignored[name] = "a zero key bias (VideoMAE has none)"
                continue
            new = _prefix_rename(rest, _PER_LAYER)
            new = None if new is None else f"blocks.{index}.{new}"
        else:
            new = _prefix_rename(name, _TOP)
        if new is None or new in out.state:
            out.unexpected.append(name)
        else:
            out.state[new], out.source[new] = value, name
    for index, parts in sorted(qkv.items()):
        if set(parts) != set(_QKV):
            out.unexpected += sorted(parts.values())  # a partial projection cannot be fused
            continue
        new = f"blocks.{index}.attn.qkv.weight"
        out.state[new] = torch.cat([state[parts[p]] for p in _QKV])
        out.source[new] = ", ".join(parts[p] for p in _QKV)
    return out
