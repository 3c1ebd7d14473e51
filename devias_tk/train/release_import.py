"""`devias-tk import`: the authors' trained DEVIAS checkpoint as a toolkit run directory.

The release's slot model is re-keyed onto the toolkit's `DEVIAS` (`devias_tk.models.release`), its
architecture read off the file (ViT width, depth, tubelet and patch; slots, iterations, tied or not,
slot width; mask decoder widths; the unified head's outputs), with `model.*` overrides for what the file
cannot say (the heads of a non-VideoMAE width). The class names come from the user: the head's output
count must equal actions + scenes. Strict by default: every tensor of the model must come from the file
and every tensor of the file must find its place; `strict=False` writes the run anyway, reporting the
rest. The run directory then serves `eval`, `predict`, `features` and `train run.init=` like a trained run:

    RUN/checkpoints/last.pt   the weights in the toolkit's names, with the configuration and class names
    RUN/config.yaml           data settings for evaluation (recipe and overrides) and the model read off the file
    RUN/run.json              the source file, its SHA-256 and the load report
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from devias_tk.cache.store import file_sha256
from devias_tk.data.lists import read_class_names
from devias_tk.engine.checkpoint import save_checkpoint
from devias_tk.engine.distributed import DistInfo
from devias_tk.engine.runtime import write_run_files
from devias_tk.errors import DeviasError
from devias_tk.models import checkpoints as ckpt
from devias_tk.models import release
from devias_tk.models.checkpoints import DEVIAS_RELEASE, LoadReport
from devias_tk.models.factory import build_model, split_config
from devias_tk.train.config import build_config


@dataclass
class Imported:
    run_dir: Path
    report: LoadReport
    model_config: dict[str, Any]
    actions: list[str]
    scenes: list[str]


def release_state(path: str | Path) -> tuple[dict[str, torch.Tensor], str]:
    """(weights, container) of a release checkpoint, or a DeviasError saying what the file holds instead."""
    state, container = ckpt.find_state_dict(ckpt.read_checkpoint(path, "DEVIAS checkpoint"), path)
    state, _ = ckpt.strip_prefix(state, "module.")
    if ckpt.video_vit_format(state) != DEVIAS_RELEASE:
        raise DeviasError(f"{path}: not a DEVIAS release slot model (no agg_block.latents beside a video ViT); the "
                          f"file holds {ckpt.describe_weights(state)}. Weights to start training from go to "
                          "`train run.init=`")
    if "head.fc1.weight" in state:
        raise DeviasError(f"{path}: the file's head is an MLP (head.fc1, head.fc2, the release's head_type 'mlp'); "
                          "the toolkit's DEVIAS has the paper's linear unified head")
    return state, container


def infer_model(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The toolkit `DEVIAS` model keys of a release state dict (see `release.slot_config`)."""
    try:
        config = {"method": "devias", **ckpt.video_vit_config(state), **release.slot_config(state)}
    except (KeyError, ValueError) as exc:
        raise DeviasError(f"cannot read the architecture off the file ({exc}); give it as model.* overrides") from None
    config.pop("num_outputs", None)
    if config["init_values"] is None:
        config.pop("init_values")
    return config


def import_release(path: str | Path, out: str | Path, actions_file: str | Path, scenes_file: str | Path,
                   tree: dict[str, Any] | None = None, strict: bool = True, command: str = "") -> Imported:
    """Write the release checkpoint `path` as a toolkit run directory `out` (see the module docstring).
    `tree`: a recipe tree with overrides (data settings; `model.*` keys win over what the file says)."""
    path, out = Path(path), Path(out)
    if (out / "checkpoints").exists():
        raise DeviasError(f"{out} already holds a run; import into another --out")
    state, container = release_state(path)
    actions, scenes = read_class_names(actions_file), read_class_names(scenes_file)
    outputs = state["head.weight"].shape[0]
    if outputs != len(actions) + len(scenes):
        raise DeviasError(f"{path}: the unified head has {outputs} outputs; {actions_file} names {len(actions)} "
                          f"actions and {scenes_file} {len(scenes)} scenes ({len(actions) + len(scenes)}): give the "
                          "class lists the model was trained with (actions first in the head, then scenes)")
    tree = dict(tree or {})
    tree["model"] = {**infer_model(state), **(tree.get("model") or {})}
    if tree["model"]["method"] != "devias":
        raise DeviasError(f"model.method={tree['model']['method']}: a release slot model imports as devias")
    cfg = build_config(tree)
    model_config, _ = split_config("devias", {k: v for k, v in cfg.model.items() if k != "method"})
    model_config.setdefault("frames", cfg.data.frames)
    model_config.setdefault("img_size", cfg.data.size)
    try:
        model = build_model("devias", num_actions=len(actions), num_scenes=len(scenes), **model_config)
    except (ValueError, TypeError) as exc:
        raise DeviasError(f"model: {exc}") from None
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    mapped = ckpt.map_video_vit(state, DEVIAS_RELEASE, shapes, prefix="backbone.")
    report = ckpt.load_mapped(model, mapped, file=path, fmt=DEVIAS_RELEASE, container=container)
    report.check(strict)
    sha = file_sha256(path)
    save_checkpoint(out / "checkpoints" / "last.pt", {
        "model": model.state_dict(), "epoch": 0, "epoch_batch": 0, "step": 0, "config": cfg.to_dict(),
        "method": "devias", "class_names": {"actions": actions, "scenes": scenes}, "model_config": model_config,
        "imported_from": {"file": str(path), "sha256": sha},
    })
    write_run_files(out, cfg.to_dict(), DistInfo(), torch.device("cpu"), command, method="devias",
                    num_actions=len(actions), num_scenes=len(scenes),
                    imported_from={"file": str(path), "sha256": sha, "format": DEVIAS_RELEASE, "strict": strict,
                                   "load_report": report.to_dict()})
    return Imported(out, report, model_config, actions, scenes)
