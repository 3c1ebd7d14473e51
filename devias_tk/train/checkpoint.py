"""Run checkpoints: atomic saves, `--resume auto`, and loading weights to start from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from devias_tk import __version__
from devias_tk.errors import DeviasError
from devias_tk.models.baselines import PooledClassifier
from devias_tk.models.checkpoints import (
    KeyMap,
    LoadReport,
    describe_weights,
    find_state_dict,
    load_mapped,
    map_video_vit,
    read_checkpoint,
    strip_prefix,
    video_vit_format,
    vit_geometry,
)
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
        state = torch.load(path, map_location=map_location, weights_only=True)  # our own files hold no objects
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


def _action_head(model: nn.Module) -> str | None:
    """Where a VideoMAE fine-tuned head may go: only a plain action classifier has the same meaning."""
    return "head." if isinstance(model, PooledClassifier) and model.target == "action" else None


def _other_method(state: dict[str, torch.Tensor], saved: str, method: str, keep: tuple[str, ...]) -> KeyMap:
    """A devias-tk checkpoint of another method: only the parts named by `keep` mean the same here (the
    backbone, for a Naive Action run fine-tuned before DEVIAS as the paper does on UCF-101; also the slots
    and the unified head for a fine-tuning model, its `inherits`); the rest is set aside."""
    mapped = KeyMap()
    for name, value in state.items():
        if name.startswith(keep):
            mapped.put(name, value, name)
        else:
            mapped.ignored[name] = f"{saved} run's own part; this model is {method}: starts fresh"
    return mapped


CHECKPOINT_CHOICES = {"auto": ("best.pt", "last.pt"), "best": ("best.pt",), "last": ("last.pt",)}


def run_checkpoint(run_dir: str | Path, which: str = "auto") -> Path:
    """A run directory's checkpoint: "auto" = checkpoints/best.pt if present, else last.pt; "best"; "last";
    or a file name in checkpoints/."""
    names = CHECKPOINT_CHOICES.get(which, (which,))
    folder = Path(run_dir) / "checkpoints"
    path = next((folder / n for n in names if (folder / n).is_file()), None)
    if path is None:
        raise DeviasError(f"{run_dir}: no checkpoint ({' or '.join(names)}) in checkpoints/")
    return path


def init_file(path: str | Path) -> Path:
    """The file run.init names: a run directory stands for its checkpoint (`run_checkpoint`, "auto")."""
    path = Path(path)
    return run_checkpoint(path) if path.is_dir() and (path / "checkpoints").is_dir() else path


def load_initial_weights(model: nn.Module, path: str | Path, strict: bool = False,
                         method: str | None = None) -> LoadReport:
    """Start from a devias-tk checkpoint or run directory (its model weights; of a `devias-tk pretrain` run, its
    encoder), a state dict in the toolkit's own names, or a VideoMAE pre-training / fine-tuned / DEVIAS
    scene-teacher file mapped onto the backbone (`devias_tk.models.checkpoints`). Returns the load report;
    `strict` refuses any missing, unexpected or reshaped tensor. Tensors of the model a format never supplies
    (heads, slots) are reported fresh. `method`: the model's method; a devias-tk checkpoint of another method
    gives its backbone only (a fine-tuning model: the parts it `inherits`)."""
    path = init_file(path)
    raw = read_checkpoint(path, "initial weights")
    target = unwrap(model)
    own = target.state_dict()
    own_format = isinstance(raw, dict) and raw.get("format") == FORMAT
    if own_format:
        state, container = find_state_dict({"model": raw.get("model")}, path)
    else:
        state, container = find_state_dict(raw, path)
        state, _ = strip_prefix(state, "module.")
    fmt = video_vit_format(state)  # a `devias-tk pretrain` run's file is mapped: its encoder, not its decoder
    if own_format and fmt is None:
        saved = raw.get("method")
        if method is not None and saved is not None and saved != method:
            keep = getattr(target, "inherits", ("backbone.",))
            report = load_mapped(target, _other_method(state, saved, method, keep), file=path,
                                 fmt=f"{FORMAT} ({saved})", container=container,
                                 covers=lambda name: name.startswith(keep))
        else:
            report = load_mapped(target, KeyMap.identity(state), file=path, fmt=FORMAT, container=container)
    else:
        if fmt is None and any(k.startswith("backbone.") and k in own for k in state):  # the toolkit's own names
            report = load_mapped(target, KeyMap.identity(state), file=path, fmt="devias-tk state dict",
                                 container=container)
        elif fmt is None:
            raise DeviasError(f"{path}: not weights this model can start from: the file holds "
                              f"{describe_weights(state)}; readable: devias-tk checkpoints, VideoMAE pre-training "
                              "and fine-tuned checkpoints, the DEVIAS scene teacher")
        else:
            shapes = {k: v.shape for k, v in own.items()}
            mapped = map_video_vit(state, fmt, shapes, prefix="backbone.", head=_action_head(target))
            report = load_mapped(target, mapped, file=path, fmt=fmt, container=container,
                                 covers=lambda name: name.startswith("backbone."))
    if not report.loaded:
        raise DeviasError(f"{path}: no tensor fits this model (the file holds {describe_weights(state)}; the model's "
                          f"backbone has {vit_geometry(own, 'backbone.')})")
    report.check(strict)
    return report
