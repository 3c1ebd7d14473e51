"""The PyAV decoder: the decord source's contract, the same frames as decord, and the decoder choice.

Measured tolerance: on the files these tests write (MPEG-4 Part 2 from OpenCV) the two decoders give
pixel-identical frames (max abs difference 0), which is what is asserted. On real footage (OpenCV's
sample AVIs, MS-MPEG-4) the measured max difference is 2 grey levels on under 0.1% of pixels (docs/loader.md).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import decode_index, index_frame, write_index_video

from devias_tk.data import pyav_source, video
from devias_tk.data.pyav_source import PyAVSource
from devias_tk.errors import DeviasError, VideoReadError

needs_decord = pytest.mark.skipif(video.decord is None, reason="decord is not installed here")


@pytest.fixture()
def pyav(monkeypatch):
    monkeypatch.setenv(video.DECODER_ENV, "pyav")


def test_info_and_frames_in_any_order(index_video, pyav):
    v = video.Video(index_video)
    assert (v.info.num_frames, v.info.height, v.info.width) == (100, 48, 64)
    assert v.info.fps == pytest.approx(25.0)
    assert isinstance(v._source, PyAVSource)
    rng = np.random.default_rng(0)
    for _ in range(5):
        idx = rng.choice(100, 16, replace=False)
        frames = v.frames(idx)
        assert frames.shape == (16, 48, 64, 3) and frames.dtype == np.uint8
        assert [decode_index(f) for f in frames] == idx.tolist()
    assert [decode_index(f) for f in v.frames([5, 5, 99, 0, 5])] == [5, 5, 99, 0, 5]


def test_a_clip_decodes_from_the_key_frame_before_it_not_from_the_start(tmp_path):
    source = PyAVSource(write_index_video(tmp_path / "v.avi", 100))
    keys = source.key_indices()
    assert keys[0] == 0 and keys.size > 2  # OpenCV's MPEG-4 writer puts a key frame every 12 frames or so
    decoded = []
    real = source._decoded

    def counting(start):
        for index, frame in real(start):
            decoded.append(index)
            yield index, frame

    source._decoded = counting
    clip = np.arange(70, 86, 2)
    assert [decode_index(f) for f in source.read(clip)] == clip.tolist()
    key = int(keys[keys <= 70].max())
    # From the key frame before the first index to the last index, each frame once at most (a key frame
    # met on the way may be sought to, skipping frames); nothing from the file's start
    assert min(decoded) == key and max(decoded) == 84 and len(decoded) == len(set(decoded))


@needs_decord
@pytest.mark.parametrize("noise_rows", [0, 48])
def test_both_decoders_give_identical_frames(tmp_path, noise_rows):
    path = write_index_video(tmp_path / "v.avi", 100, noise_rows=noise_rows)
    idx = np.r_[np.arange(100), [97, 3, 3, 50, 12, 0]]
    frames = {}
    for name in ("decord", "pyav"):
        video.set_decoder(name)
        try:
            v = video.Video(path)
            frames[name] = v.frames(idx)
            info = v.info
        finally:
            video.set_decoder("auto")
        assert (info.num_frames, info.fps) == (100, pytest.approx(25.0))
    diff = np.abs(frames["decord"].astype(np.int16) - frames["pyav"].astype(np.int16))
    assert diff.max() == 0


def _reason(path) -> str:
    with pytest.raises(VideoReadError) as err:
        video.Video(path)
    assert err.value.path == str(path)
    return err.value.reason


def test_bad_files_give_a_reason(tmp_path, index_video, pyav):
    assert _reason(tmp_path / "missing.avi") == "file not found"
    (tmp_path / "empty.avi").write_bytes(b"")
    assert _reason(tmp_path / "empty.avi") == "empty file (0 bytes)"
    (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(0).bytes(40_000))
    assert _reason(tmp_path / "noise.mp4").startswith("not a decodable video")
    (tmp_path / "text.avi").write_text("this is a text file, not a video\n" * 20)
    assert _reason(tmp_path / "text.avi").startswith("not a decodable video")
    (tmp_path / "header_only.avi").write_bytes(index_video.read_bytes()[:300])
    assert _reason(tmp_path / "header_only.avi").startswith("not a decodable video")


def test_truncated_file_exposes_the_frames_present_like_decord(tmp_path, pyav):
    data = write_index_video(tmp_path / "full.avi", 100, noise_rows=48).read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    v = video.Video(cut)
    assert 0 < len(v) < 100
    frames = v.frames(range(len(v)))
    # The last frame was cut in the middle; as decord does, the one before it stands in.
    assert [decode_index(f) for f in frames[:-1]] == list(range(len(v) - 1))
    assert decode_index(frames[-1]) == len(v) - 2


def test_auto_picks_pyav_and_decord_only_without_it(monkeypatch, index_video):
    monkeypatch.delenv(video.DECODER_ENV, raising=False)
    assert video.decoder() == "pyav"
    monkeypatch.setattr(pyav_source, "av", None)
    assert video.decoder() == "decord"
    monkeypatch.undo()
    monkeypatch.delenv(video.DECODER_ENV, raising=False)
    monkeypatch.setattr(video, "decord", None)
    assert video.decoder() == "pyav"
    assert isinstance(video.Video(index_video)._source, PyAVSource)
    monkeypatch.setenv(video.DECODER_ENV, "decord")  # asked for by name, its absence is an error that says so
    assert "decord is not installed" in _reason(index_video)


def test_the_choice_is_checked_and_kept_in_the_environment(monkeypatch):
    monkeypatch.delenv(video.DECODER_ENV, raising=False)
    with pytest.raises(DeviasError, match="decoder must be one of auto, decord, pyav"):
        video.set_decoder("ffmpeg")
    video.set_decoder("pyav")
    assert os.environ[video.DECODER_ENV] == "pyav" and video.decoder() == "pyav"
    monkeypatch.setenv(video.DECODER_ENV, "nope")
    with pytest.raises(DeviasError, match="DEVIAS_DECODER must be one of"):
        video.decoder()


def test_cli_decoder_option_reaches_the_stage(tmp_path, index_video, monkeypatch):
    from typer.testing import CliRunner

    from devias_tk.cli import app
    from devias_tk.data.lists import VideoEntry, write_list

    monkeypatch.setenv(video.DECODER_ENV, "auto")  # restored after the test: the option sets it process-wide
    (tmp_path / "good.avi").write_bytes(index_video.read_bytes())
    (tmp_path / "noise.avi").write_bytes(np.random.default_rng(0).bytes(20_000))
    write_list(tmp_path / "list.txt", [VideoEntry("good.avi"), VideoEntry("noise.avi")])
    result = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"}).invoke(
        app, ["data", "check", "--root", str(tmp_path), "--list", str(tmp_path / "list.txt"), "--decoder", "pyav",
              "-j", "1"])
    assert result.exit_code == 1, result.output  # the noise file is a problem
    assert "Invalid data found when processing input" in result.output  # FFmpeg's words through PyAV
    assert video.decoder() == "pyav"
    assert "--decoder" not in CliRunner().invoke(app, ["data", "lists", "ucf101", "--help"]).output


def test_recipes_take_data_decoder(monkeypatch):
    from devias_tk.pretrain.config import config_from as pretrain_config
    from devias_tk.train.config import config_from as train_config

    for config_from in (train_config, pretrain_config):
        assert config_from(None, []).data.decoder is None  # unset: the process's choice
        assert config_from(None, ["data.decoder=pyav"]).data.decoder == "pyav"
        with pytest.raises(DeviasError, match=r"data\.decoder must be one of auto, decord, pyav"):
            config_from(None, ["data.decoder=ffmpeg"])
    monkeypatch.setenv(video.DECODER_ENV, "pyav")
    video.use_decoder(None)  # a recipe without the key leaves --decoder / DEVIAS_DECODER in force
    assert video.decoder() == "pyav"
    video.use_decoder("decord")
    assert os.environ[video.DECODER_ENV] == "decord"


def _write_with_b_frames(path, codec: str, num_frames: int = 100):
    """Index frames (conftest) encoded by PyAV with B-frames and a key frame every 12: frames leave the
    decoder in another order than they enter it, which is what a reader's seeking must get right."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"g": "12", "bf": "2"}
        stream.codec_context.gop_size, stream.codec_context.max_b_frames = 12, 2
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(index_frame(i), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


@pytest.mark.parametrize(("name", "codec"), [("b.mp4", "libx264"), ("b.avi", "mpeg4")])
def test_b_frame_videos_give_the_requested_frames(tmp_path, pyav, name, codec):
    import av

    if codec not in av.codecs_available:
        pytest.skip(f"this PyAV build has no {codec} encoder")
    path = _write_with_b_frames(tmp_path / name, codec)
    with av.open(str(path)) as container:  # the file really has frames decoded ahead of their display
        packets = [p for p in container.demux(container.streams.video[0]) if p.pts is not None]
        assert any(p.pts != p.dts for p in packets) or container.streams.video[0].codec_context.has_b_frames
    v = video.Video(path)
    assert len(v) == 100
    assert [decode_index(f) for f in v.frames(np.arange(100))] == list(range(100))
    rng = np.random.default_rng(1)
    for _ in range(8):  # clips at random starts (seeks), then random order with repeats
        start = int(rng.integers(0, 100 - 29))
        clip = np.arange(start, start + 29, 4)
        assert [decode_index(f) for f in v.frames(clip)] == clip.tolist()
    idx = rng.integers(0, 100, 20)
    assert [decode_index(f) for f in v.frames(idx)] == idx.tolist()


def test_a_seek_that_lands_past_the_clip_falls_back_to_the_start(tmp_path):
    source = PyAVSource(write_index_video(tmp_path / "v.avi", 100))
    source._dts[1:] = source._dts[source.key_indices()[-1]]  # every seek but to frame 0 lands at the last key
    clip = np.arange(30, 46, 3)
    assert [decode_index(f) for f in source.read(clip)] == clip.tolist()
