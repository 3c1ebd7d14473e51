"""Learnability probe: can a model learn the benchmark's actions from the actor, on a fixed step budget?

Decodes the first 64 frames of every video of a synthetic benchmark into memory once (cached as an .npz
beside the benchmark), samples `--frames` x `--stride` windows from them (random start in training, centred
in testing), trains Naive Action with the toolkit's model code in a plain loop (random resized crop and
flip, AdamW, linear warm-up then cosine decay) and prints top-1 on the first 100 videos of each split,
centre view. It is a research tool (docs/measured.md, "Learnability"), not the training stage: no masks,
no scene targets, no checkpoints.

    python benchmarks/learnability_probe.py data/synthetic-unbiased --cfg '{"stem": "conv3d"}' --size 64 --steps 800
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from devias_tk.data.lists import read_list, resolve
from devias_tk.data.video import Video
from devias_tk.models.factory import build_model

SPLITS = ("train", "test", "scuba-places", "scuba-stylized", "scuba-sinusoid", "hat-random", "hat-close", "hat-far")
UNSEEN = SPLITS[2:]
SPAN = 64  # frames decoded per video
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1, 1)


def decode(root: Path, cache: Path) -> dict[str, np.ndarray]:
    if cache.is_file():
        return dict(np.load(cache))
    print(f"decoding {root} into {cache} (once)", flush=True)
    data = {}
    for split in SPLITS:
        entries = read_list(root / "lists" / f"{split}.txt")
        clips = []
        for e in entries:
            video = Video(resolve(root, e))
            clips.append(video.frames(np.clip(np.arange(SPAN), 0, len(video) - 1)))
        data[f"{split}_x"], data[f"{split}_a"] = np.stack(clips), np.array([e.action for e in entries])
    np.savez(cache, **data)
    return data


def to_tensor(x: np.ndarray, starts: np.ndarray, frames: int, stride: int) -> torch.Tensor:
    """(B, SPAN, H, W, 3) uint8 -> normalised (B, 3, frames, H, W), window b starting at starts[b]."""
    idx = starts[:, None] + np.arange(frames)[None] * stride
    t = torch.from_numpy(x[np.arange(len(x))[:, None], idx]).permute(0, 4, 1, 2, 3).float() / 255
    return (t - MEAN) / STD


def random_crops(x: torch.Tensor, size: int, scale: float, rng: np.random.Generator) -> torch.Tensor:
    b, c, t, h, w = x.shape
    thetas = []
    for _ in range(b):
        area, ratio = rng.uniform(scale, 1.0), math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        cw, ch = min(1.0, math.sqrt(area * ratio) * h / w), min(1.0, math.sqrt(area / ratio))
        cx, cy = rng.uniform(-(1 - cw), 1 - cw), rng.uniform(-(1 - ch), 1 - ch)
        flip = -1 if rng.random() < 0.5 else 1
        thetas.append([[cw * flip, 0, cx], [0, ch, cy]])
    grid = F.affine_grid(torch.tensor(thetas, dtype=torch.float32), (b, c * t, size, size), align_corners=False)
    return F.grid_sample(x.reshape(b, c * t, h, w), grid, align_corners=False).view(b, c, t, size, size)


def centre(x: torch.Tensor, size: int) -> torch.Tensor:
    b, c, t, h, w = x.shape
    s = min(h, w)
    x = x[..., (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s].reshape(b, c * t, s, s)
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False).view(
        b, c, t, size, size)


class PlainCnn3d(torch.nn.Module):
    """Reference point, not a toolkit model: three 3x3x3 conv blocks (32-64-128) with max-pooling."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        layers, prev = [], 3
        for c in (32, 64, 128):
            layers += [torch.nn.Conv3d(prev, c, 3, padding=1, bias=False), torch.nn.BatchNorm3d(c),
                       torch.nn.ReLU(inplace=True), torch.nn.MaxPool3d((1, 2, 2))]
            prev = c
        self.features, self.fc = torch.nn.Sequential(*layers), torch.nn.Linear(prev, num_classes)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"action_logits": self.fc(self.features(x).mean((2, 3, 4)))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("root", type=Path, help="Benchmark root (devias-tk data synth).")
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--stride", type=int, default=8, help="Frame stride; frames x stride <= 64.")
    p.add_argument("--scale", type=float, default=0.35, help="Smallest crop area.")
    p.add_argument("--cfg", default="{}", help="Model options as JSON (e.g. {\"stem\": \"conv3d\"}).")
    p.add_argument("--cnn", action="store_true", help="Train the plain 3D CNN reference instead of the toolkit model.")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    data = decode(a.root, a.root.with_name(a.root.name + "-probe64.npz"))
    span = (a.frames - 1) * a.stride + 1
    if span > SPAN:
        p.error(f"{a.frames} frames x stride {a.stride} exceed the {SPAN} decoded frames")
    options = dict(size="tiny", depth=4, drop_path=0.1, frames=a.frames, img_size=a.size, **json.loads(a.cfg))
    num_actions = int(data["train_a"].max()) + 1
    model = PlainCnn3d(num_actions) if a.cnn else build_model("naive-action", num_actions=num_actions, num_scenes=10,
                                                               **options)
    groups = [{"params": [q for q in model.parameters() if q.ndim > 1], "weight_decay": 0.05},
              {"params": [q for q in model.parameters() if q.ndim <= 1], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=a.lr)
    x_train, y_train = data["train_x"], torch.from_numpy(data["train_a"])
    warm, losses, start = max(1, a.steps // 8), [], time.time()
    for i in range(a.steps):
        lr = a.lr * (i + 1) / warm if i < warm else a.lr * 0.5 * (1 + math.cos(math.pi * (i - warm) / (a.steps - warm)))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = rng.integers(0, len(x_train), a.batch)
        starts = rng.integers(0, SPAN - span + 1, len(idx))
        clips = random_crops(to_tensor(x_train[idx], starts, a.frames, a.stride), a.size, a.scale, rng)
        loss = F.cross_entropy(model(clips)["action_logits"], y_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    seconds = time.time() - start
    model.eval()
    top1 = {}
    with torch.no_grad():
        for split in SPLITS:
            x, y = data[f"{split}_x"][:100], data[f"{split}_a"][:100]
            starts = np.full(len(x), (SPAN - span) // 2)  # the centred window
            clips = centre(to_tensor(x, starts, a.frames, a.stride), a.size)
            pred = torch.cat([model(c)["action_logits"].argmax(1) for c in clips.split(20)]).numpy()
            top1[split] = round(100 * float((pred == y).mean()), 1)
    print(json.dumps({"cfg": "plain-cnn" if a.cnn else json.loads(a.cfg), "scale": a.scale,
                      "steps": a.steps, "lr": a.lr, "size": a.size, "frames": a.frames,
                      "stride": a.stride, "batch": a.batch,
                      "loss_first": float(np.mean(losses[:10])), "loss_last": float(np.mean(losses[-10:])),
                      "top1": top1, "unseen_mean": round(float(np.mean([top1[s] for s in UNSEEN])), 1),
                      "seconds": round(seconds)}))


if __name__ == "__main__":
    main()
