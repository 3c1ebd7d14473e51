"""The suite-defined means on hand-computed cases: the paper's DEVIAS row gives its Table 2 and Table 7
H.M.; an absent split makes a mean partial, named in the report table and in `eval compare`."""

from __future__ import annotations

import json

import pytest

from devias_tk.evaluate.compare import compare_runs, partial_note
from devias_tk.evaluate.runner import SplitResult, markdown_table, summarise

TABLE2 = {"unseen_action": ["scuba-vqgan", "scuba-sinusoid"],
          "unseen_scene": ["hat-scene-only", "hat-rand-1", "hat-far-1"]}
TABLE7 = {"unseen_action": ["scuba-places365", "scuba-vqgan", "scuba-sinusoid", "hat-rand-1", "hat-close-1",
                            "hat-far-1"],
          "unseen_scene": ["hat-scene-only", "hat-rand-1", "hat-close-1", "hat-far-1"]}
# DEVIAS on UCF-101, supplementary Table 7 (action top-1 / scene top-5, %)
ACTION = {"scuba-places365": 41.1, "scuba-vqgan": 40.1, "scuba-sinusoid": 38.6, "hat-rand-1": 39.4,
          "hat-close-1": 41.3, "hat-far-1": 35.2}
SCENE = {"hat-scene-only": 61.0, "hat-rand-1": 62.4, "hat-close-1": 59.8, "hat-far-1": 70.2}


def _results(action: dict, scene: dict | None, skip: tuple[str, ...] = ()) -> list[SplitResult]:
    seen = SplitResult("test", True, 3783, {}, action=0.901, scene=0.740 if scene is not None else None)
    out = [seen]
    for name in dict.fromkeys([*action, *SCENE]):
        if name in skip:
            continue
        a = action.get(name)
        s = None if scene is None else scene.get(name)
        out.append(SplitResult(name, False, 100, {}, action=None if a is None else a / 100,
                               scene=None if s is None else s / 100))
    return out


def _hm(values):
    return len(values) / sum(1 / v for v in values)


def test_the_papers_devias_row_gives_table_2_and_table_7():
    t2 = summarise(_results({k: ACTION[k] for k in TABLE2["unseen_action"]},
                            {k: SCENE[k] for k in TABLE2["unseen_scene"]}), TABLE2)
    assert t2["unseen_action_mean"] == pytest.approx(39.35)
    assert t2["unseen_scene_mean"] == pytest.approx(64.53, abs=0.01)
    assert t2["hm"] == pytest.approx(61.05, abs=0.01)  # the paper prints 61.1
    assert t2["hm"] == pytest.approx(round(_hm([90.1, (40.1 + 38.6) / 2, 74.0, (61.0 + 62.4 + 70.2) / 3]), 2))
    assert not (t2["unseen_action_partial"] or t2["unseen_scene_partial"] or t2["hm_partial"])
    t7 = summarise(_results(ACTION, SCENE), TABLE7)
    assert t7["unseen_action_mean"] == pytest.approx(39.28, abs=0.01)  # paper: 39.3
    assert t7["unseen_scene_mean"] == pytest.approx(63.35, abs=0.01)  # paper: 63.4
    assert t7["hm"] == pytest.approx(60.74, abs=0.01)  # paper: 60.8 (from its rounded means)
    assert t7["unseen_action_covers"] == TABLE7["unseen_action"] and t7["missing_splits"] == {}


def test_an_absent_split_makes_the_mean_partial_and_is_named():
    absent = {"hat-close-1": "list not found: /x/hat-close-1.txt"}
    s = summarise(_results(ACTION, SCENE, skip=("hat-close-1",)), TABLE7, absent)
    five = [ACTION[k] for k in TABLE7["unseen_action"] if k != "hat-close-1"]
    assert s["unseen_action_mean"] == pytest.approx(round(sum(five) / 5, 2))
    assert s["unseen_action_partial"] and s["unseen_scene_partial"] and s["hm_partial"]
    assert s["unseen_action_missing"] == ["hat-close-1"] and "hat-close-1" not in s["unseen_action_covers"]
    assert s["missing_splits"] == absent
    note = partial_note(s)
    assert "unseen action mean covers scuba-places365, scuba-vqgan, scuba-sinusoid, hat-rand-1, hat-far-1 only" in note
    assert "missing hat-close-1 (list not found: /x/hat-close-1.txt)" in note
    table = markdown_table([("DEVIAS", s)])
    header, _, row = table.splitlines()[:3]
    cells = dict(zip([c.strip() for c in header.split("|")], [c.strip() for c in row.split("|")], strict=True))
    assert cells["hat-close-1"] == "n/a" and cells["unseen action mean"].endswith("*") and cells["H.M."].endswith("*")
    assert cells["scuba-places365"] == "41.1" and cells["seen action"] == "90.1"
    assert "\\* DEVIAS: unseen action mean covers" in table


def test_a_split_without_a_readable_video_counts_as_missing_too():
    results = _results(ACTION, SCENE)
    far = next(r for r in results if r.name == "hat-far-1")
    far.action, far.scene = float("nan"), float("nan")
    s = summarise(results, TABLE7)
    assert s["unseen_action_missing"] == ["hat-far-1"] and s["unseen_scene_missing"] == ["hat-far-1"]
    assert s["missing_splits"] == {"hat-far-1": "no readable video with a label"}
    assert s["unseen_scene_mean"] == pytest.approx(round((61.0 + 62.4 + 59.8) / 3, 2))


def test_a_model_without_a_scene_head_has_no_scene_mean_and_nothing_missing():
    s = summarise(_results(ACTION, None), TABLE7)
    assert s["seen_scene"] is None and s["unseen_scene_mean"] is None and s["hm"] is None
    assert not s["unseen_scene_partial"] and s["unseen_scene_missing"] == [] and partial_note(s) == ""
    assert s["unseen_action_mean"] == pytest.approx(39.28, abs=0.01)
    # every split of a mean absent: the mean is not reported, and the note says why
    absent = {k: "list not found" for k in TABLE2["unseen_action"]}
    s = summarise(_results({}, {k: SCENE[k] for k in TABLE2["unseen_scene"]}, skip=tuple(absent)), TABLE2, absent)
    assert s["unseen_action_mean"] is None and s["hm"] is None and not s["unseen_action_partial"]
    assert partial_note(s) == ("unseen action mean not reported: missing scuba-vqgan (list not found), "
                               "scuba-sinusoid (list not found)")


def test_compare_marks_partial_cells_and_names_absent_splits_and_warnings(tmp_path):
    full = summarise(_results(ACTION, SCENE), TABLE7)
    absent = {"hat-close-1": "list not found: /x/hat-close-1.txt"}
    partial = summarise(_results(ACTION, SCENE, skip=("hat-close-1",)), TABLE7, absent)
    definition = "DEVIAS supplementary Table 7: six action sets, four scene sets"
    runs = []
    for seed, (summary, missing, warnings) in enumerate([(full, {}, []), (partial, absent, ["best.pt on test"])]):
        run = tmp_path / f"devias-s{seed}"
        (run / "eval" / "t7").mkdir(parents=True)
        report = {"label": "DEVIAS", "seed": seed, "definition": definition, "absent_splits": missing,
                  "warnings": warnings, **summary}
        (run / "eval" / "t7" / "report.json").write_text(json.dumps(report))
        runs.append(run)
    text = compare_runs(runs, "t7")
    assert text.startswith(f"Suite 't7': {definition}")
    row = next(line for line in text.splitlines() if line.startswith("| DEVIAS |"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[1] == "0,1" and cells[2] == "90.1 ± 0.0" and cells[3].endswith("*") and cells[6].endswith("*")
    assert cells[4] == "74.0 ± 0.0"  # seen scene: complete in both runs, no mark
    assert "DEVIAS (seed 1): absent splits: hat-close-1 (list not found: /x/hat-close-1.txt)" in text
    assert "\\* DEVIAS (seed 1): unseen action mean covers" in text
    assert "DEVIAS (seed 1): warning: best.pt on test" in text
    assert "seed 0" not in text  # the complete run needs no note
    only_full = compare_runs(runs[:1], "t7")
    assert "*" not in only_full.split("\n", 2)[2]


def test_compare_adds_the_knn_table_of_runs_that_have_one_and_run_name_labels(tmp_path):
    summary = summarise(_results(ACTION, SCENE), TABLE7)
    runs = []
    for seed, (label, knn) in enumerate([("DEVIAS", {"A-A": 0.8, "S-S": 0.9, "A-S": 0.1, "S-A": 0.2}),
                                         ("DEVIAS", {"A-A": 0.6, "S-S": 0.7, "A-S": 0.3, "S-A": 0.0}),
                                         ("Ceiling", None)]):
        run = tmp_path / f"r{seed}"
        (run / "eval" / "t7").mkdir(parents=True)
        (run / "eval" / "t7" / "report.json").write_text(json.dumps({"label": label, "seed": seed, **summary}))
        if knn:
            (run / "eval" / "knn.json").write_text(json.dumps({**knn, "chance_action": 0.1, "chance_scene": 0.25,
                                                                "k": 10, "train_list": "a", "test_list": "b"}))
        runs.append(run)
    text = compare_runs(runs, "t7")
    assert "| Ceiling | 2 |" in text  # the H.M. table has every run
    knn = text[text.index("k-NN (k=10)"):]
    assert "chance: action 10.0, scene 25.0" in knn and "Ceiling" not in knn
    row = [c.strip() for c in next(line for line in knn.splitlines() if line.startswith("| DEVIAS")).split("|")[1:-1]]
    assert row == ["DEVIAS", "2", "70.0 ± 14.1", "80.0 ± 14.1", "20.0 ± 14.1", "10.0 ± 14.1"]
    assert "k-NN" not in compare_runs(runs[2:], "t7")


def test_run_name_overrides_the_method_label():
    from devias_tk.evaluate.runner import run_label

    config = {"model": {"method": "naive-action"}, "aug": {"mix": "be"}, "run": {"name": None}}
    assert run_label(config) == "Naive Action w/ BE"
    config["run"]["name"] = "Naive Action, unbiased twin (ceiling)"
    assert run_label(config) == "Naive Action, unbiased twin (ceiling)"
