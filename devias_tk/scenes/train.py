"""`scenes train`: an image scene classifier from a Places365-style list, saved as a self-describing checkpoint.

From scratch (`pretrained=False`: nothing is downloaded). Runs on the loop every trainer shares
(devias_tk.engine.loop): AdamW without weight decay on biases, norms and position/class tokens
(`engine.optim.param_groups`), the shared schedule (linear warm-up from 0, cosine decay to 0, per step), the
global generator re-seeded per step; label smoothing; random resized crop, flip and brightness/contrast jitter
drawn from (seed, epoch, index) (`KeyedImages` over `EpochSampler`: whole batches per epoch). Validation
top-1/top-5 on the eval view (short-side resize, centre crop) after every epoch. The checkpoint holds the last
epoch's weights.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch import nn
from torch.utils.data import DataLoader

from devias_tk.data.lists import read_class_names
from devias_tk.engine.distributed import SINGLE_PROCESS
from devias_tk.engine.loop import LoopSpec, Position, fit
from devias_tk.engine.optim import Schedule, build_optimizer, param_groups
from devias_tk.engine.runtime import MetricsLog
from devias_tk.engine.sampler import EpochSampler
from devias_tk.errors import DeviasError
from devias_tk.scenes.images import Augment, ImageDataset, KeyedImages, class_names_from_folders, read_image_list
from devias_tk.scenes.inflate import normalise
from devias_tk.scenes.model import build_image_model, default_normalisation, save_checkpoint
from devias_tk.scenes.preprocess import DEFAULT_CROP_PCT, resize_size_for
from devias_tk.utils.device import resolve_device


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


def static_clips(images: torch.Tensor, frames: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, frames, H, W): each image repeated along time (a view, no copy)."""
    return images.unsqueeze(2).expand(-1, -1, frames, -1, -1)


@torch.inference_mode()
def evaluate_images(module: nn.Module, loader: DataLoader, mean, std, device: torch.device,
                    frames: int | None = None, autocast: bool = False,
                    dtype: torch.dtype = torch.bfloat16) -> tuple[float, float]:
    """Top-1 and top-5 accuracy (percent) of `module` over a loader of (uint8 images, labels).

    `frames`: `module` is a clip model, given each image as a static clip of that many frames. `dtype`: the
    autocast dtype when `autocast`."""
    module.eval()
    top1 = top5 = seen = 0
    for images, labels in loader:
        x = normalise(images.to(device), mean, std)
        if frames is not None:
            x = static_clips(x, frames)
        with torch.autocast(device.type, dtype=dtype, enabled=autocast):
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

    batch = min(config.batch, len(train_entries))  # a list shorter than a batch trains as one batch per epoch
    sampler = EpochSampler(len(train_entries), batch, config.seed)
    workers = max(0, jobs)
    loader_kw = {"num_workers": workers, "persistent_workers": workers > 0, "pin_memory": dev.type == "cuda"}
    train_loader = DataLoader(KeyedImages(root, train_entries, config.input_size, config.augment, config.seed),
                              batch_size=batch, sampler=sampler, **loader_kw)
    val_loader = (DataLoader(ImageDataset(root, val_entries, config.input_size, resize), batch_size=config.batch,
                             **loader_kw) if val_entries else None)
    # timm's no-weight-decay names (position embedding, class token) beside the 1-D parameters
    no_decay = set(getattr(module, "no_weight_decay", lambda: set())())
    optimizer = build_optimizer(param_groups(module, config.weight_decay, 1.0, 1.0, no_decay), (0.9, 0.999))
    schedule = Schedule(config.epochs, sampler.batches_per_epoch, 1, config.lr, 0.0, config.warmup_epochs,
                        total_batch=batch)
    epochs = _EpochRecords(module, optimizer, val_loader, mean, std, dev, config.epochs, log)
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)

    def compute(net: nn.Module, batch: Mapping[str, Any], _step: int) -> tuple[torch.Tensor, dict]:
        labels = batch["label"]
        logits = net(normalise(batch["image"], mean, std))
        loss = criterion(logits.float(), labels)
        epochs.take(loss, logits, labels)
        return loss, {}

    spec = LoopSpec(seed=config.seed, autocast=dev.type == "cuda", log_every=1, save_every=config.epochs,
                    description="scenes train", clips_key="image")
    console = Console(stderr=True, quiet=not show_progress)
    fit(module, optimizer, train_loader, sampler, schedule, spec, Position(), compute, lambda _name, _at: Path(out),
        device=dev, info=SINGLE_PROCESS, metrics=MetricsLog(Path(out).parent, False), console=console,
        after_epoch=epochs.close)
    result = TrainResult(Path(out), names, epochs.records)
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


class _EpochRecords:
    """Per epoch: the mean training loss and top-1 of its steps, the last lr, validation top-1 / top-5, seconds."""

    def __init__(self, module: nn.Module, optimizer: torch.optim.Optimizer, val_loader: DataLoader | None,
                 mean: tuple[float, ...], std: tuple[float, ...], device: torch.device, epochs: int,
                 log: Callable[[str], None]) -> None:
        self.module, self.optimizer, self.val_loader, self.mean, self.std = module, optimizer, val_loader, mean, std
        self.device, self.epochs, self.log = device, epochs, log
        self.records: list[dict] = []
        self._reset()

    def _reset(self) -> None:
        self.loss_sum, self.correct, self.seen, self.started = 0.0, 0, 0, time.perf_counter()

    def take(self, loss: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> None:
        self.loss_sum += loss.item() * len(labels)
        self.correct += int((logits.argmax(1) == labels).sum().item())
        self.seen += len(labels)

    def close(self, epoch: int) -> None:
        record = {"epoch": epoch, "loss": self.loss_sum / max(1, self.seen),
                  "train_top1": 100.0 * self.correct / max(1, self.seen), "lr": self.optimizer.param_groups[0]["lr"],
                  "seconds": time.perf_counter() - self.started}
        if self.val_loader is not None:
            record["val_top1"], record["val_top5"] = evaluate_images(self.module, self.val_loader, self.mean,
                                                                     self.std, self.device)
        self.records.append(record)
        self.log(f"epoch {epoch}/{self.epochs}: loss {record['loss']:.3f}, train top-1 {record['train_top1']:.1f}%"
                 + (f", val top-1 {record['val_top1']:.1f}% top-5 {record['val_top5']:.1f}%" if self.val_loader
                    else "") + f", {record['seconds']:.1f} s")
        self._reset()
