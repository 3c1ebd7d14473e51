import numpy as np
import pytest
import torch

from devias_tk.data.dataset import ClipDataset, ClipSpec
from devias_tk.data.encode import write_video
from devias_tk.data.lists import VideoEntry
from devias_tk.data.transforms import IMAGENET_MEAN, IMAGENET_STD

# Frame i is uniform: red = OFFSET + STEP * (i % BASE), green = OFFSET + STEP * (i // BASE); the coarse
# steps survive MPEG-4 quantisation (errors of a few grey levels).
STEP, OFFSET, BASE = 8, 20, 25


@pytest.fixture(scope="module")
def grey_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("grey")
    frames = np.zeros((60, 48, 80, 3), np.uint8)
    for i in range(60):
        frames[i, ..., 0] = OFFSET + STEP * (i % BASE)
        frames[i, ..., 1] = OFFSET + STEP * (i // BASE)
    write_video(root / "v" / "grey.avi", frames, fps=25)
    return root


def _frame_indices(clip: torch.Tensor) -> list[int]:
    """Recover source frame indices from a normalised (C, T, H, W) clip of uniform frames."""
    def level(channel: int) -> np.ndarray:
        value = clip[channel].mean(dim=(1, 2)).numpy() * IMAGENET_STD[channel] + IMAGENET_MEAN[channel]
        return np.round((value * 255 - OFFSET) / STEP).astype(int)

    return (level(0) + BASE * level(1)).tolist()


def test_test_views_shape_and_frames(grey_root):
    spec = ClipSpec(clip_len=8, stride=3, size=32, num_clips=2, num_crops=3)
    ds = ClipDataset(grey_root, [VideoEntry("v/grey.avi", 4, 1)], spec, train=False)
    item = ds[0]
    assert item["clip"].shape == (6, 3, 8, 32, 32) and item["clip"].dtype == torch.float32
    assert (item["action"], item["scene"], item["index"], item["path"]) == (4, 1, 0, "v/grey.avi")
    # max start = 60 - 22 = 38: clips start at 0 and 38; views are temporal-major
    assert _frame_indices(item["clip"][0]) == list(range(0, 22, 3))
    assert _frame_indices(item["clip"][2]) == list(range(0, 22, 3))
    assert _frame_indices(item["clip"][3]) == list(range(38, 60, 3))


def test_train_clip_is_a_random_dense_window(grey_root):
    spec = ClipSpec(clip_len=8, stride=3, size=24)
    ds = ClipDataset(grey_root, [VideoEntry("v/grey.avi", 0, -1)], spec, train=True)
    torch.manual_seed(0)
    starts = set()
    for _ in range(30):
        clip = ds[0]["clip"]
        assert clip.shape == (3, 8, 24, 24)
        idx = _frame_indices(clip)
        assert idx == list(range(idx[0], idx[0] + 22, 3))
        starts.add(idx[0])
    assert len(starts) > 5 and min(starts) >= 0 and max(starts) <= 38
    torch.manual_seed(0)
    again = _frame_indices(ds[0]["clip"])
    torch.manual_seed(0)
    assert _frame_indices(ds[0]["clip"]) == again  # reproducible under torch.manual_seed


def test_short_video_loops(grey_root):
    spec = ClipSpec(clip_len=16, stride=5, size=32, num_clips=1, num_crops=1)  # span 76 > 60 frames
    item = ClipDataset(grey_root, [VideoEntry("v/grey.avi")], spec, train=False)[0]
    assert item["clip"].shape == (1, 3, 16, 32, 32)
    assert _frame_indices(item["clip"][0]) == [(5 * k) % 60 for k in range(16)]
