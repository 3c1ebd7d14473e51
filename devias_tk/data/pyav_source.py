"""A video file decoded by PyAV (FFmpeg bundled in its wheels): the decoder where decord has no wheel.

Same contract as the decord source: VideoReadError with short stable reasons, uint8 RGB (T, H, W, 3), any
index order. Opening demuxes the file's packets once (no decoding) to learn the frame count, each frame's
timestamp and the key frames, as decord does; reads then seek to the key frame at or before each wanted
frame and decode forward, so a clip costs its own span plus the distance back to a key frame.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from devias_tk.data.video_source import VideoInfo, check_file, decoder_reason, read_unique
from devias_tk.errors import VideoReadError

try:
    import av
except ImportError:  # pragma: no cover - reported when a video is opened
    av = None


def _reason(exc: BaseException, path: Path) -> str:
    """FFmpeg's own words ("Invalid data found when processing input"), without PyAV's errno and path."""
    return str(getattr(exc, "strerror", None) or decoder_reason(exc, path))


def declared_frames(stream: av.video.stream.VideoStream) -> tuple[int | None, bool]:
    """(frames, exact) the container's header declares for `stream`: its frame count when the header has one,
    else duration x rate (an estimate, exact False); (None, True) when it says neither."""
    if stream.frames:
        return int(stream.frames), True
    rate = stream.average_rate or stream.guessed_rate
    if stream.duration and stream.time_base and rate:
        return int(round(float(stream.duration * stream.time_base * rate))), False
    return None, True


def open_error(path: Path) -> str | None:
    """FFmpeg's reason for refusing to open `path` ("Invalid data found when processing input"), None when it
    opens or PyAV is not installed: the words decord's own error ("Error reading <file>...") leaves out."""
    if av is None:
        return None
    try:
        av.open(str(path)).close()
    except Exception as exc:
        return _reason(exc, path)
    return None


def header_frames(path: Path) -> tuple[int | None, bool]:
    """`declared_frames` of a file's first video stream, from its header alone (no packet is read): what
    sources that cannot see the header themselves (decord) compare their count with. (None, True) when PyAV is
    not installed or cannot open the file."""
    if av is None:
        return None, True
    try:
        with av.open(str(path)) as container:
            return declared_frames(container.streams.video[0]) if container.streams.video else (None, True)
    except Exception:  # the source opened it, so the count is just not known
        return None, True


class PyAVSource:
    """A video file decoded by PyAV; frame i is the i-th in display order, as decord and OpenCV count."""

    def __init__(self, path: Path, num_threads: int = 1) -> None:
        self.path = check_file(path)
        if av is None:
            raise VideoReadError(str(path), "PyAV is not installed (pip install av)")
        try:
            self._container = av.open(str(self.path))
        except Exception as exc:  # av.error.InvalidDataError and kin, or an OSError
            raise VideoReadError(str(path), f"not a decodable video ({_reason(exc, self.path)})") from None
        if not self._container.streams.video:
            raise VideoReadError(str(path), "not a decodable video (no video stream)")
        self._stream = stream = self._container.streams.video[0]
        # PyAV's default (0) lets FFmpeg take every core for slice threads; a loader worker is one core
        stream.codec_context.thread_count = max(1, num_threads)
        if num_threads > 1:
            stream.codec_context.thread_type = "AUTO"
        self._index_packets()
        if self._pts.size == 0:
            raise VideoReadError(str(path), "not a decodable video (no frames in the container)")
        self._iter: Iterator[tuple[int, av.VideoFrame]] | None = None
        self._next = 0  # the index the open decoding iterator yields next
        self._prev: tuple[int, object] | None = None  # the last frame decoded (index, av frame)
        try:
            first = self.read(np.zeros(1, np.int64))[0]
        except VideoReadError as exc:
            raise VideoReadError(str(path), f"cannot decode the first frame ({exc.reason})") from None
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self.info = VideoInfo(int(self._pts.size), float(rate) if rate else 0.0, *first.shape[:2],
                              *declared_frames(stream))

    def _index_packets(self) -> None:
        """Timestamps and key flags of every packet, without decoding; a damaged tail ends the scan."""
        pts, dts, keys = [], [], []
        try:
            for packet in self._container.demux(self._stream):
                stamp = packet.pts if packet.pts is not None else packet.dts
                if stamp is None:  # the end-of-stream flush packet
                    continue
                pts.append(stamp)
                dts.append(packet.dts if packet.dts is not None else stamp)
                keys.append(packet.is_keyframe)
        except Exception:  # av.error.* on a truncated or corrupt file: keep the packets before it
            pass
        order = np.argsort(np.asarray(pts, np.int64), kind="stable")
        self._pts = np.asarray(pts, np.int64)[order]
        # Seeks go by decoding timestamps (what AVI and MP4 indexes hold); with B-frames they differ from pts
        self._dts = np.asarray(dts, np.int64)[order]
        self._index_of = {int(p): i for i, p in enumerate(self._pts)}
        keyframes = np.flatnonzero(np.asarray(keys, bool)[order]) if keys else np.zeros(0, np.int64)
        # A file whose first packet is not flagged key still starts decoding at its first frame.
        self._keys = keyframes if keyframes.size and keyframes[0] == 0 else np.r_[0, keyframes].astype(np.int64)

    def key_indices(self) -> np.ndarray:
        """Indices of the key frames (where decoding can start)."""
        return self._keys.copy()

    def read(self, indices: np.ndarray) -> np.ndarray:
        return read_unique(indices, self._read_sorted)

    def _key_before(self, index: int) -> int:
        return int(self._keys[np.searchsorted(self._keys, index, side="right") - 1])

    def _seek(self, key: int) -> None:
        try:
            self._container.seek(int(self._dts[key]), stream=self._stream, backward=True, any_frame=False)
        except Exception as exc:
            reason = f"truncated or corrupt: seeking failed ({_reason(exc, self.path)})"
            raise VideoReadError(str(self.path), reason) from None
        self._iter, self._next, self._prev = self._decoded(key), key, None

    def _decoded(self, start: int) -> Iterator[tuple[int, av.VideoFrame]]:
        """(index, frame) from the key frame sought to (`start`). The decoder hands frames out in display
        order, so after the first (placed by its timestamp) they are counted: frames' own timestamps are not
        trusted, as AVIs with packed B-frames (DivX, XviD) label them out of order."""
        count = None
        try:
            for packet in self._container.demux(self._stream):
                try:
                    frames = packet.decode()
                except Exception:  # a damaged packet: its frame goes missing, the next ones may still decode
                    count = None if count is None else count + 1
                    continue
                for frame in frames:
                    if count is None:
                        count = self._index_of.get(frame.pts, start) if frame.pts is not None else start
                    yield count, frame
                    count += 1
        except Exception:  # a demuxing error ends the stream like its end would
            return

    def _read_sorted(self, unique: np.ndarray) -> np.ndarray:
        out: list[np.ndarray] = []
        for target in unique.tolist():
            key = self._key_before(target)
            # Decoding on is cheaper than a seek unless a key frame lies between here and the target.
            if self._iter is None or target < self._next or key > self._next:
                self._seek(key)
            try:
                out.append(self._advance_to(target))
            except VideoReadError:
                if key == 0:
                    raise
                # A seek that landed past the target (a damaged or odd index): once more from the start.
                self._seek(0)
                out.append(self._advance_to(target))
        return np.stack(out)

    def _advance_to(self, target: int) -> np.ndarray:
        assert self._iter is not None
        for index, frame in self._iter:
            self._next = index + 1
            if index == target:
                self._prev = (index, frame)
                return frame.to_ndarray(format="rgb24")
            if index > target:
                break  # the decoder skipped past the target: the frame is damaged
            self._prev = (index, frame)
        self._iter = None
        # decord's behaviour on a file cut inside its last frame: that frame repeats the one before it.
        if target == self._pts.size - 1 and self._prev is not None and self._prev[0] == target - 1:
            return self._prev[1].to_ndarray(format="rgb24")
        raise VideoReadError(str(self.path), f"truncated or corrupt: frame {target} could not be decoded")
