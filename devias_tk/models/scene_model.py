"""Scene models at the model level: the image (or clip) classifier that gives pseudo scene labels, its
self-describing checkpoint, a loader that dispatches on a file's format, and its forward passes.

Both the labelling stage (`devias_tk.scenes`) and the trainer's online scene targets
(`data.scene_source=online`) use it, so it lives below the stages. Class names of a foreign file come
in as a list (the stage reads them from `--classes`, the trainer from `data.scenes`).

The toolkit's checkpoint (`FORMAT`) is a dict written with `torch.save` that describes itself::

    format: "devias-tk/scene-model"   format_version: 1      toolkit_version
    arch: timm model name, or "video-vit"   model_kwargs: what the builder got besides num_classes and the size
    num_classes, class_names           input_size, resize_size (short side before the centre crop)
    mean, std (normalisation)          inflation: "frame-average" (an image model), "clip-model" (video-vit)
    state_dict                         metrics (per-epoch training figures), train (the config)

A "video-vit" file (`scenes train --video`) is a clip model: a `VideoSceneTeacher` (cls-token video ViT)
whose model_kwargs include the clip length it was trained on (`frames`) and its tubelet.

Only plain Python types and tensors are stored, so it loads with `torch.load(weights_only=True)`.
Published formats are entries of `LOADERS` (a detector on the loaded object and the options, and a
builder): Places365 CSAIL `.pth.tar` ResNets, plain timm state dicts (given an architecture), and the
DEVIAS video scene teacher, a clip model (inflation "clip-model"). Every loaded model carries a `LoadReport`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from devias_tk import __version__
from devias_tk.cache.store import file_sha256
from devias_tk.errors import DeviasError
from devias_tk.models.checkpoints import (
    DEVIAS_RELEASE,
    DEVIAS_TEACHER,
    HF_VIDEOMAE,
    VIDEOMAE_FINETUNE,
    VIDEOMAE_PRETRAIN,
    KeyMap,
    LoadReport,
    describe_object,
    describe_weights,
    find_state_dict,
    is_state_dict,
    load_mapped,
    map_video_vit,
    read_checkpoint,
    strip_prefix,
    teacher_config,
    video_vit_format,
)
from devias_tk.models.teacher import VideoSceneTeacher
from devias_tk.utils.atomic import atomic_path
from devias_tk.utils.words import one_line

CLIP_MODEL = "clip-model"  # the scene model takes whole clips; the store's `inflation` names it
INFLATIONS = ("frame-average", CLIP_MODEL)  # what a toolkit scene-model checkpoint may name
VIDEO_ARCH = "video-vit"  # the toolkit's video scene model (a VideoSceneTeacher), `scenes train --video`


def normalise(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in model units: /255, minus mean, over std, per channel."""
    x = images.permute(0, 3, 1, 2).float().div_(255.0)
    m = torch.tensor(mean, dtype=x.dtype, device=x.device)[None, :, None, None]
    s = torch.tensor(std, dtype=x.dtype, device=x.device)[None, :, None, None]
    return (x - m) / s


@torch.inference_mode()
def image_probs(
    module: nn.Module, images: torch.Tensor, mean: Sequence[float], std: Sequence[float],
    amp_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Softmax class distribution (N, K), float32, of uint8 images (N, H, W, 3) already on the model's device.

    `amp_dtype` (bf16 / fp16) runs the network under autocast; the softmax is always float32.
    """
    x = normalise(images, mean, std)
    with torch.autocast(x.device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        logits = module(x)
    return logits.float().softmax(dim=-1)


@torch.inference_mode()
def clip_model_probs(
    module: nn.Module, clips: torch.Tensor, mean: Sequence[float], std: Sequence[float],
    amp_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Softmax (B, K), float32, of a clip model on uint8 clips (B, T, H, W, 3) already on its device."""
    b, t = clips.shape[:2]
    x = normalise(clips.reshape(b * t, *clips.shape[2:]), mean, std)
    x = x.reshape(b, t, *x.shape[1:]).transpose(1, 2)  # (B, C, T, H, W)
    with torch.autocast(x.device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        logits = module(x)
    return logits.float().softmax(dim=-1)


@torch.no_grad()  # not inference_mode: the result is a target inside an autograd graph
def training_clip_probs(
    module: nn.Module, clips: torch.Tensor, clip_mean: Sequence[float], clip_std: Sequence[float], input_size: int,
    mean: Sequence[float], std: Sequence[float], clip_model: bool = False,
) -> torch.Tensor:
    """Softmax (B, K), float32, of a frozen scene model on training clips: float (B, C, T, H, W) normalised
    with `clip_mean` / `clip_std`, on the model's device.

    Each frame is brought back to [0, 1], resized to the model's square `input_size` (bilinear,
    antialiased; the clip is already the crop, so there is no centre crop) and normalised with the
    model's own `mean` / `std`. An image model is frame-averaged (the labelling stage's inflation); a
    clip model (`clip_model`) takes the clip (B, C, T, S, S).
    """
    b, c, t, h, w = clips.shape
    x = clips.detach().float().transpose(1, 2).reshape(b * t, c, h, w)
    as_channels = lambda v: torch.tensor(v, dtype=x.dtype, device=x.device)[None, :, None, None]  # noqa: E731
    x = x * as_channels(clip_std) + as_channels(clip_mean)
    if (h, w) != (input_size, input_size):
        x = torch.nn.functional.interpolate(x, size=(input_size, input_size), mode="bilinear", align_corners=False,
                                            antialias=True)
    x = (x - as_channels(mean)) / as_channels(std)
    if clip_model:
        return module(x.reshape(b, t, c, input_size, input_size).transpose(1, 2)).float().softmax(dim=-1)
    return module(x).float().softmax(dim=-1).reshape(b, t, -1).mean(dim=1)


class FrameAverage(nn.Module):
    """The inflated model as a module: normalised clips (B, C, T, H, W) -> (B, K) frame-averaged softmax.

    For callers that want a video scene teacher in the loop (as the DEVIAS release runs one); the
    labelling stage uses `image_probs` + `window_probs` instead, which shares overlapping frames.
    """

    def __init__(self, image_model: nn.Module) -> None:
        super().__init__()
        self.image_model = image_model

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = clips.shape
        frames = clips.transpose(1, 2).reshape(b * t, c, h, w)
        probs = self.image_model(frames).float().softmax(dim=-1)
        return probs.reshape(b, t, -1).mean(dim=1)



FORMAT = "devias-tk/scene-model"
FORMAT_VERSION = 1


@dataclass
class SceneModel:
    """An image scene classifier with everything needed to apply it to frames."""

    module: nn.Module  # normalised images (N, 3, S, S) (a clip model: clips) -> logits (N, num_classes)
    arch: str
    class_names: list[str]
    input_size: int
    resize_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    inflation: str = "frame-average"  # or "clip-model": `module` takes clips (B, C, T, H, W)
    frames: int | None = None  # a clip model's training clip length, when the file records it
    checkpoint: str = ""  # file name it was loaded from
    sha256: str = ""  # of that file
    source_format: str = FORMAT
    metrics: dict = field(default_factory=dict)
    report: LoadReport | None = None  # what loading the file did

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def describe(self) -> dict:
        """The store's `model` attribute."""
        return {"arch": self.arch, "checkpoint": self.checkpoint, "sha256": self.sha256,
                "input_size": self.input_size}

    def training_clip_probs(self, clips: torch.Tensor, clip_mean: Sequence[float],
                            clip_std: Sequence[float]) -> torch.Tensor:
        """Softmax (B, K) on training clips (B, C, T, H, W) normalised with clip_mean / clip_std (the function)."""
        return training_clip_probs(self.module, clips, clip_mean, clip_std, self.input_size, self.mean, self.std,
                                   clip_model=self.inflation == CLIP_MODEL)


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


def build_scene_module(arch: str, num_classes: int, input_size: int, model_kwargs: Mapping) -> nn.Module:
    """The module of a toolkit scene-model file: a timm classifier, or (arch "video-vit") a video ViT with a cls
    token and a head (`VideoSceneTeacher`)."""
    kwargs = {k: v for k, v in model_kwargs.items() if k != "img_size"}
    if arch == VIDEO_ARCH:
        return VideoSceneTeacher(num_classes, img_size=input_size, **kwargs)
    return build_image_model(arch, num_classes, input_size, **kwargs)[0]


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
    if (inflation == CLIP_MODEL) != (arch == VIDEO_ARCH):
        raise ValueError(f"inflation {inflation!r} does not fit arch {arch!r} (only {VIDEO_ARCH} is a clip model)")
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

PLACES365_CSAIL = "places365-csail"
TIMM_STATE_DICT = "timm-state-dict"
CSAIL_ARCHS = ("resnet18", "resnet50")
TIMM_CROP_PCT = 0.875  # timm's default; the eval view resizes the short side to size / crop_pct
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class LoadOptions:
    """What a file may not say about itself: class names, a timm architecture, the input size, strictness."""

    classes: list[str] | None = None  # class names, for formats that store none (and checked where they do)
    classes_from: str = "--classes"  # where they came from, for messages
    arch: str | None = None  # timm architecture of a plain state dict (a tag picks its normalisation)
    input_size: int | None = None  # square input side (default: the format's)
    strict: bool = False  # refuse any missing, unexpected or reshaped tensor


def _class_names(options: LoadOptions, path: Path, count: int) -> list[str]:
    if options.classes is None:
        raise DeviasError(f"{path}: this format stores no class names; give --classes FILE "
                          "(e.g. Places365's categories_places365.txt; in training: data.scenes)")
    names = options.classes
    if len(names) != count:
        raise DeviasError(f"{options.classes_from}: {len(names)} class names, but {path.name}'s classifier has "
                          f"{count} outputs")
    return names


def _finish(report: LoadReport, state: Mapping, path: Path, options: LoadOptions) -> LoadReport:
    if not report.loaded:
        raise DeviasError(f"{path}: no tensor fits {report.format} (the file holds {describe_weights(state)})")
    report.check(options.strict)
    return report


def _is_toolkit(obj: object, options: LoadOptions) -> bool:
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def _build_toolkit(obj: dict, path: Path, options: LoadOptions) -> SceneModel:
    if obj.get("format_version") != FORMAT_VERSION:
        raise DeviasError(f"{path}: scene-model format version {obj.get('format_version')!r} is not supported "
                          f"(this toolkit reads version {FORMAT_VERSION})")
    missing = [k for k in ("arch", "class_names", "input_size", "resize_size", "mean", "std", "state_dict")
               if k not in obj]
    if missing:
        raise DeviasError(f"{path}: scene-model checkpoint lacks {', '.join(missing)}")
    # The file describes itself: options may repeat what it says, never contradict it.
    if options.arch not in (None, obj["arch"]):
        raise DeviasError(f"{path}: a {obj['arch']} scene model; --arch {options.arch} does not apply")
    if options.input_size not in (None, obj["input_size"]):
        raise DeviasError(f"{path}: trained at {obj['input_size']} px; --input-size {options.input_size} "
                          "does not apply")
    if options.classes is not None and list(options.classes) != list(obj["class_names"]):
        raise DeviasError(f"{options.classes_from}: not the class names {path.name} was trained with")
    inflation = obj.get("inflation", "frame-average")
    if inflation not in INFLATIONS or (inflation == CLIP_MODEL) != (obj["arch"] == VIDEO_ARCH):
        raise DeviasError(f"{path}: inflation {inflation!r} does not fit arch {obj['arch']!r}")
    try:
        module = build_scene_module(obj["arch"], len(obj["class_names"]), obj["input_size"],
                                    obj.get("model_kwargs", {}))
    except (TypeError, ValueError) as exc:
        raise DeviasError(f"{path}: cannot build {obj['arch']} from its model_kwargs ({exc})") from None
    try:
        module.load_state_dict(obj["state_dict"], strict=True)
    except RuntimeError as exc:
        raise DeviasError(f"{path}: weights do not fit {obj['arch']} ({one_line(exc)})") from None
    return SceneModel(
        module=module.eval(), arch=obj["arch"], class_names=list(obj["class_names"]),
        input_size=int(obj["input_size"]), resize_size=int(obj["resize_size"]),
        mean=tuple(obj["mean"]), std=tuple(obj["std"]), inflation=inflation,
        frames=obj.get("model_kwargs", {}).get("frames") if inflation == CLIP_MODEL else None,
        source_format=FORMAT, metrics=dict(obj.get("metrics", {})),
        report=LoadReport(str(path), FORMAT, "state_dict", loaded=sorted(obj["state_dict"])),
    )


def _is_csail(obj: object, options: LoadOptions) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("arch"), str) and is_state_dict(obj.get("state_dict"))


def _build_csail(obj: dict, path: Path, options: LoadOptions) -> SceneModel:
    """CSAIL's Places365 CNNs: torchvision ResNets saved from DataParallel, ImageNet normalisation,
    resize 256 (here the short side) and centre crop 224."""
    import torchvision

    arch = obj["arch"]
    if arch not in CSAIL_ARCHS:
        raise DeviasError(f"{path}: a Places365 CSAIL checkpoint of arch {arch!r}; supported: {', '.join(CSAIL_ARCHS)}")
    if options.arch not in (None, arch):
        raise DeviasError(f"{path}: the file says arch {arch!r}; --arch {options.arch} does not apply")
    state, stripped = strip_prefix(obj["state_dict"], "module.")
    fc = state.get("fc.weight")
    if fc is None or fc.ndim != 2:
        raise DeviasError(f"{path}: arch {arch!r} but no fc.weight classifier: the file holds "
                          f"{describe_weights(state)}")
    names = _class_names(options, path, fc.shape[0])
    module = getattr(torchvision.models, arch)(weights=None, num_classes=fc.shape[0])
    mapped = KeyMap.identity(state)
    if stripped:
        mapped.notes.append("'module.' prefix removed (saved from DataParallel)")
    report = _finish(load_mapped(module, mapped, file=path, fmt=f"{PLACES365_CSAIL} {arch}", container="state_dict"),
                     state, path, options)
    size = options.input_size or 224
    return SceneModel(module=module.eval(), arch=f"torchvision.{arch}", class_names=names, input_size=size,
                      resize_size=round(size * 256 / 224), mean=IMAGENET_MEAN, std=IMAGENET_STD,
                      source_format=PLACES365_CSAIL, report=report)


def _is_teacher(obj: object, options: LoadOptions) -> bool:
    try:
        state, _ = find_state_dict(obj, "")
    except DeviasError:
        return False
    return video_vit_format(state) == DEVIAS_TEACHER


def _build_teacher(obj: object, path: Path, options: LoadOptions) -> SceneModel:
    """The DEVIAS video scene teacher: run on each window's clip (no inflation), ImageNet normalisation,
    short side resized to the input size and a centre crop (VideoMAE's evaluation view)."""
    if options.arch is not None:
        raise DeviasError(f"{path}: the DEVIAS scene teacher's architecture is read from its weights; "
                          f"--arch {options.arch} does not apply")
    state, container = find_state_dict(obj, path)
    try:
        config = teacher_config(state)
        names = _class_names(options, path, config["num_classes"])
        size = options.input_size or 224
        module = VideoSceneTeacher(img_size=size, **config)
    except (KeyError, ValueError) as exc:
        raise DeviasError(f"{path}: not a complete DEVIAS scene teacher ({describe_weights(state)}): {exc}") from None
    shapes = {k: v.shape for k, v in module.state_dict().items()}
    mapped = map_video_vit(state, DEVIAS_TEACHER, shapes, prefix="backbone.", head="head.", cls="cls_token")
    mapped.notes.append(f"{config['num_heads']} attention heads assumed (64 dims each, as VideoMAE's ViTs)")
    report = _finish(load_mapped(module, mapped, file=path, fmt=DEVIAS_TEACHER, container=container),
                     state, path, options)
    return SceneModel(module=module.eval(), arch="devias-video-vit-teacher", class_names=names, input_size=size,
                      resize_size=size, mean=IMAGENET_MEAN, std=IMAGENET_STD, inflation=CLIP_MODEL,
                      source_format=DEVIAS_TEACHER, report=report)


def _is_timm(obj: object, options: LoadOptions) -> bool:
    if options.arch is None:
        return False
    try:
        find_state_dict(obj, "")
    except DeviasError:
        return False
    return True


def _build_timm(obj: object, path: Path, options: LoadOptions) -> SceneModel:
    """A plain timm state dict (top level or under model / module / state_dict) for `options.arch`.

    A ViT file with ``fc_norm`` and no ``norm`` (MAE fine-tuning: mean of the patch tokens, then
    fc_norm) is built with timm's ``global_pool='avg'``, which computes exactly that.
    """
    import timm

    state, container = find_state_dict(obj, path)
    state, stripped = strip_prefix(state, "module.")
    arch = options.arch
    if not timm.is_model(arch):
        raise DeviasError(f"unknown timm architecture {arch!r} (see timm.list_models())")
    cfg = timm.get_pretrained_cfg(arch)
    size = options.input_size or (cfg.input_size[-1] if cfg is not None and cfg.input_size else 224)
    classifier = getattr(cfg, "classifier", None) or "head"
    # distilled models name two heads; the first is the class head
    classifier = f"{classifier[0] if isinstance(classifier, tuple | list) else classifier}.weight"
    if classifier not in state:
        raise DeviasError(f"{path}: no {classifier} classifier for {arch}: the file holds {describe_weights(state)}")
    names = _class_names(options, path, state[classifier].shape[0])
    kwargs: dict[str, Any] = {}
    notes = ["'module.' prefix removed (saved from a DataParallel wrapper)"] if stripped else []
    if "fc_norm.weight" in state and "norm.weight" not in state:
        kwargs["global_pool"] = "avg"
        notes.append("fc_norm without norm: built with global_pool='avg' (mean of the patch tokens, then fc_norm)")
    module, _ = build_image_model(arch, len(names), size, **kwargs)
    mapped = KeyMap.identity(state)
    mapped.notes += notes
    report = _finish(load_mapped(module, mapped, file=path, fmt=f"{TIMM_STATE_DICT} {arch}", container=container),
                     state, path, options)
    mean, std = default_normalisation(arch)
    crop_pct = getattr(cfg, "crop_pct", None) or TIMM_CROP_PCT
    return SceneModel(module=module.eval(), arch=arch, class_names=names, input_size=size,
                      resize_size=round(size / crop_pct), mean=mean, std=std,
                      source_format=TIMM_STATE_DICT, report=report)


# (name, detector on the loaded object, builder), tried in order. The timm entry needs --arch.
Detector = Callable[[object, LoadOptions], bool]
Builder = Callable[[Any, Path, LoadOptions], SceneModel]
LOADERS: list[tuple[str, Detector, Builder]] = [
    (FORMAT, _is_toolkit, _build_toolkit),
    (PLACES365_CSAIL, _is_csail, _build_csail),
    (DEVIAS_TEACHER, _is_teacher, _build_teacher),
    (TIMM_STATE_DICT, _is_timm, _build_timm),
]


def _hint(obj: object) -> str:
    """What an unknown file's weights look like, and which options would read them."""
    try:
        state, _ = find_state_dict(obj, "")
    except DeviasError:
        return ""
    state, _ = strip_prefix(state, "module.")
    if video_vit_format(state) in (VIDEOMAE_PRETRAIN, VIDEOMAE_FINETUNE, HF_VIDEOMAE, DEVIAS_RELEASE):
        return (f". Its weights are {describe_weights(state)}, a VideoMAE action model without a cls token, not a "
                "scene model; start training from it with run.init=")
    return f". Its weights are {describe_weights(state)}: give --arch (a timm model name) and --classes to read them"


def load_scene_model(
    path: str | os.PathLike, device: str | torch.device = "cpu", *, class_names: Sequence[str] | None = None,
    classes_from: str = "--classes", arch: str | None = None, input_size: int | None = None, strict: bool = False,
) -> SceneModel:
    """Load a scene model from any supported format; errors name the file and what was found.

    `class_names` name a foreign file's outputs and must equal a self-describing file's own (`classes_from`
    says where they came from, for messages). `model.report` says what was loaded
    (`devias_tk.models.checkpoints.LoadReport`); `strict` refuses any missing, unexpected or reshaped
    tensor. Formats: see `LOADERS` and the README.
    """
    path = Path(path)
    obj = read_checkpoint(path, "scene model file")
    options = LoadOptions(None if class_names is None else list(class_names), classes_from, arch, input_size, strict)
    for _name, detect, build in LOADERS:
        if detect(obj, options):
            model = build(obj, path, options)
            break
    else:
        known = ", ".join(name for name, _, _ in LOADERS)
        raise DeviasError(f"{path}: not a scene-model checkpoint this toolkit knows ({describe_object(obj)}; "
                          f"known formats: {known}){_hint(obj)}")
    model.checkpoint = path.name
    model.sha256 = file_sha256(path)
    model.module.to(device)
    return model
