"""`scenes train --video`: the paper's scene model (supp. B, Table 15), a video ViT with a cls token and a scene
head trained on Places365-style images inflated into static clips (each image, cropped and flipped once,
repeated along time), with the engine pieces of `train` (torchrun, bf16 autocast, exact resume).

`prepare` checks what can fail before work (lists, class names, model shape, the init file); `train_video`
trains and writes:

    RUN/config.yaml, RUN/run.json, RUN/metrics.jsonl   as `train` writes them (validation rows: val_top1/5)
    RUN/checkpoints/last.pt     model, optimizer, position, validation history (resume; previous.pt beside it)
    RUN/scene_model.pt          the self-describing scene model (arch "video-vit", inflation "clip-model"):
                                `scenes label --model` runs it on every window; `scenes export --teacher`
                                writes the DEVIAS release's teacher layout
    RUN/bad_samples.jsonl       images replaced mid-run (unreadable files), as `train` records videos

Mixup / cutmix act on the images before they become clips, so every frame of a clip gets the same mix.
Layer-wise lr decay as MAE fine-tuning sets it: the patch embedding and the cls token at layer 0, block i
at i + 1, the final norm and the head at depth + 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from torch import nn
from torch.utils.data import DataLoader

from devias_tk.data.guarded import GuardedItems
from devias_tk.data.lists import read_class_names
from devias_tk.engine import distributed as dist_utils
from devias_tk.engine.checkpoint import init_file, load_checkpoint, unwrap
from devias_tk.engine.faults import SampleFaults
from devias_tk.engine.loop import Stage
from devias_tk.engine.optim import build_optimizer, param_groups, scaled_schedule
from devias_tk.engine.runtime import (
    MetricsLog,
    RunResult,
    RunStart,
    make_loader,
    resume_run,
    run_locked,
    write_run_files,
)
from devias_tk.engine.sampler import EpochSampler
from devias_tk.errors import DeviasError
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
)
from devias_tk.models.scene_model import CLIP_MODEL, IMAGENET_MEAN, IMAGENET_STD, VIDEO_ARCH, save_checkpoint
from devias_tk.models.teacher import VideoSceneTeacher, map_image_vit
from devias_tk.scenes.images import (
    Augment,
    ImageDataset,
    ImageEntry,
    KeyedImages,
    class_names_from_folders,
    read_image_list,
)
from devias_tk.scenes.inflate import normalise
from devias_tk.scenes.mix import MixSpec, mix_batch, soft_cross_entropy
from devias_tk.scenes.preprocess import resize_size_for
from devias_tk.scenes.train import evaluate_images, static_clips
from devias_tk.scenes.video_config import METHOD, VideoSceneConfig, build_config
from devias_tk.utils.runlog import log

MODEL_FILE = "scene_model.pt"


@dataclass
class Prepared:
    cfg: VideoSceneConfig
    root: Path
    train: list[ImageEntry]
    val: list[ImageEntry]
    class_names: list[str]
    model: VideoSceneTeacher  # built (on CPU) while checking the configuration
    resize_size: int


def prepare(cfg: VideoSceneConfig) -> Prepared:
    """Every check that can fail before training starts (reading each image is left to the loader)."""
    root = Path(cfg.data.root)
    if not root.is_dir():
        raise DeviasError(f"data.root {root} is not a folder")
    train_path = cfg.path(cfg.data.train_list)
    train = read_image_list(train_path)
    val = read_image_list(cfg.path(cfg.data.val_list)) if cfg.data.val_list else []
    classes = cfg.path(cfg.data.classes)
    names = read_class_names(classes) if classes else class_names_from_folders(train, str(train_path))
    bad = [e for e in (*train, *val) if e.label >= len(names)]
    if bad:
        raise DeviasError(f"class index {bad[0].label} of {bad[0].path!r} is beyond the {len(names)} class names")
    try:
        model = VideoSceneTeacher(len(names), img_size=cfg.data.size, drop_path=cfg.model.drop_path,
                                  **cfg.module_kwargs())
    except ValueError as exc:
        raise DeviasError(f"model: {exc}") from None
    return Prepared(cfg, root, train, val, names, model, resize_size_for(cfg.data.size, cfg.data.crop_pct))


def load_init(model: VideoSceneTeacher, path: str | Path, strict: bool = False) -> LoadReport:
    """Start from an image ViT in timm's names (a `scenes train` ViT, MAE's ImageNet encoder: patch kernel
    inflated over the tubelet), a video ViT (VideoMAE, the DEVIAS teacher: mapped as `train` maps them), a
    toolkit video scene model or a run of this stage. Heads are kept only when the class count matches."""
    path = init_file(path)
    obj = read_checkpoint(path, "initial weights")
    if isinstance(obj, dict) and obj.get("method") == METHOD:  # a run of this stage (its checkpoint)
        obj = {"model": load_checkpoint(path)["model"]}
    state, container = find_state_dict(obj, path)
    state, _ = strip_prefix(state, "module.")
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    fmt = video_vit_format(state)
    if fmt is not None:
        mapped = map_video_vit(state, fmt, shapes, prefix="backbone.", head="head.", cls="cls_token")
    elif "backbone.patch_embed.proj.weight" in state and "cls_token" in state:
        fmt, mapped = f"{VIDEO_ARCH} scene model", KeyMap.identity(state)
        if tuple(state.get("head.weight", torch.empty(0)).shape) != tuple(shapes["head.weight"]):
            for name in ("head.weight", "head.bias"):
                mapped.state.pop(name, None)
                mapped.ignored[name] = "another class count: the head starts fresh"
    elif getattr(state.get("patch_embed.proj.weight"), "ndim", 0) == 4:
        fmt, mapped = "image ViT (timm names)", map_image_vit(state, shapes)
    else:
        raise DeviasError(f"{path}: not weights a video scene model can start from (the file holds "
                          f"{describe_weights(state)}); readable: image ViTs in timm's names, VideoMAE, the DEVIAS "
                          "teacher, a video scene model")
    report = load_mapped(model, mapped, file=path, fmt=fmt, container=container)
    if not report.loaded:
        raise DeviasError(f"{path}: no tensor fits the video scene model (the file holds {describe_weights(state)})")
    report.check(strict)
    return report


def layer_decay_groups(model: VideoSceneTeacher, weight_decay: float, layer_decay: float) -> list[dict]:
    """`train`'s parameter groups (layer-wise decay, no decay on 1-D parameters and tokens) with the cls token
    moved to layer 0, beside the patch embedding, as MAE's fine-tuning puts it."""
    groups = param_groups(model, weight_decay, layer_decay, 1.0)
    bottom = round(layer_decay ** (model.backbone.depth + 1), 12)
    for group in groups:
        if "cls_token" in group["names"]:
            at = group["names"].index("cls_token")
            param = group["params"].pop(at)
            group["names"].pop(at)
            target = next((g for g in groups if g["lr_scale"] == bottom and g["weight_decay"] == 0.0), None)
            if target is None:
                groups.append({"params": [param], "lr_scale": bottom, "weight_decay": 0.0, "names": ["cls_token"]})
            else:
                target["params"].append(param)
                target["names"].append("cls_token")
            break
    return [g for g in groups if g["params"]]


@dataclass(frozen=True)
class StepSpec:
    num_classes: int
    frames: int
    mix: MixSpec
    seed: int
    rank: int = 0
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD


def compute_loss(net: nn.Module, batch: Mapping[str, Any], spec: StepSpec,
                 step: int) -> tuple[torch.Tensor, dict[str, float]]:
    """One step: uint8 images -> normalised, mixed (draws from (seed, step, rank): resume-exact), repeated into
    static clips; soft-target cross-entropy of the clip model's logits."""
    images = normalise(batch["image"], spec.mean, spec.std)
    rng = np.random.default_rng([spec.seed, step, spec.rank])
    images, targets, info = mix_batch(images, batch["label"], spec.num_classes, spec.mix, rng)
    logits = net(static_clips(images, spec.frames))
    return soft_cross_entropy(logits, targets), info


def train_video(cfg: VideoSceneConfig, run_dir: str | Path, resume: str = "auto", console: Console | None = None,
                command: str = "") -> RunResult:
    """Train `cfg` into `run_dir`. resume: "auto" (continue RUN/checkpoints/last.pt if present), "never", or a
    checkpoint path. The finished model is RUN/scene_model.pt."""
    return run_locked(run_dir, cfg.run, lambda: prepare(cfg), lambda prep, start: _train(prep, start, resume),
                      console, command)


def _train(prep: Prepared, start: RunStart, resume: str) -> RunResult:
    cfg, run_dir, device, info = prep.cfg, start.run_dir, start.device, start.info
    say = log.info if info.is_main else (lambda _m: None)
    state = resume_run(start, resume, cfg, build_config)
    history: list[dict] = [] if state is None else list(state.get("val_history", []))

    model = prep.model.to(device)
    optimizer = build_optimizer(layer_decay_groups(model, cfg.optim.weight_decay, cfg.optim.layer_decay),
                                cfg.optim.betas)
    d = cfg.data
    augment = Augment(scale=d.scale, flip=d.flip, jitter=d.jitter)
    dataset = GuardedItems(KeyedImages(prep.root, prep.train, d.size, augment, cfg.run.seed),
                           [e.path for e in prep.train], "replace", cfg.run.seed,
                           groups=[e.label for e in prep.train], timeout=d.decode_timeout)
    sampler = EpochSampler(len(dataset), cfg.optim.batch_size, cfg.run.seed, info.rank, info.world)
    schedule = scaled_schedule(cfg.optim, sampler.batches_per_epoch, info.world)
    stage = Stage(start, cfg.run, model, optimizer, state, load_init, lambda: write_run_files(
        run_dir, cfg.to_dict(), info, device, start.command, method=METHOD, images=len(prep.train),
        classes=len(prep.class_names), parameters=sum(p.numel() for p in model.parameters())))
    net = stage.net
    metrics = MetricsLog(run_dir, info.is_main)
    val_loader = (DataLoader(ImageDataset(prep.root, prep.val, d.size, prep.resize_size),
                             batch_size=cfg.optim.batch_size, num_workers=min(d.num_workers, 2))
                  if prep.val and info.is_main else None)

    def after_epoch(epoch: int) -> None:
        if val_loader is not None:
            top1, top5 = evaluate_images(unwrap(net), val_loader, IMAGENET_MEAN, IMAGENET_STD, device,
                                         frames=cfg.model.frames, autocast=stage.autocast, dtype=stage.dtype)
            row = {"epoch": epoch, "step": stage.pos.step, "val_top1": top1, "val_top5": top5}
            history.append(row)
            metrics.log(row, stage.pos.step)
            say(f"epoch {epoch}/{cfg.optim.epochs}: validation top-1 {top1:.1f}%, top-5 {top5:.1f}% "
                f"({len(prep.val)} images as {cfg.model.frames}-frame static clips)")
        dist_utils.barrier(info)

    step_spec = StepSpec(len(prep.class_names), cfg.model.frames, MixSpec(**vars(cfg.mix)), cfg.run.seed, info.rank)
    loader = make_loader(dataset, cfg.optim.batch_size, sampler, d.num_workers, device)
    faults = SampleFaults(run_dir, len(prep.train), d.max_skipped, 0, info)
    last = stage.fit(loader, sampler, schedule, lambda n, batch, step: compute_loss(n, batch, step_spec, step),
                     lambda: {"config": cfg.to_dict(), "method": METHOD, "class_names": prep.class_names,
                              "val_history": history},
                     metrics, faults, "scenes train --video", clips_key="image", after_epoch=after_epoch)
    if info.is_main:
        final = history[-1] if history else {}
        save_checkpoint(run_dir / MODEL_FILE, unwrap(net), arch=VIDEO_ARCH, model_kwargs=cfg.module_kwargs(),
                        class_names=prep.class_names, input_size=d.size, resize_size=prep.resize_size,
                        mean=IMAGENET_MEAN, std=IMAGENET_STD, inflation=CLIP_MODEL,
                        metrics={"epochs": history, "train_images": len(prep.train), "val_images": len(prep.val),
                                 **{k: final[k] for k in ("val_top1", "val_top5") if k in final}},
                        train={**cfg.to_dict(), "run_dir": str(run_dir)})
    return stage.finish(last)
