"""`scenes export --teacher`: a video scene model written in the DEVIAS release's teacher layout.

The release (and `scenes label --model`, `data.scene_model`) reads a teacher file as a state dict under
``model``: the video ViT's names at the top level (`patch_embed.proj`, `blocks.i.*`, `norm`), `cls_token` and
the scene `head`, with 64-dim attention heads assumed. Such a file stores no class names; they are written
beside it ('<index> <name>', for `--classes`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from devias_tk.data.lists import write_class_names
from devias_tk.errors import DeviasError
from devias_tk.models.scene_model import VIDEO_ARCH, load_scene_model
from devias_tk.models.teacher import VideoSceneTeacher, teacher_state_dict
from devias_tk.scenes.video_train import MODEL_FILE
from devias_tk.utils.atomic import atomic_path

HEAD_DIM = 64  # what a reader of the layout assumes (the file stores no head count)


@dataclass(frozen=True)
class Exported:
    file: Path
    classes: Path
    tensors: int
    source: Path


def model_file(source: str | os.PathLike) -> Path:
    """A `scenes train --video` run directory stands for its RUN/scene_model.pt."""
    source = Path(source)
    return source / MODEL_FILE if source.is_dir() else source


def classes_file(out: Path) -> Path:
    return out.with_name(f"{out.stem}-classes.txt")


def export_teacher(source: str | os.PathLike, out: str | os.PathLike) -> Exported:
    """Write `source` (a video scene model file or its run directory) as {"model": <teacher layout>} to `out`,
    and its class names to OUT-classes.txt."""
    path, out = model_file(source), Path(out)
    model = load_scene_model(path)
    if model.arch != VIDEO_ARCH or not isinstance(model.module, VideoSceneTeacher):
        raise DeviasError(f"{path}: a {model.arch} scene model; only video scene models (`scenes train --video`) "
                          "have the teacher's layout")
    bb = model.module.backbone
    if bb.embed_dim // bb.num_heads != HEAD_DIM:
        raise DeviasError(f"{path}: {bb.num_heads} heads of {bb.embed_dim // bb.num_heads} dims; the teacher layout "
                          f"stores no head count and readers assume {HEAD_DIM}-dim heads")
    state = teacher_state_dict(model.module)
    with atomic_path(out) as tmp:
        torch.save({"model": state}, tmp)
    write_class_names(classes_file(out), model.class_names)
    return Exported(out, classes_file(out), len(state), path)
