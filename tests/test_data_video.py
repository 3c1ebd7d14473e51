import numpy as np
import pytest
from conftest import decode_index, write_index_video

from devias_tk.data.video import Video, read_frames, video_info
from devias_tk.errors import VideoReadError


def test_info(index_video):
    info = video_info(index_video)
    assert (info.num_frames, info.height, info.width) == (100, 48, 64)
    assert info.fps == pytest.approx(25.0)


def test_reader_returns_the_requested_frames_in_any_order(index_video):
    video = Video(index_video)
    rng = np.random.default_rng(0)
    for _ in range(5):
        idx = rng.choice(100, 16, replace=False)
        frames = video.frames(idx)
        assert frames.shape == (16, 48, 64, 3) and frames.dtype == np.uint8
        assert [decode_index(f) for f in frames] == idx.tolist()


def test_repeated_indices_are_returned_repeated(index_video):
    frames = read_frames(index_video, [5, 5, 99, 0, 5])
    assert [decode_index(f) for f in frames] == [5, 5, 99, 0, 5]


def test_out_of_range_index_names_the_file(index_video):
    with pytest.raises(VideoReadError, match=r"index\.avi: frame index out of range \[0, 100\): 0\.\.100"):
        Video(index_video).frames([0, 100])


def _expect(path, reason_start):
    with pytest.raises(VideoReadError) as err:
        Video(path)
    assert err.value.path == str(path)
    assert err.value.reason.startswith(reason_start), err.value.reason
    assert str(err.value).startswith(str(path))


def test_bad_files_give_a_reason(tmp_path, index_video):
    _expect(tmp_path / "missing.avi", "file not found")
    (tmp_path / "empty.avi").write_bytes(b"")
    _expect(tmp_path / "empty.avi", "empty file (0 bytes)")
    (tmp_path / "text.avi").write_text("this is a text file, not a video\n" * 20)
    _expect(tmp_path / "text.avi", "not a decodable video")
    (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(0).bytes(40_000))
    _expect(tmp_path / "noise.mp4", "not a decodable video")
    (tmp_path / "header_only.avi").write_bytes(index_video.read_bytes()[:300])
    _expect(tmp_path / "header_only.avi", "not a decodable video")
    (tmp_path / "folder.avi").mkdir()
    _expect(tmp_path / "folder.avi", "not a regular file")


def test_truncated_avi_exposes_only_the_frames_present(tmp_path):
    full = write_index_video(tmp_path / "full.avi", 100, noise_rows=48)
    data = full.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])  # the AVI index at the end is lost; frames are rescanned
    video = Video(cut)
    assert 0 < len(video) < 100
    frames = video.frames(range(len(video)))
    # The last frame was cut in the middle; decord repeats the previous one there.
    assert [decode_index(f) for f in frames[:-1]] == list(range(len(video) - 1))
