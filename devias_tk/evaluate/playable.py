"""Videos people can play: H.264 in MP4 through PyAV, else an animated GIF.

OpenCV's wheels can only write MPEG-4 Part 2 (`mp4v`), which browsers, slide software and most phone
players refuse. PyAV's wheels bundle FFmpeg with an H.264 encoder (libx264 in the PyPI wheels); where no
H.264 encoder opens (a build without one), the overlay becomes a GIF, which every viewer plays.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from devias_tk.utils.atomic import atomic_path

# Tried in order; the hardware ones are listed by FFmpeg builds that cannot open them without the device,
# so each is tried for real rather than trusted from av.codecs_available.
H264_ENCODERS = ("libx264", "libopenh264", "h264_videotoolbox", "h264_mf", "h264_nvenc")


def h264_encoders() -> list[str]:
    """The H.264 encoders this PyAV build names (empty without PyAV)."""
    try:
        import av
    except ImportError:
        return []
    return [name for name in H264_ENCODERS if name in av.codecs_available]


def _encode_h264(path: Path, frames: np.ndarray, fps: float, encoder: str) -> None:
    import av

    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream(encoder, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"  # the only chroma layout every H.264 player decodes
        if encoder == "libx264":
            stream.options = {"crf": "18", "preset": "medium"}  # near-lossless: heat maps keep their edges
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        container.mux(stream.encode())


def _write_gif(path: Path, frames: np.ndarray, fps: float) -> None:
    from PIL import Image

    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)


def write_playable(base: str | os.PathLike, frames: np.ndarray, fps: float) -> Path:
    """(T, H, W, 3) uint8 RGB frames, even sides, to `base`.mp4 (H.264, yuv420p) or, with no H.264 encoder,
    `base`.gif; written atomically. Returns the path written."""
    base = Path(base)
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(f"yuv420p needs even frame sides (got {frames.shape[2]}x{frames.shape[1]})")
    mp4 = base.with_name(base.name + ".mp4")
    for encoder in h264_encoders():
        try:
            with atomic_path(mp4) as tmp:
                _encode_h264(tmp, frames, fps, encoder)
            return mp4
        except Exception:  # av.error.*: listed but unusable here (no device, no licence); try the next
            continue
    gif = base.with_name(base.name + ".gif")
    with atomic_path(gif) as tmp:
        _write_gif(tmp, frames, fps)
    return gif
