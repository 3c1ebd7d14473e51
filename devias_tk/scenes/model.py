"""Scene models: building timm image classifiers, the toolkit's checkpoint format, and a loader that
dispatches on a file's format.

The toolkit's checkpoint (`FORMAT`) is a dict written with `torch.save` that describes itself::

    format: "devias-tk/scene-model"   format_version: 1      toolkit_version
    arch: timm model name              model_kwargs: what create_model got besides num_classes
    num_classes, class_names           input_size, resize_size (short side before the centre crop)
    mean, std (normalisation)          inflation: default inflation to video ("frame-average")
    state_dict                         metrics (per-epoch training figures), train (the config)

Only plain Python types and tensors are stored, so it loads with `torch.load(weights_only=True)`.
Other published formats (Places365 CSAIL `.pth.tar`, plain timm weights, the DEVIAS video teacher)
are added as entries of `LOADERS`: a detector on the loaded object and a builder.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from devias_tk import __version__
from devias_tk.cache.store import file_sha256
from devias_tk.errors import DeviasError
from devias_tk.scenes.inflate import INFLATIONS
from devias_tk.utils.atomic import atomic_path

FORMAT = "devias-tk/scene-model"
FORMAT_VERSION = 1


@dataclass
class SceneModel:
    """An image scene classifier with everything needed to apply it to frames."""

    module: nn.Module  # normalised images (N, 3, S, S) -> logits (N, num_classes)
    arch: str
    class_names: list[str]
    input_size: int
    resize_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    inflation: str = "frame-average"
    checkpoint: str = ""  # file name it was loaded from
    sha256: str = ""  # of that file
    source_format: str = FORMAT
    metrics: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def describe(self) -> dict:
        """The store's `model` attribute."""
        return {"arch": self.arch, "checkpoint": self.checkpoint, "sha256": self.sha256,
                "input_size": self.input_size}


def build_image_model(arch: str, num_classes: int, input_size: int, **kwargs: Any) -> tuple[nn.Module, dict]:
    """A randomly initialised timm classifier (nothing is downloaded) and the kwargs that rebuild it.

    ViT-like models get `img_size=input_size` so their position table fits the input; models
    without that argument (CNNs) are built without it.
    """
    import timm

    if not timm.is_model(arch):
        raise DeviasError(f"unknown timm architecture {arch!r} (see timm.list_models())")
    model_kwargs = {"img_size": input_size, **kwargs}
    try:
        module = timm.create_model(arch, pretrained=False, num_classes=num_classes, **model_kwargs)
    except TypeError:  # the architecture takes no img_size
        model_kwargs.pop("img_size")
        module = timm.create_model(arch, pretrained=False, num_classes=num_classes, **model_kwargs)
    return module, model_kwargs


def default_normalisation(arch: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The mean/std timm's default config gives `arch` (ImageNet's for most models)."""
    import timm

    cfg = timm.get_pretrained_cfg(arch)
    mean = getattr(cfg, "mean", None) or (0.485, 0.456, 0.406)
    std = getattr(cfg, "std", None) or (0.229, 0.224, 0.225)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def save_checkpoint(
    path: str | os.PathLike, module: nn.Module, *, arch: str, model_kwargs: Mapping, class_names: Sequence[str],
    input_size: int, resize_size: int, mean: Sequence[float], std: Sequence[float],
    inflation: str = "frame-average", metrics: Mapping | None = None, train: Mapping | None = None,
) -> Path:
    """Write the toolkit's self-describing checkpoint atomically (a reader never sees half a file)."""
    if inflation not in INFLATIONS:
        raise ValueError(f"unknown inflation {inflation!r}; known: {', '.join(INFLATIONS)}")
    payload = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "toolkit_version": __version__,
        "arch": arch, "model_kwargs": dict(model_kwargs), "num_classes": len(class_names),
        "class_names": list(class_names), "input_size": int(input_size), "resize_size": int(resize_size),
        "mean": [float(v) for v in mean], "std": [float(v) for v in std], "inflation": inflation,
        "state_dict": {k: v.detach().cpu() for k, v in module.state_dict().items()},
        "metrics": dict(metrics or {}), "train": dict(train or {}),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


# ---------------------------------------------------------------------- loading


def _is_toolkit(obj: object) -> bool:
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def _build_toolkit(obj: dict, path: Path) -> SceneModel:
    if obj.get("format_version") != FORMAT_VERSION:
        raise DeviasError(f"{path}: scene-model format version {obj.get('format_version')!r} is not supported "
                          f"(this toolkit reads version {FORMAT_VERSION})")
    missing = [k for k in ("arch", "class_names", "input_size", "resize_size", "mean", "std", "state_dict")
               if k not in obj]
    if missing:
        raise DeviasError(f"{path}: scene-model checkpoint lacks {', '.join(missing)}")
    module, _ = build_image_model(obj["arch"], len(obj["class_names"]), obj["input_size"],
                                  **{k: v for k, v in obj.get("model_kwargs", {}).items() if k != "img_size"})
    try:
        module.load_state_dict(obj["state_dict"], strict=True)
    except RuntimeError as exc:
        raise DeviasError(f"{path}: weights do not fit {obj['arch']} ({str(exc).splitlines()[0]})") from None
    return SceneModel(
        module=module.eval(), arch=obj["arch"], class_names=list(obj["class_names"]),
        input_size=int(obj["input_size"]), resize_size=int(obj["resize_size"]),
        mean=tuple(obj["mean"]), std=tuple(obj["std"]), inflation=obj.get("inflation", "frame-average"),
        source_format=FORMAT, metrics=dict(obj.get("metrics", {})),
    )


# (name, detector on the loaded object, builder). Foreign formats are added here.
LOADERS: list[tuple[str, Callable[[object], bool], Callable[[Any, Path], SceneModel]]] = [
    (FORMAT, _is_toolkit, _build_toolkit),
]


def _describe(obj: object) -> str:
    if isinstance(obj, dict):
        keys = sorted(str(k) for k in obj)[:8]
        return f"a dict with keys {', '.join(keys)}{', ...' if len(obj) > 8 else ''}"
    return f"a {type(obj).__name__}"


def load_scene_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> SceneModel:
    """Load a scene model from any supported checkpoint format; errors name the file and what was found."""
    path = Path(path)
    if not path.is_file():
        raise DeviasError(f"{path}: scene model file not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DeviasError(f"{path}: not a PyTorch checkpoint that loads safely ({first[:160]})") from None
    for _name, detect, build in LOADERS:
        if detect(obj):
            model = build(obj, path)
            break
    else:
        known = ", ".join(name for name, _, _ in LOADERS)
        raise DeviasError(f"{path}: not a scene-model checkpoint this toolkit knows ({_describe(obj)}; "
                          f"known formats: {known})")
    model.checkpoint = path.name
    model.sha256 = file_sha256(path)
    model.module.to(device)
    return model
