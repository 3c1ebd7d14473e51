"""The training loader joins each clip with the cached masks and scene distribution of its window."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from devias_tk.cache.store import VideoStore
from devias_tk.data.lists import VideoEntry
from devias_tk.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from devias_tk.data.windows import ClipGrid
from devias_tk.engine.sampler import EpochSampler
from devias_tk.train.data import TrainClips, TrainDataSpec

GRID = ClipGrid(window=4, stride=2, hop=2)
FULL_FRAME_SCENES = {"kind": "scene-labels", "crop_grid": [[0, 0, 1, 1]]}  # one cached crop: the full frame


@pytest.fixture()
def ramp_setup(tmp_path):
    """A video whose red channel is the column (x) and green the row (y), and a mask store whose soft
    masks carry the same x ramp, so any crop or flip that differs between frames and masks shows."""
    from devias_tk.data.encode import write_video

    h, w, frames = 48, 96, 12
    xs = np.linspace(20, 235, w).astype(np.uint8)
    ys = np.linspace(20, 235, h).astype(np.uint8)
    video = np.zeros((frames, h, w, 3), np.uint8)
    video[..., 0] = xs[None, None, :]
    video[..., 1] = ys[None, :, None]
    write_video(tmp_path / "ramp.avi", video, fps=25)
    starts = [0, 2, 4, 6]
    store = VideoStore.open_or_create(tmp_path / "m.zarr", {"kind": "fame-masks"}, ("kind",))
    soft = np.broadcast_to(np.linspace(20, 235, 64).astype(np.uint8)[None, None, :], (4, 32, 64)).copy()
    tub = np.broadcast_to(np.linspace(20, 235, 16).astype(np.uint8)[None, None, None, :], (4, 2, 8, 16)).copy()
    store.commit("ramp.avi", {"soft": (soft, soft.shape), "tubelet": (tub, tub.shape)},
                 {"num_frames": frames, "starts": starts})
    scenes = VideoStore.open_or_create(tmp_path / "s.zarr", FULL_FRAME_SCENES, ("kind",))
    probs = np.eye(4, 3, dtype=np.float16)[[0, 1, 2, 0]]  # window k -> distribution peaked on class k % 3
    scenes.commit("ramp.avi", {"crop_probs": (probs[:, None], (4, 1, 3))}, {"num_frames": frames, "starts": starts})
    return tmp_path


def test_frames_and_masks_share_the_crop_and_flip(ramp_setup):
    spec = TrainDataSpec(grid=GRID, size=32, scale=(0.2, 1.0), flip=True, guide_shape=(8, 8), scene_source="store",
                         num_scenes=3)
    ds = TrainClips(ramp_setup, [VideoEntry("ramp.avi", 1, -1)], spec, ramp_setup / "m.zarr", ramp_setup / "s.zarr")
    flips = set()
    for epoch in range(12):
        ds.set_epoch(epoch)
        item = ds[0]
        red = item["clip"][0, 0].numpy() * IMAGENET_STD[0] + IMAGENET_MEAN[0]
        red_row = red.mean(axis=0) * 255
        mask_row = item["soft_mask"].numpy().astype(float).mean(axis=0)
        assert item["soft_mask"].shape == (32, 32) and item["tubelet_mask"].shape == (2, 8, 8)
        np.testing.assert_allclose(red_row, mask_row, atol=8)  # same columns, same direction
        tub_row = item["tubelet_mask"][0].numpy().astype(float).mean(axis=0)
        np.testing.assert_allclose(tub_row, red_row.reshape(8, 4).mean(axis=1), atol=24)  # 6x coarser map
        flips.add(bool(red_row[0] > red_row[-1]))
        assert item["scene"].dtype == torch.float32 and item["scene"].shape == (3,)
    assert flips == {True, False}  # both orientations occurred


def test_the_drawn_window_decides_frames_and_scene(tmp_path):
    from devias_tk.data.encode import write_video

    video = np.zeros((12, 48, 64, 3), np.uint8)
    video[..., 0] = (20 + 16 * np.arange(12))[:, None, None]  # frame i is uniformly red 20 + 16 i
    write_video(tmp_path / "v.avi", video, fps=25)
    starts = [0, 2, 4]  # the grid of a 12-frame video (last start that fits: 5)
    scenes = VideoStore.open_or_create(tmp_path / "s.zarr", FULL_FRAME_SCENES, ("kind",))
    probs = np.eye(3, dtype=np.float16)  # window k -> class k
    scenes.commit("v.avi", {"crop_probs": (probs[:, None], (3, 1, 3))}, {"num_frames": 12, "starts": starts})
    spec = TrainDataSpec(grid=GRID, size=32, flip=False, scene_source="store", num_scenes=3)
    ds = TrainClips(tmp_path, [VideoEntry("v.avi", 0, -1)], spec, None, tmp_path / "s.zarr")
    seen = set()
    for epoch in range(24):
        ds.set_epoch(epoch)
        item = ds[0]
        k = int(item["scene"].argmax())
        seen.add(k)
        red = (item["clip"][0].mean(dim=(1, 2)).numpy() * IMAGENET_STD[0] + IMAGENET_MEAN[0]) * 255
        frames = np.round((red - 20) / 16).astype(int).tolist()
        assert frames == [starts[k] + 2 * t for t in range(4)]  # window k's frames, at stride 2
    assert seen == {0, 1, 2}


def test_epoch_sampler_is_seeded_split_and_resumable():
    a = EpochSampler(103, batch_size=5, seed=1, rank=0, world=2)
    b = EpochSampler(103, batch_size=5, seed=1, rank=1, world=2)
    assert a.batches_per_epoch == 10 and len(a) == 50
    ia, ib = [i for _, i in a], [i for _, i in b]
    assert not set(ia) & set(ib) and len(ia) == len(ib) == 50
    assert next(iter(a))[0] == 0  # (epoch, index) pairs
    assert ia == [i for _, i in EpochSampler(103, 5, 1, 0, 2)]  # same seed, same order
    a.set_epoch(1)
    assert [i for _, i in a] != ia and {e for e, _ in a} == {1}
    a.set_epoch(1, skip_batches=3)
    full = EpochSampler(103, 5, 1, 0, 2)
    full.set_epoch(1)
    assert list(a) == list(full)[15:] and len(a) == 35


def test_cached_items_equal_the_direct_reads_and_decode_each_video_once(ramp_setup, monkeypatch):
    from devias_tk.train import data as train_data

    spec = TrainDataSpec(grid=GRID, size=32, scale=(0.2, 1.0), flip=True, guide_shape=(8, 8), scene_source="store",
                         num_scenes=3)
    entry = [VideoEntry("ramp.avi", 1, -1)]
    direct = TrainClips(ramp_setup, entry, spec, ramp_setup / "m.zarr", ramp_setup / "s.zarr")
    cached = TrainClips(ramp_setup, entry, spec, ramp_setup / "m.zarr", ramp_setup / "s.zarr", cache_mb=64)
    loads = []
    real_load_all = train_data._WindowReads.load_all
    monkeypatch.setattr(train_data._WindowReads, "load_all", lambda self: loads.append(1) or real_load_all(self))
    for epoch in range(8):
        a, b = direct[(epoch, 0)], cached[(epoch, 0)]
        assert a.keys() == b.keys()
        for name in a:
            assert torch.equal(torch.as_tensor(a[name]), torch.as_tensor(b[name])), name
    assert len(loads) == 1  # decoded and read from the stores once, served from memory for 7 epochs


def test_byte_lru_keeps_the_recent_entries_within_its_budget():
    from devias_tk.data.memo import ByteLRU

    memo = ByteLRU(300)
    made = []

    def make(n):
        return lambda: made.append(n) or {"a": np.zeros(n, np.uint8)}

    memo.get("x", make(100))
    memo.get("y", make(150))
    memo.get("x", make(100))  # a hit: x becomes the most recent
    memo.get("z", make(100))  # 350 > 300: evicts y, the least recently used
    assert made == [100, 150, 100] and "y" not in memo and {"x", "z"} <= set(memo._entries)
    assert memo.used == 200 and (memo.hits, memo.misses) == (1, 3)
    big = memo.get("w", make(400))  # larger than the budget: returned, not kept
    assert big["a"].nbytes == 400 and "w" not in memo and memo.used == 200
    with pytest.raises(ValueError):
        ByteLRU(0)


def _spec(**kw) -> TrainDataSpec:
    return TrainDataSpec(grid=GRID, size=32, scale=(0.2, 1.0), flip=True, guide_shape=(8, 8), scene_source="store",
                         num_scenes=3, **kw)


def test_repeats_cut_several_clips_from_one_decoded_window(ramp_setup, monkeypatch):
    from devias_tk.data.video import Video
    from devias_tk.train.data import collate_train

    entry = [VideoEntry("ramp.avi", 1, -1)]
    single = TrainClips(ramp_setup, entry, _spec(), ramp_setup / "m.zarr", ramp_setup / "s.zarr", seed=3)
    triple = TrainClips(ramp_setup, entry, _spec(repeats=3), ramp_setup / "m.zarr", ramp_setup / "s.zarr", seed=3)
    decodes = []
    real_frames = Video.frames
    monkeypatch.setattr(Video, "frames", lambda self, idx: decodes.append(1) or real_frames(self, idx))
    boxes = set()
    for epoch in range(4):
        one, three = single[(epoch, 0)], triple[(epoch, 0)]
        assert len(decodes) == 2 * (epoch + 1)  # one decode per item, whatever the repeats
        assert three["clip"].shape == (3, 3, 4, 32, 32) and three["soft_mask"].shape == (3, 32, 32)
        for name in ("clip", "soft_mask", "tubelet_mask", "crop_box", "scene"):  # copy 0 is the single-clip item
            assert torch.equal(three[name][0], one[name]), name
        assert three["window"].tolist() == [one["window"]] * 3 and three["action"].tolist() == [1] * 3
        for r in range(3):  # every copy's masks follow its own crop and flip
            red_row = (three["clip"][r, 0, 0].numpy() * IMAGENET_STD[0] + IMAGENET_MEAN[0]).mean(axis=0) * 255
            np.testing.assert_allclose(red_row, three["soft_mask"][r].numpy().astype(float).mean(axis=0), atol=8)
            boxes.add(tuple(three["crop_box"][r].tolist()))
    assert len(boxes) >= 10  # the copies are different crops
    again = TrainClips(ramp_setup, entry, _spec(repeats=3), ramp_setup / "m.zarr", ramp_setup / "s.zarr", seed=3)
    assert torch.equal(again[(2, 0)]["clip"], triple[(2, 0)]["clip"])  # a function of the key: resume-exact
    items = [triple[(0, 0)], triple[(1, 0)]]
    batch = collate_train(items)
    assert batch["clip"].shape == (6, 3, 4, 32, 32) and batch["action"].shape == (6,)
    for b in range(2):
        for r in range(3):
            assert torch.equal(batch["crop_box"][b * 3 + r], items[b]["crop_box"][r])
            assert torch.equal(batch["scene"][b * 3 + r], items[b]["scene"][r])


def test_repeats_through_the_guarded_loader_with_a_bad_video(ramp_setup):
    from devias_tk.data.guarded import GuardedItems, GuardedLoader
    from devias_tk.train.data import collate_train

    entries = [VideoEntry("ramp.avi", 1, -1), VideoEntry("missing.avi", 1, -1), VideoEntry("ramp.avi", 0, -1)]
    clips = TrainClips(ramp_setup, entries, _spec(repeats=2), ramp_setup / "m.zarr", ramp_setup / "s.zarr")
    sampler = EpochSampler(3, 3, seed=0)

    def epoch_batches(epoch: int) -> list[dict]:
        items = GuardedItems(clips, [e.path for e in entries], "replace", seed=0, groups=[e.action for e in entries])
        loader = GuardedLoader(items, 3, sampler, workers=0, collate_fn=collate_train)
        sampler.set_epoch(epoch)
        return list(loader)

    first = epoch_batches(1)
    assert len(first) == 1 and first[0]["clip"].shape == (6, 3, 4, 32, 32)  # 3 videos x 2 clips
    faults = [f for f in first[0]["fault"] if f]
    assert len(faults) == 1 and "missing.avi" in faults[0]  # replaced once, counted once
    assert torch.equal(epoch_batches(1)[0]["clip"], first[0]["clip"])  # the same batch again (resume)


def _noise_setup(folder, name: str, h: int, w: int) -> None:
    """A video of random 4x4 blocks (every resampling error shows) with its mask and scene stores' entries."""
    from devias_tk.data.encode import write_video

    rng = np.random.default_rng(h)
    blocks = rng.integers(0, 256, (12, h // 4, w // 4, 3), dtype=np.uint8)
    write_video(folder / name, np.repeat(np.repeat(blocks, 4, axis=1), 4, axis=2), fps=25)
    masks = VideoStore.open_or_create(folder / "m.zarr", {"kind": "fame-masks"}, ("kind",))
    soft = rng.integers(0, 256, (4, h // 2, w // 2), dtype=np.uint8)
    tub = rng.integers(0, 256, (4, 2, 8, 16), dtype=np.uint8)
    masks.commit(name, {"soft": (soft, soft.shape), "tubelet": (tub, tub.shape)},
                 {"num_frames": 12, "starts": [0, 2, 4, 6]})
    scenes = VideoStore.open_or_create(folder / "s.zarr", FULL_FRAME_SCENES, ("kind",))
    probs = np.eye(4, 3, dtype=np.float16)[:, None]
    scenes.commit(name, {"crop_probs": (probs, (4, 1, 3))}, {"num_frames": 12, "starts": [0, 2, 4, 6]})


@pytest.mark.parametrize("repeats", [1, 2])
def test_device_transforms_equal_the_host_path(tmp_path, repeats):
    from devias_tk.train.data import collate_train
    from devias_tk.train.device_clips import clips_from_frames

    _noise_setup(tmp_path, "a.avi", 48, 96)
    _noise_setup(tmp_path, "b.avi", 40, 64)  # another frame size: the batch's windows are padded
    entries = [VideoEntry("a.avi", 0, -1), VideoEntry("b.avi", 1, -1)]
    host = TrainClips(tmp_path, entries, _spec(repeats=repeats), tmp_path / "m.zarr", tmp_path / "s.zarr", seed=5)
    dev = TrainClips(tmp_path, entries, _spec(repeats=repeats, device_transforms=True), tmp_path / "m.zarr",
                     tmp_path / "s.zarr", seed=5)
    grey = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1) * 255  # one grey level in normalised units
    flips = set()
    for epoch in range(4):
        keys = [(epoch, 0), (epoch, 1), (epoch + 9, 0)]
        want = collate_train([host[k] for k in keys])
        got = collate_train([dev[k] for k in keys])
        assert "clip" not in got and got["frames"].dtype == torch.uint8
        assert got["frames"].shape == (3, 4, 48, 96, 3)  # one window per video, padded to the largest
        clips = clips_from_frames(got["frames"], got["crop_px"], got["flip"], 32)
        assert clips.shape == want["clip"].shape == (3 * repeats, 3, 4, 32, 32)
        levels = (clips - want["clip"]) * grey
        # the same sample positions: at most one grey level apart, most values equal; OpenCV's fixed-point pass
        # truncates, so it comes out lower a little more often (measured: +0.13 levels on average, 87% equal)
        assert levels.abs().max() <= 1.01 and (levels.abs() < 0.01).float().mean() > 0.8
        assert 0 <= float(levels.mean()) < 0.2
        for name in ("soft_mask", "tubelet_mask", "crop_box", "scene", "action"):
            assert torch.equal(got[name], want[name]), name
        flips.update(got["flip"].tolist())
    assert flips == {True, False}
