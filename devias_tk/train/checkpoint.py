"""Run checkpoints: atomic saves, `--resume auto`, and loading weights to start from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from devias_tk import __version__
from devias_tk.errors import DeviasError
from devias_tk.utils.atomic import atomic_path

FORMAT = "devias-tk/checkpoint/1"


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save to a temporary file, then rename: a crash never leaves a torn checkpoint."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "toolkit_version": __version__, **state}, tmp)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise DeviasError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:
        raise DeviasError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise DeviasError(f"{path}: not a devias-tk training checkpoint")
    return state


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module under DDP and torch.compile wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        else:
            return model


def load_initial_weights(model: nn.Module, path: str | Path) -> dict[str, list[str]]:
    """Start from a devias-tk checkpoint (its model weights) or a raw state dict whose keys match the
    model or its backbone (e.g. VideoMAE fine-tuned names). Shape-mismatched keys (a head with another
    class count) are skipped. Returns a load report."""
    path = Path(path)
    if not path.is_file():
        raise DeviasError(f"{path}: initial weights not found")
    raw = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(raw, dict) and raw.get("format") == FORMAT:
        state = raw["model"]
    elif isinstance(raw, dict):
        state = raw.get("model", raw.get("module", raw))
    else:
        raise DeviasError(f"{path}: not a state dict or checkpoint")
    own = model.state_dict()
    if not any(k in own for k in state) and any(f"backbone.{k}" in own for k in state):
        state = {f"backbone.{k}": v for k, v in state.items()}
    loadable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    report = {
        "loaded": sorted(loadable),
        "reshaped_skipped": sorted(k for k, v in state.items() if k in own and own[k].shape != v.shape),
        "unexpected": sorted(k for k in state if k not in own),
        "missing": sorted(k for k in own if k not in loadable),
    }
    if not loadable:
        raise DeviasError(f"{path}: no parameter matches this model")
    model.load_state_dict(loadable, strict=False)
    return report
