"""Suites, the report, resumable per-split predictions, compare, and the k-NN command on tiny runs."""

from __future__ import annotations

import json

import pytest
from scene_store_fixtures import fabricate_scene_store
from typer.testing import CliRunner

from devias_tk.cli import app
from devias_tk.data.lists import read_list
from devias_tk.errors import DeviasError
from devias_tk.evaluate import runner as runner_mod
from devias_tk.evaluate.knn_run import knn_report
from devias_tk.evaluate.suite import load_suite, parse_views
from devias_tk.masks import extract
from devias_tk.masks.windows import WindowSpec
from devias_tk.train import engine
from devias_tk.train.config import config_from

cli = CliRunner(env={"COLUMNS": "250", "NO_COLOR": "1"})

RECIPE = """
data: {root: ROOT, train_list: lists/train.txt, mask_store: MASKS, scene_source: list, frames: 8, stride: 2,
       hop: 2, size: 32, num_workers: 0}
model: {method: devias, size: tiny, depth: 1, embed_dim: 32, num_heads: 2, slot_head_dim: 16, amd_hidden: [16, 16]}
aug: {mix: fame, beta: 0.2}
optim: {lr: 1.0e-2, epochs: 1, batch_size: 4, warmup_epochs: 0}
run: {seed: SEED, threads: 1}
"""
SUITE = """
name: tiny
root: ROOT
views: [2, 3]
splits:
  - {name: test, list: lists/test.txt, seen: true, action: top1, scene: top1}
  - {name: scuba-sinusoid, list: lists/scuba-sinusoid.txt, action: top1}
  - {name: hat-scene-only, list: lists/hat-scene-only.txt, scene: top1}
  - {name: hat-far, list: lists/hat-far.txt, action: top1, scene: top5}
"""


@pytest.fixture(scope="module")
def tiny_runs(tiny_benchmark, tmp_path_factory):
    work = tmp_path_factory.mktemp("eval")
    masks = work / "masks.zarr"
    extract.extract(tiny_benchmark, tiny_benchmark / "lists/train.txt", masks,
                    WindowSpec(window=8, stride=2, hop=2, size=32, tubelet_size=8), jobs=1, show_progress=False)
    runs = []
    for method, mix, seed in (("devias", "fame", 0), ("devias", "fame", 1), ("two-token", "none", 0)):
        recipe = work / f"{method}{seed}.yaml"
        recipe.write_text(RECIPE.replace("ROOT", str(tiny_benchmark)).replace("MASKS", str(masks))
                          .replace("SEED", str(seed)))
        run = work / f"{method}-{seed}"
        engine.train(config_from(recipe, [f"model.method={method}", f"aug.mix={mix}"]), run)
        runs.append(run)
    suite = work / "tiny.yaml"
    suite.write_text(SUITE.replace("ROOT", str(tiny_benchmark)))
    return runs, suite


def test_views_and_suite_errors(tmp_path):
    assert parse_views("2x3") == (2, 3) and parse_views([1, 1]) == (1, 1)
    for bad in ("2x2", "x3", "0x1"):
        with pytest.raises(DeviasError):
            parse_views(bad)
    cases = {
        "root: r\nsplits: [{name: a, list: a.txt, action: top1}]\n": "exactly one split must be 'seen: true'",
        "root: r\nsplits: [{name: a, list: a.txt, seen: true, action: top3}]\n": "must be top1 or top5",
        "root: r\nsplits: [{name: a, list: a.txt, seen: true}]\n": "give an action and/or a scene metric",
        "root: r\nsplits: [{name: a, list: a.txt, seen: true, scene: top5, scene_labels: store}]\n":
            "scene_labels: store needs a scene_store",
        "root: r\nsplits: [{name: a, list: a.txt, seen: true, action: top1, colour: red}]\n": "unknown key(s) colour",
        "splits: []\n": "needs 'root' and a non-empty 'splits'",
    }
    for text, message in cases.items():
        (tmp_path / "s.yaml").write_text(text)
        with pytest.raises(DeviasError) as err:
            load_suite(tmp_path / "s.yaml")
        assert message in str(err.value)


def test_eval_writes_a_complete_report_and_resumes(tiny_runs, monkeypatch):
    runs, suite = tiny_runs
    result = cli.invoke(app, ["eval", "--run", str(runs[0]), "--suite", str(suite), "--device", "cpu",
                              "--jobs", "0"])
    assert result.exit_code == 0, result.output
    out = runs[0] / "eval" / "tiny"
    report = json.loads((out / "report.json").read_text())
    assert report["views"] == [2, 3] and report["label"] == "DEVIAS"
    assert set(report["splits"]) == {"test", "scuba-sinusoid", "hat-scene-only", "hat-far"}
    assert report["splits"]["hat-far"]["scene_metric"] == "top5"
    values = [report["seen_action"], report["unseen_action_mean"], report["seen_scene"], report["unseen_scene_mean"]]
    assert all(v is not None and 0 <= v <= 100 for v in values)
    from devias_tk.evaluate.metrics import harmonic_mean

    assert report["hm"] == pytest.approx(harmonic_mean(values), abs=0.02)
    assert report["unseen_action"].keys() == {"scuba-sinusoid", "hat-far"}
    assert report["unseen_scene"].keys() == {"hat-scene-only", "hat-far"}
    md = (out / "report.md").read_text()
    assert "| DEVIAS |" in md and "H.M." in md
    for name in ("confusion_hat-far.png", "confusion_scuba-sinusoid.png", "confusion_scene_hat-far.png",
                 "confusion_scene_hat-scene-only.png", "features_pca.png", "slot_attention.png", "training_curves.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert 10_000 < (out / name).stat().st_size < 2_000_000, name
        assert f"`{name}`" in md
    assert not (out / "confusion_scene_scuba-sinusoid.png").exists()  # an action-only split
    # a fresh untrained-ish tiny model confuses classes; report.md names the pairs the pictures may not
    assert "Most confused action pairs on hat-far" in md and " -> " in md
    assert (runs[0] / "training_curves.png").is_file()  # drawn by the train loop itself
    cached = sorted(p.stem.rsplit("-", 1)[0] for p in (runs[0] / "eval" / "predictions").glob("*.npz"))
    assert cached == ["hat-far", "hat-scene-only", "scuba-sinusoid", "test"]  # <split>-<list hash>.npz, shared

    def boom(*_a, **_k):
        raise AssertionError("predictions should have been reused")

    monkeypatch.setattr(runner_mod, "predict_entries", boom)
    again = runner_mod.evaluate(runs[0], load_suite(suite), device="cpu", workers=0)
    assert again["hm"] == report["hm"]


def test_compare_and_knn(tiny_runs, tiny_benchmark):
    runs, suite = tiny_runs
    for run in runs:
        runner_mod.evaluate(run, load_suite(suite), (1, 1), device="cpu", workers=0)
    table = runs[0].parent / "comparison.md"  # what `--out` leaves beside the runs, matched by runs/demo/*
    table.write_text("old table\n")
    out = tiny_benchmark.parent / "compare" / "comparison.md"
    out.parent.mkdir(exist_ok=True)
    result = cli.invoke(app, ["eval", "compare", *map(str, runs), str(table), "--suite", "tiny", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "left out: " + str(table) in " ".join(result.output.split())
    assert "| DEVIAS | 0,1 |" in result.output and "±" in result.output and "| Two-Token | 0 |" in result.output
    chart = out.with_suffix(".png")
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and 10_000 < chart.stat().st_size < 1_000_000
    result = cli.invoke(app, ["eval", "compare", str(runs[0]), "--suite", "nope"])
    assert result.exit_code == 2 and "not evaluated on 'nope'" in result.output
    result = cli.invoke(app, ["eval", "knn", "--run", str(runs[0]), "--root", str(tiny_benchmark), "--train-list",
                              str(tiny_benchmark / "lists/train.txt"), "--test-list",
                              str(tiny_benchmark / "lists/test.txt"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "A-S" in result.output and "25.0 / 25.0" in result.output  # 4 actions, 4 scenes


def test_knn_takes_pseudo_scene_labels_from_scene_stores(tiny_runs, tiny_benchmark, tmp_path):
    """UCF-101-like lists carry scene -1: the stores' video-level argmax stands in. Stores that give the true
    scenes reproduce the table of the labelled lists exactly; shifted pseudo labels change the scene scores."""
    runs, _ = tiny_runs
    lists = {}
    for name in ("train", "test"):
        source = tiny_benchmark / f"lists/{name}.txt"
        lists[name] = tmp_path / f"{name}-unlabelled.txt"
        lists[name].write_text("".join(f"{e.path} {e.action} -1\n" for e in read_list(source)))
    stores = {n: fabricate_scene_store(tmp_path / f"{n}.zarr", tiny_benchmark, tiny_benchmark / f"lists/{n}.txt")
              for n in ("train", "test")}
    common = dict(k=10, temperature=0.07, device="cpu")
    truth = knn_report(runs[0], tiny_benchmark, tiny_benchmark / "lists/train.txt", tiny_benchmark / "lists/test.txt",
                       **common)
    pseudo = knn_report(runs[0], tiny_benchmark, lists["train"], lists["test"], train_scene_store=stores["train"],
                        test_scene_store=stores["test"], **common)
    assert {k: pseudo[k] for k in ("A-A", "S-S", "A-S", "S-A")} == {k: truth[k] for k in ("A-A", "S-S", "A-S", "S-A")}
    assert (pseudo["train_videos"], pseudo["test_videos"], pseudo["scene_labels"]) == (24, 8, "train store, test store")
    shifted = fabricate_scene_store(tmp_path / "shifted.zarr", tiny_benchmark, tiny_benchmark / "lists/test.txt", 1)
    moved = knn_report(runs[0], tiny_benchmark, lists["train"], lists["test"], train_scene_store=stores["train"],
                       test_scene_store=shifted, **common)
    assert moved["A-A"] == truth["A-A"] and moved["A-S"] == truth["A-S"]  # action labels untouched
    assert moved["S-S"] != truth["S-S"] or moved["S-A"] != truth["S-A"]
    result = cli.invoke(app, ["eval", "knn", "--run", str(runs[0]), "--root", str(tiny_benchmark), "--train-list",
                              str(lists["train"]), "--test-list", str(lists["test"]), "--device", "cpu"])
    assert result.exit_code == 2 and "give --train-scene-store" in result.output
    result = cli.invoke(app, ["eval", "knn", "--run", str(runs[0]), "--root", str(tiny_benchmark), "--train-list",
                              str(lists["train"]), "--test-list", str(lists["test"]), "--device", "cpu",
                              "--train-scene-store", str(stores["train"]), "--test-scene-store", str(stores["test"])])
    assert result.exit_code == 0 and "24 train, 8 test (scene labels: train store, test store)" in result.output


def test_optional_splits_roots_and_environment(tmp_path, monkeypatch):
    (tmp_path / "ucf" / "lists").mkdir(parents=True)
    (tmp_path / "ucf" / "lists" / "test.txt").write_text("a.avi 0 -1\n")
    (tmp_path / "scuba").mkdir()
    (tmp_path / "scuba" / "places.txt").write_text("b 0 -1\n")
    monkeypatch.setenv("UCF", str(tmp_path / "ucf"))
    monkeypatch.setenv("SCUBA", str(tmp_path / "scuba"))
    (tmp_path / "s.yaml").write_text(
        "root: ${UCF}\nsplits:\n"
        "  - {name: test, list: lists/test.txt, seen: true, action: top1}\n"
        "  - {name: scuba-places, root: '${SCUBA}', list: places.txt, action: top1, optional: true}\n"
        "  - {name: hat-far, root: '${SCUBA}', list: absent.txt, action: top1, optional: true}\n"
    )
    suite = load_suite(tmp_path / "s.yaml")
    assert [s.name for s in suite.splits] == ["test", "scuba-places"]
    assert suite.splits[1].root == tmp_path / "scuba" and suite.splits[1].list == tmp_path / "scuba" / "places.txt"
    monkeypatch.delenv("SCUBA")
    with pytest.raises(DeviasError, match=r"\$\{SCUBA\} is not set"):
        load_suite(tmp_path / "s.yaml")
    # ${NAME:-default}: the default while NAME is unset, NAME once set
    (tmp_path / "d.yaml").write_text(f"root: ${{UCF2:-{tmp_path / 'ucf'}}}\nsplits:\n"
                                     "  - {name: test, list: lists/test.txt, seen: true, action: top1}\n")
    assert load_suite(tmp_path / "d.yaml").root == tmp_path / "ucf"
    monkeypatch.setenv("UCF2", str(tmp_path / "elsewhere"))
    assert load_suite(tmp_path / "d.yaml").root == tmp_path / "elsewhere"
