"""Overlays people can play: H.264 (yuv420p) in MP4 through PyAV, a GIF where no H.264 encoder opens."""

from __future__ import annotations

import av
import numpy as np
import pytest
from PIL import Image

from devias_tk.evaluate import playable


def _frames(n: int = 6, height: int = 48, width: int = 80) -> np.ndarray:
    frames = np.zeros((n, height, width, 3), np.uint8)
    for i in range(n):
        frames[i, :, i * 8 : i * 8 + 16] = (255, 64, 0)  # a bar moving right
    return frames


@pytest.mark.skipif(not playable.h264_encoders(), reason="this PyAV build has no H.264 encoder")
def test_h264_mp4_reads_back_as_h264_yuv420p(tmp_path):
    path = playable.write_playable(tmp_path / "clip", _frames(), fps=8.0)
    assert path == tmp_path / "clip.mp4"
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert float(stream.average_rate) == pytest.approx(8.0)
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(decoded) == 6 and decoded[0].shape == (48, 80, 3)
    # crf 18 with 4:2:0 chroma: the moving bar is where it was, give or take the chroma edge
    assert np.abs(decoded[3].astype(int) - _frames()[3]).mean() < 8
    assert not list(tmp_path.glob(".*partial*"))  # written atomically, nothing left beside it


def test_without_an_h264_encoder_it_falls_back_to_a_gif(tmp_path, monkeypatch):
    monkeypatch.setattr(playable, "H264_ENCODERS", ("no_such_h264_encoder",))
    assert playable.h264_encoders() == []
    path = playable.write_playable(tmp_path / "clip", _frames(), fps=8.0)
    assert path == tmp_path / "clip.gif"
    with Image.open(path) as gif:
        assert gif.n_frames == 6 and gif.size == (80, 48)
        assert gif.info["duration"] in (120, 130)  # GIF counts in 1/100 s


def test_an_encoder_that_fails_to_open_is_skipped(tmp_path, monkeypatch):
    def broken(path, frames, fps, encoder):
        raise av.error.ExternalError(0, "no device")

    monkeypatch.setattr(playable, "h264_encoders", lambda: ["h264_nvenc"])
    monkeypatch.setattr(playable, "_encode_h264", broken)
    assert playable.write_playable(tmp_path / "clip", _frames(), fps=8.0).suffix == ".gif"
    assert not (tmp_path / "clip.mp4").exists()


def test_odd_sides_are_refused(tmp_path):
    with pytest.raises(ValueError, match="even frame sides"):
        playable.write_playable(tmp_path / "clip", _frames(width=81), fps=8.0)
