"""The embedded benchmark: determinism, labels, masks, layout, resume, and the bias it must carry."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from devias_tk.data import bias
from devias_tk.data.lists import read_class_names, read_list, read_ucf101_class_index, read_ucf101_split
from devias_tk.data.video import Video
from devias_tk.errors import DeviasError
from devias_tk.synthetic import benchmark, figure, render, scenes


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "inspect" not in p.parts
    }


def test_same_seed_gives_identical_files_and_frames_whatever_the_jobs(tiny_benchmark, tmp_path):
    again = tmp_path / "again"
    benchmark.generate(again, benchmark.PRESETS["tiny"], seed=3, jobs=1, preset="tiny")
    first, second = _hashes(tiny_benchmark), _hashes(again)
    assert first.keys() == second.keys()
    assert first == second
    for rel in [e.path for e in read_list(again / "lists" / "train.txt")[:3]]:
        a, b = Video(tiny_benchmark / rel), Video(again / rel)
        assert np.array_equal(a.frames(range(len(a))), b.frames(range(len(b))))


def test_another_seed_gives_other_videos():
    cfg = benchmark.PRESETS["tiny"]
    a = benchmark.render_job(benchmark.plan(cfg, 0).videos[0], cfg)[0]
    b = benchmark.render_job(benchmark.plan(cfg, 1).videos[0], cfg)[0]
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("preset", ["tiny", "default", "ucf-like", "k400-like"])
def test_cooccurrence_follows_the_design(preset):
    cfg = benchmark.PRESETS[preset]
    jobs = benchmark.plan(cfg, 0).videos
    home = benchmark.scene_of_action(cfg)
    close, far = benchmark.close_far_scenes(cfg)
    dist = scenes.scene_distances(cfg.num_scenes)
    by_split = {s: [j for j in jobs if j.split == s] for s in benchmark.ALL_SPLITS}
    for split in benchmark.SEEN_SPLITS:
        share = np.mean([j.scene == home[j.action] for j in by_split[split]])
        assert abs(share - cfg.rho) <= 0.5 / len(by_split[split]) + 1e-9  # exact up to rounding
    for split in ("scuba-places", "hat-random", "hat-close", "hat-far"):
        assert all(j.scene >= 0 and j.scene != home[j.action] for j in by_split[split])
    for split in ("scuba-stylized", "scuba-sinusoid"):
        assert all(j.scene == -1 and j.action >= 0 for j in by_split[split])
    assert all(j.action == -1 and j.scene >= 0 for j in by_split["hat-scene-only"])
    for a in range(cfg.num_actions):
        others = [s for s in range(cfg.num_scenes) if s != home[a]]
        assert dist[home[a], close[a]] == min(dist[home[a], s] for s in others)
        assert dist[home[a], far[a]] == max(dist[home[a], s] for s in others)
    assert {j.scene for j in by_split["hat-close"]} == {close[j.action] for j in by_split["hat-close"]}
    # Every unseen actor split pastes the same actors onto different backgrounds.
    actors = {s: sorted(j.actor_seed for j in by_split[s]) for s in benchmark.ACTOR_UNSEEN_SPLITS}
    assert len({tuple(v) for v in actors.values()}) == 1


def test_ground_truth_masks_cover_the_actor_pixels():
    cfg = benchmark.PRESETS["default"]
    jobs = [j for j in benchmark.plan(cfg, 0).videos if j.action >= 0][::60]
    for job in jobs:
        frames, masks = benchmark.render_job(job, cfg)
        empty, no_mask = benchmark.render_job(dataclasses.replace(job, action=-1), cfg)
        assert not no_mask.any()
        diff = np.abs(frames.astype(int) - empty.astype(int)).max(axis=-1)
        grown = np.stack([cv2.dilate(m.astype(np.uint8), np.ones((3, 3), np.uint8)) for m in masks]).astype(bool)
        strong = diff > 40
        assert (strong & ~grown).sum() == 0, job.path  # every clearly changed pixel is the actor's
        assert (masks & (diff > 20)).sum() >= 0.9 * masks.sum(), job.path  # the mask is not padded


def test_each_action_holds_its_own_prop_inside_the_mask_and_no_props_gives_the_bare_figure():
    cfg = benchmark.PRESETS["default"]
    bare_cfg = dataclasses.replace(cfg, props=False)
    jobs = {}
    for job in benchmark.plan(cfg, 0).videos:
        if job.split == "train":
            jobs.setdefault(job.action, job)
    assert len(jobs) == cfg.num_actions
    shapes = {figure.PROPS[benchmark.ACTION_NAMES[a]][0] for a in jobs}
    assert len(shapes) == cfg.num_actions  # one object per class
    for job in jobs.values():
        _, with_prop = benchmark.render_job(job, cfg)
        _, bare = benchmark.render_job(job, bare_cfg)
        assert not (bare & ~with_prop).any(), job.path  # same figure, same place: the prop only adds pixels
        added = (with_prop & ~bare).sum() / bare.sum()
        assert 0.01 < added < 0.5, (job.path, added)  # drawn over the body in part (Clap holds it at the chest)


def test_prop_shapes_are_drawn_at_their_size():
    style = dataclasses.replace(
        render.sample_actor_style(np.random.default_rng(0), 96, (0.7, 0.7), (0.1, 0.1), props=True), prop_scale=1.0)
    size = figure.PROP_SIZE * style.height
    for shape in sorted({s for s, _ in figure.PROPS.values()}):
        canvas = np.zeros((200, 200), np.uint8)
        render.draw_prop(canvas, shape, np.array([100.0, 100.0]), style, facing=1, colours=False)
        ys, xs = np.nonzero(canvas >= 128)
        extent = max(xs.max() - xs.min(), ys.max() - ys.min()) + 1
        assert 0.6 * size <= extent <= 2.5 * size, (shape, extent, size)
    with pytest.raises(ValueError, match="unknown prop"):
        render.prop_polygons("anvil", np.zeros(2), 10.0, 1)


def test_actor_band_keeps_the_root_in_the_centre_of_the_frame():
    style = render.sample_actor_style(np.random.default_rng(3), 96, (0.8, 0.8), (0.15, 0.15), props=True)
    w, h, margin = 128, 96, 3
    room_low, room_high = margin + 0.3 * style.height, margin + w - 0.3 * style.height
    centre = (room_low + room_high) / 2
    for action in ("Walk", "Run", "Wave"):
        _, root, _ = render.actor_joints(action, dataclasses.replace(style, band=0.0), 64, 25.0, w, h, margin)
        np.testing.assert_allclose(root[:, 0], centre, atol=1e-3)  # band 0: pinned to the centre
        _, root, _ = render.actor_joints(action, dataclasses.replace(style, band=0.2), 64, 25.0, w, h, margin)
        half = 0.1 * (room_high - room_low)
        assert np.all(np.abs(root[:, 0] - centre) <= half + 1e-6), action
    # band 1 (generator version 3): a travelling actor uses the whole room
    _, root, _ = render.actor_joints("Run", dataclasses.replace(style, band=1.0), 64, 25.0, w, h, margin)
    assert root[:, 0].max() - root[:, 0].min() > 0.5 * (room_high - room_low)


def test_pasted_actor_region_hides_most_of_the_other_clips_actor():
    # eq. 8 pastes clip i's actor region over clip j; with actors anywhere in the frame, j's actor stays in view
    # and the mixed clip shows two actors under one label. Version 4 frames the actor near the centre.
    cfg = benchmark.PRESETS["default"]
    jobs = [j for j in benchmark.plan(cfg, 0).videos if j.split == "train"][::20][:20]

    def visible_share(c: benchmark.SynthConfig) -> float:
        masks = [benchmark.render_job(j, c)[1][::16] for j in jobs]
        return float(np.mean([(masks[k + 1] & ~masks[k]).sum() / masks[k + 1].sum() for k in range(0, 20, 2)]))

    framed, anywhere = visible_share(cfg), visible_share(dataclasses.replace(cfg, actor_band=1.0))
    assert framed < 0.65 < 0.75 < anywhere, (framed, anywhere)


def test_written_layout_is_consistent(tiny_benchmark):
    root = tiny_benchmark
    meta = json.loads((root / "meta.json").read_text())
    cfg = benchmark.PRESETS["tiny"]
    assert read_class_names(root / "actions.txt") == meta["actions"] == benchmark.action_names(cfg)
    assert read_class_names(root / "scenes.txt") == meta["scenes"]
    for split, info in meta["splits"].items():
        entries = read_list(root / info["list"])
        assert len(entries) == info["videos"], split
        for e in entries:
            mask = np.load(root / "gt_masks" / Path(e.path).with_suffix(".npz"))["mask"]
            assert mask.shape == (cfg.num_frames, cfg.height, cfg.width) and mask.dtype == bool
            assert mask.any() == (e.action >= 0)
        video = Video(root / entries[0].path)
        assert (len(video), video.info.height, video.info.width) == (cfg.num_frames, cfg.height, cfg.width)
    # UCF-101-style split files agree with the toolkit lists.
    names = read_ucf101_class_index(root / "splits" / "classInd.txt")
    ucf_train = read_ucf101_split(root / "splits" / "trainlist01.txt", names, prefix="videos/")
    assert [(e.path, e.action) for e in ucf_train] == [(e.path, e.action) for e in read_list(root / "lists/train.txt")]
    ucf_test = read_ucf101_split(root / "splits" / "testlist01.txt", names, prefix="videos/")
    assert {int(Path(e.path).stem.split("_g")[1][:2]) for e in ucf_test} <= set(range(1, 8))
    # Places365-style scene images.
    for split, count in (("train", cfg.scene_images_train), ("val", cfg.scene_images_val)):
        lines = (root / "scene_images" / f"{split}.txt").read_text().splitlines()
        assert len(lines) == count * cfg.num_scenes
        rel, label = lines[0].rsplit(" ", 1)
        image = cv2.imread(str(root / "scene_images" / rel))
        assert image.shape == (cfg.height, cfg.width, 3) and meta["scenes"][int(label)] in rel


def test_resume_after_interruption_gives_the_same_files(tmp_path):
    root = tmp_path / "b"
    cfg = benchmark.PRESETS["tiny"]
    benchmark.generate(root, cfg, seed=5, jobs=1)
    before = _hashes(root)
    entries = read_list(root / "lists" / "train.txt")
    for e in entries[:3]:
        (root / e.path).unlink()  # as if killed before these were written
    (root / "gt_masks" / Path(entries[4].path).with_suffix(".npz")).unlink()
    (root / "meta.json").unlink()
    partial = root / "videos" / ".v_half.avi.abc.partial.avi"
    partial.write_bytes(b"half a video")
    result = benchmark.generate(root, cfg, seed=5, jobs=2)
    assert result.videos_written == 4 and not result.already_complete
    assert not partial.exists()
    assert _hashes(root) == before
    assert benchmark.generate(root, cfg, seed=5, jobs=1).already_complete


def test_other_settings_in_the_same_folder_are_refused(tiny_benchmark):
    with pytest.raises(DeviasError, match="already holds a benchmark generated with other settings"):
        benchmark.generate(tiny_benchmark, benchmark.PRESETS["tiny"], seed=4)


def _motion_features(mask: np.ndarray) -> np.ndarray:
    """Scale- and phase-free description of how the actor's silhouette moves (from its GT mask)."""
    rows, cols = mask.any(axis=2), mask.any(axis=1)

    def extent(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo = np.argmax(a, axis=1)
        hi = a.shape[1] - 1 - np.argmax(a[:, ::-1], axis=1)
        return lo, hi

    (y0, y1), (x0, x1) = extent(rows), extent(cols)
    scale = np.median(y1 - y0) + 1
    series = np.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0, mask.sum((1, 2)) / scale]) / scale
    spectrum = np.abs(np.fft.rfft(series - series.mean(axis=1, keepdims=True), axis=1))[:, 1:17]
    return np.concatenate([spectrum.ravel(), series.std(axis=1), series[2:].mean(axis=1)])


@pytest.mark.slow
def test_bias_background_wins_seen_fails_unseen_while_motion_decides_the_action(default_benchmark):
    """The benchmark must carry the paper's bias, and its action labels must live in the motion."""
    root = default_benchmark
    lists = sorted((root / "lists").glob("*.txt"))
    results = {r.split: r for r in bias.run_bias_check(root, root / "lists/train.txt", lists, 10, jobs=2)}
    assert results["train"].accuracy > 0.9
    assert results["test"].accuracy >= 0.8
    for split in benchmark.ACTOR_UNSEEN_SPLITS:
        assert results[split].accuracy <= results[split].chance + 0.1, split
    assert "hat-scene-only" not in results  # no action labels there

    # An oracle that sees only the actor's silhouette motion recognises actions everywhere.
    def features(split: str) -> tuple[np.ndarray, np.ndarray]:
        entries = read_list(root / "lists" / f"{split}.txt")
        x = [_motion_features(np.load(root / "gt_masks" / Path(e.path).with_suffix(".npz"))["mask"]) for e in entries]
        return np.stack(x), np.array([e.action for e in entries])

    clf = bias.fit_logistic_regression(*features("train"), num_classes=10)
    for split in ("test", *benchmark.ACTOR_UNSEEN_SPLITS):
        x, y = features(split)
        assert (clf.predict(x) == y).mean() >= 0.9, split


def test_k400_like_preset_has_kinetics_frame_size_and_length():
    cfg = benchmark.PRESETS["k400-like"]
    cfg.validate()
    p = benchmark.plan(cfg, 0)
    assert sum(j.split == "train" for j in p.videos) == 8 * cfg.num_actions
    frames, masks = benchmark.render_job(next(j for j in p.videos if j.split == "train"), cfg)
    # 340x256 (Kinetics after its usual short-side-256 resize), 10 s at 25 fps
    assert frames.shape == (250, 256, 340, 3) and frames.dtype == np.uint8
    assert masks.shape == (250, 256, 340) and masks.any()
    assert cfg.num_frames / cfg.fps == 10.0
