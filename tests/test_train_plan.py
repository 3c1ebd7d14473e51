"""`train --dry-run` on the tiny benchmark: the data plan, the schedule, the checks, nothing written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from devias_tk.cache.store import VideoStore, video_key
from devias_tk.cli import app
from devias_tk.data.lists import read_list
from devias_tk.engine.checkpoint import save_checkpoint
from devias_tk.train.config import config_from
from devias_tk.train.plan import plan_training

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})

@pytest.fixture()
def setup(tiny_run_setup, tiny_benchmark):
    recipe, masks = tiny_run_setup
    return recipe, masks, tiny_benchmark


def test_plan_counts_videos_steps_and_lr_and_writes_nothing(setup, tmp_path):
    recipe, masks, _ = setup
    run = tmp_path / "run"
    plan = plan_training(config_from(recipe), run)
    assert plan.ok, plan.problem
    assert (plan.listed, plan.train_videos, plan.val_videos) == (24, 24, 0)
    [store] = plan.stores
    assert (store.what, store.held, store.failed, store.absent) == ("mask store", 24, {}, [])
    # 24 videos, batch 4, one process: 6 batches per epoch, 3 epochs, 1 warm-up epoch
    s = plan.schedule
    assert (s.batches_per_epoch, s.updates_per_epoch, s.total_updates, s.warmup_updates) == (6, 6, 18, 6)
    assert s.base_lr == pytest.approx(1e-2 * 4 / 256)
    assert any(c.startswith(f"mask store {masks}") and "24 listed videos" in c for c in plan.checks)
    assert plan.checks[-1].startswith(f"run directory {run}: training would start a new run")
    assert plan.config["model"]["embed_dim"] == 32 and plan.config["optim"]["epochs"] == 3
    assert not run.exists()

    # two processes, accumulation 2, 10% held out: 24 - 2 = 22 videos -> 22 // 8 = 2 batches, 1 update per epoch
    plan = plan_training(config_from(recipe, ["optim.accum_steps=2", "data.val_fraction=0.1"]), run, processes=2)
    assert (plan.train_videos, plan.val_videos) == (22, 2)
    s = plan.schedule
    assert (s.batches_per_epoch, s.updates_per_epoch, s.total_updates, s.total_batch) == (2, 1, 3, 16)
    assert s.base_lr == pytest.approx(1e-2 * 16 / 256)


def test_cli_prints_config_plan_and_checks(setup, tmp_path):
    recipe, _, _ = setup
    result = runner.invoke(app, ["train", "--recipe", str(recipe), "--out", str(tmp_path / "run"), "--dry-run",
                                 "optim.epochs=5"])
    assert result.exit_code == 0, result.output
    merged = yaml.safe_load(result.output.split("data plan")[0].split("\n", 1)[1])
    assert merged["optim"]["epochs"] == 5 and merged["optim"]["lr"] == 0.01 and merged["loss"]["lambda_cos"] == 1.0
    assert merged["aug"] == {"mix": "fame", "beta": 0.2, "p_aug": 0.5, "be_max_lambda": 0.3, "clear_donor": False}
    assert "steps: 6 batches and 6 updates per epoch; 5 epochs = 30 updates (6 of warm-up)" in result.output
    assert "ok model devias builds" in result.output and "nothing written" in result.output
    assert not (tmp_path / "run").exists()


def test_videos_a_store_lacks_are_listed_with_their_reasons(setup, tmp_path):
    recipe, masks, bench = setup
    entries = read_list(bench / "lists/train.txt")
    broken = tmp_path / "masks.zarr"
    shutil.copytree(masks, broken)
    store = VideoStore(broken)
    for e in entries[:2]:
        shutil.rmtree(broken / "videos" / video_key(e.path))
    store.record_failure(entries[0].path, "undecodable: moov atom not found")
    cfg = config_from(recipe, [f"data.mask_store={broken}"])
    plan = plan_training(cfg, tmp_path / "run")
    [cover] = plan.stores
    assert cover.held == 22 and cover.failed == {entries[0].path: "undecodable: moov atom not found"}
    assert cover.absent == [entries[1].path]
    assert "2 of 24 listed videos have no entry in the stores" in plan.problem and plan.schedule is None

    result = runner.invoke(app, ["train", "--recipe", str(recipe), "--out", str(tmp_path / "run"), "--dry-run",
                                 f"data.mask_store={broken}"])
    assert result.exit_code == 1
    assert f"skipped {entries[0].path}: undecodable: moov atom not found" in result.output
    assert f"skipped {entries[1].path}: not processed" in result.output
    assert "FAILED" in result.output and "holds 22 of the 24 listed videos; 1 failed in the stage, 1 never" \
        in result.output


def test_a_run_directory_is_checked_for_resume(setup, tmp_path):
    recipe, _, _ = setup
    cfg = config_from(recipe)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    save_checkpoint(run / "checkpoints/last.pt", {"model": {}, "epoch": 2, "epoch_batch": 3, "step": 15})
    plan = plan_training(cfg, run)
    assert plan.ok and "would resume" in plan.checks[-1] and "epoch 2, batch 3 (step 15)" in plan.checks[-1]
    plan = plan_training(config_from(recipe, ["optim.lr=0.5"]), run)
    assert "another configuration" in plan.problem
    plan = plan_training(cfg, run, resume="never")
    assert "already holds a run" in plan.problem
    assert sorted(p.name for p in Path(run).rglob("*")) == ["checkpoints", "config.yaml", "last.pt"]


@pytest.mark.parametrize(("command", "words"), [
    (["train"], ["--dry-run", "--processes", "run.trackers", "Example"]),
    (["import"], ["--non-strict", "--actions", "Example"]),
    (["eval"], ["--run-dir", "torchrun", "devias-tk import"]),
])
def test_new_options_have_help_with_examples(command, words):
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "250", "NO_COLOR": "1"})
    assert result.exit_code == 0
    for word in words:
        assert word in result.output, (command, word)
