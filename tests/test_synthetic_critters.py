"""The critters family of the embedded benchmark: determinism, masks, the unbiased twin, class structure, and
the shared downstream (layout converters, list readers, the synthetic suite) on a critters-tiny benchmark."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from formats_fixtures import run_cli

from devias_tk.data import bias
from devias_tk.data.formats import hvu, kinetics400, places365, ucf101
from devias_tk.data.lists import read_class_names, read_list, read_ucf101_class_index, read_ucf101_split
from devias_tk.data.video import Video
from devias_tk.errors import DeviasError
from devias_tk.synthetic import benchmark, critters, landscapes, layouts

SEED = 3


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def critters_tiny(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("critters") / "tiny"
    benchmark.generate(root, benchmark.PRESETS["critters-tiny"], seed=SEED, jobs=2, preset="critters-tiny")
    return root


def test_same_seed_gives_identical_files_whatever_the_jobs(critters_tiny, tmp_path):
    again = tmp_path / "again"
    benchmark.generate(again, benchmark.PRESETS["critters-tiny"], seed=SEED, jobs=1, preset="critters-tiny")
    assert _hashes(critters_tiny) == _hashes(again)
    cfg = benchmark.PRESETS["critters-tiny"]
    job = benchmark.plan(cfg, SEED).videos[0]
    first = benchmark.render_job(job, cfg)[0]
    assert np.array_equal(first, benchmark.render_job(job, cfg)[0])
    assert not np.array_equal(first, benchmark.render_job(benchmark.plan(cfg, SEED + 1).videos[0], cfg)[0])


def test_meta_records_the_family_and_its_version_and_the_figures_family_is_unchanged(critters_tiny):
    meta = json.loads((critters_tiny / "meta.json").read_text())
    assert meta["family"] == critters.FAMILY == meta["config"]["family"]
    assert meta["generator_version"] == critters.GENERATOR_VERSION == 1
    assert meta["actions"] == list(critters.ACTION_NAMES[:4]) and meta["scenes"] == list(landscapes.LANDSCAPE_NAMES[:4])
    dist = np.array(meta["scene_distances"])
    for a, home in enumerate(meta["scene_of_action"]):
        others = [s for s in range(4) if s != home]
        assert meta["close_scene_of_action"][a] == min(others, key=lambda s: dist[home, s])
        assert meta["far_scene_of_action"][a] == max(others, key=lambda s: dist[home, s])
    # the figures family writes meta.json as before families existed (no family key, its own version)
    cfg = benchmark.PRESETS["tiny"]
    figures = benchmark._meta(cfg, 0, "tiny", benchmark.plan(cfg, 0))
    assert cfg.family == "figures" and "family" not in figures and "family" not in figures["config"]
    assert figures["generator_version"] == benchmark.GENERATOR_VERSION
    # a folder of one family is not resumed as the other
    with pytest.raises(DeviasError, match="other settings"):
        benchmark.generate(critters_tiny, dataclasses.replace(cfg, rho=0.95), seed=SEED)
    with pytest.raises(DeviasError, match=r"num_actions must be in 2\.\.8"):
        dataclasses.replace(benchmark.PRESETS["critters"], num_actions=9).validate()


def test_layout_lists_and_masks_on_disk(critters_tiny):
    root, cfg = critters_tiny, benchmark.PRESETS["critters-tiny"]
    meta = json.loads((root / "meta.json").read_text())
    assert read_class_names(root / "actions.txt") == meta["actions"]
    assert read_class_names(root / "scenes.txt") == meta["scenes"]
    for split, info in meta["splits"].items():
        entries = read_list(root / info["list"])
        assert len(entries) == info["videos"] > 0, split
        for e in entries:
            mask = np.load(root / "gt_masks" / Path(e.path).with_suffix(".npz"))["mask"]
            assert mask.shape == (cfg.num_frames, cfg.height, cfg.width) and mask.dtype == bool
            if e.action >= 0:
                assert mask.any(axis=(1, 2)).all(), e.path  # the creature is in every frame
            else:
                assert not mask.any(), e.path
        video = Video(root / entries[0].path)
        assert (len(video), video.info.height, video.info.width) == (cfg.num_frames, cfg.height, cfg.width)
    names = read_ucf101_class_index(root / "splits" / "classInd.txt")
    ucf_train = read_ucf101_split(root / "splits" / "trainlist01.txt", names, prefix="videos/")
    assert [(e.path, e.action) for e in ucf_train] == [(e.path, e.action) for e in read_list(root / "lists/train.txt")]
    lines = (root / "scene_images" / "train.txt").read_text().splitlines()
    assert len(lines) == cfg.scene_images_train * cfg.num_scenes
    rel, label = lines[-1].rsplit(" ", 1)
    image = cv2.imread(str(root / "scene_images" / rel))
    assert image.shape == (cfg.height, cfg.width, 3) and meta["scenes"][int(label)] in rel


def _creature_over(job: benchmark.VideoJob, cfg: benchmark.SynthConfig, value: int) -> tuple[np.ndarray, np.ndarray]:
    _, sprite, matrices = critters.creature(critters.ACTION_NAMES[job.action], job.actor_seed, cfg)
    frames = np.full((cfg.num_frames, cfg.height, cfg.width, 3), value, np.uint8)
    return frames, critters.composite(frames, sprite, matrices)


def test_masks_cover_the_creature_and_nothing_else():
    cfg = benchmark.PRESETS["critters"]
    splits = ("train", "test", *benchmark.ACTOR_UNSEEN_SPLITS)
    videos = benchmark.plan(cfg, 0).videos
    # one video of each action, over the splits' backgrounds (landscapes panned or still, art, stripes)
    jobs = [next(j for j in videos if j.action == a and j.split == splits[a % len(splits)]) for a in range(8)]
    for job in jobs:
        frames, masks = benchmark.render_job(job, cfg)
        empty, no_mask = benchmark.render_job(dataclasses.replace(job, action=-1), cfg)
        assert not no_mask.any() and masks.any(axis=(1, 2)).all()
        diff = np.abs(frames.astype(int) - empty.astype(int)).max(axis=-1)
        grown = np.stack([cv2.dilate(m.astype(np.uint8), np.ones((3, 3), np.uint8)) for m in masks]).astype(bool)
        assert ((diff > 40) & ~grown).sum() == 0, job.path  # every clearly changed pixel is the creature's
        # the mask is the creature's coverage of each pixel (over black and over white) at MASK_COVERAGE
        black, black_mask = _creature_over(job, cfg, 0)
        white, white_mask = _creature_over(job, cfg, 255)
        assert np.array_equal(black_mask, masks) and np.array_equal(white_mask, masks)
        coverage = 1 - (white.astype(int) - black.astype(int)).max(axis=-1) / 255
        agree = (coverage >= critters.MASK_COVERAGE) == masks
        assert agree.mean() > 0.998, job.path  # off only by the frames' 8-bit rounding at the threshold
    scene_only = next(j for j in benchmark.plan(cfg, 0).videos if j.split == "hat-scene-only")
    assert not benchmark.render_job(scene_only, cfg)[1].any()


def test_unbiased_twin_draws_scenes_independently_of_actions(tmp_path):
    cfg = dataclasses.replace(benchmark.PRESETS["critters"], rho=1 / 8)
    counts = np.zeros((8, 8))
    for job in benchmark.plan(cfg, 0).videos:
        if job.split == "train":
            counts[job.action, job.scene] += 1
    expected = counts.sum(1, keepdims=True) * counts.sum(0, keepdims=True) / counts.sum()
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 85.4  # chi-square test of independence, 49 degrees of freedom, p > 0.001 (seed 0: 69.8)
    home = benchmark.scene_of_action(cfg)
    assert np.allclose(counts.sum(1), 40) and all(counts[a, home[a]] == 5 for a in range(8))  # rho = 1/8 exactly
    pooled = np.zeros((8, 8))  # over ten seeds, P(scene | action) is 1/8 for every pair
    for seed in range(10):
        for job in benchmark.plan(cfg, seed).videos:
            if job.split in benchmark.SEEN_SPLITS:
                pooled[job.action, job.scene] += 1
    assert np.abs(pooled / pooled.sum(1, keepdims=True) - 1 / 8).max() < 0.04
    biased = benchmark.plan(benchmark.PRESETS["critters"], 0).videos
    assert np.mean([j.scene == home[j.action] for j in biased if j.split == "train"]) == 0.95
    # the command's --unbiased gives the twin of a critters preset
    result = run_cli("data", "synth", tmp_path / "twin", "--preset", "critters-tiny", "--unbiased", "-j", "1")
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "twin" / "meta.json").read_text())
    assert meta["config"]["rho"] == 0.25 and meta["family"] == "critters"


def _mask_features(mask: np.ndarray) -> np.ndarray:
    """How the silhouette moves (spectrum of its box's position and extent) and what it looks like (solidity,
    holes, fill of its box, Hu moments), scale- and phase-free, from the ground-truth mask alone."""
    rows, cols = mask.any(axis=2), mask.any(axis=1)

    def extent(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.argmax(a, axis=1), a.shape[1] - 1 - np.argmax(a[:, ::-1], axis=1)

    (y0, y1), (x0, x1) = extent(rows), extent(cols)
    area = mask.sum((1, 2)).astype(float)
    scale = np.sqrt(np.median(area))
    series = np.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0 + 1, y1 - y0 + 1, np.sqrt(area)]) / scale
    spectrum = np.abs(np.fft.rfft(series - series.mean(axis=1, keepdims=True), axis=1))[:, 1:17]
    shape = []
    for m in mask[::4].astype(np.uint8):
        contours, hierarchy = cv2.findContours(m, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
        hull = cv2.contourArea(cv2.convexHull(max(contours, key=cv2.contourArea)))
        hu = cv2.HuMoments(cv2.moments(m, True)).ravel()[:4]
        box = (np.ptp(np.nonzero(m.any(0))[0]) + 1) * (np.ptp(np.nonzero(m.any(1))[0]) + 1)
        shape.append([m.sum() / max(hull, 1), float((hierarchy[0, :, 3] >= 0).any()), m.sum() / box,
                      *(-np.sign(hu) * np.log10(np.abs(hu) + 1e-12))])
    shape = np.array(shape)
    return np.concatenate([spectrum.ravel(), series.std(axis=1), shape.mean(0), shape.std(0)])


def test_the_creatures_shape_and_motion_tell_the_action_on_every_split():
    """An oracle on the ground-truth mask alone recognises the 8 actions, seen or unseen scenes alike."""
    cfg = benchmark.PRESETS["critters"]
    jobs = benchmark.plan(cfg, 0).videos

    def features(split: str, per_action: int) -> tuple[np.ndarray, np.ndarray]:
        chosen = [j for a in range(cfg.num_actions) for j in [j for j in jobs if j.split == split and j.action == a][
            :per_action]]
        x = [_mask_features(_creature_over(j, cfg, 0)[1]) for j in chosen]
        return np.stack(x), np.array([j.action for j in chosen])

    clf = bias.fit_logistic_regression(*features("train", 8), num_classes=cfg.num_actions)
    for split in ("test", "hat-far"):  # every unseen split holds the same creatures (tested below)
        x, y = features(split, 4)
        assert (clf.predict(x) == y).mean() >= 0.9, split  # chance: 0.125
    actors = {s: sorted(j.actor_seed for j in jobs if j.split == s) for s in benchmark.ACTOR_UNSEEN_SPLITS}
    assert len({tuple(v) for v in actors.values()}) == 1


def test_creatures_stay_framed_and_move():
    cfg = benchmark.PRESETS["critters"]
    jobs = [j for j in benchmark.plan(cfg, 0).videos if j.split == "train"][::8]
    for job in jobs:
        _, masks = _creature_over(job, cfg, 0)
        centres = np.array([np.argwhere(m).mean(axis=0) for m in masks])  # (y, x)
        assert (np.abs(centres[:, 1] - cfg.width / 2) < 0.3 * cfg.width).all(), job.path  # a central region
        assert (np.abs(centres[:, 0] - cfg.height / 2) < 0.3 * cfg.height).all(), job.path
        swept = masks.any(axis=0).sum() / np.median(masks.sum(axis=(1, 2)))
        assert swept > 1.3, job.path  # it moves, swells or turns: the clip's union is well beyond one frame's


def test_panning_camera_and_still_camera():
    cfg = benchmark.PRESETS["critters"]
    p = benchmark.plan(cfg, 0).videos
    still = next(j for j in p if j.split == "scuba-places")
    frames = critters.background_frames(still, cfg)
    assert (frames == frames[0]).all()  # SCUBA-like: a still picture
    for job in [j for j in p if j.split in ("train", "hat-scene-only")][::50]:
        frames = critters.background_frames(job, cfg).astype(float)
        assert np.abs(frames[-1] - frames[0]).mean() > 5, job.path  # the camera pans


def test_layouts_and_the_synthetic_suite_read_a_critters_benchmark(critters_tiny, tmp_path, monkeypatch):
    out = tmp_path / "official"
    result = run_cli("data", "layout", critters_tiny, out, "-j", "2")
    assert result.exit_code == 0, result.output
    bench = layouts.load_benchmark(critters_tiny)
    conv = ucf101.convert(out / "ucf101", out / "ucf101" / "ucfTrainTestlist", [1], "UCF-101")
    assert conv.actions == bench.actions and [e.action for e in conv.lists["trainlist01"]] == [
        e.action for e in bench.split("train")]
    result = run_cli("data", "lists", "scuba", "--root", out / "scuba", "--source", "places365", "--source", "vqgan",
                     "--source", "sinusoid", "--actions", critters_tiny / "actions.txt", "--out", tmp_path / "scuba")
    assert result.exit_code == 0, result.output
    for source, split in layouts.SCUBA_SOURCES.items():
        entries = read_list(tmp_path / "scuba" / "lists" / f"scuba-{source}.txt")
        assert [e.action for e in entries] == [e.action for e in bench.split(split)]
    result = run_cli("data", "lists", "hat", "--root", out / "hat", "--out", tmp_path / "hat")
    assert result.exit_code == 0, result.output
    assert len(read_list(tmp_path / "hat" / "lists" / "hat-scene-only.txt")) == len(bench.split("test"))
    k400 = kinetics400.convert(out / "kinetics400", [out / "kinetics400/annotations/train.csv"], "videos")
    assert [k400.actions[e.action] for e in k400.lists["train"]] == [bench.actions[e.action]
                                                                     for e in bench.split("train")]
    official = hvu.convert_official(out / "hvu", [out / "hvu/HVU_Train_V1.0.csv"],
                                    out / "hvu/HVU_Tags_Categories_V1.0.csv", "videos")
    assert [(e.action, e.scene) for e in official.lists["HVU_Train_V1.0"]] == [
        (e.action, e.scene) for e in bench.split("train")]
    places = places365.convert(out / "places365", out / "places365/categories_places365.txt",
                               out / "places365/places365_train_standard.txt", out / "places365/places365_val.txt")
    assert places.classes == [f"/{n[0]}/{n}" for n in bench.scenes] and not places.missing

    from devias_tk.evaluate.suite import load_suite

    monkeypatch.setenv("DEVIAS_SYNTH_ROOT", str(critters_tiny))
    suite = load_suite(Path(__file__).parents[1] / "pipelines" / "eval" / "synthetic.yaml")
    assert not suite.missing
    for spec in suite.splits:
        entries = read_list(spec.list)
        assert entries and all((spec.root / e.path).is_file() for e in entries), spec.name
        if spec.action:
            assert all(0 <= e.action < 4 for e in entries), spec.name
