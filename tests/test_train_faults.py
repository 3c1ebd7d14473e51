"""Training on imperfect data: videos the stores lack are left out (up to data.max_skipped), a video that fails
mid-run is replaced deterministically and recorded, a hung or crashing decoder is bounded, and past the budget
the run stops with a resumable checkpoint."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from test_train_engine import RECIPE

from devias_tk.cache.store import VideoStore, video_key
from devias_tk.data.lists import read_list
from devias_tk.errors import DeviasError
from devias_tk.masks import extract
from devias_tk.masks.windows import WindowSpec
from devias_tk.train import engine
from devias_tk.train.checkpoint import load_checkpoint
from devias_tk.train.config import config_from
from devias_tk.train.faults import read_skipped


@pytest.fixture(scope="module")
def masks(tiny_benchmark, tmp_path_factory) -> Path:
    """The tiny benchmark's mask store (tests copy it before changing it)."""
    masks = tmp_path_factory.mktemp("faults") / "masks.zarr"
    spec = WindowSpec(window=8, stride=2, hop=2, size=32, tubelet_size=8)
    extract.extract(tiny_benchmark, tiny_benchmark / "lists/train.txt", masks, spec, jobs=2, show_progress=False)
    return masks


def _recipe(work: Path, root: Path, masks: Path) -> Path:
    recipe = work / "recipe.yaml"
    recipe.write_text(RECIPE.replace("ROOT", str(root)).replace("MASKS", str(masks)))
    return recipe


def _params(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "checkpoints/last.pt")["model"]


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_videos_the_stores_lack_are_left_out_up_to_max_skipped(masks, tiny_benchmark, tmp_path):
    store_path = tmp_path / "masks.zarr"
    shutil.copytree(masks, store_path)
    store = VideoStore(store_path)
    entries = read_list(tiny_benchmark / "lists/train.txt")
    failed, unprocessed, later = entries[3].path, entries[10].path, entries[17].path
    for path in (failed, unprocessed):
        shutil.rmtree(store_path / "videos" / video_key(path))
    store.record_failure(failed, "truncated or corrupt: decoding frames failed (x)")
    assert len(store.done()) == 22
    recipe = _recipe(tmp_path, tiny_benchmark, store_path)
    run = tmp_path / "run"

    # the default (1% of 24 videos: none) refuses before any work, naming each video and its reason
    with pytest.raises(DeviasError) as err:
        engine.train(config_from(recipe, ["optim.epochs=1"]), run)
    text = str(err.value)
    assert "2 of 24 listed videos have no entry in the stores" in text
    assert f"{failed}: masks.zarr: truncated or corrupt: decoding frames failed (x)" in text
    assert f"{unprocessed}: masks.zarr: not processed yet (re-run `devias-tk masks extract`)" in text
    assert "data.max_skipped (now 0.01: 0 videos)" in text
    assert not (run / "checkpoints").exists()

    # 10% of 24 (2 videos) lets the run start on the other 22: 5 batches of 4
    cfg = config_from(recipe, ["optim.epochs=1", "data.max_skipped=0.1"])
    assert engine.train(cfg, run).steps == 5
    assert read_skipped(run) == {failed: "masks.zarr: truncated or corrupt: decoding frames failed (x)",
                                 unprocessed: "masks.zarr: not processed yet (re-run `devias-tk masks extract`)"}
    assert json.loads((run / "run.json").read_text())["skipped_videos"] == 2

    # a resumed run keeps the training set it started with: a video fixed since stays out ...
    store.commit(unprocessed, {"soft": (torch.zeros(1, 2, 2, dtype=torch.uint8).numpy(), (1, 2, 2))}, {})
    assert engine.train(cfg, run).steps == 5
    assert set(read_skipped(run)) == {failed, unprocessed}
    # ... and a video lost since is refused: the training set would change under the run
    shutil.rmtree(store_path / "videos" / video_key(later))
    with pytest.raises(DeviasError, match=r"have no store entry any more .* the stores changed since the run started"):
        engine.train(cfg, run)
