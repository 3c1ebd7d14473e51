"""`devias-tk features`: per-video (and per-view) features in a resumable store, matched against a hand-run
forward; refusal of another checkpoint; `eval knn` from two stores equals `eval knn` from the run."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from run_fixtures import fabricate_run
from typer.testing import CliRunner

from devias_tk.cache.store import VideoStore, video_key
from devias_tk.cli import app
from devias_tk.data.dataset import ClipDataset, ClipSpec
from devias_tk.data.lists import VideoEntry, read_list, write_list
from devias_tk.errors import DeviasError
from devias_tk.evaluate.features import extract_features
from devias_tk.evaluate.knn_run import knn_from_stores, knn_report
from devias_tk.evaluate.predict import load_run

cli = CliRunner(env={"COLUMNS": "250", "NO_COLOR": "1"})


@pytest.fixture(scope="module")
def runs(tiny_benchmark, tmp_path_factory):
    work = tmp_path_factory.mktemp("features")
    return {name: fabricate_run(work / name, tiny_benchmark, method, seed=seed)
            for name, method, seed in (("devias", "devias", 0), ("other", "devias", 1), ("naive", "naive-action", 0),
                                       ("two", "two-token", 0))}


def test_per_clip_features_match_a_hand_run_forward_and_resume(runs, tiny_benchmark, tmp_path):
    run = load_run(runs["devias"], device="cpu")
    lst = tiny_benchmark / "lists/test.txt"
    out = tmp_path / "f.zarr"
    summary = extract_features(run, tiny_benchmark, lst, out, (2, 1), per_clip=True, workers=0, batch=3)
    entries = read_list(lst)
    assert (summary.done, summary.skipped, summary.failed) == (len(entries), 0, {})
    store = VideoStore(out)
    assert store.attrs["kind"] == "features" and store.attrs["checkpoint_sha"] == run.checkpoint_sha
    assert store.attrs["views"] == [2, 1] and store.attrs["dim"] == 32
    views = ClipDataset(tiny_benchmark, entries, ClipSpec(clip_len=8, stride=2, size=32, num_clips=2, num_crops=1,
                                                          short="repeat_last"), train=False)
    for i in (0, len(entries) - 1):
        group = store.group(entries[i].path)
        with torch.no_grad():
            out_i = run.model(views[i]["clip"])
        logits, slots = out_i["logits"], out_i["slots"]  # (V, K, A + S), (V, K, D)
        prob = logits.softmax(-1)
        a_slot, s_slot = prob[..., :4].amax(-1).argmax(1), prob[..., 4:].amax(-1).argmax(1)
        expected = slots[torch.arange(2), a_slot].numpy()
        np.testing.assert_allclose(group["action_views"][...], expected, atol=1e-5)
        np.testing.assert_allclose(group["action"][...], expected.mean(0), atol=1e-5)
        np.testing.assert_allclose(group["scene"][...], slots[torch.arange(2), s_slot].numpy().mean(0), atol=1e-5)
        assert group["slots"].shape == (2, 2, 32) and list(group["action_slot"][...]) == a_slot.tolist()
        probs = logits[torch.arange(2), a_slot, :4].softmax(-1).numpy().mean(0)
        np.testing.assert_allclose(group["action_probs"][...], probs, atol=1e-5)
        assert store.video_attrs(entries[i].path)["action"] == entries[i].action
    # a killed run: one finished video lost; the re-run does that one only
    shutil.rmtree(out / "videos" / video_key(entries[1].path))
    again = extract_features(run, tiny_benchmark, lst, out, (2, 1), per_clip=True, workers=0)
    assert (again.done, again.skipped) == (1, len(entries) - 1)
    other = load_run(runs["other"], device="cpu")
    with pytest.raises(DeviasError, match="checkpoint_sha"):
        extract_features(other, tiny_benchmark, lst, out, (2, 1), per_clip=True, workers=0)


def test_knn_from_stores_equals_knn_from_the_run(runs, tiny_benchmark, tmp_path):
    stores = {}
    for name in ("train", "test"):
        stores[name] = tmp_path / f"{name}.zarr"
        result = cli.invoke(app, ["features", "--run", str(runs["devias"]), "--root", str(tiny_benchmark), "--list",
                                  str(tiny_benchmark / f"lists/{name}.txt"), "--out", str(stores[name]),
                                  "--jobs", "0", "--device", "cpu"])
        assert result.exit_code == 0, result.output
    direct = knn_report(runs["devias"], tiny_benchmark, tiny_benchmark / "lists/train.txt",
                        tiny_benchmark / "lists/test.txt", device="cpu")
    from_stores = knn_from_stores(stores["train"], stores["test"])
    assert from_stores == pytest.approx(direct)
    result = cli.invoke(app, ["eval", "knn", "--train-features", str(stores["train"]), "--test-features",
                              str(stores["test"])])
    assert result.exit_code == 0, result.output
    assert f"{100 * direct['A-A']:.1f}" in result.output
    result = cli.invoke(app, ["eval", "knn", "--train-features", str(stores["train"])])
    assert result.exit_code == 2 and "together" in result.output


def test_baseline_features_and_failures(runs, tiny_benchmark, tmp_path):
    entries = read_list(tiny_benchmark / "lists/test.txt")[:2]
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"\0" * 5000)
    write_list(tmp_path / "l.txt", [*entries, VideoEntry(str(bad), 0, 0)])
    for name, present in (("two", {"action", "scene"}), ("naive", {"action"})):
        out = tmp_path / f"{name}.zarr"
        result = cli.invoke(app, ["features", "--run", str(runs[name]), "--root", str(tiny_benchmark), "--list",
                                  str(tmp_path / "l.txt"), "--out", str(out), "--jobs", "0", "--device", "cpu"])
        assert result.exit_code == 1 and "bad.avi" in result.output  # 1 failure > --max-failures 0
        store = VideoStore(out)
        assert set(store.failures()) == {str(bad)}
        group = store.group(entries[0].path)
        assert {k for k in ("action", "scene") if k in group} == present
    with pytest.raises(DeviasError, match="no scene feature"):
        knn_from_stores(tmp_path / "naive.zarr", tmp_path / "naive.zarr")
