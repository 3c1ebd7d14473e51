"""What every video source builds on: its info record, the reader protocol, and shared helpers.

The sources (decord files in devias_tk.data.video, frame folders, HAT swap composites) import this
module; `devias_tk.data.video` picks among them. Keeping the shared parts here is what lets the
sources and the picker import each other in one direction only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from devias_tk.errors import VideoReadError

# File decoders a process can be set to (devias_tk.data.video.set_decoder); auto: decord when installed, else PyAV
DECODERS = ("auto", "decord", "pyav")


@dataclass(frozen=True)
class VideoInfo:
    num_frames: int
    fps: float
    height: int
    width: int


def first_line(exc: BaseException, path: str | os.PathLike | None = None) -> str:
    """A short, path-free, timestamp-free first line of a decoder error message."""
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    line = re.sub(r"^\[[0-9:]+\]\s*\S+:\d+:\s*", "", line)  # decord's "[hh:mm:ss] file.cc:NN:" prefix
    if path is not None:
        line = line.replace(str(path), "<file>")
    return line[:120]


def check_file(path: str | os.PathLike) -> Path:
    """Fail early, with a precise reason, on paths that cannot be a video at all."""
    path = Path(path)
    if not path.exists():
        raise VideoReadError(str(path), "file not found")
    if not path.is_file():
        raise VideoReadError(str(path), "not a regular file")
    if path.stat().st_size == 0:
        raise VideoReadError(str(path), "empty file (0 bytes)")
    return path


class VideoSource(Protocol):
    """What `Video` delegates to: `read` gets in-range 0-based indices in the caller's order."""

    info: VideoInfo

    def read(self, indices: np.ndarray) -> np.ndarray: ...


def read_unique(indices: np.ndarray, read_sorted: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Decode each distinct index once (in ascending order) and expand to the requested order and repeats."""
    unique, inverse = np.unique(indices, return_inverse=True)
    return read_sorted(unique)[inverse]
