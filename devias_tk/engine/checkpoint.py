"""Run checkpoints: atomic, durable, checksummed saves; `--resume auto` with a fallback; weights to start from.

A checkpoint carries a SHA-256 over its tensors and values (`checksum`), checked on load, so a file
damaged on disk (a torn write after a power loss, bit rot, a truncated copy) is refused by name instead
of training on garbage. Saving last.pt first moves the one it replaces to previous.pt, so `--resume auto`
can fall back to it when last.pt is damaged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
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
from devias_tk.utils.words import one_line

FORMAT = "devias-tk/checkpoint/1"
LAST, PREVIOUS = "last.pt", "previous.pt"


def state_checksum(state: Any) -> str:
    """SHA-256 over a checkpoint's values in a fixed order: tensors by dtype, shape and bytes, the rest by repr."""
    digest = hashlib.sha256()

    def walk(value: Any) -> None:
        if torch.is_tensor(value):
            t = value.detach().cpu().contiguous()
            digest.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            if t.numel():
                digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(value, dict):
            digest.update(b"{")
            for key in sorted(value, key=repr):
                digest.update(repr(key).encode())
                walk(value[key])
            digest.update(b"}")
        elif isinstance(value, list | tuple):
            digest.update(b"[")
            for item in value:
                walk(item)
            digest.update(b"]")
        else:
            digest.update(repr(value).encode())

    walk(state)
    return digest.hexdigest()


def _tensor_bytes(value: Any) -> int:
    if torch.is_tensor(value):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(_tensor_bytes(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(_tensor_bytes(v) for v in value)
    return 0


def save_checkpoint(path: Path, state: dict[str, Any], keep_previous: bool = False) -> None:
    """torch.save to a temporary file, flushed, then renamed: neither a crash nor a power loss leaves a torn
    checkpoint. keep_previous: the file replaced is kept as previous.pt beside it."""
    payload = {"format": FORMAT, "toolkit_version": __version__, **state}
    payload["checksum"] = state_checksum(payload)
    # Through a Python file: a full disk then surfaces as OSError (a path makes torch hide it), which
    # atomic_path reports with the path and the size.
    with atomic_path(path, needed=_tensor_bytes(payload),
                     keep_previous=Path(path).with_name(PREVIOUS) if keep_previous else None) as tmp, \
            open(tmp, "wb") as f:
        torch.save(payload, f)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise DeviasError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)  # our own files hold no objects
    except Exception as exc:
        raise DeviasError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {one_line(exc)})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise DeviasError(f"{path}: not a devias-tk training checkpoint")
    saved = state.pop("checksum", None)
    if saved is not None and state_checksum(state) != saved:
        raise DeviasError(f"{path}: damaged checkpoint (its checksum does not match its contents)")
    return state


def resume_state(run_dir: Path, resume: str, load: Callable[[Path], dict[str, Any]] = load_checkpoint,
                 say: Callable[[str], None] = print, is_main: bool = True) -> tuple[Path | None, dict | None]:
    """The checkpoint to resume and its state: resume "auto" (RUN/checkpoints/last.pt, or previous.pt when last.pt
    is damaged or missing, saying so), "never" (refuse a run directory that has one), or a path (no fallback).
    A damaged last.pt that is passed over is renamed last.pt.damaged (main process), so the next save does not
    move it onto the good previous.pt."""
    folder = run_dir / "checkpoints"
    candidates = [p for p in (folder / LAST, folder / PREVIOUS) if p.is_file()]
    if resume == "never":
        if candidates:
            raise DeviasError(f"{run_dir} already holds a run; use --resume auto or another --out")
        return None, None
    if resume != "auto":
        return Path(resume), load(Path(resume))
    problems = [] if (folder / LAST).is_file() or not candidates else [f"{folder / LAST}: missing"]
    for path in candidates:
        try:
            state = load(path)
        except DeviasError as exc:
            problems.append(str(exc))
            continue
        if problems:
            say(f"warning: {'; '.join(problems)}; resuming from the previous checkpoint {path} instead (epoch "
                f"{state.get('epoch')}, step {state.get('step')}): the work since it is done again")
            if is_main and path.name == PREVIOUS and (folder / LAST).is_file():
                (folder / LAST).replace(folder / (LAST + ".damaged"))
        return path, state
    if not candidates:
        return None, None
    raise DeviasError(f"{run_dir}: no intact checkpoint to resume ({'; '.join(problems)}); "
                      "start again with another --out (or delete the checkpoints)")


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
