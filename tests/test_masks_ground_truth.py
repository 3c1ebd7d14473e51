import numpy as np

from devias_tk.cache.store import VideoStore
from devias_tk.data.lists import VideoEntry, write_list
from devias_tk.masks.ground_truth import import_ground_truth, window_masks
from devias_tk.masks.windows import WindowSpec


def test_window_masks_are_shares_of_frames():
    gt = np.zeros((6, 8, 8), bool)
    gt[0:3, :4, :4] = True  # the actor sits top-left in frames 0-2
    gt[:, 4:, 4:] = True  # and something bottom-right in every frame
    spec = WindowSpec(window=4, stride=1, hop=2, size=8, tubelet_size=4)
    starts, padded, clips, tubelets = window_masks(gt, spec)
    assert starts == [0, 2] and not padded
    assert clips.shape == (2, 8, 8) and tubelets.shape == (2, 2, 4, 4)
    assert clips[0, 0, 0] == round(255 * 3 / 4) and clips[1, 0, 0] == round(255 * 1 / 4)  # frames 0-3, 2-5
    assert clips[0, 7, 7] == 255 and clips[0, 0, 7] == 0
    assert tubelets[0, 0, 0, 0] == 255 and tubelets[0, 1, 0, 0] == round(255 * 0.5)  # pairs (0,1), (2,3)


def test_import_writes_a_mask_store(tmp_path):
    gt = np.zeros((10, 16, 24), bool)
    gt[:, 4:8, 6:10] = True
    (tmp_path / "gt" / "v").mkdir(parents=True)
    np.savez_compressed(tmp_path / "gt" / "v" / "a.npz", mask=gt)
    write_list(tmp_path / "list.txt", [VideoEntry("v/a.avi", 0, 0)])
    spec = WindowSpec(window=4, stride=2, hop=2, size=8, tubelet_size=4)
    assert import_ground_truth(tmp_path / "list.txt", tmp_path / "gt", tmp_path / "m.zarr", spec) == 1
    store = VideoStore(tmp_path / "m.zarr")
    assert store.attrs["kind"] == "fame-masks" and store.attrs["algorithm"].startswith("ground truth")
    assert store.video_attrs("v/a.avi")["starts"] == [0, 2]  # 10 frames, span 7: starts up to 3
    soft = store.group("v/a.avi")["soft"][...]
    assert soft.shape == (2, 8, 12) and soft.max() == 255 and soft[:, 0, 0].max() == 0
    assert import_ground_truth(tmp_path / "list.txt", tmp_path / "gt", tmp_path / "m.zarr", spec) == 0  # resumes
