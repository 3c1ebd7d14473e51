"""Run directories made without training: a seeded tiny model saved as `devias-tk train` saves it, so the
verbs that read runs (predict, features, finetune) are tested in seconds."""

from __future__ import annotations

from pathlib import Path

import torch

from devias_tk.data.lists import read_class_names
from devias_tk.engine.checkpoint import save_checkpoint
from devias_tk.models.factory import build_model, split_config
from devias_tk.train.config import build_config

TINY_MODEL = {"size": "tiny", "depth": 1, "embed_dim": 32, "num_heads": 2, "slot_head_dim": 16,
              "amd_hidden": [16, 16], "slot_iters": 2}


def fabricate_run(run_dir: Path, bench: Path, method: str = "devias", seed: int = 0, frames: int = 8,
                  size: int = 32, **model: object) -> Path:
    """RUN/checkpoints/last.pt with a freshly initialised (seeded) `method` on the benchmark's classes."""
    actions = read_class_names(bench / "actions.txt")
    scenes = read_class_names(bench / "scenes.txt")
    cfg = build_config({
        "data": {"root": str(bench), "frames": frames, "stride": 2, "hop": 2, "size": size, "scene_source": "list"},
        "model": {"method": method, **TINY_MODEL, **model}, "run": {"seed": seed},
    })
    model_config, _ = split_config(method, {k: v for k, v in cfg.model.items() if k != "method"})
    model_config.update(frames=frames, img_size=size)
    torch.manual_seed(seed)
    net = build_model(method, num_actions=len(actions), num_scenes=len(scenes), **model_config)
    save_checkpoint(run_dir / "checkpoints" / "last.pt", {
        "model": net.state_dict(), "epoch": 1, "epoch_batch": 0, "step": 1, "config": cfg.to_dict(), "method": method,
        "class_names": {"actions": actions, "scenes": scenes}, "model_config": model_config,
    })
    return run_dir
