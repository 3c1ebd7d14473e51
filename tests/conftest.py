"""Shared fixtures: videos whose frames encode their own index, and generated benchmarks."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

from devias_tk.data.encode import write_video
from devias_tk.data.lists import VideoEntry, read_list, write_list
from devias_tk.synthetic import benchmark

# The property tests draw the same examples on every run, so CI cannot pass or fail by luck;
# HYPOTHESIS_PROFILE=explore draws fresh ones (for hunting new counterexamples by hand).
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

INDEX_BITS = 8
BAR = 8  # pixels per bit bar


def index_frame(i: int, height: int = 48, width: int = 64) -> np.ndarray:
    """A frame whose 8 vertical bars spell i in binary (bit b = bar b white)."""
    frame = np.zeros((height, width, 3), np.uint8)
    for b in range(INDEX_BITS):
        if (i >> b) & 1:
            frame[:, b * BAR : (b + 1) * BAR] = 255
    return frame


def decode_index(frame: np.ndarray, rows: int = 48) -> int:
    """Inverse of index_frame, robust to compression (reads the middle of each bar in the top rows)."""
    value = 0
    for b in range(INDEX_BITS):
        if frame[:rows, b * BAR + 2 : (b + 1) * BAR - 2].mean() > 127:
            value |= 1 << b
    return value


def write_index_video(path: Path, num_frames: int, noise_rows: int = 0) -> Path:
    """Frames spell their index in the top 48 rows; `noise_rows` of random pixels below make the file large."""
    frames = np.stack([index_frame(i) for i in range(num_frames)])
    if noise_rows:
        noise = np.random.default_rng(0).integers(0, 256, (num_frames, noise_rows, frames.shape[2], 3), np.uint8)
        frames = np.concatenate([frames, noise], axis=1)
    write_video(path, frames, fps=25)
    return path


@pytest.fixture(scope="session")
def index_video(tmp_path_factory) -> Path:
    """A 100-frame video whose frame i shows i in binary."""
    return write_index_video(tmp_path_factory.mktemp("videos") / "index.avi", 100)


@pytest.fixture(scope="session")
def tiny_benchmark(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bench") / "tiny"
    benchmark.generate(root, benchmark.PRESETS["tiny"], seed=3, jobs=2, preset="tiny")
    return root


@pytest.fixture(scope="session")
def default_benchmark(tmp_path_factory) -> Path:
    """The real default preset (about 20 s to generate on 2 cores)."""
    root = tmp_path_factory.mktemp("bench") / "default"
    benchmark.generate(root, benchmark.PRESETS["default"], seed=0, jobs=2, preset="default")
    return root


# val_fraction 0: tests count steps over all 24 training videos (held-out validation:
# tests/test_train_validate.py)
TINY_TRAIN_RECIPE = """
data: {root: ROOT, train_list: lists/train.txt, mask_store: MASKS, scene_source: list, frames: 8, stride: 2,
       hop: 2, size: 32, scale: [0.5, 1.0], num_workers: 0, val_fraction: 0}
model: {method: devias, size: tiny, depth: 1, embed_dim: 32, num_heads: 2, slot_head_dim: 16, amd_hidden: [16, 16]}
aug: {mix: fame, beta: 0.2, p_aug: 0.5}
optim: {lr: 1.0e-2, epochs: 3, batch_size: 4, warmup_epochs: 1}
run: {seed: 3, threads: 1, log_every: 2}
"""


@pytest.fixture(scope="session")
def tiny_run_setup(tiny_benchmark, tmp_path_factory):
    """(recipe, mask store): a tiny DEVIAS recipe over the tiny benchmark's train list and its FAME masks."""
    from devias_tk.masks import extract
    from devias_tk.masks.windows import WindowSpec

    work = tmp_path_factory.mktemp("train")
    masks = work / "masks.zarr"
    spec = WindowSpec(window=8, stride=2, hop=2, size=32, tubelet_size=8)
    extract.extract(tiny_benchmark, tiny_benchmark / "lists/train.txt", masks, spec, jobs=2, show_progress=False)
    recipe = work / "tiny.yaml"
    recipe.write_text(TINY_TRAIN_RECIPE.replace("ROOT", str(tiny_benchmark)).replace("MASKS", str(masks)))
    return recipe, masks


@pytest.fixture()
def bad_dataset(tiny_benchmark, tmp_path):
    """Three good tiny videos, then missing, empty, header-only, noise, text and 5-frame (short) files."""
    root = tmp_path / "bad"
    good = read_list(tiny_benchmark / "lists/train.txt")[:3]
    for e in good:
        (root / e.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny_benchmark / e.path, root / e.path)
    (root / "x").mkdir()
    (root / "x/empty.avi").write_bytes(b"")
    (root / "x/header_only.avi").write_bytes((tiny_benchmark / good[0].path).read_bytes()[:300])
    (root / "x/noise.avi").write_bytes(np.random.default_rng(0).bytes(20_000))
    (root / "x/notes.avi").write_text("not a video\n" * 50)
    write_video(root / "x/short.avi", np.full((5, 48, 64, 3), 128, np.uint8), fps=25)
    entries = [*good, *(VideoEntry(f"x/{n}") for n in ("missing.avi", "empty.avi", "header_only.avi", "noise.avi",
                                                      "notes.avi", "short.avi"))]
    write_list(root / "list.txt", entries)
    return root, good
