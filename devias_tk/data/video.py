"""Opening videos: files (decord or PyAV), frame folders and HAT swap composites, behind one `Video(path)`.

Every failure is a VideoReadError naming the path with a short, stable reason. Frames come back
as uint8 RGB arrays of shape (T, H, W, 3). Which library decodes files is one process-wide choice,
`set_decoder` / the DEVIAS_DECODER environment variable (auto: PyAV when installed, else decord).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

# OpenCV before decord, always: decord's wheel bundles zlib 1.2.3, and when it loads first OpenCV's
# libpng binds to it and fails on every PNG ("libpng error: bad parameters to zlib"); HAT's person
# masks and PNG frame folders are read with OpenCV in the same process.
import cv2  # noqa: F401
import numpy as np

from devias_tk.data import frame_folder, pyav_source, swap_video
from devias_tk.data.pyav_source import PyAVSource, header_frames, open_error
from devias_tk.data.video_source import DECODERS, VideoInfo, VideoSource, check_file, decoder_reason, read_unique
from devias_tk.errors import DeviasError, VideoReadError

__all__ = ["DECODERS", "DECODER_ENV", "Video", "VideoInfo", "VideoSource", "check_file", "decoder", "open_source",
           "read_frames", "read_unique", "set_decoder", "use_decoder", "video_info"]

DECODER_ENV = "DEVIAS_DECODER"

try:  # decord has wheels for x86_64 only; without it files are decoded by PyAV
    import decord

    decord.logging.set_level(decord.logging.QUIET)
except ImportError:  # pragma: no cover - reported when a video is opened
    decord = None


class _DecordSource:
    """A video file decoded by decord."""

    def __init__(self, path: Path, num_threads: int) -> None:
        self.path = check_file(path)
        if decord is None:
            raise VideoReadError(str(path), "decord is not installed (pip install decord, or use the pyav decoder)")
        try:
            self._reader = decord.VideoReader(str(self.path), ctx=decord.cpu(0), num_threads=num_threads)
        except Exception as exc:  # decord raises its own DECORDError and RuntimeError
            reason = decoder_reason(exc, self.path)
            if reason.startswith("Error reading"):  # all decord says; FFmpeg's own words are in its log only
                reason = "; ".join(filter(None, [reason, open_error(self.path)]))
            raise VideoReadError(str(path), f"not a decodable video ({reason})") from None
        num_frames = len(self._reader)
        if num_frames <= 0:
            raise VideoReadError(str(path), "video has no frames")
        try:
            height, width = self._reader[0].shape[:2]
        except Exception as exc:
            reason = f"cannot decode the first frame ({decoder_reason(exc, self.path)})"
            raise VideoReadError(str(path), reason) from None
        self._reader.seek(0)
        # decord counts the packets it finds and exposes no header count: PyAV reads the header
        self.info = VideoInfo(num_frames, float(self._reader.get_avg_fps()), int(height), int(width),
                              *header_frames(self.path))

    def key_indices(self) -> np.ndarray:
        """Indices of the key frames (where decoding can start)."""
        return np.asarray(self._reader.get_key_indices(), np.int64)

    def read(self, indices: np.ndarray) -> np.ndarray:
        return read_unique(indices, self._read_sorted)

    def _read_sorted(self, unique: np.ndarray) -> np.ndarray:
        try:
            batch = self._reader.get_batch(unique.tolist()).asnumpy()
        except Exception as exc:
            raise VideoReadError(
                str(self.path), f"truncated or corrupt: decoding frames failed ({decoder_reason(exc, self.path)})"
            ) from None
        finally:
            # decord grows memory across get_batch calls unless it is rewound.
            self._reader.seek(0)
        if batch.shape[0] != unique.size:
            raise VideoReadError(str(self.path), f"decoder returned {batch.shape[0]} of {unique.size} frames")
        return batch


def set_decoder(name: str) -> None:
    """Choose the file decoder for this process and the worker processes it starts (auto | decord | pyav).

    Kept in the environment rather than a module global so joblib and DataLoader workers, spawned or
    forked, inherit it."""
    if name not in DECODERS:
        raise DeviasError(f"decoder must be one of {', '.join(DECODERS)} (got {name!r})")
    os.environ[DECODER_ENV] = name


def use_decoder(name: str | None) -> None:
    """A recipe's data.decoder: set when given, else the process keeps its choice (--decoder, DEVIAS_DECODER)."""
    if name is not None:
        set_decoder(name)


def decoder() -> str:
    """The decoder files are opened with now: 'decord' or 'pyav' (auto resolved)."""
    name = os.environ.get(DECODER_ENV, "auto") or "auto"
    if name not in DECODERS:
        raise DeviasError(f"{DECODER_ENV} must be one of {', '.join(DECODERS)} (got {name!r})")
    if name == "auto":
        # PyAV first: decord's seeking returns other frames than the ones asked for on MPEG-4 AVIs with packed
        # B-frames (docs/loader.md#decoders), and PyAV measured as fast or faster per core
        return "pyav" if pyav_source.av is not None else "decord"
    return name


def open_source(path: Path, num_threads: int = 1) -> VideoSource:
    """Pick the reader for what `path` is: a folder of frames, a swap description (.json), or a video file."""
    if not path.exists():
        raise VideoReadError(str(path), "file not found")
    if path.is_dir():
        return frame_folder.FrameFolder(path)
    if path.suffix.lower() == ".json":
        return swap_video.open_description(path)
    if decoder() == "pyav":
        return PyAVSource(path, num_threads)
    return _DecordSource(path, num_threads)


class Video:
    """An opened video; `frames(indices)` decodes (indices in any order, repeats allowed).

    `path` may be a video file (decord or PyAV, see `set_decoder`), a folder of numbered frame images
    (devias_tk.data.frame_folder), or a HAT Action-Swap description written by
    `devias-tk data lists hat` (devias_tk.data.swap_video), composited at read time.
    """

    def __init__(self, path: str | os.PathLike, num_threads: int = 1) -> None:
        self.path = Path(path)
        self._source = open_source(self.path, num_threads)
        self.info: VideoInfo = self._source.info

    def __len__(self) -> int:
        return self.info.num_frames

    def frames(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Decode the given frame indices into a (T, H, W, 3) uint8 RGB array."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size == 0:
            return np.zeros((0, self.info.height, self.info.width, 3), np.uint8)
        if idx.min() < 0 or idx.max() >= self.info.num_frames:
            raise VideoReadError(
                str(self.path), f"frame index out of range [0, {self.info.num_frames}): {idx.min()}..{idx.max()}"
            )
        return self._source.read(idx)


def video_info(path: str | os.PathLike) -> VideoInfo:
    """Frame count, frame rate and size, read from the container and the first frame."""
    return Video(path).info


def read_frames(path: str | os.PathLike, indices: Sequence[int] | np.ndarray) -> np.ndarray:
    """Open a video and decode the given frames (T, H, W, 3) uint8 RGB."""
    return Video(path).frames(indices)
