"""Pre-training configuration: defaults, a YAML recipe merged over them, `key=value` overrides, validation.

Sections: `data`, `model` (backbone keys only, exactly those `devias-tk train` reads), `mae`, `optim`,
`run`. A recipe may say `base: other.yaml` (inherit another pre-training recipe) and
`backbone_from: train-recipe.yaml` (relative to the recipe): the training recipe's backbone shape
(its `model:` keys that are backbone keys, less the regularisers drop_path and grad_checkpointing) and
clip shape (`data.frames`, `data.stride`, `data.size`) are taken, so the pre-trained encoder is the one
that recipe trains; keys the pre-training recipe sets itself win, and `key=value` overrides win over both.

`data.root` is relative to the working directory, `data.train_list` to `data.root` unless absolute.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devias_tk.engine.recipe import RunSection as TrainRunSection
from devias_tk.engine.recipe import (
    apply_overrides,
    build_section,
    check_amp,
    check_decoder,
    check_fault_limits,
    check_sections,
    load_recipe,
    section_values,
    unknown_names,
)
from devias_tk.errors import DeviasError
from devias_tk.models.backbone import BACKBONE_KEYS

METHOD = "videomae-pretrain"  # the `method` recorded in a pre-training checkpoint

# Backbone keys a training recipe's shape gives (not its regularisers; the clip shape comes from `data`).
SHAPE_KEYS = BACKBONE_KEYS - {"drop_path", "grad_checkpointing", "frames", "img_size"}
CLIP_KEYS = ("frames", "stride", "size")


@dataclass
class DataSection:
    root: str = ""
    train_list: str = "lists/train.txt"
    frames: int = 16
    stride: int = 4
    hop: int = 1  # clip starts on this grid; 1: any start, as VideoMAE draws them
    size: int = 224
    scales: tuple[float, float, float, float] = (1.0, 0.875, 0.75, 0.66)  # multi-scale crop, x short side
    max_distort: int = 1  # crop height and width at most this many scale steps apart
    flip: bool = True
    num_workers: int = 4
    max_skipped: float = 0.0  # share of listed videos left out (unreadable, or failing mid-run) before stopping
    decode_timeout: float = 120.0  # seconds a loader worker may spend on one item before it is killed (workers > 0)
    # Video file decoder for this run and its loader workers: auto | decord | pyav; unset (null): the command's
    # --decoder, else DEVIAS_DECODER, else auto (PyAV when installed, else decord)
    decoder: str | None = None


@dataclass
class MAESection:
    mask_ratio: float = 0.9  # tube masking: share of each frame's patches hidden (same patches every frame)
    decoder_depth: int = 4
    decoder_dim: int | None = None  # default: half the encoder width (ViT-B: 384)
    decoder_heads: int | None = None  # default: half the encoder heads (ViT-B: 6)
    norm_target: bool = True  # per-patch normalised pixel targets


@dataclass
class OptimSection:
    lr: float = 1.5e-4  # per 256 clips; scaled by total batch / 256 (VideoMAE's default)
    min_lr: float = 1e-5  # per 256 clips, scaled likewise (VideoMAE scales it too)
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_epochs: float = 40.0
    epochs: int = 800
    batch_size: int = 32  # per process
    accum_steps: int = 1
    clip_grad: float | None = None


@dataclass
class RunSection(TrainRunSection):
    """`train`'s run section (init: a VideoMAE pre-training file or a `pretrain` run's checkpoint continues with
    its decoder; any other file `train` reads starts the encoder only) plus the figures."""

    figure_every: int = 0  # epochs between reconstruction figures (the first and last epochs always get one)
    figure_clips: int = 3  # clips in a reconstruction figure


SECTIONS: dict[str, type] = {"data": DataSection, "mae": MAESection, "optim": OptimSection, "run": RunSection}


@dataclass
class PretrainConfig:
    data: DataSection = field(default_factory=DataSection)
    model: dict[str, Any] = field(default_factory=dict)  # VideoViT keyword arguments (backbone keys)
    mae: MAESection = field(default_factory=MAESection)
    optim: OptimSection = field(default_factory=OptimSection)
    run: RunSection = field(default_factory=RunSection)

    def to_dict(self) -> dict[str, Any]:
        # a JSON round trip turns tuples into lists, as the YAML recipe spells them
        out = {name: json.loads(json.dumps(dataclasses.asdict(getattr(self, name)))) for name in SECTIONS}
        return {"data": out["data"], "model": dict(self.model), **{k: out[k] for k in ("mae", "optim", "run")}}

    @property
    def list_path(self) -> Path:
        p = Path(self.data.train_list)
        return p if p.is_absolute() else Path(self.data.root) / p

    def backbone_config(self) -> dict[str, Any]:
        """VideoViT keyword arguments: the model section plus the clip shape."""
        return {**self.model, "frames": self.data.frames, "img_size": self.data.size}


def _take_backbone(tree: dict[str, Any], source: Path) -> dict[str, Any]:
    train = load_recipe(source)
    model = {k: v for k, v in (train.get("model") or {}).items() if k in SHAPE_KEYS}
    clip = {k: v for k, v in (train.get("data") or {}).items() if k in CLIP_KEYS}
    tree = dict(tree)
    tree["model"] = {**model, **(tree.get("model") or {})}
    tree["data"] = {**clip, **(tree.get("data") or {})}
    return tree


def build_config(tree: dict[str, Any]) -> PretrainConfig:
    """Validate a nested dict (`backbone_from` already applied) and return a PretrainConfig."""
    check_sections(tree, [*SECTIONS, "model"])
    sections = {name: build_section(cls, name, tree.get(name) or {}) for name, cls in SECTIONS.items()}
    model = dict(section_values(tree.get("model"), "model"))
    bad = sorted(set(model) - BACKBONE_KEYS)
    if bad:
        raise DeviasError(unknown_names("model: not backbone keys", bad, BACKBONE_KEYS)
                          + "; the clip shape is data.frames and data.size")
    cfg = PretrainConfig(model=model, **sections)
    if cfg.model.get("stem") in ("conv", "conv3d"):
        # overlapping kernels carry pixels of masked patches into visible tokens: reconstruction would leak
        raise DeviasError(f"model.stem {cfg.model['stem']!r}: a convolutional stem sees the neighbouring (masked) "
                          "patches, so masked pre-training would leak; use stem patch or hmlp (per-patch)")
    if not 0 < cfg.mae.mask_ratio < 1:
        raise DeviasError(f"mae.mask_ratio must be in (0, 1) (got {cfg.mae.mask_ratio})")
    check_amp(cfg.run.amp)
    if cfg.optim.batch_size < 1 or cfg.optim.accum_steps < 1 or cfg.optim.epochs < 1:
        raise DeviasError("optim.batch_size, optim.accum_steps and optim.epochs must be positive")
    check_fault_limits(cfg.data.max_skipped, cfg.data.decode_timeout)
    check_decoder(cfg.data.decoder)
    if not all(0 < s <= 1 for s in cfg.data.scales):
        raise DeviasError(f"data.scales are shares of the short side in (0, 1] (got {list(cfg.data.scales)})")
    return cfg


def config_from(recipe: str | Path | None, overrides: list[str] | None = None) -> PretrainConfig:
    tree: dict[str, Any] = load_recipe(recipe) if recipe else {}
    source = tree.pop("backbone_from", None)
    if source is not None and not isinstance(source, str):
        raise DeviasError(f"{recipe}: backbone_from must be the path of a training recipe (got {source!r})")
    if source:
        tree = _take_backbone(tree, Path(recipe).parent / source)
    return build_config(apply_overrides(tree, overrides or []))
