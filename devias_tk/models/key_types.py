"""The types of a flat model config's values, read from the constructors' own annotations and checked before
anything is built: `model.amd_hidden=hello` is named by its key, not left to surface as a torch error from deep
inside a constructor. Sizes (int keys whose default is not 0) must also be 1 or more.
"""

from __future__ import annotations

import functools
import inspect
import math
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

from devias_tk.models.backbone import VideoViT
from devias_tk.models.baselines import PooledClassifier, TokenClassifier
from devias_tk.models.devias import DEVIAS
from devias_tk.models.finetune import SlotFineTune, build_finetune

# constructors whose keyword arguments are model.* keys (the first annotation of a key wins)
_SOURCES: tuple[Callable[..., Any], ...] = (VideoViT.__init__, DEVIAS.__init__, build_finetune,
                                            SlotFineTune.__init__, PooledClassifier.__init__, TokenClassifier.__init__)
_POSITIONAL = {"self", "backbone", "num_actions", "num_scenes", "slot_config", "return"}


@functools.cache
def key_specs() -> dict[str, tuple[Any, Any]]:
    """key -> (annotation, default) for every keyword a model constructor takes."""
    out: dict[str, tuple[Any, Any]] = {}
    for fn in _SOURCES:
        hints = typing.get_type_hints(fn)
        params = inspect.signature(fn).parameters
        for name, annotation in hints.items():
            if name not in _POSITIONAL and name in params:
                out.setdefault(name, (annotation, params[name].default))
    return out


def _fits(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return True
    if origin in (types.UnionType, typing.Union):
        return any(_fits(value, a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin in (tuple, list, Sequence) or annotation in (tuple, list):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis] or [Any]
        return isinstance(value, list | tuple) and all(_fits(v, args[0]) for v in value)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if annotation is str:
        return isinstance(value, str)
    return True  # a type this check does not know: the constructor's own checks decide


def _describe(annotation: Any) -> str:
    if typing.get_origin(annotation) in (tuple, list, Sequence):
        return f"a list of {_describe(typing.get_args(annotation)[0])}"
    text = str(annotation) if typing.get_origin(annotation) else getattr(annotation, "__name__", str(annotation))
    return text.replace("collections.abc.", "").replace("typing.", "").replace("NoneType", "None")


def _sizes(value: Any) -> list[int]:
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, int) and not isinstance(v, bool)]
    return [value] if isinstance(value, int) and not isinstance(value, bool) else []


def check_model_values(config: dict[str, Any]) -> None:
    """ValueError naming the first model.* key whose value has the wrong type or is a size below 1.
    Keys no constructor takes are left to `build_model`, which names them with the allowed ones."""
    specs = key_specs()
    for key, value in config.items():
        if key not in specs:
            continue
        annotation, default = specs[key]
        if not _fits(value, annotation):
            raise ValueError(f"model.{key} must be {_describe(annotation)} (got {value!r})")
        if default != 0 and any(v < 1 for v in _sizes(value)):
            raise ValueError(f"model.{key} is a size, 1 or more (got {value!r})")
        if isinstance(value, float) and value < 0:
            raise ValueError(f"model.{key} must be 0 or more (got {value!r})")
