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
from devias_tk.utils.words import reason_line

# File decoders a process can be set to (devias_tk.data.video.set_decoder); auto: PyAV when installed, else decord
DECODERS = ("auto", "decord", "pyav")


@dataclass(frozen=True)
class VideoInfo:
    num_frames: int  # the frames the source found and can decode (what indices range over)
    fps: float
    height: int
    width: int
    # What the container's header says it holds (None: no header, as for frame folders); more than
    # num_frames when the file is truncated or its tail is damaged
    declared_frames: int | None = None
    # False when declared_frames is estimated from the stream's duration and rate, not counted in the header
    declared_exact: bool = True

    @property
    def short_read(self) -> bool:
        """Fewer frames found than the header declares: the video is partly decodable."""
        if self.declared_frames is None:
            return False
        # an estimate from duration x rate is off by rounding (and a frame or two of timestamp slack)
        slack = 0 if self.declared_exact else max(2, round(0.02 * self.declared_frames))
        return self.num_frames < self.declared_frames - slack

    @property
    def warning(self) -> str:
        """'' for a whole video, else the one line every stage records for a partly decodable one."""
        if not self.short_read:
            return ""
        about = "" if self.declared_exact else "about "
        return f"partly decodable: decoded {self.num_frames} of {about}{self.declared_frames} declared frames"


    def read_note(self, padded: bool = False) -> str:
        """`warning`, adding when the stage padded a clip out past the frames left (`padded`): what a stage
        records for the video ('' for a whole one)."""
        if not self.short_read:
            return ""
        return self.warning + ("; clips padded past the last decoded frame" if padded else "")


# dmlc's C++ backtrace, which decord appends to its errors: where decord failed, not why
_BACKTRACE = re.compile(r"\s*Stack trace returned.*", re.S)
_DECORD_PREFIX = re.compile(r"\[[0-9:]+\]\s*\S+:\d+:\s*")  # decord's "[hh:mm:ss] file.cc:NN:" line prefix


def decoder_reason(exc: BaseException, path: str | os.PathLike | None = None) -> str:
    """A decoder error's whole message on one line (reason_line), without decord's timestamps and backtrace
    and with the file's path shown as <file> (the error names the path already)."""
    text = _DECORD_PREFIX.sub("", _BACKTRACE.sub("", str(exc))).strip()
    if path is not None:
        text = text.replace(str(path), "<file>")
    return reason_line(text) or type(exc).__name__


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
