"""The pre-training stage on the tiny benchmark: a run that lowers the loss, kill -9 and resume, unreadable
videos, errors before work, the checkpoint as `train` init, export to VideoMAE's layout and back."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from devias_tk.cli import app
from devias_tk.engine.checkpoint import load_checkpoint, load_initial_weights
from devias_tk.errors import DeviasError
from devias_tk.models.checkpoints import read_checkpoint
from devias_tk.models.factory import build_model, split_config
from devias_tk.models.videomae import from_videomae_state_dict
from devias_tk.pretrain import engine
from devias_tk.pretrain.config import config_from
from devias_tk.pretrain.data import PretrainClips
from devias_tk.pretrain.probe import knn_top1, linear_top1
from devias_tk.pretrain.step import compute_loss
from devias_tk.train import engine as train_engine
from devias_tk.train.config import config_from as train_config_from

RECIPE = """
data: {root: ROOT, train_list: lists/train.txt, frames: 4, stride: 2, hop: 1, size: 32, num_workers: 0}
model: {size: tiny, depth: 1, embed_dim: 32, num_heads: 2}
mae: {mask_ratio: 0.5, decoder_depth: 1}
optim: {lr: 0.3, min_lr: 0.001, epochs: 3, batch_size: 4, warmup_epochs: 0.5}
run: {seed: 3, threads: 1, log_every: 2}
"""
runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


@pytest.fixture(scope="module")
def recipe(tiny_benchmark, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pretrain") / "tiny.yaml"
    path.write_text(RECIPE.replace("ROOT", str(tiny_benchmark)))
    return path


@pytest.fixture(scope="module")
def finished_run(recipe, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "run"
    engine.pretrain(config_from(recipe, ["optim.epochs=6"]), run)
    return run


def _fixed_batch_loss(cfg, state: dict | None) -> float:
    """Loss on the first 8 training clips (epoch 0 crops and masks) of the initial model or a checkpoint's."""
    torch.manual_seed(cfg.run.seed)
    prep = engine.prepare(cfg)
    if state is not None:
        prep.model.load_state_dict(state["model"])
    items = [PretrainClips(prep.root, prep.entries, prep.data_spec, cfg.run.seed)[(0, i)] for i in range(8)]
    batch = {k: torch.stack([item[k] for item in items]) for k in ("clip", "mask")}
    with torch.no_grad():
        return float(compute_loss(prep.model.eval(), batch, prep.step_spec)[0])


def test_a_short_cpu_run_lowers_the_loss_and_writes_the_run(recipe, finished_run):
    cfg = config_from(recipe, ["optim.epochs=6"])
    state = load_checkpoint(finished_run / "checkpoints/last.pt")
    assert state["epoch"] == 6 and state["step"] == 6 * (24 // 4) and state["method"] == "videomae-pretrain"
    # per-patch normalised targets are slow to predict (VideoMAE trains for hundreds of epochs): a small but
    # real drop here (measured 1.018 -> 0.974); raw pixels below show the same loop learning fast
    before, after = _fixed_batch_loss(cfg, None), _fixed_batch_loss(cfg, state)
    assert after < 0.98 * before, (before, after)
    lines = [json.loads(x) for x in (finished_run / "metrics.jsonl").read_text().splitlines()]
    assert {"step", "epoch", "lr", "loss", "clips_per_s"} <= set(lines[0])
    for name in ("recon-e0001.png", "recon-e0006.png", "loss.png"):
        assert (finished_run / "figures" / name).stat().st_size > 5000
    run_json = json.loads((finished_run / "run.json").read_text())
    assert run_json["method"] == "videomae-pretrain" and run_json["videos"] == 24


def test_raw_pixel_targets_are_learnt_fast(recipe, tmp_path):
    cfg = config_from(recipe, ["mae.norm_target=false"])
    engine.pretrain(cfg, tmp_path / "raw")
    before = _fixed_batch_loss(cfg, None)
    after = _fixed_batch_loss(cfg, load_checkpoint(tmp_path / "raw/checkpoints/last.pt"))
    assert after < 0.5 * before, (before, after)


def test_the_checkpoint_starts_train_with_a_strict_report(recipe, finished_run, tiny_benchmark, tmp_path):
    cfg = config_from(recipe)
    config, _ = split_config("naive-action", cfg.backbone_config())
    model = build_model("naive-action", num_actions=4, num_scenes=4, **config)
    report = load_initial_weights(model, finished_run / "checkpoints/last.pt", strict=True)
    backbone = sorted(k for k in model.state_dict() if k.startswith("backbone."))
    assert report.format == "devias-tk-pretrain" and report.problems == 0
    assert report.loaded == backbone and report.fresh == ["head.bias", "head.weight"]
    state = load_checkpoint(finished_run / "checkpoints/last.pt")["model"]
    decoder = {k for k in state if not k.startswith("backbone.")}
    assert decoder and set(report.ignored) == decoder
    assert set(report.ignored.values()) == {"pre-training decoder"}
    for key in backbone:
        assert torch.equal(model.state_dict()[key], state[key])
    # and through `devias-tk train` itself
    train_recipe = tmp_path / "train.yaml"
    train_recipe.write_text(f"""
data: {{root: {tiny_benchmark}, scene_source: list, frames: 4, stride: 2, hop: 2, size: 32, num_workers: 0,
       val_fraction: 0}}
model: {{method: naive-action, size: tiny, depth: 1, embed_dim: 32, num_heads: 2}}
optim: {{epochs: 1, batch_size: 8}}
run: {{init: {finished_run}/checkpoints/last.pt, init_strict: true, threads: 1}}
""")
    result = train_engine.train(train_config_from(train_recipe), tmp_path / "train")
    assert result.steps == 3


def test_export_writes_videomae_layout_and_round_trips_strictly(recipe, finished_run, tmp_path):
    out = tmp_path / "videomae.pth"
    result = runner.invoke(app, ["pretrain", "export", "--run", str(finished_run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    exported = read_checkpoint(out)
    weights = exported["model"]
    own = load_checkpoint(finished_run / "checkpoints/last.pt")["model"]
    expected = {"encoder.patch_embed.proj.weight", "encoder.patch_embed.proj.bias", "encoder.norm.weight",
                "encoder.norm.bias", "encoder.blocks.0.attn.q_bias", "encoder.blocks.0.attn.v_bias",
                "encoder.blocks.0.attn.qkv.weight", "encoder.blocks.0.mlp.fc2.bias", "decoder.blocks.0.attn.q_bias",
                "decoder.norm.weight", "decoder.head.weight", "decoder.head.bias", "encoder_to_decoder.weight",
                "mask_token"}
    assert expected <= set(weights) and not any(k.startswith("backbone.") for k in weights)
    assert "encoder.blocks.0.attn.qkv.bias" not in weights and exported["epoch"] == 6
    assert weights["decoder.head.weight"].shape == (3 * 2 * 16 * 16, 16) and weights["mask_token"].shape == (1, 1, 16)
    back = from_videomae_state_dict(weights)
    assert back.keys() == own.keys() and all(torch.equal(back[k], own[k]) for k in own)
    # the toolkit's VideoMAE pre-training loader reads it strictly
    model = build_model("naive-action", num_actions=4, num_scenes=4, size="tiny", depth=1, embed_dim=32, num_heads=2,
                        frames=4, img_size=32)
    report = load_initial_weights(model, out, strict=True)
    assert report.format == "videomae-pretrain" and report.container == "model" and report.problems == 0
    assert report.loaded == sorted(k for k in model.state_dict() if k.startswith("backbone."))
    assert all(torch.equal(model.state_dict()[k], own[k]) for k in report.loaded)
    # and pre-training can start from it (run.init): the whole network, strictly
    fresh = engine.prepare(config_from(recipe)).model
    report = engine.load_init(fresh, out, strict=True)
    assert report.format == "videomae-pretrain" and report.problems == 0 and report.loaded == sorted(own)
    assert all(torch.equal(fresh.state_dict()[k], own[k]) for k in own)


def _cli(recipe: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "devias_tk", "pretrain", "--recipe", str(recipe), "--out", str(out), *extra]


def test_kill_9_and_resume_is_bit_identical(recipe, tmp_path):
    reference = tmp_path / "reference"
    engine.pretrain(config_from(recipe, ["run.save_every_steps=2"]), reference)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cli(recipe, killed, "run.save_every_steps=2"), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = killed / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not last.exists():
        time.sleep(0.05)
    time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # a kill between a save's two renames leaves previous.pt only (last.pt moved there, the new one not yet
    # in place): what `--resume auto` then continues from
    stopped = last if last.exists() else last.with_name("previous.pt")
    assert load_checkpoint(stopped)["step"] < 18, "the run should have been killed before it finished"
    done = subprocess.run(_cli(recipe, killed, "run.save_every_steps=2"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming" in done.stderr
    a = load_checkpoint(reference / "checkpoints/last.pt")
    b = load_checkpoint(last)
    assert a["step"] == b["step"] == 18 and a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for key, value in a["optimizer"]["state"].items():
        assert torch.equal(value["exp_avg"], b["optimizer"]["state"][key]["exp_avg"])


def test_unreadable_videos_stop_before_work_or_are_left_out_up_to_max_skipped(bad_dataset, recipe, tmp_path,
                                                                               monkeypatch):
    root, _ = bad_dataset
    base = [f"data.root={root}", "data.train_list=list.txt", "optim.batch_size=2", "optim.epochs=1"]
    run = tmp_path / "run"
    with pytest.raises(DeviasError) as err:
        engine.pretrain(config_from(recipe, base), run)
    text = str(err.value)
    assert "5 of 9 listed videos cannot be read" in text and "x/missing.avi: file not found" in text
    assert "x/empty.avi: empty file (0 bytes)" in text and "data.max_skipped" in text
    assert not (run / "checkpoints").exists() and not (run / "metrics.jsonl").exists()
    # a share of them may be left out: listed in the run; the 5-frame video is readable (its last frame repeats)
    result = engine.pretrain(config_from(recipe, [*base, "data.max_skipped=0.6"]), run)
    assert result.steps == 2  # 4 readable videos, batch 2
    skipped = dict(line.split("\t") for line in (run / "skipped_videos.txt").read_text().splitlines())
    assert set(skipped) == {f"x/{n}.avi" for n in ("missing", "empty", "header_only", "noise", "notes")}
    assert json.loads((run / "run.json").read_text())["videos"] == 4
    # re-running (resuming) does not probe the list again
    monkeypatch.setattr("devias_tk.pretrain.engine.unreadable_videos", lambda *a, **k: pytest.fail("probed again"))
    assert engine.pretrain(config_from(recipe, [*base, "data.max_skipped=0.6"]), run).steps == 2


def test_configuration_errors_come_before_any_work(recipe, tmp_path):
    cases = [
        (["data.root=/nope"], "data.root /nope is not a folder"),
        (["data.train_list=lists/none.txt"], "none.txt"),
        (["mae.mask_ratio=0.1"], "masks 0 of 4 patches per frame"),
        (["mae.mask_ratio=1.0"], "mae.mask_ratio must be in (0, 1)"),
        (["data.size=30"], "clip 4x30x30 is not divisible by tubelet 2 and patch 16"),
        (["model.method=devias"], "model: not backbone keys: method"),
        (["mae.decoder_heads=3"], "decoder width 16 is not divisible by its 3 heads"),
        (["data.scales=[1.0, 0.5]"], "data.scales: expected a list of 4 values"),
    ]
    for overrides, message in cases:
        with pytest.raises(DeviasError) as err:
            engine.prepare(config_from(recipe, overrides))
        assert message in str(err.value), (overrides, str(err.value))
    engine.pretrain(config_from(recipe, ["optim.epochs=1"]), tmp_path / "run")
    with pytest.raises(DeviasError, match="another configuration"):
        engine.pretrain(config_from(recipe, ["optim.epochs=1", "optim.lr=0.5"]), tmp_path / "run")
    with pytest.raises(DeviasError, match="already holds a run"):
        engine.pretrain(config_from(recipe, ["optim.epochs=1"]), tmp_path / "run", resume="never")


def test_the_synthetic_recipe_pretrains_exactly_the_backbone_train_builds():
    cfg = config_from("pipelines/pretrain-synthetic.yaml")
    # the recipe pre-trains the per-patch hMLP stem (a convolutional stem would leak masked pixels)
    train_cfg = train_config_from("pipelines/synthetic.yaml", ["model.stem=hmlp"])
    assert (cfg.data.frames, cfg.data.stride, cfg.data.size) == (train_cfg.data.frames, train_cfg.data.stride,
                                                                 train_cfg.data.size)
    config, _ = split_config(train_cfg.method, {k: v for k, v in train_cfg.model.items() if k != "method"})
    config.setdefault("frames", train_cfg.data.frames)
    config.setdefault("img_size", train_cfg.data.size)
    trained = build_model(train_cfg.method, num_actions=10, num_scenes=10, **config).backbone
    pretrained = engine.build_pretrainer(cfg.backbone_config(), engine.mae_config(cfg.mae)).backbone
    shapes = {k: v.shape for k, v in trained.state_dict().items()}
    assert shapes == {k: v.shape for k, v in pretrained.state_dict().items()}
    assert (pretrained.frames, pretrained.img_size, pretrained.depth) == (trained.frames, trained.img_size,
                                                                         trained.depth)
    # a recipe override wins over the training recipe's shape
    assert config_from("pipelines/pretrain-synthetic.yaml", ["model.depth=2"]).model["depth"] == 2
    assert config_from("pipelines/pretrain-synthetic.yaml", ["run.amp=native"]).run.amp == "native"
    assert config_from("pipelines/pretrain-synthetic.yaml", ["run.amp=fp16"]).run.amp == "fp16"
    with pytest.raises(DeviasError, match=r"run\.amp must be one of auto, native, bf16, fp16, off"):
        config_from("pipelines/pretrain-synthetic.yaml", ["run.amp=fp8"])
    for name in ("ucf101", "kinetics400"):
        big = config_from(f"pipelines/pretrain-{name}.yaml")
        assert big.model == {"size": "base"} and (big.data.frames, big.data.stride, big.data.size) == (16, 4, 224)
    assert config_from("pipelines/pretrain-ucf101.yaml").mae.mask_ratio == 0.75
    assert config_from("pipelines/pretrain-kinetics400.yaml").mae.mask_ratio == 0.9


def test_tube_masks_and_crops_are_a_function_of_seed_epoch_and_index(recipe):
    cfg = config_from(recipe)
    prep = engine.prepare(cfg)
    data = PretrainClips(prep.root, prep.entries, prep.data_spec, seed=3)
    a, b, c = data[(1, 5)], data[(1, 5)], data[(2, 5)]
    assert torch.equal(a["clip"], b["clip"]) and torch.equal(a["mask"], b["mask"])
    assert not torch.equal(a["mask"], c["mask"]) or not torch.equal(a["clip"], c["clip"])
    masks = np.stack([data[(0, i)]["mask"].numpy() for i in range(len(data))])
    assert (masks.reshape(len(data), 2, 4).sum(axis=2) == 2).all()


def test_knn_top1_on_a_hand_made_case():
    train = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    labels = np.array([0, 0, 1, 1])
    test = np.array([[1.0, 0.05], [0.05, 1.0], [0.0, 1.0]])
    assert knn_top1(train, labels, test, np.array([0, 1, 0]), k=2) == pytest.approx(2 / 3)
    assert knn_top1(train, labels, test, np.array([-1, -1, -1]), k=2) is None  # nothing labelled to score


def test_linear_probe_separates_a_hand_made_case():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 20)
    centres = np.array([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0]])
    train = centres[labels] + rng.normal(0, 0.3, (60, 3))
    test = centres[labels] + rng.normal(0, 0.3, (60, 3))
    assert linear_top1(train, labels, test, labels) == 1.0
    shuffled = rng.permutation(labels)  # labels unrelated to the features: near chance
    assert linear_top1(train, labels, test, shuffled) < 0.6
    assert linear_top1(train, -np.ones(60, int), test, labels) is None


def test_probe_scores_the_pretrained_and_a_random_encoder(finished_run, tiny_benchmark, tmp_path):
    out = tmp_path / "probe.json"
    lists = tiny_benchmark / "lists"
    result = runner.invoke(app, ["pretrain", "probe", "--run", str(finished_run), "--root", str(tiny_benchmark),
                                 "--train-list", str(lists / "train.txt"), "--test-list", str(lists / "test.txt"),
                                 "--test-list", str(lists / "hat-scene-only.txt"), "--jobs", "0", "--json", str(out)])
    assert result.exit_code == 0, result.output
    scores = json.loads(out.read_text())
    assert set(scores) == {"pretrained", "random"}
    for encoder in scores.values():
        for kind in ("knn", "linear"):
            assert 0 <= encoder["test"][f"{kind}_action"] <= 1 and 0 <= encoder["test"][f"{kind}_scene"] <= 1
            assert encoder["hat-scene-only"][f"{kind}_action"] is None
            assert 0 <= encoder["hat-scene-only"][f"{kind}_scene"] <= 1
    assert "knn action" in result.output and "hat-scene-only" in result.output


def test_two_gloo_processes_keep_identical_parameters(recipe, tmp_path):
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533",
               "-m", "devias_tk", "pretrain", "--recipe", str(recipe), "--out", str(out), "optim.epochs=2"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    checksums = json.loads((out / "parameter_checksums.json").read_text())
    assert len(checksums) == 2 and checksums[0] == checksums[1]
    assert json.loads((out / "run.json").read_text())["world_size"] == 2
    # 24 videos, batch 4 per process x 2 processes: 3 steps per epoch
    assert load_checkpoint(out / "checkpoints/last.pt")["step"] == 6
    assert (out / "figures/recon-e0002.png").is_file()


@pytest.mark.parametrize("name", ["pretrain-ucf101", "pretrain-kinetics400", "pretrain-synthetic"])
def test_every_pretraining_recipe_loads_and_sources_each_value(name):
    path = Path("pipelines") / f"{name}.yaml"
    cfg = config_from(path)
    assert cfg.data.frames * cfg.data.stride == 64 and cfg.optim.betas == (0.9, 0.95) and cfg.optim.weight_decay == 0.05
    leaf = re.compile(r"^\s+[a-z_]+:\s*[^\s#]")
    unsourced = [line for line in path.read_text().splitlines() if leaf.match(line) and "#" not in line]
    assert not unsourced, f"{name}: values without a source comment: {unsourced}"


def test_a_convolutional_stem_is_refused_for_masked_pretraining():
    with pytest.raises(DeviasError, match="would leak"):
        config_from(Path("pipelines") / "pretrain-synthetic.yaml", ["model.stem=conv3d"])
    assert config_from(Path("pipelines") / "pretrain-synthetic.yaml").model["stem"] == "hmlp"
