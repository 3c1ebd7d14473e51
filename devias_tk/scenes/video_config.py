"""`scenes train --video` configuration: defaults (the paper's supp. Table 15), a YAML recipe merged over
them, `key=value` overrides, validation; read and merged as `train` and `pretrain` read theirs.

Sections: `data` (the Places365-style image lists and the crop), `model` (the video ViT: a size preset or
explicit widths, the static clip's length and tubelet, drop path), `mix` (mixup / cutmix / label smoothing),
`optim` and `run` (`train`'s run section; `run.init` starts from an image ViT, a video ViT or a scene model).

Paths: `data.root` is relative to the working directory, `data.train_list`, `data.val_list` and `data.classes`
to `data.root` unless absolute.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devias_tk.engine.recipe import (
    RunSection,
    apply_overrides,
    build_section,
    check_amp,
    check_fault_limits,
    check_sections,
    load_recipe,
)
from devias_tk.errors import DeviasError
from devias_tk.scenes.preprocess import DEFAULT_CROP_PCT

METHOD = "video-scene-model"  # the `method` recorded in the run's checkpoints


@dataclass
class DataSection:
    root: str = ""
    train_list: str = "train.txt"  # '<image> <class index>' lines (Places365's places365_train_standard.txt)
    val_list: str | None = None  # scored after every epoch (image top-1 / top-5 on the eval view)
    classes: str | None = None  # '<index> <name>' or Places365's '<name> <index>'; None: the images' folders
    size: int = 224
    crop_pct: float = DEFAULT_CROP_PCT  # eval view: short side to size / crop_pct, centre crop
    scale: tuple[float, float] = (0.08, 1.0)  # random-resized-crop area range (timm's default)
    flip: bool = True
    jitter: float = 0.0  # brightness / contrast strength (Table 15 lists none)
    num_workers: int = 4
    max_skipped: float = 0.0  # share of listed images that may fail to read mid-run before stopping
    decode_timeout: float = 60.0  # seconds a loader worker may spend on one image


@dataclass
class ModelSection:
    size: str = "base"  # VideoViT preset: tiny, small, base (the paper: ViT-B)
    embed_dim: int | None = None  # explicit widths override the preset
    depth: int | None = None
    num_heads: int | None = None
    patch_size: int = 16
    frames: int = 16  # the static clip's length: the image repeated along time (label with this --window)
    tubelet_size: int = 2
    mlp_ratio: float = 4.0
    drop_path: float = 0.1


@dataclass
class MixSection:
    mixup: float = 0.8  # Beta(a, a) of mixup; 0: off
    cutmix: float = 1.0  # Beta(a, a) of cutmix; 0: off
    prob: float = 1.0  # share of batches mixed
    switch_prob: float = 0.5  # with both on: share of mixed batches that get cutmix
    label_smoothing: float = 0.1


@dataclass
class OptimSection:
    lr: float = 5e-4  # per 256 images; scaled by total batch / 256
    min_lr: float = 1e-6
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    layer_decay: float = 0.65
    warmup_epochs: float = 5.0
    epochs: int = 100
    batch_size: int = 32  # per process
    accum_steps: int = 2  # Table 15's "update frequency"
    clip_grad: float | None = None


SECTIONS: dict[str, type] = {"data": DataSection, "model": ModelSection, "mix": MixSection, "optim": OptimSection,
                             "run": RunSection}
SIZES = ("tiny", "small", "base")


@dataclass
class VideoSceneConfig:
    data: DataSection = field(default_factory=DataSection)
    model: ModelSection = field(default_factory=ModelSection)
    mix: MixSection = field(default_factory=MixSection)
    optim: OptimSection = field(default_factory=OptimSection)
    run: RunSection = field(default_factory=RunSection)

    def to_dict(self) -> dict[str, Any]:
        # a JSON round trip turns tuples into lists, as the YAML recipe spells them
        return {name: json.loads(json.dumps(dataclasses.asdict(getattr(self, name)))) for name in SECTIONS}

    def path(self, value: str | None) -> Path | None:
        """A data path relative to data.root unless absolute."""
        if value is None:
            return None
        p = Path(value)
        return p if p.is_absolute() else Path(self.data.root) / p

    def module_kwargs(self) -> dict[str, Any]:
        """`VideoSceneTeacher` keyword arguments besides the class count and the image size."""
        from devias_tk.models.backbone import PRESETS

        m = self.model
        preset = PRESETS[m.size]
        return {"embed_dim": m.embed_dim or preset["embed_dim"], "depth": m.depth or preset["depth"],
                "num_heads": m.num_heads or preset["num_heads"], "patch_size": m.patch_size,
                "tubelet_size": m.tubelet_size, "frames": m.frames, "mlp_ratio": m.mlp_ratio}


def build_config(tree: dict[str, Any]) -> VideoSceneConfig:
    """Validate a nested dict and return a VideoSceneConfig."""
    check_sections(tree, SECTIONS)
    cfg = VideoSceneConfig(**{name: build_section(cls, name, tree.get(name) or {}) for name, cls in SECTIONS.items()})
    m, d, o, x = cfg.model, cfg.data, cfg.optim, cfg.mix
    if m.size not in SIZES:
        raise DeviasError(f"model.size must be one of {', '.join(SIZES)} (got {m.size!r})")
    if m.frames < 1 or m.frames % m.tubelet_size:
        raise DeviasError(f"model.frames {m.frames} must be a positive multiple of model.tubelet_size {m.tubelet_size}")
    if d.size % m.patch_size:
        raise DeviasError(f"data.size {d.size} must be a multiple of model.patch_size {m.patch_size}")
    if not 0 < d.crop_pct <= 1 or not 0 < d.scale[0] <= d.scale[1] <= 1:
        raise DeviasError("data.crop_pct must be in (0, 1] and data.scale a range inside (0, 1]")
    if min(x.mixup, x.cutmix) < 0 or not 0 <= x.prob <= 1 or not 0 <= x.switch_prob <= 1 \
            or not 0 <= x.label_smoothing < 1:
        raise DeviasError("mix: mixup and cutmix are Beta parameters >= 0 (0: off); prob, switch_prob in [0, 1]; "
                          "label_smoothing in [0, 1)")
    if o.batch_size < 1 or o.accum_steps < 1 or o.epochs < 1:
        raise DeviasError("optim.batch_size, optim.accum_steps and optim.epochs must be positive")
    if not 0 < o.layer_decay <= 1:
        raise DeviasError(f"optim.layer_decay must be in (0, 1] (got {o.layer_decay})")
    check_amp(cfg.run.amp)
    if cfg.run.trackers:
        raise DeviasError("run.trackers: `scenes train --video` logs to RUN/metrics.jsonl and TensorBoard only")
    check_fault_limits(d.max_skipped, d.decode_timeout)
    return cfg


def config_from(recipe: str | Path | None, overrides: list[str] | None = None) -> VideoSceneConfig:
    tree: dict[str, Any] = load_recipe(recipe) if recipe else {}
    return build_config(apply_overrides(tree, overrides or []))
