"""`model.method=finetune`: the run a fine-tuning starts from, and the model keys that run fixes.

A fine-tuning starts from a trained devias-tk run: `run.init=RUN` (RUN/checkpoints/best.pt when present,
else last.pt) or one of its checkpoint files; a release checkpoint brought in with `devias-tk import` is
such a run. The source run's method decides what comes over (`devias_tk.models.finetune`): from DEVIAS
the backbone, the disentangling encoder and the unified head that assigns the roles; from Naive Action /
Scene the backbone. Its saved model configuration fixes the architecture: the fine-tuning keeps the
source's backbone and slot keys and may set only its own (fusion, head_dropout, drop_path,
grad_checkpointing, the clip shape); a `model.*` key that would change the architecture is an error.
A fine-tuning run can itself be the source (a second fine-tuning keeps its source and head).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from devias_tk.engine.checkpoint import init_file, load_checkpoint
from devias_tk.errors import DeviasError
from devias_tk.models.backbone import BACKBONE_KEYS, PRESETS, VideoViT
from devias_tk.models.devias import DEVIAS
from devias_tk.models.finetune import SLOT_SOURCE_KEYS, SOURCES

FREE_KEYS = frozenset({"drop_path", "grad_checkpointing", "frames", "img_size"})  # no weight depends on them
_PRESET_KEYS = ("embed_dim", "depth", "num_heads")  # `size` only fills these


def _defaults(cls: type) -> dict[str, Any]:
    return {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
            if p.default is not inspect.Parameter.empty}


_DEFAULTS = {**_defaults(VideoViT), **_defaults(DEVIAS)}


def effective(config: dict[str, Any], key: str) -> Any:
    """The value `key` takes in a model built from `config` (a key left out takes its default; embed_dim,
    depth and num_heads come from the `size` preset unless given)."""
    if key in config:
        return config[key]
    if key in _PRESET_KEYS:
        return PRESETS[config.get("size", _DEFAULTS["size"])][key]
    return _DEFAULTS.get(key)


def architecture_keys(source: str) -> frozenset[str]:
    """The model keys a source run fixes (its weights depend on them)."""
    keys = (BACKBONE_KEYS - FREE_KEYS - {"size"}) | set(_PRESET_KEYS)
    return frozenset(keys | SLOT_SOURCE_KEYS if source == "devias" else keys)


def _read_source(path: Path) -> dict[str, Any]:
    try:
        return load_checkpoint(path)
    except DeviasError as exc:
        raise DeviasError(f"model.method=finetune starts from a devias-tk run (run.init=RUN or one of its "
                          f"checkpoints; methods {', '.join(SOURCES)}): {exc}. Other weights (VideoMAE, ...) start "
                          "an ordinary method instead, e.g. model.method=naive-action run.init=FILE") from None


def with_source(init: str | None, model_config: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """(the fine-tuning model's keys, a line describing the source) from the user's `model_config` (split for
    the finetune method) and the source run `init`. Raises DeviasError for a missing or unusable source and
    for keys that contradict the source's architecture."""
    if not init:
        raise DeviasError("model.method=finetune starts from a trained run: set run.init=RUN (a devias-tk run "
                          "directory, or RUN/checkpoints/last.pt)")
    path = init_file(init)
    state = _read_source(path)
    saved_method = state.get("method")
    saved = dict(state.get("model_config") or {})
    names = state.get("class_names") or {}
    if saved_method == "finetune":
        source = saved.get("source", "devias")
        counts = {k: saved[k] for k in ("source_actions", "source_scenes") if k in saved}
    elif saved_method in SOURCES:
        source = saved_method
        counts = {"source_actions": len(names.get("actions", [])), "source_scenes": len(names.get("scenes", []))}
    else:
        raise DeviasError(f"{path}: a {saved_method} run; fine-tuning starts from {', '.join(SOURCES)} runs")
    if model_config.get("source", source) != source:
        raise DeviasError(f"model.source={model_config['source']} but run.init {path} is a {source} run")
    arch = architecture_keys(source)
    given = set(model_config) | (set(_PRESET_KEYS) if "size" in model_config else set())
    clashes = [f"model.{k}={effective(model_config, k)!r} (source: {effective(saved, k)!r})"
               for k in sorted(arch & given) if effective(model_config, k) != effective(saved, k)]
    if clashes:
        raise DeviasError(f"the fine-tuning keeps the architecture of its source run {path}; drop or fix "
                          + ", ".join(clashes))
    kept = {k: v for k, v in saved.items() if k in arch or k == "size"}
    merged = {**kept, **model_config, "source": source, **(counts if source == "devias" else {})}
    what = {"devias": "backbone, slot encoder and role-assigning unified head",
            "naive-action": "backbone", "naive-scene": "backbone"}[source]
    line = (f"fine-tuning source {path}: a {saved_method} run ({len(names.get('actions', []))} actions, "
            f"{len(names.get('scenes', []))} scenes); its {what} start the model, a new "
            f"{merged.get('fusion', 'project') if source == 'devias' else 'linear'} head learns the target classes")
    return merged, line
