"""Scene models for the stage: the model-level loader (`devias_tk.models.scene_model`) with class names
read from a file, and its names re-exported for the stage's modules and users.

The checkpoint format, the published formats and the forward passes are documented in
`devias_tk.models.scene_model`; they live there so that the trainer's online scene targets can use
them without importing a stage.
"""

from __future__ import annotations

import os

import torch

from devias_tk.data.lists import read_class_names
from devias_tk.models import scene_model as _models
from devias_tk.models.scene_model import (  # noqa: F401  (re-exported)
    FORMAT,
    IMAGENET_MEAN,
    IMAGENET_STD,
    SceneModel,
    build_image_model,
    default_normalisation,
    save_checkpoint,
)


def load_scene_model(
    path: str | os.PathLike, device: str | torch.device = "cpu", *, classes: str | os.PathLike | None = None,
    arch: str | None = None, input_size: int | None = None, strict: bool = False,
) -> SceneModel:
    """Load a scene model from any supported format, class names (where the file has none) from `classes`,
    a '<index> <name>' or Places365 '<name> <index>' file; see `devias_tk.models.scene_model.load_scene_model`."""
    names = read_class_names(classes) if classes is not None else None
    return _models.load_scene_model(path, device, class_names=names, classes_from=str(classes), arch=arch,
                                    input_size=input_size, strict=strict)
