"""Foreign weights: read a checkpoint file safely, find its weights, recognise the format, re-key them
for a toolkit module, and say what happened in a `LoadReport`.

Video ViT formats, recognised from key names and tensor shapes (never from file names):

- ``videomae-pretrain``: the encoder under ``encoder.`` (with a real ``encoder.norm``); ``decoder.*``,
  ``encoder_to_decoder.*`` and ``mask_token`` are ignored.
- ``devias-tk-pretrain``: the weights of a `devias-tk pretrain` run (`VideoMAEPretrainer`): the same
  with the encoder under ``backbone.``, the toolkit's own name for it.
- ``videomae-finetune``: top-level ``patch_embed.proj`` (Conv3d), blocks with ``q_bias``/``v_bias``,
  optional ``gamma_1``/``gamma_2``, ``norm.*`` or (mean pooling) ``fc_norm.*``, ``head.*``.
- ``devias-scene-teacher``: the same with a ``cls_token`` and a scene ``head``.
- ``hf-videomae``: the Hugging Face `transformers` layout (``videomae.encoder.layer.N...``), renamed by
  `devias_tk.models.hf_videomae` into the fine-tuned layout; reports name the file's own keys.
- ``devias-release``: the authors' trained DEVIAS slot model (`devias_tk.models.release`): the ViT as
  ``videomae-finetune``, and, onto a `DEVIAS` target, ``agg_block.*`` -> ``slot_attention.*``,
  ``mask_predictor.*`` -> ``amd.*``, the unified ``head``.

A ``pos_embed`` tensor (VideoMAE trained with learnable positions) is compared with the fixed
sinusoid table: equal, it is ignored (the model computes it); different, it is reported unexpected.
The image formats (Places365 CSAIL, timm state dicts) are built in `devias_tk.scenes.model` with the
helpers here.

Reading: safetensors files (recognised by their header, whatever their name; also a folder holding
``model.safetensors``, as `save_pretrained` writes it) with `safetensors`; anything else with
`torch.load(weights_only=True)`. Training scripts (VideoMAE, MAE, the DEVIAS release) pickle
their argparse `Namespace`, and sometimes numpy scalars, next to the weights; those few plain types
(`EXTRA_SAFE_GLOBALS`) are allowlisted and the file is read again, still weights-only. A file needing
anything else is refused, the class named, with a one-line way to keep only the weights of a file one
trusts: nothing here unpickles arbitrary objects.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import pickle
import re
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from devias_tk.errors import DeviasError
from devias_tk.models import hf_videomae, release
from devias_tk.models.backbone import sinusoid_table
from devias_tk.utils.words import one_line

VIDEOMAE_PRETRAIN = "videomae-pretrain"
VIDEOMAE_FINETUNE = "videomae-finetune"
DEVIAS_TEACHER = "devias-scene-teacher"
DEVIAS_TK_PRETRAIN = "devias-tk-pretrain"
HF_VIDEOMAE = "hf-videomae"
DEVIAS_RELEASE = "devias-release"
# where each pre-training format keeps its encoder
PRETRAIN_ENCODER = {VIDEOMAE_PRETRAIN: "encoder.", DEVIAS_TK_PRETRAIN: "backbone."}

# Plain types training scripts save next to the weights; alternatives for numpy 1.x / 2.x.
EXTRA_SAFE_GLOBALS = (
    ("argparse.Namespace",),
    ("numpy.dtype",),
    ("numpy._core.multiarray.scalar", "numpy.core.multiarray.scalar"),
)
CONTAINERS = ("model", "module", "state_dict")  # where files keep their weights, in the order looked at
_UNSUPPORTED = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")
_BLOCK_INDEX = re.compile(r"\.\d+\.")


# ---------------------------------------------------------------------------------------------- reading


def _resolve(name: str) -> Any:
    module, _, attr = name.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None


def _extra_globals() -> list[Any]:
    found = []
    for alternatives in EXTRA_SAFE_GLOBALS:
        for name in alternatives:  # the first that imports (avoids numpy 2's deprecated numpy.core)
            obj = _resolve(name)
            if obj is not None:
                found.append(obj)
                break
    try:
        import numpy.dtypes  # numpy >= 1.25 pickles a dtype through its class

        found += [getattr(numpy.dtypes, n) for n in dir(numpy.dtypes) if n.endswith("DType")]
    except ImportError:
        pass
    return found


def _not_a_checkpoint(path: Path, exc: BaseException) -> DeviasError:
    return DeviasError(f"{path}: not a PyTorch checkpoint that loads safely ({type(exc).__name__}: {one_line(exc)})")


def is_safetensors(path: Path) -> bool:
    """A safetensors file: an 8-byte little-endian header length, then that many bytes of JSON."""
    try:
        with open(path, "rb") as f:
            head = f.read(9)
            size = struct.unpack("<Q", head[:8])[0] if len(head) == 9 else 0
            return head[8:9] == b"{" and 0 < size <= path.stat().st_size - 8
    except OSError:
        return False


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file
    except ImportError:  # timm installs it; a bare environment may not have it
        raise DeviasError(f"{path}: a safetensors file; install the safetensors package to read it") from None
    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:  # a damaged header or data section
        raise DeviasError(f"{path}: a damaged safetensors file ({type(exc).__name__}: {one_line(exc)})") from None


def safetensors_metadata(path: Path) -> dict[str, str]:
    """The free-text metadata a safetensors header carries (`save_pretrained` writes {"format": "pt"})."""
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        return dict(json.loads(f.read(size)).get("__metadata__") or {})


def read_checkpoint(path: str | Path, what: str = "checkpoint") -> Any:
    """The object `torch.save` wrote to `path`, read weights-only (see the module docstring), on CPU; the
    tensors of a safetensors file (or of a folder's ``model.safetensors``)."""
    path = Path(path)
    if path.is_dir() and (path / "model.safetensors").is_file():
        path = path / "model.safetensors"
    if not path.is_file():
        raise DeviasError(f"{path}: {what} not found")
    if is_safetensors(path):
        return read_safetensors(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not _UNSUPPORTED.search(str(exc)):
            raise _not_a_checkpoint(path, exc) from None
    except Exception as exc:  # weights-only reading runs no foreign code: any failure means "not a checkpoint"
        raise _not_a_checkpoint(path, exc) from None
    try:
        with torch.serialization.safe_globals(_extra_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        match = _UNSUPPORTED.search(str(exc))
        if not match:
            raise _not_a_checkpoint(path, exc) from None
        raise DeviasError(
            f"{path}: the file pickles {match.group(1)}, which is not read without trusting the file. If you "
            "trust it, keep only its weights: python -c \"import torch; c = torch.load('IN', weights_only=False); "
            "torch.save(c.get('model', c), 'OUT')\"") from None
    except Exception as exc:
        raise _not_a_checkpoint(path, exc) from None


def is_state_dict(obj: object) -> bool:
    """A non-empty mapping of names to tensors."""
    return (isinstance(obj, Mapping) and len(obj) > 0
            and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()))


def describe_object(obj: object) -> str:
    """A short description of a loaded object for error messages."""
    if isinstance(obj, Mapping):
        keys = sorted(str(k) for k in obj)[:8]
        return f"a dict with keys {', '.join(keys)}{', ...' if len(obj) > 8 else ''}"
    return f"a {type(obj).__name__}"


def find_state_dict(obj: object, path: str | Path) -> tuple[dict[str, torch.Tensor], str]:
    """(weights, container): the state dict at the top level ("") or under one of `CONTAINERS`."""
    if isinstance(obj, Mapping):
        for key in CONTAINERS:
            if is_state_dict(obj.get(key)):
                return dict(obj[key]), key
    if is_state_dict(obj):
        return dict(obj), ""
    raise DeviasError(f"{path}: no weights found in {describe_object(obj)} (expected a state dict at the top level "
                      f"or under {', '.join(repr(c) for c in CONTAINERS)})")


def strip_prefix(state: Mapping[str, torch.Tensor], prefix: str) -> tuple[dict[str, torch.Tensor], bool]:
    """Remove `prefix` when every key has it (weights saved from a DataParallel / DDP wrapper)."""
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}, True
    return dict(state), False


def num_blocks(shapes: Mapping[str, Any], prefix: str = "") -> int:
    pattern = re.compile(re.escape(prefix) + r"blocks\.(\d+)\.")
    found = {int(m.group(1)) for k in shapes if (m := pattern.match(k))}
    return max(found) + 1 if found else 0


def describe_weights(state: Mapping[str, Any]) -> str:
    """What architecture a state dict looks like, from its key names and shapes."""
    for prefix in ("", "encoder.", "backbone."):
        w = state.get(prefix + "patch_embed.proj.weight")
        if w is not None and len(w.shape) in (4, 5):
            kind = "a video ViT" if len(w.shape) == 5 else "an image ViT"
            kernel = "x".join(str(s) for s in w.shape[2:])
            extra = ", cls token" if prefix + "cls_token" in state else ""
            extra += f", under '{prefix}'" if prefix else ""
            return f"{kind} ({w.shape[0]} dims, {num_blocks(state, prefix)} blocks, patch kernel {kernel}{extra})"
    w = state.get(hf_videomae.HF_PATCH)
    if w is not None and len(w.shape) == 5:
        layers = {k.split(".")[3] for k in state if k.startswith("videomae.encoder.layer.")}
        return (f"a video ViT in the Hugging Face layout ({w.shape[0]} dims, {len(layers)} layers, patch kernel "
                f"{'x'.join(str(s) for s in w.shape[2:])})")
    if "conv1.weight" in state and any(k.startswith("layer1.") for k in state):
        fc = state.get("fc.weight")
        return "a ResNet-style CNN (conv1, layer1..4" + (f", fc with {fc.shape[0]} outputs)" if fc is not None else ")")
    keys = sorted(state)
    return f"{len(keys)} tensors such as {', '.join(keys[:3])}"


# ---------------------------------------------------------------------------------------------- the report


def compact(keys: list[str], limit: int = 8) -> str:
    """Key names grouped for reading: block indices become '*' (with a count), then whole prefixes."""
    def group(names: list[str], key: Callable[[str], str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for name in names:
            out[key(name)] = out.get(key(name), 0) + 1
        return out

    groups = group(keys, lambda k: _BLOCK_INDEX.sub(".*.", k))
    if len(groups) > limit:
        groups = group(keys, lambda k: k.split(".", 1)[0] + (".*" if "." in k else ""))
    parts = [g if n == 1 else f"{g} ({n})" for g, n in groups.items()]
    if len(parts) > limit:
        parts = [*parts[:limit], f"... {len(parts) - limit} more"]
    return ", ".join(parts)


@dataclass
class LoadReport:
    """What loading a file did. Target-side names in `loaded`, `missing` and `fresh`; file-side in the rest.

    missing: tensors the format should supply that the file lacks (left as initialised);
    unexpected: file tensors that fit nothing (not loaded); reshaped: a name matched but the shapes
    differ (not loaded), as "name: file (..), model (..)"; ignored: file tensors set aside on purpose,
    name -> reason; fresh: model tensors this format never supplies (new heads, slots).
    Strict loading fails on any missing, unexpected or reshaped tensor.
    """

    file: str
    format: str
    container: str = ""  # where the weights sat in the file ("" = top level)
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    reshaped: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)
    fresh: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> int:
        return len(self.missing) + len(self.unexpected) + len(self.reshaped)

    def problem_lines(self) -> list[str]:
        out = [f"missing: {compact(self.missing)}"] if self.missing else []
        out += [f"unexpected: {compact(self.unexpected)}"] if self.unexpected else []
        if self.reshaped:
            more = len(self.reshaped) - 4
            shown = "; ".join(self.reshaped[:4]) + (f"; ... {more} more" if more > 0 else "")
            out.append(f"reshaped (not loaded): {shown}")
        return out

    def lines(self) -> list[str]:
        where = f" (weights under '{self.container}')" if self.container else ""
        out = [f"{self.file}: {self.format}{where}: {len(self.loaded)} tensors loaded, {len(self.missing)} missing, "
               f"{len(self.unexpected)} unexpected, {len(self.reshaped)} reshaped"]
        out += [f"  {line}" for line in self.problem_lines()]
        by_reason: dict[str, list[str]] = {}
        for name, reason in self.ignored.items():
            by_reason.setdefault(reason, []).append(name)
        out += [f"  ignored ({reason}): {compact(names)}" for reason, names in by_reason.items()]
        if self.fresh:
            out.append(f"  fresh (not in this format): {compact(self.fresh)}")
        out += [f"  note: {note}" for note in self.notes]
        return out

    def summary(self) -> str:
        return "\n".join(self.lines())

    def check(self, strict: bool) -> None:
        """Raise when `strict` and anything is missing, unexpected or reshaped."""
        if strict and self.problems:
            problems = "; ".join(self.problem_lines())
            raise DeviasError(f"{self.file}: strict loading refused ({self.format}): {problems}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class KeyMap:
    """A file's tensors re-keyed for a target module, and what was set aside."""

    state: dict[str, torch.Tensor] = field(default_factory=dict)  # target name -> tensor
    source: dict[str, str] = field(default_factory=dict)  # target name -> file name
    ignored: dict[str, str] = field(default_factory=dict)
    unexpected: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def put(self, target: str, value: torch.Tensor, source: str) -> None:
        if target in self.state:  # two file tensors for one place: keep the first, report the other
            self.unexpected.append(source)
            return
        self.state[target] = value
        self.source[target] = source

    @classmethod
    def identity(cls, state: Mapping[str, torch.Tensor]) -> KeyMap:
        return cls(state=dict(state), source={k: k for k in state})


def load_mapped(
    module: nn.Module, mapped: KeyMap, *, file: str | Path, fmt: str, container: str = "",
    covers: Callable[[str], bool] = lambda _name: True,
) -> LoadReport:
    """Load what fits into `module` (non-strict) and report. `covers(name)`: whether the format is
    meant to supply the module's tensor `name`; those it does not are reported fresh, not missing."""
    own = module.state_dict()
    report = LoadReport(str(file), fmt, container, ignored=dict(mapped.ignored), notes=list(mapped.notes))
    unexpected = list(mapped.unexpected)
    fit = {}
    for name, value in mapped.state.items():
        if name not in own:
            unexpected.append(mapped.source.get(name, name))
        elif own[name].shape != value.shape:
            source = mapped.source.get(name, name)
            report.reshaped.append(f"{source}: file {tuple(value.shape)}, model {tuple(own[name].shape)}")
        else:
            fit[name] = value
    # Non-strict: BatchNorm fills a num_batches_tracked absent from files older than PyTorch 0.4.1 itself.
    result = module.load_state_dict(fit, strict=False)
    report.loaded = sorted(fit)
    report.unexpected = sorted(unexpected)
    report.reshaped.sort()
    report.missing = sorted(k for k in result.missing_keys if covers(k))
    report.fresh = sorted(k for k in result.missing_keys if not covers(k))
    return report


# ---------------------------------------------------------------------------------------------- video ViTs


def video_vit_format(state: Mapping[str, torch.Tensor]) -> str | None:
    """VIDEOMAE_PRETRAIN / DEVIAS_TK_PRETRAIN / VIDEOMAE_FINETUNE / DEVIAS_TEACHER / HF_VIDEOMAE /
    DEVIAS_RELEASE, or None for anything else."""
    if hf_videomae.is_hf_videomae(state):
        return HF_VIDEOMAE
    if release.is_release(state):
        return DEVIAS_RELEASE
    w = state.get("encoder.patch_embed.proj.weight")
    if w is not None and w.ndim == 5:
        return VIDEOMAE_PRETRAIN
    w = state.get("backbone.patch_embed.proj.weight")
    if w is not None and w.ndim == 5 and "encoder_to_decoder.weight" in state:
        return DEVIAS_TK_PRETRAIN
    w = state.get("patch_embed.proj.weight")
    if w is not None and w.ndim == 5:
        return DEVIAS_TEACHER if "cls_token" in state and "head.weight" in state else VIDEOMAE_FINETUNE
    return None


def vit_geometry(shapes: Mapping[str, Any], prefix: str = "") -> str:
    """'D dims, L blocks, kernel t x p x p' of a (video) ViT's state dict or shape table."""
    w = shapes.get(prefix + "patch_embed.proj.weight")
    if w is None:
        return "no patch embedding"
    shape = tuple(w.shape) if hasattr(w, "shape") else tuple(w)
    return f"{shape[0]} dims, {num_blocks(shapes, prefix)} blocks, kernel {'x'.join(map(str, shape[2:]))}"


def _position_table(mapped: KeyMap, name: str, value: torch.Tensor) -> None:
    table = value.detach().reshape(-1, value.shape[-1]).float()
    if torch.allclose(table, sinusoid_table(*table.shape), atol=1e-3):  # 1e-3: files saved in half precision
        mapped.ignored[name] = "equals the fixed sinusoid table the model computes"
    else:
        mapped.unexpected.append(name)
        mapped.notes.append(f"{name} is a learned position table; the toolkit's video ViT uses the fixed sinusoid "
                            "table, so it is not loaded")


def map_video_vit(
    state: Mapping[str, torch.Tensor], fmt: str, target_shapes: Mapping[str, torch.Size], *,
    prefix: str = "backbone.", head: str | None = None, cls: str | None = None,
) -> KeyMap:
    """Re-key a VideoMAE / DEVIAS-teacher state dict onto a `VideoViT` whose names start with `prefix`.

    head: the target prefix of a classifier that may take the file's ``head.*`` when the shapes agree
    (None: the file's head is ignored); cls: the target name of the cls token (None: ignored).
    ``fc_norm`` (LayerNorm after mean pooling) becomes the backbone's final ``norm`` (per token).
    An HF_VIDEOMAE file is renamed first (its ``classifier`` is the ``head``); a DEVIAS_RELEASE file's slot
    model goes onto the `DEVIAS` whose backbone is at `prefix` (`_map_release_slots`).
    """
    mapped = KeyMap()
    if fmt == HF_VIDEOMAE:
        renamed = hf_videomae.to_videomae_layout(state)
        encoder = renamed.state

        def source(name: str) -> str:  # the file's own name(s) for a VideoMAE name
            return renamed.source.get(name, name)

        mapped.ignored.update(renamed.ignored)
        mapped.unexpected += renamed.unexpected
    elif fmt == DEVIAS_RELEASE:
        encoder, source = {k: v for k, v in state.items() if not release.is_slot_part(k)}, "{}".format
        _map_release_slots(mapped, state, target_shapes, prefix)
    elif fmt in PRETRAIN_ENCODER:
        encoder_prefix = PRETRAIN_ENCODER[fmt]
        encoder = {}
        for name, value in state.items():
            if name.startswith(encoder_prefix):
                encoder[name[len(encoder_prefix):]] = value
            elif name.startswith(("decoder.", "encoder_to_decoder.")) or name == "mask_token":
                mapped.ignored[name] = "pre-training decoder"
            else:
                mapped.unexpected.append(name)
        source = (encoder_prefix + "{}").format
    else:
        encoder, source = dict(state), "{}".format
    head_reason = _head_reason(encoder, target_shapes, head)
    for name, value in encoder.items():
        src = source(name)
        if name == "pos_embed":
            _position_table(mapped, src, value)
        elif name == "cls_token":
            if cls is None:
                mapped.ignored[src] = "cls token: this model has none"
            else:
                mapped.put(cls, value, src)
        elif name.startswith("head."):
            if head_reason:
                mapped.ignored[src] = head_reason
            else:
                mapped.put(head + name[len("head."):], value, src)
        elif name.startswith("fc_norm.") and "norm.weight" not in encoder:
            mapped.put(f"{prefix}norm.{name[len('fc_norm.'):]}", value, src)
        else:
            mapped.put(prefix + name, value, src)
    if "fc_norm.weight" in encoder and "norm.weight" not in encoder:
        mapped.notes.append(f"{source('fc_norm')}.* (the LayerNorm VideoMAE applies after mean pooling) loaded as "
                            "the backbone's final per-token norm: the blocks' tokens are the file's, pooled "
                            "features differ")
    if any(k.endswith(".gamma_1") for k in encoder) and f"{prefix}blocks.0.gamma_1" not in target_shapes:
        mapped.notes.append("the file uses layer scale (blocks.*.gamma_1 / gamma_2): build the model with "
                            "init_values set (any value) to load them")
    if f"{prefix}patch_embed.proj.weight" in target_shapes:
        file_geometry, model_geometry = vit_geometry(encoder), vit_geometry(target_shapes, prefix)
        if file_geometry != model_geometry:
            mapped.notes.append(f"the file's ViT has {file_geometry}; the model's {model_geometry}")
    return mapped


def _map_release_slots(mapped: KeyMap, state: Mapping[str, torch.Tensor], target_shapes: Mapping[str, torch.Size],
                       prefix: str) -> None:
    """The release's slot block, mask decoder and unified head onto the `DEVIAS` that holds the backbone at
    `prefix` (``backbone.``); set aside, with the reason, for a model without slots."""
    outer = prefix[: -len("backbone.")] if prefix.endswith("backbone.") else None
    parts = {k: v for k, v in state.items() if release.is_slot_part(k)}
    if outer is None or f"{outer}slot_attention.slots" not in target_shapes:
        for name in parts:
            mapped.ignored[name] = "DEVIAS slot model (slot block, mask decoder, unified head): this model has no slots"
        return
    shared = f"{outer}slot_attention.layers.1.to_q.weight" not in target_shapes
    untied = False
    for name, value in parts.items():
        target = release.toolkit_name(name)
        if target is None:
            mapped.unexpected.append(name)
        elif shared and (release.iteration(name) or 0) > 0:  # the model keeps one set of iteration weights
            original = state.get(release.first_iteration_name(name))
            if original is not None and torch.equal(original, value):
                mapped.ignored[name] = "a tied copy of agg_block.layers.0 (one set of weights for every iteration)"
            else:
                mapped.unexpected.append(name)
                untied = True
        elif name.startswith("head.") and tuple(target_shapes.get(outer + target, value.shape)) != tuple(value.shape):
            mapped.ignored[name] = (f"the file's unified head has {value.shape[0]} outputs, the model's "
                                    f"{target_shapes[outer + target][0]}: it starts fresh")
        else:
            mapped.put(outer + target, value, name)
    if untied:
        mapped.notes.append("the file's slot iterations have weights of their own: build the model with "
                            "shared_slot_weights=false (and slot_iters = their count)")
    if "mask_predictor.decoder.0.weight" in parts:
        mapped.notes.append("the release's mask_predictor ends with a sigmoid; the toolkit's AMD returns logits "
                            "(one sigmoid gives the same mask)")


def _head_reason(encoder: Mapping[str, torch.Tensor], target_shapes: Mapping[str, torch.Size],
                 head: str | None) -> str:
    """Why the file's head is not loaded ("" when it is)."""
    weight = encoder.get("head.weight")
    if weight is None:
        return ""
    if head is None or f"{head}weight" not in target_shapes:
        return f"the source task's {weight.shape[0]}-way classifier; this model's heads start fresh"
    if tuple(target_shapes[f"{head}weight"]) != tuple(weight.shape):
        return f"{weight.shape[0]} classes in the file, {target_shapes[f'{head}weight'][0]} in the model: dropped"
    return ""


def video_vit_config(state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """`VideoViT` keyword arguments read off a VideoMAE-layout state dict (the toolkit's keys).

    The head count is not stored; VideoMAE's ViTs use 64-dim heads (ViT-H: 16 heads of 80).
    """
    w = state["patch_embed.proj.weight"]
    dim = w.shape[0]
    if dim % 64 and dim != 1280:
        raise ValueError(f"embedding width {dim} is not a VideoMAE ViT's (a multiple of 64)")
    return {
        "embed_dim": dim, "depth": num_blocks(state), "num_heads": 16 if dim == 1280 else dim // 64,
        "patch_size": w.shape[-1], "tubelet_size": w.shape[2], "in_chans": w.shape[1],
        "mlp_ratio": state["blocks.0.mlp.fc1.weight"].shape[0] / dim,
        "init_values": 1.0 if "blocks.0.gamma_1" in state else None,
    }


def teacher_config(state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """`VideoSceneTeacher` keyword arguments read off a DEVIAS teacher's weights (see `video_vit_config`)."""
    return {"num_classes": state["head.weight"].shape[0], **video_vit_config(state)}
