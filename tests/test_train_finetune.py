"""`model.method=finetune` on the tiny benchmark: the source run fixes the architecture and gives the encoder
(matched against the source's own forward), a run trains on action labels only, and eval / predict /
features serve it with action outputs only."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from run_fixtures import fabricate_run
from typer.testing import CliRunner

from devias_tk.cache.store import VideoStore
from devias_tk.cli import app
from devias_tk.data.dataset import ClipDataset, ClipSpec
from devias_tk.data.lists import read_list
from devias_tk.data.video import Video
from devias_tk.engine.checkpoint import load_checkpoint, load_initial_weights
from devias_tk.errors import DeviasError
from devias_tk.evaluate import runner
from devias_tk.evaluate.features import extract_features
from devias_tk.evaluate.predict import load_run
from devias_tk.evaluate.suite import load_suite
from devias_tk.train import engine
from devias_tk.train.config import config_from
from devias_tk.train.finetune import with_source
from devias_tk.train.plan import plan_training

cli = CliRunner(env={"COLUMNS": "250", "NO_COLOR": "1"})

# scene_source store with a store that does not exist: a fine-tuning reads no scene classes, labels or stores
RECIPE = """
data: {root: ROOT, train_list: lists/train.txt, scenes: null, scene_source: store, scene_store: /nowhere.zarr,
       frames: 8, stride: 2, hop: 2, size: 32, scale: [0.5, 1.0], num_workers: 0, val_fraction: 0.25}
model: {method: finetune, size: tiny, depth: 1, embed_dim: 32, num_heads: 2, slot_head_dim: 16, slot_iters: 2,
        head_dropout: 0.1, drop_path: 0.1}
aug: {mix: none}
optim: {lr: 1.0e-2, epochs: 1, batch_size: 4, warmup_epochs: 0}
run: {seed: 0, threads: 1, init: INIT}
"""
SUITE = """
name: tiny
root: ROOT
views: [1, 1]
splits:
  - {name: test, list: lists/test.txt, seen: true, action: top1, scene: top1}
  - {name: scuba-sinusoid, list: lists/scuba-sinusoid.txt, action: top1}
  - {name: hat-far, list: lists/hat-far.txt, action: top1, scene: top1}
"""


@pytest.fixture(scope="module")
def sources(tiny_benchmark, tmp_path_factory):
    work = tmp_path_factory.mktemp("finetune")
    return {name: fabricate_run(work / name, tiny_benchmark, method, seed=seed)
            for name, method, seed in (("devias", "devias", 1), ("naive", "naive-action", 2), ("two", "two-token", 0))}


def _cfg(tiny_benchmark, tmp_path, init, *overrides):
    recipe = tmp_path / "ft.yaml"
    recipe.write_text(RECIPE.replace("ROOT", str(tiny_benchmark)).replace("INIT", str(init)))
    return config_from(recipe, list(overrides))


def test_the_source_run_fixes_the_architecture(sources, tiny_benchmark, tmp_path):
    config, line = with_source(str(sources["devias"]), {"slot_iters": 2, "fusion": "concat", "drop_path": 0.3})
    assert config["source"] == "devias" and (config["source_actions"], config["source_scenes"]) == (4, 4)
    assert (config["embed_dim"], config["depth"], config["slot_head_dim"], config["slot_iters"]) == (32, 1, 16, 2)
    assert config["fusion"] == "concat" and config["drop_path"] == 0.3 and "amd_hidden" not in config
    assert "checkpoints/last.pt: a devias run (4 actions, 4 scenes)" in line and "concat head" in line
    same, _ = with_source(str(sources["devias"] / "checkpoints/last.pt"), {})
    assert same["source_actions"] == 4
    naive, line = with_source(str(sources["naive"]), {"slot_iters": 7})  # slot keys mean nothing to a pooled source
    assert naive["source"] == "naive-action" and "source_actions" not in naive and "its backbone start" in line
    with pytest.raises(DeviasError, match=r"model.embed_dim=64 \(source: 32\)"):
        with_source(str(sources["devias"]), {"embed_dim": 64})
    with pytest.raises(DeviasError, match=r"model.patch_size=8 \(source: 16\)"):  # the source's default counts
        with_source(str(sources["devias"]), {"patch_size": 8})
    with pytest.raises(DeviasError, match=r"model.slot_iters=4 \(source: 2\)"):
        with_source(str(sources["devias"]), {"slot_iters": 4})
    with pytest.raises(DeviasError, match=r"set run\.init=RUN"):
        with_source(None, {})
    with pytest.raises(DeviasError, match=r"a two-token run; fine-tuning starts from devias, naive-action"):
        with_source(str(sources["two"]), {})
    with pytest.raises(DeviasError, match=r"model\.source=naive-action but run\.init .* is a devias run"):
        with_source(str(sources["devias"]), {"source": "naive-action"})
    torch.save({"patch_embed.proj.weight": torch.zeros(8, 3, 2, 16, 16)}, tmp_path / "videomae.pth")
    with pytest.raises(DeviasError, match=r"starts from a devias-tk run .*model\.method=naive-action run\.init=FILE"):
        with_source(str(tmp_path / "videomae.pth"), {})
    plan = plan_training(_cfg(tiny_benchmark, tmp_path, sources["devias"], "model.embed_dim=64"), tmp_path / "r")
    assert "model.embed_dim=64 (source: 32)" in plan.problem


def test_init_brings_the_encoder_and_the_role_head(sources, tiny_benchmark, tmp_path):
    prep = engine.prepare(_cfg(tiny_benchmark, tmp_path, sources["devias"], "run.init_strict=true"))
    assert prep.scenes == [] and prep.data_spec.scene_source == "list"
    model = prep.model.eval()
    report = load_initial_weights(model, sources["devias"], strict=True, method="finetune")
    assert set(report.ignored) == {f"amd.mlp.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")}
    assert report.fresh and all(k.startswith("target_head.") for k in report.fresh)
    source = load_run(sources["devias"], device="cpu").model
    state = load_checkpoint(sources["devias"] / "checkpoints/last.pt")["model"]
    own = model.state_dict()
    assert all(torch.equal(own[k], v) for k, v in state.items() if not k.startswith("amd."))
    clip = torch.randn(3, 3, 8, 32, 32)
    with torch.no_grad():
        mine, theirs = model(clip), source.predict(clip)
        slots = source(clip)["slots"]
    assert torch.allclose(mine["slots"], slots, atol=1e-6)
    assert torch.equal(mine["action_slot"], theirs["action_slot"])
    assert torch.equal(mine["scene_slot"], theirs["scene_slot"])
    # a Naive Action source with as many classes as the target: its backbone comes over, never its head
    prep = engine.prepare(_cfg(tiny_benchmark, tmp_path, sources["naive"]))
    report = load_initial_weights(prep.model, sources["naive"], method="finetune")
    naive = load_checkpoint(sources["naive"] / "checkpoints/last.pt")["model"]
    assert set(report.ignored) == {"head.weight", "head.bias"} and report.fresh == ["head.bias", "head.weight"]
    assert prep.model.head.weight.shape == naive["head.weight"].shape
    assert not torch.equal(prep.model.head.weight, naive["head.weight"])
    assert torch.equal(prep.model.backbone.blocks[0].mlp.fc1.weight, naive["backbone.blocks.0.mlp.fc1.weight"])


@pytest.fixture(scope="module")
def finetuned(sources, tiny_benchmark, tmp_path_factory):
    work = tmp_path_factory.mktemp("ft-run")
    run = work / "run"
    result = engine.train(_cfg(tiny_benchmark, work, sources["devias"]), run)
    return run, result


def test_a_finetune_run_learns_actions_only(finetuned, sources):
    run, result = finetuned
    assert result.steps == 18 // 4  # 24 videos, 6 held out for validation, whole batches of 4
    state = load_checkpoint(run / "checkpoints/last.pt")
    assert state["method"] == "finetune" and state["class_names"]["scenes"] == []
    assert state["model_config"]["source"] == "devias" and state["model_config"]["source_actions"] == 4
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(line["scene"] == 0.0 for line in lines if "loss" in line)
    validation = [line for line in lines if "val_hm" in line]
    assert validation and "val_action_top1" in validation[0] and "val_scene_top1" not in validation[0]
    assert (run / "checkpoints/best.pt").is_file()
    source = load_checkpoint(sources["devias"] / "checkpoints/last.pt")["model"]
    key = "backbone.blocks.0.attn.qkv.weight"
    assert not torch.equal(state["model"][key], source[key])  # the encoder is fine-tuned, not frozen
    assert torch.equal(state["model"]["head.weight"], source["head.weight"])  # the role head stays


def test_eval_predict_and_features_on_a_finetune_run(finetuned, tiny_benchmark, tmp_path):
    run, _ = finetuned
    suite = tmp_path / "s.yaml"
    suite.write_text(SUITE.replace("ROOT", str(tiny_benchmark)))
    report = runner.evaluate(run, load_suite(suite), device="cpu", workers=0)
    assert report["label"] == "DEVIAS fine-tuned (project)" and report["method"] == "finetune"
    assert report["seen_action"] is not None and report["unseen_action_mean"] is not None
    assert (report["seen_scene"], report["unseen_scene_mean"], report["hm"]) == (None, None, None)
    row = next(x for x in (run / "eval/tiny/report.md").read_text().splitlines() if x.startswith("| DEVIAS fine"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[5:] == ["-"] * 4 and cells[1] != "-"  # seen scene, hat-far scene, unseen scene mean, H.M.
    model = load_run(run, device="cpu")
    entries = read_list(tiny_benchmark / "lists/test.txt")
    clips = ClipDataset(tiny_benchmark, entries, ClipSpec(clip_len=8, stride=2, size=32, num_clips=1, num_crops=1,
                                                         short="repeat_last"), train=False)
    with torch.no_grad():
        probs = torch.cat([model.model(clips[i]["clip"])["action_logits"].softmax(-1) for i in range(len(entries))])
    hand = float((probs.argmax(1) == torch.tensor([e.action for e in entries])).float().mean())
    assert report["seen_action"] == pytest.approx(100 * hand, abs=0.01)

    args = ["predict", "--run", str(run), str(tiny_benchmark / "lists/test.txt"), "--views", "1x1", "--jobs", "0",
            "--device", "cpu", "--csv", str(tmp_path / "p.csv"), "--top", "1", "--overlay", str(tmp_path / "ov")]
    result = cli.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = (tmp_path / "p.csv").read_text().splitlines()
    first = rows[1].split(",")
    assert first[4] == model.actions[int(probs[0].argmax())] and set(first[6:]) <= {""}  # no scene columns filled
    mp4 = sorted((tmp_path / "ov").rglob("*.mp4"))[0]
    assert Video(mp4).info.width == 3 * 32 * 4  # the frame and the action and scene slots' attention, scaled x4

    summary = extract_features(model, tiny_benchmark, tiny_benchmark / "lists/test.txt", tmp_path / "f.zarr",
                               (1, 1), per_clip=True, workers=0)
    assert summary.done == len(entries)
    group = VideoStore(tmp_path / "f.zarr").group(entries[0].path)
    assert "action" in group and "scene" not in group and "scene_probs" not in group
    assert group["slots"].shape == (1, 2, 32) and np.asarray(group["action"]).shape == (32,)  # project: D/2 + D/2
    assert np.allclose(np.asarray(group["action_probs"]), probs[0].numpy(), atol=1e-5)


def test_a_naive_action_source_trains_too(sources, tiny_benchmark, tmp_path):
    result = engine.train(_cfg(tiny_benchmark, tmp_path, sources["naive"], "data.val_fraction=0"), tmp_path / "run")
    assert result.steps == 24 // 4
    state = load_checkpoint(tmp_path / "run/checkpoints/last.pt")
    assert state["model_config"]["source"] == "naive-action" and "head.weight" in state["model"]
    assert runner.run_label(state["config"], load_run(tmp_path / "run").model) == "Naive Action fine-tuned"
