"""A trained run from Python in three lines:

    from devias_tk.api import load_run
    run = load_run("runs/devias")
    run.predict("clip.mp4").action, run.features("clip.mp4")["action"]

`predict` is `devias-tk predict`'s computation (same views, same numbers) and `features` is `devias-tk
features`' (the arrays its store keeps per video). Importing this module is cheap: torch and the model code
load in `load_run`.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devias_tk.errors import DeviasError, VideoReadError

if TYPE_CHECKING:
    import numpy as np

    from devias_tk.evaluate.inputs import InputVideo
    from devias_tk.evaluate.predict import RunModel

Ranked = list[tuple[str, float]]


@dataclass(frozen=True)
class Prediction:
    """One video's prediction: top-1 action and scene with their probabilities (None: the model has no such
    head), the `top` most probable classes of each, most probable first, and `warning` when the video is
    only partly decodable."""

    video: str
    action: str | None
    action_prob: float | None
    scene: str | None
    scene_prob: float | None
    top_actions: Ranked | None
    top_scenes: Ranked | None
    warning: str | None = None  # set for a partly decodable video: scored from the frames that decode


class Run:
    """A loaded run (`load_run`): its model on a device, class names and checkpoint."""

    def __init__(self, model: RunModel, device: Any) -> None:
        self.model = model
        self.device = device

    @property
    def method(self) -> str:
        return self.model.method

    @property
    def actions(self) -> list[str]:
        return self.model.actions

    @property
    def scenes(self) -> list[str]:
        return self.model.scenes

    @property
    def checkpoint(self) -> Path:
        return self.model.checkpoint

    def __repr__(self) -> str:
        return f"Run({self.method}, {self.checkpoint}, {len(self.actions)} actions, {len(self.scenes)} scenes)"

    def _video(self, video: str | os.PathLike) -> InputVideo:
        from devias_tk.evaluate.inputs import expand_inputs

        expanded = expand_inputs([video])
        if expanded.failed:
            name, why = next(iter(expanded.failed.items()))
            raise VideoReadError(name, why)
        if len(expanded.videos) != 1:
            raise DeviasError(f"{video}: {len(expanded.videos)} videos in this folder; give one video file or "
                              "frame folder (devias-tk predict takes folders and lists)")
        return expanded.videos[0]

    def predict(self, video: str | os.PathLike, views: str = "2x3", top: int = 5) -> Prediction:
        """Action and scene of one video (a file or a frame folder), softmax averaged over `views` (temporal
        clips x spatial crops), as `devias-tk predict --views VIEWS --top TOP` prints it."""
        from devias_tk.evaluate import videos as stage
        from devias_tk.evaluate.suite import parse_views

        result = stage.predict_videos(self.model, [self._video(video)], parse_views(views), self.device, top,
                                      batch=1, workers=0, show_progress=False)[0]
        if result.error is not None:
            raise VideoReadError(str(video), result.error)
        return Prediction(str(video), *(result.action[0] if result.action else (None, None)),
                          *(result.scene[0] if result.scene else (None, None)), result.action, result.scene,
                          result.warning)

    def features(self, video: str | os.PathLike, views: str = "1x1", per_clip: bool = False) -> dict[str, np.ndarray]:
        """One video's arrays as `devias-tk features --views VIEWS [--per-clip]` stores them: `action` and `scene`
        (D,) features (the view average; DEVIAS: the action and scene slots), `action_probs` / `scene_probs`, and
        with `per_clip` every view's features (and DEVIAS's slots). A method without a branch lacks its keys."""
        from devias_tk.data.dataset import ClipDataset
        from devias_tk.evaluate.features import batch_arrays
        from devias_tk.evaluate.suite import parse_views
        from devias_tk.evaluate.videos import clip_spec

        pair = parse_views(views)
        dataset = ClipDataset(Path("."), [self._video(video).entry], clip_spec(self.model, pair), train=False)
        item = dataset[0]
        if item["warning"]:  # arrays have no room for a note: Python's warning machinery carries it
            warnings.warn(f"{video}: {item['warning']}", UserWarning, stacklevel=2)
        clips = item["clip"][None]  # (1, V, C, T, H, W)
        return batch_arrays(self.model, clips, pair[0] * pair[1], per_clip, self.device)[0]


def load_run(path: str | os.PathLike, checkpoint: str = "auto", device: str = "auto") -> Run:
    """A run directory (from `devias-tk train`, or `devias-tk import`) ready to predict: `checkpoint` auto
    (best.pt, else last.pt), best, last or a file name in RUN/checkpoints; `device` auto, cpu or cuda."""
    from devias_tk.evaluate.predict import load_run as load_model
    from devias_tk.utils.device import resolve_device

    dev = resolve_device(device)
    return Run(load_model(path, checkpoint, dev), dev)
