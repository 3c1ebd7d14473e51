"""The training engine on the tiny benchmark: checks before work, a run, kill -9 and resume, NaN, gloo."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from devias_tk.engine.checkpoint import load_checkpoint
from devias_tk.errors import DeviasError
from devias_tk.train import engine
from devias_tk.train.config import config_from


def _cfg(recipe: Path, *overrides: str):
    return config_from(recipe, list(overrides))


def test_a_short_run_writes_the_run_directory(tiny_run_setup, tmp_path):
    recipe, _ = tiny_run_setup
    result = engine.train(_cfg(recipe, "optim.epochs=2"), tmp_path / "run")
    run = tmp_path / "run"
    assert result.epochs == 2 and result.steps == 2 * (24 // 4)
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert {"loss", "action", "scene", "cos", "amd", "guide", "lr", "clips_per_s"} <= set(lines[0])
    state = load_checkpoint(run / "checkpoints/last.pt")
    assert state["epoch"] == 2 and state["epoch_batch"] == 0 and state["method"] == "devias"
    assert state["class_names"]["actions"][0] == "Walk"
    assert json.loads((run / "run.json").read_text())["num_actions"] == 4
    assert (run / "config.yaml").is_file()


@pytest.mark.parametrize("method", ["two-token", "naive-action", "one-token-unified"])
def test_baselines_train(tiny_run_setup, tmp_path, method):
    recipe, _ = tiny_run_setup
    mix = "be" if method == "two-token" else "none"
    # the recipe's DEVIAS-only model keys are set aside for a baseline
    result = engine.train(_cfg(recipe, f"model.method={method}", f"aug.mix={mix}", "optim.epochs=1"), tmp_path / method)
    assert result.steps == 6 and all(map(torch.isfinite, map(torch.tensor, result.last.values())))


def test_repeats_and_device_transforms_train_with_the_same_schedule(tiny_run_setup, tmp_path):
    recipe, _ = tiny_run_setup
    # two clips per decoded window, cropped and normalised in the step: still one pass over the videos per epoch
    result = engine.train(_cfg(recipe, "data.repeats=2", "data.device_transforms=true", "optim.epochs=1"),
                          tmp_path / "run")
    assert result.steps == 24 // 4 and all(map(torch.isfinite, map(torch.tensor, result.last.values())))
    with pytest.raises(DeviasError, match=r"data\.repeats"):
        _cfg(recipe, "data.repeats=0")
    with pytest.raises(DeviasError, match="colour jitter"):
        _cfg(recipe, "data.device_transforms=true", "data.color_jitter=0.4")


def test_configuration_errors_come_before_any_work(tiny_run_setup, tmp_path):
    recipe, _ = tiny_run_setup
    cases = [
        (["data.mask_store=/nope.zarr"], "mask store not found"),
        (["data.hop=4"], "built with hop=2, the recipe uses 4"),
        (["data.train_list=lists/test.txt"], "built from another list"),
        (["data.scene_source=store"], "needs a scene store"),
        (["model.depht=2"], "unknown model key(s) for devias: depht (did you mean 'depth'?)"),
        (["data.size=30"], "clip 8x30x30 is not divisible by tubelet 2 and patch 16"),
        (["data.train_list=lists/hat-scene-only.txt", "aug.mix=none", "model.method=naive-action"],
         "has no action label (-1)"),
    ]
    for overrides, message in cases:
        with pytest.raises(DeviasError) as err:
            engine.prepare(_cfg(recipe, *overrides))
        assert message in str(err.value), (overrides, str(err.value))
    bad_scenes = tmp_path / "scenes.txt"
    bad_scenes.write_text("0 only_one\n")
    with pytest.raises(DeviasError, match=r"scene index \d+ is not one of the 1 scene class \(0\.\.0"):
        engine.prepare(_cfg(recipe, f"data.scenes={bad_scenes}"))


def test_non_finite_loss_stops_with_the_step_and_last_checkpoint(tiny_run_setup, tmp_path, monkeypatch):
    recipe, _ = tiny_run_setup
    real = engine.compute_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        total, terms = real(*args, **kwargs)
        calls["n"] += 1
        return (total * float("nan"), terms) if calls["n"] == 9 else (total, terms)

    monkeypatch.setattr(engine, "compute_loss", poisoned)
    with pytest.raises(DeviasError) as err:
        engine.train(_cfg(recipe), tmp_path / "run")
    text = str(err.value)
    assert "non-finite loss at step 9 (epoch 1, batch 3)" in text
    assert "last good checkpoint:" in text and "last.pt" in text


def _cli(recipe: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "devias_tk", "train", "--recipe", str(recipe), "--out", str(out), *extra]


def test_kill_9_and_resume_ends_with_the_same_parameters(tiny_run_setup, tmp_path):
    recipe, _ = tiny_run_setup
    reference = tmp_path / "reference"
    engine.train(_cfg(recipe, "run.save_every_steps=2"), reference)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cli(recipe, killed, "run.save_every_steps=2"), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = killed / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not last.exists():
        time.sleep(0.05)
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # a kill between a save's two renames leaves previous.pt only (last.pt moved there, the new one not yet
    # in place): what `--resume auto` then continues from
    state = load_checkpoint(last if last.exists() else last.with_name("previous.pt"))
    assert state["step"] < 18, "the run should have been killed before it finished"
    subprocess.run(_cli(recipe, killed, "run.save_every_steps=2"), check=True, capture_output=True)
    a = load_checkpoint(reference / "checkpoints/last.pt")["model"]
    b = load_checkpoint(last)["model"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_resume_refuses_another_configuration(tiny_run_setup, tmp_path):
    recipe, _ = tiny_run_setup
    engine.train(_cfg(recipe, "optim.epochs=1"), tmp_path / "run")
    with pytest.raises(DeviasError, match="another configuration"):
        engine.train(_cfg(recipe, "optim.epochs=1", "optim.lr=0.5"), tmp_path / "run")
    with pytest.raises(DeviasError, match="already holds a run"):
        engine.train(_cfg(recipe, "optim.epochs=1"), tmp_path / "run", resume="never")


def test_two_gloo_processes_keep_identical_parameters(tiny_run_setup, tmp_path):
    recipe, _ = tiny_run_setup
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517",
               "-m", "devias_tk", "train", "--recipe", str(recipe), "--out", str(out), "optim.epochs=2"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    checksums = json.loads((out / "parameter_checksums.json").read_text())
    assert len(checksums) == 2 and checksums[0] == checksums[1]
    assert json.loads((out / "run.json").read_text())["world_size"] == 2
    # 24 videos, batch 4 per process x 2 processes: 3 steps per epoch
    assert load_checkpoint(out / "checkpoints/last.pt")["step"] == 6
    shutil.rmtree(out)
