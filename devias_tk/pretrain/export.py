"""`pretrain export`: a pre-training run's weights in VideoMAE's published pre-training layout.

The file is `{"model": state_dict, "epoch": int}` with `encoder.patch_embed.proj.*`, `encoder.blocks.i.*`
(qkv without bias plus `q_bias` / `v_bias`), `encoder.norm.*`, `decoder.blocks.i.*`, `decoder.norm.*`,
`decoder.head.*`, `encoder_to_decoder.weight` and `mask_token`: what VideoMAE's `run_mae_pretraining.py`
saves (less its optimizer and arguments), so VideoMAE code and the toolkit's loader read it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from devias_tk.engine.checkpoint import load_checkpoint
from devias_tk.errors import DeviasError
from devias_tk.models.videomae import videomae_state_dict
from devias_tk.pretrain.config import METHOD
from devias_tk.utils.atomic import atomic_path


def run_checkpoint(run_or_file: str | Path) -> Path:
    """RUN/checkpoints/last.pt of a run directory, or the checkpoint file given."""
    path = Path(run_or_file)
    return path / "checkpoints" / "last.pt" if path.is_dir() else path


def load_run_checkpoint(path: str | Path) -> dict[str, Any]:
    """A `devias-tk pretrain` checkpoint (refusing other devias-tk checkpoints by name)."""
    state = load_checkpoint(path)
    if state.get("method") != METHOD:
        raise DeviasError(f"{path}: a {state.get('method')!r} training checkpoint, not a `devias-tk pretrain` one")
    return state


def export_videomae(run_or_file: str | Path, out: str | Path) -> dict[str, Any]:
    """Write the VideoMAE-layout file; returns what was written (path, epoch, tensor count, encoder geometry)."""
    source = run_checkpoint(run_or_file)
    state = load_run_checkpoint(source)
    weights = videomae_state_dict(state["model"])
    out = Path(out)
    with atomic_path(out) as tmp:
        torch.save({"model": weights, "epoch": int(state["epoch"])}, tmp)
    w = weights["encoder.patch_embed.proj.weight"]
    return {"file": str(out), "source": str(source), "epoch": int(state["epoch"]), "tensors": len(weights),
            "encoder": f"{w.shape[0]} dims, kernel {'x'.join(map(str, w.shape[2:]))}"}
