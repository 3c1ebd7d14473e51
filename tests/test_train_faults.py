"""Training on imperfect data: videos the stores lack are left out (up to data.max_skipped), a video that fails
mid-run is replaced deterministically and recorded, a hung or crashing decoder is bounded, and past the budget
the run stops with a resumable checkpoint."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from rich.console import Console
from test_pretrain_engine import RECIPE as PRETRAIN_RECIPE
from test_train_checkpoint import _flip_a_tensor_byte

from devias_tk.cache.store import VideoStore, video_key
from devias_tk.data.lists import read_list, write_list
from devias_tk.engine.checkpoint import load_checkpoint
from devias_tk.engine.faults import read_bad_samples, read_skipped
from devias_tk.errors import DeviasError
from devias_tk.pretrain import engine as pretrain_engine
from devias_tk.pretrain.config import config_from as pretrain_config
from devias_tk.train import engine
from devias_tk.train.config import config_from
from devias_tk.utils.workers import FAULT_ENV


def _recipe(work: Path, setup: tuple[Path, Path], bench: Path, root: Path | None = None,
            masks: Path | None = None) -> Path:
    """The tiny recipe (`tiny_run_setup`), reading its videos from `root` (a copy of the benchmark `bench`)
    and its masks from `masks` when given."""
    recipe, text = work / "recipe.yaml", setup[0].read_text()
    text = text.replace(str(setup[1]), str(masks or setup[1])).replace(str(bench), str(root or bench))
    recipe.write_text(text)
    return recipe


def _params(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "checkpoints/last.pt")["model"]


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_videos_the_stores_lack_are_left_out_up_to_max_skipped(tiny_run_setup, tiny_benchmark, tmp_path):
    store_path = tmp_path / "masks.zarr"
    shutil.copytree(tiny_run_setup[1], store_path)
    store = VideoStore(store_path)
    entries = read_list(tiny_benchmark / "lists/train.txt")
    failed, unprocessed, later = entries[3].path, entries[10].path, entries[17].path
    for path in (failed, unprocessed):
        shutil.rmtree(store_path / "videos" / video_key(path))
    store.record_failure(failed, "truncated or corrupt: decoding frames failed (x)")
    assert len(store.done()) == 22
    recipe = _recipe(tmp_path, tiny_run_setup, tiny_benchmark, masks=store_path)
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


VAL = ["optim.epochs=1", "data.val_list=lists/val.txt"]


def _damaged_copy(bench: Path, dest: Path, video: str) -> Path:
    """The benchmark with `video` cut to its first kilobyte (the stores were built before: it has entries)."""
    shutil.copytree(bench, dest, ignore=shutil.ignore_patterns("gt_masks", "scene_images"))
    path = dest / video
    path.write_bytes(path.read_bytes()[:1000])
    return dest


def test_a_video_failing_mid_run_costs_one_sample_and_past_the_budget_the_run_stops_resumably(
        tiny_run_setup, tiny_benchmark, tmp_path, monkeypatch):
    entries = read_list(tiny_benchmark / "lists/train.txt")
    bad = entries[5]
    root = _damaged_copy(tiny_benchmark, tmp_path / "bench", bad.path)
    write_list(root / "lists/val.txt", [bad, entries[0], entries[12]])  # validation scores the readable ones
    recipe = _recipe(tmp_path, tiny_run_setup, tiny_benchmark, root=root)

    # within data.max_skipped (10% of 24 videos): the sample is replaced by another video of its class, recorded
    whole = tmp_path / "whole"
    assert engine.train(config_from(recipe, [*VAL, "data.max_skipped=0.1"]), whole).steps == 6
    assert "val_hm" in (whole / "metrics.jsonl").read_text()
    [record] = read_bad_samples(whole)
    assert record["video"] == bad.path and record["epoch"] == 0 and record["reason"]
    by_path = {e.path: e for e in entries}
    assert record["replacement"] != bad.path and by_path[record["replacement"]].action == bad.action

    # past the budget (the default 1%: none) the run stops at that step with a checkpoint and says how to go on
    stopped = tmp_path / "stopped"
    with pytest.raises(DeviasError) as err:
        engine.train(config_from(recipe, VAL), stopped)
    text = str(err.value)
    assert f"stopped: 1 videos failed to decode during the run ({bad.path}: {record['reason']})" in text
    assert "data.max_skipped=0.01 lets a run lose 0 of its 24 listed videos (0 left out before work)" in text
    assert f"the run is saved in {stopped / 'checkpoints/last.pt'}" in text
    assert load_checkpoint(stopped / "checkpoints/last.pt")["step"] == record["step"] + 1
    # raising the budget resumes it, and the replacement is drawn again exactly: the same parameters
    assert engine.train(config_from(recipe, [*VAL, "data.max_skipped=0.1"]), stopped).steps == 6
    assert _same(_params(stopped), _params(whole))

    # a decode that hangs in a loader worker is killed after data.decode_timeout and replaced the same way
    monkeypatch.setenv(FAULT_ENV, f"hang:{bad.path}")
    hung = tmp_path / "hung"
    cfg = config_from(_recipe(tmp_path, tiny_run_setup, tiny_benchmark), ["optim.epochs=1", "data.max_skipped=0.1",
                                                                 "data.num_workers=1", "data.decode_timeout=2"])
    assert engine.train(cfg, hung).steps == 6
    [hang] = read_bad_samples(hung)
    assert hang == {**record, "reason": "decoding took over 2 s (worker killed)"}
    assert _same(_params(hung), _params(whole))


def test_pretrain_stops_past_the_budget_and_resumes_exactly(tiny_benchmark, tmp_path, monkeypatch):
    bad = read_list(tiny_benchmark / "lists/train.txt")[9]
    root = _damaged_copy(tiny_benchmark, tmp_path / "bench", bad.path)
    recipe = tmp_path / "pretrain.yaml"
    recipe.write_text(PRETRAIN_RECIPE.replace("ROOT", str(root)))
    # the video opened when the run checked the list, and broke on disk afterwards
    monkeypatch.setattr("devias_tk.pretrain.engine.unreadable_videos", lambda *a, **k: {})
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    cfg = pretrain_config(recipe, ["optim.epochs=1", "data.max_skipped=0.1"])
    assert pretrain_engine.pretrain(cfg, whole).steps == 6
    with pytest.raises(DeviasError, match=f"stopped: 1 videos failed to decode during the run \\({bad.path}: "):
        pretrain_engine.pretrain(pretrain_config(recipe, ["optim.epochs=1"]), stopped)
    [record] = read_bad_samples(stopped)
    assert load_checkpoint(stopped / "checkpoints/last.pt")["step"] == record["step"] + 1
    assert pretrain_engine.pretrain(cfg, stopped).steps == 6
    assert read_bad_samples(whole) == [record]
    assert _same(_params(stopped), _params(whole))


def test_pretrain_falls_back_past_a_damaged_checkpoint_and_refuses_a_second_writer(tiny_benchmark, tmp_path):
    recipe = tmp_path / "pretrain.yaml"
    recipe.write_text(PRETRAIN_RECIPE.replace("ROOT", str(tiny_benchmark)))
    cfg = pretrain_config(recipe, ["optim.epochs=2"])
    reference, run = tmp_path / "reference", tmp_path / "run"
    pretrain_engine.pretrain(cfg, reference)
    shutil.copytree(reference, run)
    want = _params(reference)
    _flip_a_tensor_byte(run / "checkpoints/last.pt", next(v for v in want.values() if v.numel() > 100))
    out = io.StringIO()
    assert pretrain_engine.pretrain(cfg, run, console=Console(file=out, width=300)).steps == 12
    assert "damaged checkpoint" in out.getvalue() and "resuming from the previous checkpoint" in out.getvalue()
    assert _same(_params(run), want)

    holder = subprocess.Popen([sys.executable, "-c", "import sys, time, pathlib; from devias_tk.utils.locks import "
                               "lock_output; lock = lock_output(pathlib.Path(sys.argv[1]), 'x'); print(flush=True); "
                               "time.sleep(120)", str(run / ".lock")], stdout=subprocess.PIPE)
    try:
        holder.stdout.readline()  # locked
        with pytest.raises(DeviasError, match=rf"{run} is being written by another process \(pid {holder.pid} "):
            pretrain_engine.pretrain(cfg, run)
    finally:
        holder.kill()
        holder.wait()
