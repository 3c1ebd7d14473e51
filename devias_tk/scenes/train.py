"""`scenes train`: an image scene classifier from a Places365-style list, saved as a self-describing checkpoint.

From scratch (`pretrained=False`: nothing is downloaded). AdamW without weight decay on biases, norms
and position/class tokens; linear warm-up then cosine decay per step; label smoothing; random resized
crop, flip and brightness/contrast jitter. Validation top-1/top-5 on the eval view (short-side resize,
centre crop) after every epoch. The checkpoint holds the last epoch's weights.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from devias_tk.data.lists import read_class_names
from devias_tk.errors import DeviasError
from devias_tk.scenes.images import Augment, ImageDataset, class_names_from_folders, read_image_list
from devias_tk.scenes.inflate import normalise
from devias_tk.scenes.model import build_image_model, default_normalisation, save_checkpoint
from devias_tk.scenes.preprocess import DEFAULT_CROP_PCT, resize_size_for
from devias_tk.utils.device import resolve_device
from devias_tk.utils.progress import progress_bar


@dataclass(frozen=True)
class TrainConfig:
    arch: str = "vit_tiny_patch16_224"
    input_size: int = 112
    epochs: int = 10
    batch: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 2.0
    label_smoothing: float = 0.1
    drop_path: float = 0.1
    crop_pct: float = DEFAULT_CROP_PCT
    augment: Augment = field(default_factory=Augment)
    seed: int = 0


@dataclass
class TrainResult:
    checkpoint: Path
    class_names: list[str]
    epochs: list[dict] = field(default_factory=list)  # per epoch: loss, train_top1, val_top1, val_top5, lr, seconds
    seconds: float = 0.0


def _param_groups(module: nn.Module, weight_decay: float) -> list[dict]:
    skip = set(getattr(module, "no_weight_decay", lambda: set())())
    decay, no_decay = [], []
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name in skip else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def static_clips(images: torch.Tensor, frames: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, frames, H, W): each image repeated along time (a view, no copy)."""
    return images.unsqueeze(2).expand(-1, -1, frames, -1, -1)


def lr_at(step: int, total: int, warmup: int, base: float) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay to 0 at `total`."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@torch.inference_mode()
def evaluate_images(module: nn.Module, loader: DataLoader, mean, std, device: torch.device,
                    frames: int | None = None, autocast: bool = False) -> tuple[float, float]:
    """Top-1 and top-5 accuracy (percent) of `module` over a loader of (uint8 images, labels).

    `frames`: `module` is a clip model, given each image as a static clip of that many frames."""
    module.eval()
    top1 = top5 = seen = 0
    for images, labels in loader:
        x = normalise(images.to(device), mean, std)
        if frames is not None:
            x = static_clips(x, frames)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            logits = module(x).float()
        labels = labels.to(device)
        ranked = logits.topk(min(5, logits.shape[1]), dim=1).indices
        top1 += (ranked[:, 0] == labels).sum().item()
        top5 += (ranked == labels[:, None]).any(dim=1).sum().item()
        seen += len(labels)
    return 100.0 * top1 / max(1, seen), 100.0 * top5 / max(1, seen)


def train_scene_model(
    root: str | Path,
    train_list: str | Path,
    out: str | Path,
    val_list: str | Path | None = None,
    classes: str | Path | None = None,
    config: TrainConfig = TrainConfig(),
    jobs: int = 2,
    device: str = "auto",
    show_progress: bool = True,
    log: Callable[[str], None] = lambda _msg: None,
) -> TrainResult:
    """Train on `train_list` (images under `root`), validate on `val_list` each epoch, save to `out`."""
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    dev = resolve_device(device)
    train_entries = read_image_list(train_list)
    names = read_class_names(classes) if classes else class_names_from_folders(train_entries, str(train_list))
    val_entries = read_image_list(val_list) if val_list else []
    bad = [e for e in (*train_entries, *val_entries) if e.label >= len(names)]
    if bad:
        raise DeviasError(f"class index {bad[0].label} of {bad[0].path!r} is beyond the {len(names)} class names")
    resize = resize_size_for(config.input_size, config.crop_pct)
    module, model_kwargs = build_image_model(config.arch, len(names), config.input_size,
                                             drop_path_rate=config.drop_path)
    module.to(dev)
    mean, std = default_normalisation(config.arch)

    workers = max(0, jobs)
    loader_kw = {"num_workers": workers, "persistent_workers": workers > 0, "pin_memory": dev.type == "cuda"}
    train_loader = DataLoader(ImageDataset(root, train_entries, config.input_size, resize, config.augment),
                              batch_size=config.batch, shuffle=True, drop_last=len(train_entries) > config.batch,
                              **loader_kw)
    val_loader = (DataLoader(ImageDataset(root, val_entries, config.input_size, resize), batch_size=config.batch,
                             **loader_kw) if val_entries else None)
    optimizer = torch.optim.AdamW(_param_groups(module, config.weight_decay), lr=config.lr, betas=(0.9, 0.999))
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    steps_per_epoch = len(train_loader)
    total = steps_per_epoch * config.epochs
    warmup = min(total, round(config.warmup_epochs * steps_per_epoch))
    amp = torch.bfloat16 if dev.type == "cuda" else None
    result = TrainResult(Path(out), names)
    step = 0
    for epoch in range(config.epochs):
        module.train()
        epoch_start = time.perf_counter()
        loss_sum = correct = seen = 0.0
        bar = (progress_bar(f"epoch {epoch + 1}/{config.epochs}", steps_per_epoch, "batches", show_status=True)
               if show_progress else contextlib.nullcontext(lambda *_a, **_k: None))
        with bar as advance:
            for images, labels in train_loader:
                lr = lr_at(step, total, warmup, config.lr)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                images, labels = images.to(dev, non_blocking=True), labels.to(dev, non_blocking=True)
                with torch.autocast(dev.type, dtype=amp or torch.float32, enabled=amp is not None):
                    logits = module(normalise(images, mean, std))
                    loss = criterion(logits.float(), labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                loss_sum += loss.item() * len(labels)
                correct += (logits.argmax(1) == labels).sum().item()
                seen += len(labels)
                advance(1, status=f"loss {loss_sum / seen:.3f}")
        record = {"epoch": epoch + 1, "loss": loss_sum / max(1, seen), "train_top1": 100.0 * correct / max(1, seen),
                  "lr": lr, "seconds": time.perf_counter() - epoch_start}
        if val_loader is not None:
            record["val_top1"], record["val_top5"] = evaluate_images(module, val_loader, mean, std, dev)
        result.epochs.append(record)
        log(f"epoch {epoch + 1}/{config.epochs}: loss {record['loss']:.3f}, train top-1 {record['train_top1']:.1f}%"
            + (f", val top-1 {record['val_top1']:.1f}% top-5 {record['val_top5']:.1f}%" if val_loader else "")
            + f", {record['seconds']:.1f} s")
    final = result.epochs[-1] if result.epochs else {}
    metrics = {"epochs": result.epochs, "train_images": len(train_entries), "val_images": len(val_entries),
               **{k: final[k] for k in ("val_top1", "val_top5") if k in final}}
    train_info = {**{k: v for k, v in dataclasses.asdict(config).items() if k != "augment"},
                  "augment": dataclasses.asdict(config.augment), "train_list": Path(train_list).name,
                  "val_list": Path(val_list).name if val_list else None}
    save_checkpoint(out, module, arch=config.arch, model_kwargs=model_kwargs, class_names=names,
                    input_size=config.input_size, resize_size=resize, mean=mean, std=std, metrics=metrics,
                    train=train_info)
    result.seconds = time.perf_counter() - started
    return result
