"""Writing frames as a real, decord-readable video file (MPEG-4 Part 2 in AVI, like UCF-101's XviD)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import numpy as np

from devias_tk.errors import DeviasError
from devias_tk.utils.atomic import atomic_path

FOURCC_BY_SUFFIX = {".avi": "XVID", ".mp4": "mp4v"}


def write_video(path: str | os.PathLike, frames_rgb: np.ndarray, fps: float) -> None:
    """Encode (T, H, W, 3) uint8 RGB frames to `path` atomically (.avi: MPEG-4/XviD, .mp4: mp4v)."""
    write_video_blocks(path, [frames_rgb], fps, frames_rgb.shape[1:3])


def write_video_blocks(path: str | os.PathLike, blocks: Iterable[np.ndarray], fps: float, size: tuple[int, int],
                       check: Callable[[Path], None] | None = None) -> None:
    """Encode blocks of (t, H, W, 3) uint8 RGB frames, `size` = (H, W), to `path` atomically; `check(tmp)`, when
    given, runs on the finished file before it is renamed into place (raise to leave `path` untouched)."""
    path = Path(path)
    fourcc = FOURCC_BY_SUFFIX.get(path.suffix.lower())
    if fourcc is None:
        raise DeviasError(f"{path}: cannot write '{path.suffix}' videos (use .avi or .mp4)")
    height, width = size
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*fourcc), float(fps), (width, height))
        if not writer.isOpened():
            raise DeviasError(f"{path}: OpenCV could not open a {fourcc} video writer")
        try:
            for frames_rgb in blocks:
                for frame in frames_rgb:
                    writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
        finally:
            writer.release()
        if check is not None:
            check(tmp)
