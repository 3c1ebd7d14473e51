"""The embedded synthetic action–scene benchmark: presets, the split plan, and writing it to disk.

Layout written under OUT (UCF-101-like, plus the toolkit's own lists)::

    videos/<Action>/v_<Action>_gXX_cYY.avi          train (groups 08-25) and seen test (groups 01-07)
    unseen/<split>/<Action>/v_<Action>_gXX_cYY.avi  SCUBA-like and HAT-like unseen splits
    unseen/hat-scene-only/<scene>/s_<scene>_cYYY.avi
    gt_masks/<video path without extension>.npz     actor masks, key 'mask', bool (T, H, W)
    splits/classInd.txt, trainlist01.txt, testlist01.txt   (UCF-101 format, paths under videos/)
    lists/<split>.txt                               toolkit lists: '<path> <action> <scene>'
    actions.txt, scenes.txt                         '<index> <name>', 0-based
    scene_images/<scene>/<scene>_NNNNN.jpg, scene_images/{train,val}.txt   Places365-style
    meta.json                                       settings, class names, scene similarity; written last

Every video is derived from (seed, split, index) alone, so the output does not depend on --jobs.

Two generator families share this plan and layout: "figures" (the default: stick figures holding objects
over static scenes with a shaking camera; render.py, figure.py, scenes.py) and "critters" (textured
creatures whose shape and motion are the action, over panned landscapes; critters.py, landscapes.py).
SynthConfig.family picks one; the `critters*` presets set it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from devias_tk import __version__
from devias_tk.data.encode import write_video
from devias_tk.data.lists import VideoEntry, write_class_names, write_list
from devias_tk.errors import DeviasError
from devias_tk.synthetic import critters, landscapes, render, scenes
from devias_tk.synthetic.figure import ACTION_NAMES
from devias_tk.utils.atomic import atomic_path, atomic_write_text
from devias_tk.utils.progress import parallel_map

# 2: actors 0.55-0.85 of the frame height with limbs 0.10-0.14 of the figure (were 0.40-0.62, 0.07-0.10)
# 3: each action's object in the actor's hand (SynthConfig.props; --no-props gives version 2's videos)
# 4: actors framed as a camera frames UCF-101's people: kept to the central fifth of the frame's width (so that
#    eq. 8's pasted actor region covers much of the other clip's actor), limbs 0.13-0.17 of the figure's height
GENERATOR_VERSION = 4  # the figures family's; the critters family has its own (critters.GENERATOR_VERSION)
FAMILIES = ("figures", critters.FAMILY)

SEEN_SPLITS = ("train", "test")
ACTOR_UNSEEN_SPLITS = ("scuba-places", "scuba-stylized", "scuba-sinusoid", "hat-random", "hat-close", "hat-far")
UNSEEN_SPLITS = ("scuba-places", "scuba-stylized", "scuba-sinusoid", "hat-scene-only", "hat-random",
                 "hat-close", "hat-far")
ALL_SPLITS = SEEN_SPLITS + UNSEEN_SPLITS
_SPLIT_ID = {name: i for i, name in enumerate(ALL_SPLITS)}
TRAIN_GROUPS = tuple(range(8, 26))  # UCF-101 split 1: groups 8-25 train, 1-7 test
TEST_GROUPS = tuple(range(1, 8))


@dataclass(frozen=True)
class SynthConfig:
    """Everything that shapes the benchmark. Difficulty knobs (rho, shake, distractors) are fixed.

    `family` picks the generator: "figures" (stick figures, the default) or "critters". The critters family
    reads actor_height (the creature's size as a share of the frame height), actor_band (the central share
    of the frame's width its rest position lies in) and distractor_prob (clutter); it ignores shake_px
    (its camera pans: landscapes.sample_camera), actor_thickness and props.
    """

    num_actions: int = 10
    num_scenes: int = 10
    width: int = 128
    height: int = 96
    num_frames: int = 64
    fps: float = 25.0
    train_per_action: int = 40
    test_per_action: int = 10
    unseen_per_class: int = 10  # per action (actor splits) or per scene (hat-scene-only)
    scene_images_train: int = 60  # per scene class
    scene_images_val: int = 20
    rho: float = 0.95  # P(scene = pi(action)) in train and seen test
    shake_px: tuple[float, float] = (0.4, 1.2)  # amplitude range at 96 px frame height; scales with height
    distractor_prob: float = 0.3
    # UCF-101's people often fill a third of the frame or more, near its centre; at 0.40-0.62 with 0.07-0.10 limbs
    # (3-5 px at 96 px) a small model trained from scratch learned next to nothing about the actor (docs/measured.md).
    # Taller figures (0.70-0.95) lose the head and the raised objects (flag, hat) above the frame in 39% of frames.
    actor_height: tuple[float, float] = (0.55, 0.85)  # figure height as a share of the frame height
    actor_thickness: tuple[float, float] = (0.13, 0.17)  # limb width as a share of the figure height
    # Each action's object (figure.PROPS) in the actor's hand. Without it the actions differ by motion alone,
    # which the demo's small from-scratch model learned only slowly (docs/measured.md, "Learnability").
    props: bool = True
    # Share of the frame's width the actor's root may use, centred. A camera frames its person; with actors
    # anywhere (1.0), the region eq. 8 pastes left 84% of the other clip's actor in view (two actors, one label).
    actor_band: float = 0.2
    # Not written into meta.json's config when "figures", so that family's files stay as they were.
    family: str = "figures"

    def validate(self) -> None:
        if self.family not in FAMILIES:
            raise DeviasError(f"unknown generator family {self.family!r}; choose from {', '.join(FAMILIES)}")
        max_actions, max_scenes = len(_action_names(self.family)), len(_scene_names(self.family))
        if not 2 <= self.num_actions <= max_actions:
            raise DeviasError(f"num_actions must be in 2..{max_actions}")
        if not 2 <= self.num_scenes <= max_scenes:
            raise DeviasError(f"num_scenes must be in 2..{max_scenes}")
        if self.width % 2 or self.height % 2 or min(self.width, self.height) < 32:
            raise DeviasError("frame width and height must be even and at least 32")
        if not 0.0 <= self.rho <= 1.0:
            raise DeviasError("rho must be within [0, 1]")

    @property
    def margin(self) -> int:
        return max(2, int(round(0.03 * self.height)))

    def shake_amplitude(self, rng: np.random.Generator) -> float:
        return rng.uniform(*self.shake_px) * self.height / 96.0


PRESETS: dict[str, SynthConfig] = {
    "tiny": SynthConfig(num_actions=4, num_scenes=4, width=64, height=48, num_frames=32, train_per_action=6,
                        test_per_action=2, unseen_per_class=2, scene_images_train=6, scene_images_val=2),
    "default": SynthConfig(),
    "ucf-like": SynthConfig(width=320, height=240, num_frames=175, train_per_action=16, test_per_action=4,
                            unseen_per_class=3, scene_images_train=30, scene_images_val=10),
    # Kinetics-400's usual frame size after its customary short-side-256 resize, and its 10 s clips: for loader
    # throughput (`bench train --with-loader`), where frame size and length set the decode cost per clip.
    "k400-like": SynthConfig(width=340, height=256, num_frames=250, train_per_action=8, test_per_action=2,
                             unseen_per_class=1, scene_images_train=10, scene_images_val=4),
    # The critters family (critters.py, landscapes.py): creatures 0.3-0.5 of the frame height whose rest
    # position lies in the central fifth of the frame's width, clutter in 30% of the camera videos.
    "critters": SynthConfig(num_actions=8, num_scenes=8, actor_height=(0.3, 0.5), family=critters.FAMILY),
    "critters-tiny": SynthConfig(num_actions=4, num_scenes=4, width=64, height=48, num_frames=32,
                                 train_per_action=6, test_per_action=2, unseen_per_class=2, scene_images_train=6,
                                 scene_images_val=2, actor_height=(0.3, 0.5), family=critters.FAMILY),
}


@dataclass(frozen=True)
class VideoJob:
    """One video to render: what it shows and the seeds that fix how."""

    split: str
    path: str  # relative to the benchmark root
    action: int  # -1: no actor
    scene: int  # -1: no scene class (stylized / sinusoid backgrounds)
    background: str  # "scene" | "stylized" | "sinusoid"
    camera: bool  # a camera video (shake, distractors) rather than a still background
    actor_seed: tuple[int, ...] | None
    scene_seed: tuple[int, ...]

    @property
    def mask_path(self) -> str:
        return str(Path("gt_masks") / Path(self.path).with_suffix(".npz"))


@dataclass(frozen=True)
class ImageJob:
    path: str  # relative to the benchmark root
    scene: int
    seed: tuple[int, ...]


@dataclass
class Plan:
    videos: list[VideoJob]
    images: list[ImageJob]
    image_lists: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


def _action_names(family: str) -> tuple[str, ...]:
    return critters.ACTION_NAMES if family == critters.FAMILY else ACTION_NAMES


def _scene_names(family: str) -> tuple[str, ...]:
    return critters.SCENE_NAMES if family == critters.FAMILY else scenes.SCENE_NAMES


def action_names(cfg: SynthConfig) -> list[str]:
    return list(_action_names(cfg.family)[: cfg.num_actions])


def scene_names(cfg: SynthConfig) -> list[str]:
    return list(_scene_names(cfg.family)[: cfg.num_scenes])


def scene_distances(cfg: SynthConfig) -> np.ndarray:
    """Distances between the scene classes (the HAT-like close / far splits): the family's own similarity."""
    if cfg.family == critters.FAMILY:
        return landscapes.landscape_distances(cfg.num_scenes)
    return scenes.scene_distances(cfg.num_scenes)


def scene_of_action(cfg: SynthConfig) -> list[int]:
    """pi: the scene each action is biased towards."""
    return [a % cfg.num_scenes for a in range(cfg.num_actions)]


def close_far_scenes(cfg: SynthConfig) -> tuple[list[int], list[int]]:
    """For each action: the most / least similar scene class to pi(action), excluding pi(action)."""
    dist = scene_distances(cfg)
    close, far = [], []
    for home in scene_of_action(cfg):
        d = dist[home].copy()
        d[home] = np.inf
        close.append(int(np.argmin(d)))
        d[home] = -np.inf
        far.append(int(np.argmax(d)))
    return close, far


def _off_diagonal_counts(total_per_action: int, num_actions: int, rho: float, rng: np.random.Generator) -> list[int]:
    """Exactly round(N * (1 - rho)) off-diagonal videos, spread as evenly as possible over actions."""
    total = int(round(total_per_action * num_actions * (1 - rho)))
    base, extra = divmod(total, num_actions)
    counts = np.full(num_actions, base)
    counts[rng.permutation(num_actions)[:extra]] += 1
    return np.minimum(counts, total_per_action).tolist()


def _other_scene(home: int, num_scenes: int, rng: np.random.Generator) -> int:
    choice = int(rng.integers(num_scenes - 1))
    return choice + (choice >= home)


def _seen_jobs(cfg: SynthConfig, seed: int, split: str, rng: np.random.Generator) -> list[VideoJob]:
    per_action = cfg.train_per_action if split == "train" else cfg.test_per_action
    groups = TRAIN_GROUPS if split == "train" else TEST_GROUPS
    names, home = action_names(cfg), scene_of_action(cfg)
    off_counts = _off_diagonal_counts(per_action, cfg.num_actions, cfg.rho, rng)
    jobs = []
    for a in range(cfg.num_actions):
        off = set(rng.permutation(per_action)[: off_counts[a]].tolist())
        for k in range(per_action):
            scene = _other_scene(home[a], cfg.num_scenes, rng) if k in off else home[a]
            group, clip = groups[k % len(groups)], k // len(groups) + 1
            name = names[a]
            jobs.append(VideoJob(
                split, f"videos/{name}/v_{name}_g{group:02d}_c{clip:02d}.avi", a, scene, "scene", True,
                (seed, _SPLIT_ID[split], a, k, 0), (seed, _SPLIT_ID[split], a, k, 1),
            ))
    return jobs


def _unseen_jobs(cfg: SynthConfig, seed: int, split: str, rng: np.random.Generator) -> list[VideoJob]:
    sid = _SPLIT_ID[split]
    if split == "hat-scene-only":
        jobs = []
        for s, name in enumerate(scene_names(cfg)):
            for k in range(cfg.unseen_per_class):
                jobs.append(VideoJob(split, f"unseen/{split}/{name}/s_{name}_c{k + 1:03d}.avi", -1, s, "scene", True,
                                     None, (seed, sid, s, k, 1)))
        return jobs
    names, home = action_names(cfg), scene_of_action(cfg)
    close, far = close_far_scenes(cfg)
    jobs = []
    for a in range(cfg.num_actions):
        for k in range(cfg.unseen_per_class):
            if split in ("scuba-places", "hat-random"):
                scene, background = _other_scene(home[a], cfg.num_scenes, rng), "scene"
            elif split == "hat-close":
                scene, background = close[a], "scene"
            elif split == "hat-far":
                scene, background = far[a], "scene"
            else:  # scuba-stylized / scuba-sinusoid: no scene class
                scene, background = -1, split.removeprefix("scuba-")
            group, clip = TEST_GROUPS[k % len(TEST_GROUPS)], k // len(TEST_GROUPS) + 1
            name = names[a]
            # Like SCUBA and HAT, every unseen split pastes the same actors (same seed per
            # action and index) onto different backgrounds: SCUBA onto still images, HAT onto
            # background videos (camera shake and distractors kept).
            jobs.append(VideoJob(
                split, f"unseen/{split}/{name}/v_{name}_g{group:02d}_c{clip:02d}.avi", a, scene, background,
                split.startswith("hat-"), (seed, 100, a, k), (seed, sid, a, k, 1),
            ))
    return jobs


def plan(cfg: SynthConfig, seed: int) -> Plan:
    """Every video and scene image of the benchmark, with labels and seeds (no rendering)."""
    cfg.validate()
    videos: list[VideoJob] = []
    for split in ALL_SPLITS:
        rng = np.random.default_rng((seed, 1000 + _SPLIT_ID[split]))
        make = _seen_jobs if split in SEEN_SPLITS else _unseen_jobs
        videos.extend(make(cfg, seed, split, rng))
    images, image_lists = [], {"train": [], "val": []}
    for s, name in enumerate(scene_names(cfg)):
        for k in range(cfg.scene_images_train + cfg.scene_images_val):
            rel = f"{name}/{name}_{k + 1:05d}.jpg"
            images.append(ImageJob(f"scene_images/{rel}", s, (seed, 200, s, k)))
            image_lists["train" if k < cfg.scene_images_train else "val"].append((rel, s))
    return Plan(videos, images, image_lists)


# ----------------------------------------------------------------------------- rendering


def _background(job: VideoJob, cfg: SynthConfig, rng: np.random.Generator) -> np.ndarray:
    h, w = cfg.height + 2 * cfg.margin, cfg.width + 2 * cfg.margin
    if job.background == "scene":
        return scenes.render_scene(job.scene, rng, h, w)
    if job.background == "sinusoid":
        return scenes.render_sinusoid(rng, h, w)
    if job.background == "stylized":
        return scenes.render_stylized(rng, h, w)
    raise ValueError(f"unknown background kind {job.background!r}")


def render_job(job: VideoJob, cfg: SynthConfig) -> tuple[np.ndarray, np.ndarray]:
    """Frames (T, H, W, 3) uint8 RGB and actor masks (T, H, W) bool of one planned video."""
    if cfg.family == critters.FAMILY:
        return critters.render_job(job, cfg)
    scene_rng = np.random.default_rng(job.scene_seed)
    background = _background(job, cfg, scene_rng)
    camera_rng = np.random.default_rng((*job.scene_seed, 2))
    if job.camera:
        shake = render.sample_shake(camera_rng, cfg.num_frames, cfg.fps, cfg.shake_amplitude(camera_rng),
                                    cfg.margin - 0.5)
        distractors = render.sample_distractors(camera_rng, cfg.height, cfg.width, cfg.distractor_prob)
    else:
        shake, distractors = np.zeros((cfg.num_frames, 2)), []
    style, action = None, None
    if job.action >= 0:
        style = render.sample_actor_style(np.random.default_rng(job.actor_seed), cfg.height, cfg.actor_height,
                                          cfg.actor_thickness, cfg.props, cfg.actor_band)
        action = ACTION_NAMES[job.action]
    return render.render_video(background, cfg.num_frames, cfg.fps, cfg.margin, action, style, shake, distractors)


def _is_done(root: Path, job: VideoJob) -> bool:
    return (root / job.path).is_file() and (root / job.mask_path).is_file()


def write_job(job: VideoJob, root: Path, cfg: SynthConfig) -> str:
    """Render one video and write it with its mask; each file appears atomically."""
    if _is_done(root, job):
        return job.path
    frames, masks = render_job(job, cfg)
    with atomic_path(root / job.mask_path) as tmp:
        np.savez_compressed(tmp, mask=masks)
    write_video(root / job.path, frames, cfg.fps)
    return job.path


def write_image(job: ImageJob, root: Path, cfg: SynthConfig) -> str:
    if (root / job.path).is_file():
        return job.path
    if cfg.family == critters.FAMILY:
        img = critters.render_scene_image(job.scene, job.seed, cfg)
    else:
        img = scenes.render_scene(job.scene, np.random.default_rng(job.seed), cfg.height, cfg.width)
    with atomic_path(root / job.path) as tmp:
        if not cv2.imwrite(str(tmp), img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92]):
            raise DeviasError(f"could not write {root / job.path}")
    return job.path


# ----------------------------------------------------------------------------- writing the benchmark


def _meta(cfg: SynthConfig, seed: int, preset: str | None, p: Plan) -> dict:
    close, far = close_far_scenes(cfg)
    counts = {split: sum(1 for j in p.videos if j.split == split) for split in ALL_SPLITS}
    config = dataclasses.asdict(cfg)
    if cfg.family == "figures":
        del config["family"]  # as the figures family wrote it before there were families
        generator = {"generator": "devias-tk synthetic action-scene benchmark", "generator_version": GENERATOR_VERSION}
    else:
        generator = {"generator": "devias-tk synthetic action-scene benchmark, critters family",
                     "generator_version": critters.GENERATOR_VERSION, "family": cfg.family}
    return {
        **generator,
        "toolkit_version": __version__,
        "preset": preset,
        "seed": seed,
        "config": config,
        "actions": action_names(cfg),
        "scenes": scene_names(cfg),
        "scene_of_action": scene_of_action(cfg),
        "close_scene_of_action": close,
        "far_scene_of_action": far,
        "scene_distances": np.round(scene_distances(cfg), 4).tolist(),
        "splits": {
            split: {
                "list": f"lists/{split}.txt",
                "videos": counts[split],
                "seen": split in SEEN_SPLITS,
                "has_action": split != "hat-scene-only",
                "has_scene": split not in ("scuba-stylized", "scuba-sinusoid"),
            }
            for split in ALL_SPLITS
        },
        "scene_images": {"train": "scene_images/train.txt", "val": "scene_images/val.txt"},
    }


def _settings(meta: dict) -> tuple:
    return meta.get("family", "figures"), meta.get("generator_version"), meta.get("seed"), meta.get("config")


def _write_index_files(root: Path, cfg: SynthConfig, p: Plan) -> None:
    by_split: dict[str, list[VideoEntry]] = {s: [] for s in ALL_SPLITS}
    for job in p.videos:
        by_split[job.split].append(VideoEntry(job.path, job.action, job.scene))
    for split, entries in by_split.items():
        write_list(root / "lists" / f"{split}.txt", entries)
    write_class_names(root / "actions.txt", action_names(cfg))
    write_class_names(root / "scenes.txt", scene_names(cfg))
    # UCF-101-style split files (1-based classInd; paths relative to videos/).
    names = action_names(cfg)
    atomic_write_text(root / "splits" / "classInd.txt", "".join(f"{i + 1} {n}\n" for i, n in enumerate(names)))
    atomic_write_text(root / "splits" / "trainlist01.txt",
                      "".join(f"{e.path.removeprefix('videos/')} {e.action + 1}\n" for e in by_split["train"]))
    atomic_write_text(root / "splits" / "testlist01.txt",
                      "".join(f"{e.path.removeprefix('videos/')}\n" for e in by_split["test"]))
    for name, items in p.image_lists.items():
        atomic_write_text(root / "scene_images" / f"{name}.txt", "".join(f"{rel} {s}\n" for rel, s in items))


def _remove_partials(root: Path) -> int:
    stale = [p for p in root.rglob(".*.partial*") if p.is_file()]
    for p in stale:
        p.unlink()
    return len(stale)


@dataclass
class GenerateResult:
    root: Path
    videos_written: int
    images_written: int
    seconds: float
    already_complete: bool


def generate(
    out: str | Path, cfg: SynthConfig, seed: int = 0, jobs: int = 1, preset: str | None = None,
    log: Callable[[str], None] = lambda _msg: None,
) -> GenerateResult:
    """Write the benchmark under `out`; resumes an interrupted run, refuses to mix settings."""
    root = Path(out)
    start = time.perf_counter()
    p = plan(cfg, seed)
    meta = _meta(cfg, seed, preset, p)
    meta_path = root / "meta.json"
    if root.exists() and not root.is_dir():
        raise DeviasError(f"{root} exists and is not a folder")
    if meta_path.exists():
        existing = json.loads(meta_path.read_text())
        if _settings(existing) != _settings(json.loads(json.dumps(meta))):
            raise DeviasError(
                f"{root} already holds a benchmark generated with other settings "
                f"(seed {existing.get('seed')}, preset {existing.get('preset')}); "
                "choose another folder or delete it"
            )
    root.mkdir(parents=True, exist_ok=True)
    removed = _remove_partials(root)
    if removed:
        log(f"removed {removed} partial files left by an interrupted run")
    todo = [j for j in p.videos if not _is_done(root, j)]
    todo_images = [j for j in p.images if not (root / j.path).is_file()]
    if meta_path.exists() and not todo and not todo_images:
        return GenerateResult(root, 0, 0, time.perf_counter() - start, True)
    if len(todo) < len(p.videos):
        log(f"resuming: {len(p.videos) - len(todo)} of {len(p.videos)} videos already written")
    for _ in parallel_map(write_job, todo, jobs, "videos", "videos", (root, cfg)):
        pass
    for _ in parallel_map(write_image, todo_images, jobs, "scene images", "img", (root, cfg)):
        pass
    _write_index_files(root, cfg, p)
    atomic_write_text(meta_path, json.dumps(meta, indent=1) + "\n")
    return GenerateResult(root, len(todo), len(todo_images), time.perf_counter() - start, False)
