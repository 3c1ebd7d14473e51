"""`train`'s configuration (DEVIAS and the baselines): its sections and defaults, and the checks across them.

Read, merged and overridden as every trainer's recipe is (devias_tk.engine.recipe): a YAML mapping with the
sections below (any subset), `base: other.yaml` inheritance, dotted `key=value` overrides; unknown keys and
wrongly typed values are errors.

Paths: `data.root`, the stores and `data.scene_model` are relative to the working directory; `data.train_list`,
`data.val_list`, `data.actions` and `data.scenes` are relative to `data.root` unless absolute.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devias_tk.data.randaugment import parse_rand_augment
from devias_tk.engine.optim import Schedule, scaled_schedule
from devias_tk.engine.recipe import (
    RunSection,
    apply_overrides,
    build_section,
    check_amp,
    check_decoder,
    check_fault_limits,
    check_sections,
    did_you_mean,
    load_recipe,
    plain,
    section_values,
    unknown_names,
)
from devias_tk.errors import DeviasError
from devias_tk.models.backbone import BACKBONE_KEYS
from devias_tk.models.factory import METHODS
from devias_tk.train.losses import LossConfig


@dataclass
class DataSection:
    root: str = ""
    train_list: str = "lists/train.txt"
    val_list: str | None = None  # a list for the per-epoch validation instead of held-out training videos
    val_fraction: float = 0.05  # share of the training list held out for validation (stratified by action; 0: off)
    val_max: int = 1000  # at most this many held-out videos (Kinetics-size lists)
    actions: str = "actions.txt"
    scenes: str | None = "scenes.txt"  # None: the scene store's class names (online: the scene model's)
    mask_store: str | None = None  # FAME store (`masks extract`); needed by DEVIAS and FAME mixing
    scene_store: str | None = None  # scene-label store (`scenes label`); needed when scene_source = store
    # "store": cached pseudo labels (the grid crop best covering the training crop) | "list": the list's scene
    # column | "online": the scene model (data.scene_model) run on the augmented, mixed clip in each step
    scene_source: str = "store"
    scene_model: str | None = None  # scene model file for scene_source = online (any `scenes label --model` format)
    frames: int = 16
    stride: int = 4
    hop: int = 4  # clip starts on this grid (must equal the stores' hop)
    size: int = 224
    scale: tuple[float, float] = (0.08, 1.0)  # random-resized-crop area range
    flip: bool = True
    color_jitter: float = 0.0  # brightness / contrast / saturation strength (VideoMAE recipes: 0.4)
    rand_augment: str | None = None  # timm RandAugment string, e.g. "rand-m7-n4-mstd0.5-inc1" (VideoMAE); None: off
    num_workers: int = 4
    # MiB per loader worker of decoded videos (all their windows) and store rows kept for later epochs; 0: off.
    # For datasets that fit (the embedded benchmark: about 1 GiB): the decode is paid once per video, not per step
    cache_mb: float = 0
    # Augmented clips cut from each decoded window (VideoMAE's num_sample, repeated augmentation): a batch holds
    # optim.batch_size videos = batch_size x repeats clips, an epoch still passes each video once. 1: the paper's
    repeats: int = 1
    # Workers send each window's uint8 frames and the crop; the step crops, flips and normalises on its device
    # (equal to the host path; no colour jitter). For GPU training, where the host's cores are the bottleneck
    device_transforms: bool = False
    max_skipped: float = 0.01  # share of listed videos left out (no store entry, or failing mid-run) before stopping
    decode_timeout: float = 120.0  # seconds a loader worker may spend on one item before it is killed (workers > 0)
    # Video file decoder for this run and its loader workers: auto | decord | pyav; unset (null): the command's
    # --decoder, else DEVIAS_DECODER, else auto (PyAV when installed, else decord)
    decoder: str | None = None


@dataclass
class AugSection:
    mix: str = "none"  # "fame": scene mix (eq. 8) with FAME masks | "be": background erasing | "none"
    beta: float = 0.3  # foreground share of the hard mask
    p_aug: float = 0.4  # share of a batch that gets another clip's background
    be_max_lambda: float = 0.3
    # toolkit option, not in the paper: the background clip's own masked actor is flattened to the mean colour of
    # its unmasked pixels (per frame and channel) before the paste, so a mixed clip shows one actor, not two
    clear_donor: bool = False


@dataclass
class OptimSection:
    lr: float = 5e-4  # base learning rate per 256 clips; scaled by total batch / 256
    min_lr: float = 1e-6
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    layer_decay: float = 0.75
    slot_lr_scale: float = 0.1
    warmup_epochs: float = 5.0
    epochs: int = 100
    batch_size: int = 12  # per process
    accum_steps: int = 1
    clip_grad: float | None = None


SECTIONS: dict[str, type] = {
    "data": DataSection, "aug": AugSection, "optim": OptimSection, "run": RunSection, "loss": LossConfig,
}
MIXES = ("fame", "be", "none")
SCENE_SOURCES = ("store", "list", "online")


@dataclass
class TrainConfig:
    data: DataSection = field(default_factory=DataSection)
    model: dict[str, Any] = field(default_factory=lambda: {"method": "devias"})
    loss: LossConfig = field(default_factory=LossConfig)
    aug: AugSection = field(default_factory=AugSection)
    optim: OptimSection = field(default_factory=OptimSection)
    run: RunSection = field(default_factory=RunSection)

    def to_dict(self) -> dict[str, Any]:
        out = {name: plain(dataclasses.asdict(getattr(self, name))) for name in SECTIONS}
        out["model"] = dict(self.model)
        return out

    @property
    def method(self) -> str:
        return str(self.model.get("method", "devias"))

    def schedule(self, videos: int, world: int) -> Schedule:
        """The run's schedule over `videos` training videos on `world` processes (whole batches per process);
        `optim.min_lr` is the floor of the decay as given, not scaled by the batch."""
        return scaled_schedule(self.optim, videos // (self.optim.batch_size * world), world, scale_min_lr=False)

    def resolve(self, path: str | None, relative_to_root: bool) -> Path | None:
        if path is None:
            return None
        p = Path(path)
        return p if p.is_absolute() or not relative_to_root else Path(self.data.root) / p


def _build_section(name: str, values: dict[str, Any]) -> Any:
    return build_section(SECTIONS[name], name, values)


def check_model(model: dict[str, Any]) -> None:
    """model.method is a method and every other model key is one a method reads (a key of another method is let
    through: one recipe switches methods by override), each misspelling named with its closest known name."""
    method = model["method"]
    if method not in METHODS:
        raise DeviasError(f"model.method: unknown method {method!r}{did_you_mean(method, METHODS)} "
                          f"(known: {', '.join(METHODS)})")
    every = BACKBONE_KEYS.union(*(m.keys for m in METHODS.values()), {"method"})
    unknown = sorted(str(k) for k in set(model) - every)
    if unknown:
        raise DeviasError(unknown_names(f"unknown model key(s) for {method}", unknown,
                                        BACKBONE_KEYS | METHODS[method].keys | {"method"}))


def build_config(tree: dict[str, Any]) -> TrainConfig:
    """Validate a nested dict against the schema and return a TrainConfig."""
    check_sections(tree, [*SECTIONS, "model"])
    sections = {name: _build_section(name, tree.get(name) or {}) for name in SECTIONS}
    model = dict(section_values(tree.get("model"), "model"))
    model.setdefault("method", "devias")
    check_model(model)
    cfg = TrainConfig(model=model, **sections)
    if cfg.aug.mix not in MIXES:
        raise DeviasError(f"aug.mix must be one of {', '.join(MIXES)} (got {cfg.aug.mix!r})")
    if cfg.data.scene_source not in SCENE_SOURCES:
        raise DeviasError(f"data.scene_source must be one of {', '.join(SCENE_SOURCES)} "
                          f"(got {cfg.data.scene_source!r})")
    if cfg.data.rand_augment is not None:
        try:
            parse_rand_augment(cfg.data.rand_augment)
        except ValueError as exc:
            raise DeviasError(f"data.rand_augment: {exc}") from None
    check_amp(cfg.run.amp)
    if not 0 <= cfg.data.val_fraction < 1 or cfg.data.val_max < 0:
        raise DeviasError("data.val_fraction must be in [0, 1) and data.val_max at least 0")
    check_fault_limits(cfg.data.max_skipped, cfg.data.decode_timeout)
    check_decoder(cfg.data.decoder)
    if cfg.data.repeats < 1:
        raise DeviasError(f"data.repeats is clips per decoded window, 1 or more (got {cfg.data.repeats})")
    if cfg.data.device_transforms and cfg.data.color_jitter > 0:
        raise DeviasError("data.device_transforms crops on the device and has no colour jitter; set data.color_jitter "
                          "to 0 or data.device_transforms to false")
    if cfg.data.cache_mb < 0:
        raise DeviasError(f"data.cache_mb is MiB per loader worker, 0 (off) or more (got {cfg.data.cache_mb})")
    if not 0 < cfg.aug.beta <= 1:
        raise DeviasError("aug.beta must be in (0, 1]")
    if cfg.optim.batch_size < 1 or cfg.optim.accum_steps < 1 or cfg.optim.epochs < 1:
        raise DeviasError("optim.batch_size, optim.accum_steps and optim.epochs must be positive")
    return cfg


def config_from(recipe: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    tree = load_recipe(recipe) if recipe else {}
    return build_config(apply_overrides(tree, overrides or []))
