"""Eval diagnostics against ground-truth actor masks (slot attention on the actor, AMD IoU) and the training
log of the action loss over mixed / unmixed samples, which must leave the training numerics untouched."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from run_fixtures import fabricate_run

from devias_tk.data.dataset import ClipDataset, ClipSpec
from devias_tk.data.lists import read_list
from devias_tk.engine.checkpoint import load_checkpoint
from devias_tk.engine.distributed import SINGLE_PROCESS
from devias_tk.evaluate import diagnostics as dg
from devias_tk.evaluate import runner as runner_mod
from devias_tk.evaluate.predict import load_run
from devias_tk.evaluate.suite import load_suite
from devias_tk.train import engine
from devias_tk.train import step as step_mod
from devias_tk.train.config import config_from
from devias_tk.train.losses import MIX_TERMS, LossConfig, baseline_loss, devias_loss

ACTOR_SPLITS = ("test", "scuba-places", "scuba-stylized", "scuba-sinusoid", "hat-random", "hat-close", "hat-far")
SUITE = """
name: diag
root: ROOT
views: [1, 1]
splits:
  - {name: test, list: lists/test.txt, seen: true, action: top1, scene: top1}
  - {name: scuba-places, list: lists/scuba-places.txt, action: top1}
  - {name: scuba-stylized, list: lists/scuba-stylized.txt, action: top1}
  - {name: scuba-sinusoid, list: lists/scuba-sinusoid.txt, action: top1}
  - {name: hat-scene-only, list: lists/hat-scene-only.txt, scene: top1}
  - {name: hat-random, list: lists/hat-random.txt, action: top1, scene: top1}
  - {name: hat-close, list: lists/hat-close.txt, action: top1, scene: top1}
  - {name: hat-far, list: lists/hat-far.txt, action: top1, scene: top1}
"""


# ---------------------------------------------------------------------------------------------------------
# Hand cases


def test_actor_fraction_follows_the_test_view_geometry():
    gt = np.zeros((2, 4, 6), bool)
    gt[:, :, :3] = True  # left half; the centre 4x4 crop starts at column 1
    actor = dg.actor_fraction(gt, 4)
    assert actor.shape == (2, 4, 4) and actor[0].tolist() == [[1.0, 1.0, 0.0, 0.0]] * 4
    one = np.zeros((1, 8, 8), bool)
    one[0, 0, 0] = True  # one pixel of the 2x2 block an area resize to 4x4 merges: a quarter actor
    assert dg.actor_fraction(one, 4)[0, 0, 0] == pytest.approx(0.25) and dg.actor_fraction(one, 4).sum() == 0.25


def test_token_and_patch_fractions_in_token_order():
    actor = np.zeros((4, 4, 4), np.float32)  # 2 tubelets x 2x2 patches of 2 pixels
    actor[2:, :2, 2:] = 1.0  # tubelet 1, patch (0, 1): token 1*4 + 0*2 + 1 = 5
    actor[3, 2:, :1] = 1.0  # one frame of tubelet 1, half of patch (1, 0)'s columns: token 6 a quarter actor
    tokens = dg.token_fractions(actor, 2, 2)
    assert tokens.tolist() == [0, 0, 0, 0, 0, 1.0, 0.25, 0]
    assert dg.patch_fractions(actor, 2).tolist() == [0, 0.5, 0.125, 0]  # the same over all 4 frames
    with pytest.raises(ValueError, match="does not tile"):
        dg.token_fractions(actor[:3], 2, 2)


def test_attention_shares():
    tokens = np.array([1.0, 0.5, 0.0, 0.0])
    on_actor = np.array([0.7, 0.0, 0.0, 0.0])  # all of its mass on the actor token
    uniform = np.full(4, 0.25)
    half_token = np.array([0.0, 2.0, 0.0, 0.0])  # all on a token half on the actor: half of it counts
    shares = dg.attention_share(np.stack([on_actor, uniform, half_token, np.zeros(4)]), tokens)
    assert shares[:3].tolist() == [1.0, pytest.approx(tokens.mean()), 0.5] and math.isnan(shares[3])
    rec = dg.video_record(np.stack([on_actor, uniform]), 0, 1, tokens, None, np.zeros(4))
    assert rec == {"action_slot_on_actor": 1.0, "scene_slot_on_actor": pytest.approx(0.375), "actor_share": 0.375,
                   "same_slot": 0.0}


def test_amd_topk_iou_and_its_chance_level():
    truth = np.array([0.9, 0.6, 0.1, 0.0])  # k = 2 patches at least half actor: {0, 1}
    assert dg.topk_iou(np.array([0.8, 0.1, 0.7, 0.2]), truth) == pytest.approx(1 / 3)  # {0, 2}: 1 of 3
    assert dg.topk_iou(np.array([0.3, 0.9, 0.1, 0.2]), truth) == 1.0
    small = np.array([0.1, 0.4, 0.0, 0.2])  # no patch half actor: k = 1, the most covered patch
    assert dg.true_patches(small) == 1 and dg.topk_iou(np.array([0.0, 0.5, 0.2, 0.1]), small) == 1.0
    assert dg.chance_iou(1, 4) == pytest.approx(0.25) and dg.chance_iou(2, 4) == pytest.approx(7 / 18)
    rec = dg.video_record(np.ones((2, 4)), 1, 1, np.ones(4), np.array([0.8, 0.1, 0.7, 0.2]), truth)
    assert rec["same_slot"] == 1.0 and rec["amd_iou"] == pytest.approx(1 / 3)
    summary = dg.summarise([rec, {**rec, "amd_iou": 1.0}], without_actor=3, failed=0)
    assert summary["videos"] == 2 and summary["without_actor"] == 3 and summary["amd_iou"] == pytest.approx(0.6667)


# ---------------------------------------------------------------------------------------------------------
# Reading and the models' maps


def test_centre_view_is_the_eval_view_and_the_maps_have_the_token_grid(tiny_benchmark, tmp_path):
    spec = ClipSpec(clip_len=8, stride=2, size=32, num_clips=1, num_crops=1, short="repeat_last")
    entries = read_list(tiny_benchmark / "lists/hat-far.txt")[:2]
    item = dg.CentreViews(tiny_benchmark, entries, spec, 2, 16)[0]
    assert torch.equal(item["clip"], ClipDataset(tiny_benchmark, entries, spec, train=False)[0]["clip"][0])
    assert item["tokens"].shape == (4 * 2 * 2,) and item["patches"].shape == (4,) and item["tokens"].max() > 0
    scene_only = read_list(tiny_benchmark / "lists/hat-scene-only.txt")[:1]
    assert dg.CentreViews(tiny_benchmark, scene_only, spec, 2, 16)[0] == {"index": 0, "no_actor": True}
    clips = item["clip"][None].repeat(2, 1, 1, 1, 1)
    devias = load_run(fabricate_run(tmp_path / "d", tiny_benchmark)).model
    maps = dg.role_maps(devias, clips)
    assert maps["attn"].shape == (2, 2, 16) and maps["mask_prob"].shape == (2, 4)
    assert torch.equal(maps["action_slot"], devias.predict(clips)["action_slot"])
    tokens = load_run(fabricate_run(tmp_path / "t", tiny_benchmark, method="two-token")).model
    maps = dg.role_maps(tokens, clips)
    assert maps["attn"].shape == (2, 2, 16) and maps["mask_prob"] is None
    assert maps["action_slot"].tolist() == [0, 0] and maps["scene_slot"].tolist() == [1, 1]
    naive = load_run(fabricate_run(tmp_path / "n", tiny_benchmark, method="naive-action")).model
    assert not dg.has_role_maps(naive)


# ---------------------------------------------------------------------------------------------------------
# Training: the action loss over mixed / unmixed samples, numerics untouched


def test_mix_terms_are_sums_of_the_per_sample_action_loss():
    torch.manual_seed(0)
    logits = torch.randn(4, 2, 6)  # 2 slots, 3 actions + 3 scenes
    out = {"logits": logits, "slots": torch.randn(4, 2, 8), "attn": None, "mask_logits": None}
    targets = {"action": torch.tensor([0, 1, 2, 0]), "scene": torch.tensor([1, 0, 2, 2])}
    cfg = LossConfig(lambda_mask=0.0, lambda_guide=0.0)
    total, terms = devias_loss(out, targets, 3, cfg)
    mixed = torch.tensor([True, False, True, True])
    total_m, terms_m = devias_loss(out, {**targets, "mixed": mixed}, 3, cfg)
    assert torch.equal(total, total_m) and set(terms_m) == set(terms) | set(MIX_TERMS)
    assert terms_m["action_mixed_count"] == 3 and terms_m["action_unmixed_count"] == 1
    both = terms_m["action_mixed_sum"] + terms_m["action_unmixed_sum"]
    assert float(both) / 4 == pytest.approx(float(terms["action"]))
    unified = {"unified_logits": logits, "action_logits": logits[:, 0, :3], "scene_logits": logits[:, 1, 3:]}
    _, base = baseline_loss(unified, {**targets, "mixed": mixed}, 3)
    assert float(base["action_mixed_sum"] + base["action_unmixed_sum"]) / 4 == pytest.approx(float(base["action"]))
    meter = step_mod.ActionByMix()
    assert set(meter.take(terms_m)) == set(terms) and meter.take(terms) == terms
    values = meter.values(SINGLE_PROCESS)
    assert values["action_mixed"] == pytest.approx(float(terms_m["action_mixed_sum"]) / 3)
    assert meter.values(SINGLE_PROCESS) == {}  # reset after each log
    meter.take({**terms_m, "action_unmixed_count": torch.tensor(0.0)})
    assert set(meter.values(SINGLE_PROCESS)) == {"action_mixed"}  # no unmixed sample: the key is absent


@pytest.fixture(scope="module")
def tiny_trained(tiny_run_setup, tmp_path_factory):
    """A seeded tiny DEVIAS run (scene mix p_aug 0.5, 2 epochs, logged every step)."""
    recipe, _ = tiny_run_setup
    run = tmp_path_factory.mktemp("diag") / "devias"
    engine.train(config_from(recipe, ["optim.epochs=2", "run.log_every=1"]), run)
    return run


def test_training_logs_the_action_loss_over_mixed_and_unmixed_samples(tiny_trained):
    rows = [json.loads(x) for x in (tiny_trained / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "loss" in r]
    assert len(rows) == 12 and not any(k in r for r in rows for k in MIX_TERMS)
    assert any("action_mixed" in r for r in rows) and any("action_unmixed" in r for r in rows)
    for r in rows:  # one step per log: the step's action loss is the weighted mean of the two
        present = [r[k] for k in ("action_mixed", "action_unmixed") if k in r]
        assert present and min(present) - 1e-5 <= r["action"] <= max(present) + 1e-5


def test_the_logging_leaves_the_parameters_bit_identical(tiny_run_setup, tiny_trained, tmp_path, monkeypatch):
    recipe, _ = tiny_run_setup
    real = step_mod.devias_loss

    def unmonitored(out, targets, *args, **kwargs):  # the criterion as before: no "mixed", no per-sample loss
        return real(out, {k: v for k, v in targets.items() if k != "mixed"}, *args, **kwargs)

    monkeypatch.setattr(step_mod, "devias_loss", unmonitored)
    engine.train(config_from(recipe, ["optim.epochs=2", "run.log_every=1"]), tmp_path / "off")
    rows = [json.loads(x) for x in (tmp_path / "off" / "metrics.jsonl").read_text().splitlines()]
    assert not any("action_mixed" in r or "action_unmixed" in r for r in rows)
    on = json.loads((tiny_trained / "parameter_checksums.json").read_text())
    assert json.loads((tmp_path / "off" / "parameter_checksums.json").read_text()) == on
    a = load_checkpoint(tiny_trained / "checkpoints/last.pt")["model"]
    b = load_checkpoint(tmp_path / "off" / "checkpoints/last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------------------------------------------
# Eval end to end


def test_eval_reports_the_diagnostics_of_every_actor_split(tiny_trained, tiny_benchmark, tmp_path, monkeypatch):
    suite = tmp_path / "diag.yaml"
    suite.write_text(SUITE.replace("ROOT", str(tiny_benchmark)))
    report = runner_mod.evaluate(tiny_trained, load_suite(suite), device="cpu", workers=0)
    diag = report["diagnostics"]
    assert set(diag) == set(ACTOR_SPLITS)  # hat-scene-only: empty masks, left out
    for name, d in diag.items():
        assert d["videos"] + d["without_actor"] + d["failed"] == report["splits"][name]["videos"]
        assert d["videos"] > 0 and 0 < d["actor_share"] < 1, name
        for key in dg.KEYS:
            assert 0 <= d[key] <= 1, (name, key)
    assert report["diagnostics_view"] == dg.VIEW
    md = (tiny_trained / "eval" / "diag" / "report.md").read_text()
    assert "action slot on actor" in md and "| hat-far |" in md and dg.VIEW in md
    assert json.loads((tiny_trained / "eval" / "diag" / "report.json").read_text())["diagnostics"] == diag
    assert (tiny_trained / "eval" / "diag" / "training_curves.png").stat().st_size > 0

    def boom(*_a, **_k):
        raise AssertionError("the diagnostics should have been reused")

    monkeypatch.setattr(dg, "split_diagnostics", boom)  # cached beside the predictions
    assert runner_mod.evaluate(tiny_trained, load_suite(suite), device="cpu", workers=0)["diagnostics"] == diag


def test_diagnostics_are_absent_without_masks_or_attention(tiny_benchmark, tmp_path):
    bare = tmp_path / "bare"  # the benchmark without its gt_masks
    bare.mkdir()
    for name in ("videos", "lists"):
        (bare / name).symlink_to(tiny_benchmark / name)
    one_split = "\n".join(SUITE.splitlines()[:6]).replace("ROOT", str(bare)) + "\n"
    (tmp_path / "bare.yaml").write_text(one_split)
    run = fabricate_run(tmp_path / "devias", tiny_benchmark)
    report = runner_mod.evaluate(run, load_suite(tmp_path / "bare.yaml"), device="cpu", workers=0)
    assert "diagnostics" not in report and "Diagnostics" not in (run / "eval/diag/report.md").read_text()
    (tmp_path / "masks.yaml").write_text(one_split.replace(str(bare), str(tiny_benchmark)))
    naive = fabricate_run(tmp_path / "naive", tiny_benchmark, method="naive-action")
    assert "diagnostics" not in runner_mod.evaluate(naive, load_suite(tmp_path / "masks.yaml"), device="cpu", workers=0)
    two = fabricate_run(tmp_path / "two", tiny_benchmark, method="two-token")
    diag = runner_mod.evaluate(two, load_suite(tmp_path / "masks.yaml"), device="cpu", workers=0)["diagnostics"]
    assert set(diag) == {"test"} and diag["test"]["amd_iou"] is None and diag["test"]["same_slot"] == 0.0
