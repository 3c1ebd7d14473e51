"""Validation during training: the seeded, stratified held-out part of the training list, scene labels
for it from a scene store, best.pt chosen on the H.M., warnings when the validation list is test data,
and a Naive Action run's backbone starting DEVIAS (the paper's UCF-101 protocol)."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console
from scene_store_fixtures import fabricate_scene_store

from devias_tk.data.lists import VideoEntry, read_list
from devias_tk.engine.checkpoint import load_checkpoint, load_initial_weights, save_checkpoint
from devias_tk.errors import DeviasError
from devias_tk.evaluate import runner
from devias_tk.evaluate.suite import load_suite
from devias_tk.models.factory import build_model
from devias_tk.train import engine
from devias_tk.train.config import config_from
from devias_tk.train.validate import holdout_counts, holdout_split, selection_score, val_list_warnings

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
RECIPE = """
data: {root: ROOT, train_list: lists/train.txt, scene_source: list, frames: 8, stride: 2, hop: 2, size: 32,
       num_workers: 0}
model: {method: naive-action, size: tiny, depth: 1, embed_dim: 32, num_heads: 2}
aug: {mix: none}
optim: {lr: 1.0e-3, epochs: 1, batch_size: 4, warmup_epochs: 0}
run: {seed: 1, threads: 1, log_every: 100}
"""


def _entries(sizes: list[int]) -> list[VideoEntry]:
    """Videos of class c interleaved, as a real list orders them."""
    out = []
    for i in range(max(sizes)):
        out += [VideoEntry(f"c{c}/v{i}.avi", c, (c + i) % 3) for c, n in enumerate(sizes) if i < n]
    return out


def test_holdout_is_stratified_largest_remainder_and_keeps_a_video_per_class():
    rng = np.random.default_rng(0)
    assert holdout_counts([10, 10, 5], 0.2, 100, rng) == [2, 2, 1]
    assert holdout_counts([6, 6, 6, 6], 0.05, 100, rng).count(1) == 1  # round(1.2) = 1 video, from one class
    assert holdout_counts([1, 1, 1], 0.5, 100, rng) == [0, 0, 0]  # a class's only video always trains
    assert holdout_counts([2, 1], 0.9, 100, rng) == [1, 0]
    assert holdout_counts([40] * 10, 0.05, 100, rng) == [2] * 10
    assert sum(holdout_counts([600] * 400, 0.05, 1000, rng)) == 1000  # data.val_max caps Kinetics-size lists
    assert holdout_counts([10, 10], 0.0, 100, rng) == [0, 0]


def test_holdout_split_is_deterministic_from_the_seed_and_partitions_the_list():
    entries = _entries([12, 9, 7, 2])
    train, val = holdout_split(entries, 0.25, seed=3)
    assert len(val) == round(30 * 0.25) == 8 and len(train) == 22
    assert sorted(train + val, key=entries.index) == entries and not set(train) & set(val)
    assert train == [e for e in entries if e in train]  # list order kept
    assert Counter(e.action for e in val) == Counter({0: 3, 1: 2, 2: 2, 3: 1})  # shares 3, 2.25, 1.75, .5
    assert holdout_split(entries, 0.25, seed=3) == (train, val)
    assert holdout_split(entries, 0.25, seed=4)[1] != val
    assert holdout_split(entries, 0.0, seed=3) == (entries, [])
    assert holdout_split(entries[:1], 0.5, seed=3) == (entries[:1], [])  # one video: it trains
    with pytest.raises(DeviasError, match=r"val_fraction must be in \[0, 1\)"):
        holdout_split(entries, 1.0, seed=0)


def test_selection_score_is_the_harmonic_mean_of_action_and_scene():
    assert selection_score({"val_action_top1": 0.9, "val_scene_top1": 0.1}) == pytest.approx(0.18)
    assert selection_score({"val_action_top1": 0.5, "val_scene_top1": 0.4}) == pytest.approx(0.4 / 0.9)
    assert selection_score({"val_action_top1": 0.7}) == pytest.approx(0.7)  # Naive Action: one branch
    assert selection_score({"val_action_top1": 0.7, "val_scene_top1": 0.0}) == 0.0
    assert selection_score({}) is None


def test_val_list_warnings(tmp_path):
    train = _entries([3, 3])
    (tmp_path / "train.txt").write_text("".join(f"{e.path} {e.action} {e.scene}\n" for e in train))
    (tmp_path / "testlist01.txt").write_text("c0/other.avi 0 0\n")
    (tmp_path / "held.txt").write_text("c0/v0.avi 0 0\n")
    same = val_list_warnings(tmp_path / "train.txt", tmp_path / "train.txt", train, train)
    assert len(same) == 1 and "is the training list" in same[0]
    test = val_list_warnings(tmp_path / "testlist01.txt", tmp_path / "train.txt",
                             read_list(tmp_path / "testlist01.txt"), train)
    assert len(test) == 1 and "looks like an evaluation split" in test[0]
    shared = val_list_warnings(tmp_path / "held.txt", tmp_path / "train.txt", read_list(tmp_path / "held.txt"), train)
    assert len(shared) == 1 and "shares 1 videos with the training list" in shared[0]


@pytest.fixture(scope="module")
def recipe(tiny_benchmark, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("validate") / "naive.yaml"
    path.write_text(RECIPE.replace("ROOT", str(tiny_benchmark)))
    return path


def test_prepare_holds_out_videos_and_labels_them_from_the_scene_store(recipe, tiny_benchmark, tmp_path):
    prep = engine.prepare(config_from(recipe, ["data.val_fraction=0.25"]))
    assert len(prep.val_entries) == 6 and len(prep.entries) == 18 and prep.warnings == []
    assert not {e.path for e in prep.val_entries} & {e.path for e in prep.entries}  # removed from training
    assert sorted(Counter(e.action for e in prep.val_entries).values()) == [1, 1, 2, 2]  # 6 x 0.25 = 1.5 per class
    assert len(engine.prepare(config_from(recipe)).val_entries) == 1  # default 5% of 24
    assert engine.prepare(config_from(recipe, ["data.val_fraction=0"])).val_entries == []
    # two-token with pseudo labels: the held-out videos take the store's video-level argmax
    store = fabricate_scene_store(tmp_path / "s.zarr", tiny_benchmark, tiny_benchmark / "lists/train.txt", shift=1)
    truth = {e.path: e.scene for e in read_list(tiny_benchmark / "lists/train.txt")}
    prep = engine.prepare(config_from(recipe, ["model.method=two-token", "data.scene_source=store",
                                               f"data.scene_store={store}", "data.val_fraction=0.25"]))
    assert [e.scene for e in prep.val_entries] == [(truth[e.path] + 1) % 4 for e in prep.val_entries]
    with pytest.raises(DeviasError, match="after holding out 12 for validation"):
        engine.prepare(config_from(recipe, ["data.val_fraction=0.5", "optim.batch_size=16"]))


def test_best_pt_is_chosen_on_the_hm_and_a_test_val_list_is_flagged(recipe, tiny_benchmark, tmp_path, monkeypatch):
    # epoch 1 has the best mean (0.5) but a lopsided H.M. (0.18); epochs 2 and 4 the best H.M. (0.44): a tie
    # goes to the later epoch (seen validation saturates, and later epochs have seen the lower learning rates)
    sequence = iter([{"val_action_top1": 0.9, "val_scene_top1": 0.1}, {"val_action_top1": 0.5, "val_scene_top1": 0.4},
                     {"val_action_top1": 0.3, "val_scene_top1": 0.3}, {"val_action_top1": 0.4, "val_scene_top1": 0.5}])
    monkeypatch.setattr(engine, "quick_eval", lambda *_a, **_k: dict(next(sequence)))
    out = io.StringIO()
    cfg = config_from(recipe, ["optim.epochs=4", "data.val_list=lists/test.txt"])
    engine.train(cfg, tmp_path / "run", console=Console(file=out, width=300))
    assert "looks like an evaluation split" in out.getvalue()
    best = load_checkpoint(tmp_path / "run/checkpoints/best.pt")
    assert best["epoch"] == 4 and best["best_metric"] == "val_hm" and best["best"] == pytest.approx(0.4 / 0.9)
    logged = [json.loads(x) for x in (tmp_path / "run/metrics.jsonl").read_text().splitlines() if "val_hm" in x]
    assert [round(x["val_hm"], 3) for x in logged] == [0.18, 0.444, 0.3, 0.444]
    info = json.loads((tmp_path / "run/run.json").read_text())
    assert info["validation"] == {"source": "data.val_list", "videos": 8, "train_videos": 24, "selection": "val_hm"}
    assert any("looks like an evaluation split" in w for w in info["warnings"])
    # at eval time the suite's lists are compared by content: the seen split is the validation list
    suite = tmp_path / "s.yaml"
    suite.write_text(f"name: s\nroot: {tiny_benchmark}\nviews: [1, 1]\nsplits:\n"
                     "  - {name: seen, list: lists/test.txt, seen: true, action: top1}\n"
                     "  - {name: far, list: lists/hat-far.txt, action: top1}\n")
    report = runner.evaluate(tmp_path / "run", load_suite(suite), device="cpu", workers=0)
    assert len(report["warnings"]) == 1 and "which is the 'seen' split of this suite" in report["warnings"][0]
    assert "**Warning:** best.pt was selected on" in (tmp_path / "run/eval/s/report.md").read_text()
    last = runner.evaluate(tmp_path / "run", load_suite(suite), device="cpu", workers=0, which="last")
    assert last["warnings"] == []  # last.pt was not selected on anything


def test_hvu_recipe_trains_on_its_own_list_scene_labels(tiny_benchmark):
    """pipelines/hvu.yaml needs no scene store and no Makefile override (the tiny benchmark stands in
    for HVU's layout: lists/train.txt, actions.txt, scenes.txt under the root)."""
    cfg = config_from(PIPELINES / "hvu.yaml", [
        f"data.root={tiny_benchmark}", "data.frames=8", "data.stride=2", "data.hop=2", "data.size=32",
        "model.method=two-token", "aug.mix=none", "model.size=tiny", "model.depth=1", "model.embed_dim=32",
        "model.num_heads=2", "optim.batch_size=4"])
    prep = engine.prepare(cfg)
    assert len(prep.scenes) == 4 and cfg.data.scene_store is None and len(prep.entries) + len(prep.val_entries) == 24


def test_a_naive_action_run_starts_devias_with_its_backbone(tmp_path):
    tiny = {"size": "tiny", "embed_dim": 32, "depth": 1, "num_heads": 2, "frames": 4, "img_size": 32}
    torch.manual_seed(0)
    naive = build_model("naive-action", num_actions=5, num_scenes=0, **tiny)
    save_checkpoint(tmp_path / "last.pt", {"model": naive.state_dict(), "method": "naive-action", "epoch": 100})
    devias = build_model("devias", num_actions=5, num_scenes=3, slot_head_dim=16, amd_hidden=[16, 16], **tiny)
    report = load_initial_weights(devias, tmp_path / "last.pt", strict=True, method="devias")
    backbone = sorted(k for k in devias.state_dict() if k.startswith("backbone."))
    assert report.loaded == backbone and report.problems == 0
    assert set(report.ignored) == {"head.weight", "head.bias"}
    assert "naive-action run's own part" in report.ignored["head.weight"]
    assert {"head.weight", "head.bias"} <= set(report.fresh) and any(k.startswith("slot") for k in report.fresh)
    torch.testing.assert_close(devias.backbone.blocks[0].attn.qkv.weight, naive.backbone.blocks[0].attn.qkv.weight)
    assert "ignored (naive-action run's own part; this model is devias: starts fresh): head.weight, head.bias" \
        in report.summary()
    # without the method the head is offered as is: a shape mismatch strict loading refuses
    with pytest.raises(DeviasError, match="strict loading refused"):
        load_initial_weights(devias, tmp_path / "last.pt", strict=True)
