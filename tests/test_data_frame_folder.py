"""Frame folders as a video source: naming schemes, order, errors, and use by the stages."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import decode_index
from formats_fixtures import index_frames, write_frames

from devias_tk.data.dataset import ClipDataset, ClipSpec
from devias_tk.data.frame_folder import DEFAULT_FPS, frame_names
from devias_tk.data.lists import VideoEntry, write_list
from devias_tk.data.video import Video
from devias_tk.errors import VideoReadError


@pytest.mark.parametrize("template", ["{:06d}.jpg", "frame{:06d}.jpg", "img_{:05d}.jpg", "{:05d}.jpeg",
                                      "img_{:05d}.png", "{:06d}.JPG"])
def test_every_naming_scheme_reads_frames_in_any_order(tmp_path, template):
    folder = write_frames(tmp_path / "v", index_frames(12), template)
    video = Video(folder)
    assert (video.info.num_frames, video.info.height, video.info.width) == (12, 48, 64)
    assert video.info.fps == DEFAULT_FPS and len(video) == 12
    idx = [11, 0, 5, 5, 3, 11]
    frames = video.frames(idx)
    assert frames.shape == (6, 48, 64, 3) and frames.dtype == np.uint8
    assert [decode_index(f) for f in frames] == idx


def test_png_frames_are_exact_and_rgb(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (3, 8, 10, 3), dtype=np.uint8)
    folder = write_frames(tmp_path / "v", frames, "{:06d}.png")
    np.testing.assert_array_equal(Video(folder).frames([2, 0, 1]), frames[[2, 0, 1]])


def test_zero_based_numbering_and_other_files_are_tolerated(tmp_path):
    folder = write_frames(tmp_path / "v", index_frames(4), "img_{:05d}.jpg", start=0)
    write_frames(folder, index_frames(2), "flow_x_{:05d}.jpg")  # mmaction2 keeps flow beside RGB
    (folder / ".DS_Store").write_bytes(b"x")
    assert [decode_index(f) for f in Video(folder).frames([0, 3])] == [0, 3]


def test_frame_names_orders_numerically():
    assert frame_names(["10.jpg", "9.jpg", "8.jpg", "7.jpg", "6.jpg", "5.jpg", "4.jpg", "3.jpg", "2.jpg",
                        "1.jpg"])[:3] == ["1.jpg", "2.jpg", "3.jpg"]
    assert frame_names(["a.txt"]) == "no frame images (.jpg/.jpeg/.png)"


def _reason(path, *, on_read: bool = False) -> str:
    with pytest.raises(VideoReadError) as err:
        video = Video(path)
        if on_read:
            video.frames(range(len(video)))
    assert err.value.path == str(path)
    return err.value.reason


def test_missing_frames_are_reported(tmp_path):
    folder = write_frames(tmp_path / "gap", index_frames(6))
    (folder / "000003.jpg").unlink()
    (folder / "000004.jpg").unlink()
    assert _reason(folder) == "missing frames: 2 of 1..6 absent (first: 3)"
    late = write_frames(tmp_path / "late", index_frames(3), start=3)
    assert _reason(late) == "missing frames: numbering starts at 3, not 1"


def test_empty_and_mixed_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    assert _reason(tmp_path / "empty") == "not a regular file nor a frame folder: no frame images (.jpg/.jpeg/.png)"
    mixed = write_frames(tmp_path / "mixed", index_frames(2), "{:06d}.jpg")
    write_frames(mixed, index_frames(2), "frame{:06d}.jpg")
    assert _reason(mixed).startswith("mixed frame names (000001.jpg, frame000001.jpg")
    twice = write_frames(tmp_path / "twice", index_frames(2), "{:06d}.jpg")
    write_frames(twice, index_frames(1), "{:03d}.jpg")
    assert _reason(twice) == "two files for frame 1: 000001.jpg, 001.jpg"
    assert _reason(tmp_path / "nowhere") == "file not found"


def test_unreadable_frames(tmp_path):
    folder = write_frames(tmp_path / "bad", index_frames(5))
    (folder / "000004.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    video = Video(folder)  # opening decodes only the first frame
    assert [decode_index(f) for f in video.frames([0, 1])] == [0, 1]
    assert _reason(folder, on_read=True) == "unreadable frame: 000004.jpg"
    (folder / "000001.jpg").write_bytes(b"")
    assert _reason(folder) == "empty frame file: 000001.jpg"


def test_frames_of_another_size_are_refused(tmp_path):
    folder = write_frames(tmp_path / "v", index_frames(3))
    write_frames(folder, index_frames(1, 24, 32), "{:06d}.jpg", start=2)
    assert _reason(folder, on_read=True) == "frame 000002.jpg is 32x24, the first is 64x48"


def test_png_frames_decode_in_a_fresh_process(tmp_path):
    """decord bundles an old zlib; if it loads before OpenCV, every PNG fails to decode (HAT masks)."""
    folder = write_frames(tmp_path / "v", index_frames(2), "{:06d}.png")
    code = ("import sys; from devias_tk.data.video import Video; "
            "print(Video(sys.argv[1]).frames([1]).max())")
    done = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "255", done.stderr


def test_out_of_range_index_names_the_folder(tmp_path):
    folder = write_frames(tmp_path / "v", index_frames(3))
    with pytest.raises(VideoReadError, match=r"frame index out of range \[0, 3\): 0\.\.3"):
        Video(folder).frames([0, 3])


def test_clip_dataset_reads_frame_folders(tmp_path):
    write_frames(tmp_path / "a", index_frames(10))
    test = ClipDataset(tmp_path, [VideoEntry("a", 1, 0)], ClipSpec(clip_len=4, stride=2, size=32, num_clips=2,
                                                                     num_crops=3), train=False)
    item = test[0]
    assert tuple(item["clip"].shape) == (6, 3, 4, 32, 32) and item["action"] == 1


def test_mask_stage_runs_on_frame_folders(tmp_path):
    """The mask stage opens list entries with Video(path): frame folders work without any change."""
    from devias_tk.cache.store import VideoStore
    from devias_tk.masks import extract as ex
    from devias_tk.masks.windows import WindowSpec

    rng = np.random.default_rng(1)
    for name in ("clips/a", "clips/b"):
        frames = index_frames(16)
        x = int(rng.integers(20, 40))
        frames[:, 30:40, x : x + 10] = 200  # a bright block beside the index bars
        write_frames(tmp_path / name, frames)
    write_list(tmp_path / "lists" / "train.txt", [VideoEntry("clips/a", 0, -1), VideoEntry("clips/b", 1, -1)])
    spec = WindowSpec(window=8, stride=2, hop=4, size=32, tubelet_size=8)
    summary = ex.extract(tmp_path, tmp_path / "lists" / "train.txt", tmp_path / "m.zarr", spec, jobs=1,
                         show_progress=False)
    assert (summary.done, summary.failed) == (2, {})
    store = VideoStore(tmp_path / "m.zarr")
    attrs = store.video_attrs("clips/a")
    assert (attrs["num_frames"], attrs["fps"], attrs["source_height"], attrs["source_width"]) == (16, 30.0, 48, 64)
    assert store.group("clips/b")["soft"].shape == (1, 32, 43)  # one 8-frame window at stride 2 fits
