"""The recipe machinery every trainer reads its configuration with: YAML recipes merged over the defaults
(`base: other.yaml`, relative to the recipe, inherits another first), dotted `section.key=value` overrides
parsed as YAML, sections as dataclasses whose unknown keys and wrongly typed values are errors, and the checks
every trainer's run section shares (precision, the bad-video budget).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devias_tk.errors import DeviasError
from devias_tk.utils.yamlfile import read_mapping

# top-level recipe keys that hold a path, not a section (pretraining's training recipe to take a shape from)
PATH_KEYS = ("backbone_from",)
# run.amp: see devias_tk.engine.runtime.autocast_dtype
AMP_CHOICES = ("auto", "native", "bf16", "fp16", "off")


@dataclass
class RunSection:
    name: str | None = None  # the run's label in reports and `eval compare` (default: from method and mix)
    seed: int = 0
    device: str = "auto"  # "auto" | "cpu" | "cuda"
    # "auto" (bf16 on CUDA) | "native" (and on CPUs with bf16 in hardware) | "bf16" | "fp16" (loss-scaled) | "off"
    amp: str = "auto"
    compile: bool = False
    threads: int = 0  # CPU threads for torch (0: leave torch's default)
    save_every: int = 1  # epochs between checkpoints
    save_every_steps: int = 0  # additionally every N steps (0: off)
    log_every: int = 10  # steps
    init: str | None = None  # weights to start from (a devias-tk checkpoint, VideoMAE or DEVIAS-teacher file)
    init_strict: bool = False  # refuse init weights with any missing, unexpected or reshaped tensor
    trackers: str = ""  # also log to "wandb", "mlflow" or "wandb,mlflow" (when installed; devias_tk.engine.trackers)
    tracker_project: str = "devias-tk"  # the W&B project / MLflow experiment


def did_you_mean(word: Any, known: Iterable[Any]) -> str:
    """" (did you mean 'x'?)" for the known name closest to a misspelt `word`, or "" when none is close."""
    close = difflib.get_close_matches(str(word), [str(k) for k in known], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_names(what: str, unknown: Iterable[Any], known: Iterable[Any]) -> str:
    """The error for names a recipe gives that the toolkit does not know: each with its closest known name, then
    every known one. `what` starts the message, e.g. "unknown key(s) in 'optim'"."""
    known = sorted(str(k) for k in known)
    return f"{what}: {', '.join(f'{u}{did_you_mean(u, known)}' for u in unknown)} (known: {', '.join(known)})"


def check_sections(tree: dict[str, Any], known: Iterable[str]) -> None:
    """Every top-level name of a recipe is a known section."""
    known = list(known)
    unknown = sorted(str(k) for k in set(tree) - set(known))
    if unknown:
        raise DeviasError(unknown_names("unknown section(s)", unknown, known))


def plain(value: Any) -> Any:
    """A section's values as YAML writes them (tuples as lists)."""
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def _check_type(where: str, value: Any, annotation: Any) -> Any:
    """Coerce YAML values to the field's type (ints for floats, lists for tuples) or raise."""
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _check_type(where, value, option)
            except DeviasError as exc:
                errors.append(str(exc))
        raise DeviasError(errors[0])
    if origin is tuple:
        args = typing.get_args(annotation)
        if not isinstance(value, list | tuple) or len(value) != len(args):
            raise DeviasError(f"{where}: expected a list of {len(args)} values, got {value!r}")
        return tuple(_check_type(f"{where}[{i}]", v, a) for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if annotation is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
        try:
            return float(value)
        except ValueError:
            pass
    if annotation is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if annotation is bool and isinstance(value, bool):
        return value
    if annotation is str and isinstance(value, str):
        return value
    if annotation is str and value is False and where.endswith(".amp"):
        return "off"  # YAML 1.1 reads a bare `off` (recipe or run.amp=off override) as false
    name = getattr(annotation, "__name__", str(annotation))
    raise DeviasError(f"{where}: expected {name}, got {value!r}")


def build_section(cls: type, name: str, values: dict[str, Any]) -> Any:
    """The dataclass `cls` from a recipe section's values: unknown keys and wrong types are errors."""
    values = section_values(values, name)
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise DeviasError(unknown_names(f"unknown key(s) in '{name}'", unknown, known))
    try:
        return cls(**{k: _check_type(f"{name}.{k}", v, hints[k]) for k, v in values.items()})
    except ValueError as exc:  # a section's own validation (e.g. LossConfig)
        raise DeviasError(f"{name}: {exc}") from None


def section_values(values: Any, name: str, where: str = "") -> dict[str, Any]:
    """A section's `key: value` mapping (None: empty); anything else is an error naming the section."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        prefix = f"{where}: " if where else ""
        raise DeviasError(f"{prefix}section '{name}' must be a mapping of key: value lines (got {values!r}); "
                          f"write it as `{name}:` followed by indented `key: value` lines")
    return values


def merge(base: dict, update: dict) -> dict:
    """`update` over `base`, nested mappings merged key by key."""
    out = dict(base)
    for k, v in update.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_recipe(path: str | Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A recipe file as a nested dict, with `base:` inheritance applied (a cycle of bases is an error)."""
    path = Path(path)
    if not path.is_file():
        raise DeviasError(f"{path}: recipe not found" + (f" (the base of {_chain[-1]})" if _chain else ""))
    resolved = path.resolve()
    if resolved in _chain:
        cycle = " -> ".join(str(p) for p in (*_chain[_chain.index(resolved):], resolved))
        raise DeviasError(f"{_chain[-1]}: `base:` inherits in a cycle ({cycle}); remove one of these bases")
    data = read_mapping(path, "a recipe is a mapping of sections")
    base = data.pop("base", None)
    if base is not None and not isinstance(base, str):
        raise DeviasError(f"{path}: base must be the path of another recipe (got {base!r})")
    for name, values in data.items():
        if name not in PATH_KEYS:
            data[name] = section_values(values, str(name), str(path))
    return merge(load_recipe(path.parent / base, (*_chain, resolved)), data) if base else data


def apply_overrides(tree: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """`section.key=value` strings applied to a nested dict (values parsed as YAML)."""
    tree = copy.deepcopy(tree)
    for item in overrides:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) != 2 or not all(parts):
            raise DeviasError(f"override {item!r}: use section.key=value (e.g. optim.lr=1e-3)")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        tree[parts[0]] = section_values(tree.get(parts[0]), parts[0])
        tree[parts[0]][parts[1]] = value
    return tree


def check_amp(amp: str, name: str = "run.amp") -> None:
    """A precision choice (`name`: the key or flag it came from) is one of AMP_CHOICES."""
    if amp not in AMP_CHOICES:
        raise DeviasError(f"{name} must be one of {', '.join(AMP_CHOICES)} (got {amp!r})")


def check_decoder(name: str | None) -> None:
    """data.decoder: unset (the process's choice: --decoder, DEVIAS_DECODER, else auto) or a decoder's name."""
    from devias_tk.data.video_source import DECODERS

    if name is not None and name not in DECODERS:
        raise DeviasError(f"data.decoder must be one of {', '.join(DECODERS)} or unset (got {name!r})")


def check_fault_limits(max_skipped: float, decode_timeout: float) -> None:
    """The bad-video budget and the per-item time limit of a training-like run."""
    if not 0 <= max_skipped < 1:
        raise DeviasError(f"data.max_skipped is a share of the listed videos in [0, 1) (got {max_skipped})")
    if decode_timeout <= 0:
        raise DeviasError(f"data.decode_timeout is in seconds, above 0 (got {decode_timeout})")
