"""What eq. 8 makes of training clips: a figure of the scene mix with the masks a store holds.

Loads the first `--clips` videos of a list through the training loader (the demo's clip shape: 8 frames,
stride 8, 64 px, crops of 0.75-1), takes each clip's cached soft mask, keeps its top beta as the hard mask
and mixes every clip of the batch with another (`augment.scene_mix`, every clip mixed). One row per clip:
two frames, the soft mask, the hard mask, the mixed clip's two frames. A research tool for
docs/measured.md ("Why DEVIAS still does not debias here"), not a stage.

    python benchmarks/mix_figure.py data/synthetic data/cache/masks-train.zarr docs/img/mix-fame-v4.jpg
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
import torch

from devias_tk.data.lists import read_list
from devias_tk.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from devias_tk.data.windows import ClipGrid
from devias_tk.train import augment
from devias_tk.train.data import TrainClips, TrainDataSpec


def _to_uint8(clips: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1)
    return ((clips * std + mean).clamp(0, 1) * 255).byte()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="benchmark root (holding lists/)")
    parser.add_argument("mask_store", help="a mask store of the list (masks extract / masks import-gt)")
    parser.add_argument("out", help="image to write (.png or .jpg)")
    parser.add_argument("--list", default="lists/train.txt", help="list, relative to root")
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--beta", type=float, default=0.2, help="share of the frame the hard mask keeps")
    parser.add_argument("--scale", type=float, default=2.0, help="magnification of the written image")
    args = parser.parse_args()

    entries = read_list(f"{args.root}/{args.list}")[: args.clips]
    spec = TrainDataSpec(grid=ClipGrid(8, 8, 8), size=64, scale=(0.75, 1.0), guide_shape=(16, 16),
                         scene_source="list")
    data = TrainClips(args.root, entries, spec, mask_store=args.mask_store, seed=0)
    items = [data[i] for i in range(len(entries))]
    clips = torch.stack([it["clip"] for it in items])
    soft = torch.stack([it["soft_mask"] for it in items]).float()
    hard = augment.top_beta_mask(soft, args.beta)
    mixed = augment.scene_mix(clips, hard, torch.zeros(len(items), dtype=torch.long), 1.0,
                              torch.Generator().manual_seed(0))
    before, after = _to_uint8(clips), _to_uint8(mixed.clips)
    last = clips.shape[2] // 2
    rows = []
    for i in range(len(items)):
        frames = [before[i, :, 0], before[i, :, last], after[i, :, 0], after[i, :, last]]
        f0, f1, m0, m1 = (f.permute(1, 2, 0).numpy() for f in frames)
        soft_rgb = np.repeat(soft[i].numpy()[..., None], 3, -1).clip(0, 255).astype(np.uint8)
        hard_rgb = np.repeat((hard[i].numpy() * 255).astype(np.uint8)[..., None], 3, -1)
        rows.append(np.concatenate([f0, f1, soft_rgb, hard_rgb, m0, m1], 1))
    grid = np.concatenate(rows, 0)
    grid = cv2.resize(grid, None, fx=args.scale, fy=args.scale, interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(args.out, grid[:, :, ::-1])
    print(f"wrote {args.out}: actions {[e.action for e in entries]}, mixed with clips {mixed.perm.tolist()}")


if __name__ == "__main__":
    main()
