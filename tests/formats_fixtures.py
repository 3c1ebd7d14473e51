"""Writers for fabricated dataset fixtures: frame folders, person masks, tiny videos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from conftest import index_frame, write_index_video


def index_frames(n: int, height: int = 48, width: int = 64) -> np.ndarray:
    """(n, H, W, 3) frames whose bars spell their index (see conftest.decode_index)."""
    return np.stack([index_frame(i, height, width) for i in range(n)])


def write_frames(folder: Path, frames_rgb: np.ndarray, template: str = "{:06d}.jpg", start: int = 1) -> Path:
    """Write frames as numbered images (`template` formats the 1-based number)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames_rgb):
        assert cv2.imwrite(str(folder / template.format(i + start)), np.ascontiguousarray(frame[:, :, ::-1]))
    return folder


def write_masks(folder: Path, masks: np.ndarray, template: str = "{:06d}.png") -> Path:
    """Person masks as HAT stores them: PNG, 255 = person, 0 = background."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, mask in enumerate(masks):
        assert cv2.imwrite(str(folder / template.format(i + 1)), np.where(mask, 255, 0).astype(np.uint8))
    return folder


def write_clip(path: Path, num_frames: int = 6) -> Path:
    """A tiny decodable video (.avi or .mp4) whose frames spell their index."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_index_video(path, num_frames)


def read_rgb(path: Path) -> np.ndarray:
    """An image decoded independently of the toolkit (the reference for exact comparisons)."""
    return cv2.imread(str(path), cv2.IMREAD_COLOR)[:, :, ::-1]


def run_cli(*args: str):
    """Invoke `devias-tk` in-process; the result's output holds stdout and stderr."""
    from typer.testing import CliRunner

    from devias_tk.cli import app

    return CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"}).invoke(app, [str(a) for a in args])
