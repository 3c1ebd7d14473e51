"""Every shipped recipe loads (with its `base:`) and names the source of each value; the paper's values
where the tables give them; every shipped suite parses, with the means its definition names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devias_tk.engine.recipe import load_recipe
from devias_tk.evaluate.suite import load_suite
from devias_tk.train.config import config_from

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
# pretrain-*: their own test; scene-*: `scenes train --video` recipes, checked below with their own schema
RECIPES = sorted(p for p in PIPELINES.glob("*.yaml") if not p.name.startswith(("pretrain-", "scene-")))
SCENE_RECIPES = sorted(PIPELINES.glob("scene-*.yaml"))
SUITES = sorted((PIPELINES / "eval").glob("*.yaml"))
LEAF = re.compile(r"^\s+[a-z_]+:\s*[^\s#]")  # an indented `key: value` line (not a section header)


def test_the_pipelines_folder_is_found():
    names = {p.name for p in RECIPES}
    assert {"ucf101.yaml", "ucf101-naive-action.yaml", "kinetics400.yaml", "hvu.yaml", "synthetic.yaml"} <= names


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_every_recipe_loads_and_sources_each_value(recipe):
    cfg = config_from(recipe)  # resolves `base:` and validates every key and type
    # the paper's 16 x 4 frames, or the CPU demo's 8 x 8 over the same 64-frame span; SSv2's short clips: 16 x 2
    span = 32 if recipe.name == "finetune-ssv2.yaml" else 64
    assert cfg.optim.lr > 0 and cfg.data.frames * cfg.data.stride == span
    unsourced = [line for line in recipe.read_text().splitlines() if LEAF.match(line) and "#" not in line]
    assert not unsourced, f"{recipe.name}: values without a source comment: {unsourced}"


@pytest.mark.parametrize("recipe", SCENE_RECIPES, ids=lambda p: p.name)
def test_every_scene_recipe_loads_and_sources_each_value(recipe):
    from devias_tk.scenes.video_config import config_from as scene_config_from

    cfg = scene_config_from(recipe)  # validates every key and type against the video scene model's schema
    assert cfg.optim.lr > 0 and cfg.model.frames % cfg.model.tubelet_size == 0
    unsourced = [line for line in recipe.read_text().splitlines() if LEAF.match(line) and "#" not in line]
    assert not unsourced, f"{recipe.name}: values without a source comment: {unsourced}"


def test_the_paper_values_of_the_real_dataset_recipes():
    ucf = config_from(PIPELINES / "ucf101.yaml")
    assert (ucf.optim.lr, ucf.optim.epochs, ucf.model["drop_path"], ucf.model["head_dropout"]) == (5e-4, 100, 0.2, 0.5)
    assert (ucf.aug.beta, ucf.aug.p_aug, ucf.model["slot_iters"], ucf.optim.slot_lr_scale) == (0.3, 0.4, 4, 0.1)
    k400 = config_from(PIPELINES / "kinetics400.yaml")
    assert (k400.optim.lr, k400.aug.beta, k400.aug.p_aug, k400.model["slot_iters"]) == (5e-4, 0.5, 0.8, 8)
    assert (k400.model["drop_path"], k400.model["head_dropout"]) == (0.1, 0.0)
    hvu = config_from(PIPELINES / "hvu.yaml")
    assert (hvu.optim.lr, hvu.optim.epochs, hvu.aug.beta, hvu.aug.p_aug, hvu.model["slot_iters"]) == (
        5e-4, 50, 0.5, 0.25, 8)
    # real scene labels on its own: the list's column and the class names beside the lists, no scene store
    assert (hvu.data.scene_source, hvu.data.scene_store, hvu.data.scenes) == ("list", None, "scenes.txt")
    naive = config_from(PIPELINES / "ucf101-naive-action.yaml")
    assert (naive.method, naive.aug.mix, naive.data.mask_store, naive.data.scene_store) == (
        "naive-action", "none", None, None)
    assert (naive.optim.lr, naive.optim.epochs, naive.model["drop_path"], naive.model["head_dropout"]) == (
        5e-4, 100, 0.2, 0.5)
    assert "base" not in load_recipe(PIPELINES / "hvu.yaml")


def test_the_downstream_recipes_take_table_23():
    flips = {"ucf101": True, "diving48": True, "ssv2": False, "activitynet": True}
    dropout = {"ucf101": 0.5, "diving48": 0.0, "ssv2": 0.0, "activitynet": 0.5}  # the release's --fc_drop_rate
    for name, flip in flips.items():
        cfg = config_from(PIPELINES / f"finetune-{name}.yaml")
        assert (cfg.method, cfg.model["fusion"], cfg.aug.mix, cfg.loss.label_smoothing) == ("finetune", "project",
                                                                                           "none", 0.0)
        assert (cfg.optim.lr, cfg.optim.epochs, cfg.optim.batch_size, cfg.optim.weight_decay) == (5e-4, 50, 12, 0.05)
        assert (cfg.optim.layer_decay, cfg.optim.warmup_epochs, cfg.model["drop_path"]) == (0.75, 5, 0.1)
        assert (cfg.data.color_jitter, cfg.data.flip, cfg.model["head_dropout"]) == (0.4, flip, dropout[name])
        assert (cfg.data.scenes, cfg.data.mask_store, cfg.data.scene_store) == (None, None, None)
        assert not {"size", "embed_dim", "depth", "slot_iters"} & set(cfg.model)  # the source run fixes those
        suite = load_suite(PIPELINES / "eval" / f"finetune-{name}.yaml")
        assert suite.views == (2, 3) and [(s.name, s.action, s.scene) for s in suite.splits] == [("test", "top1", None)]


@pytest.fixture()
def ucf_layout(tmp_path, monkeypatch):
    """The lists `make ucf101-all` leaves, fabricated, with the environment the make target sets."""
    work = tmp_path / "work"
    lists = {"lists/testlist01.txt", "scuba/lists/scuba-places365.txt", "scuba/lists/scuba-vqgan.txt",
             "scuba/lists/scuba-sinusoid.txt", "hat/lists/hat-scene-only.txt", "hat/lists/hat-rand-1.txt",
             "hat/lists/hat-close-1.txt", "hat/lists/hat-far-1.txt", "lists/val.txt"}
    for rel in lists:
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text("a/v.avi 0 -1\n")
    for var, sub in (("WORK", "work"), ("UCF101_ROOT", "ucf"), ("K400_ROOT", "k400"), ("SCUBA_ROOT", "scuba"),
                     ("HAT_ROOT", "hat")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    return work


TABLE2 = {"unseen_action": ["scuba-vqgan", "scuba-sinusoid"],
          "unseen_scene": ["hat-scene-only", "hat-rand-1", "hat-far-1"]}
TABLE7 = {"unseen_action": ["scuba-places365", "scuba-vqgan", "scuba-sinusoid", "hat-rand-1", "hat-close-1",
                            "hat-far-1"],
          "unseen_scene": ["hat-scene-only", "hat-rand-1", "hat-close-1", "hat-far-1"]}


def test_the_ucf101_and_kinetics_suites_define_the_papers_means(ucf_layout):
    for name, means in (("ucf101-table2", TABLE2), ("ucf101-table7", TABLE7), ("kinetics400-table3", TABLE2),
                        ("kinetics400-table8", TABLE7)):
        suite = load_suite(PIPELINES / "eval" / f"{name}.yaml")
        assert suite.name == name and suite.views == (2, 3) and suite.missing == ()
        assert suite.means() == means, name
        assert "Table" in suite.definition and suite.seen.scene == "top5"
        assert {s.name for s in suite.splits} == {"test", *means["unseen_action"], *means["unseen_scene"]}
    # the old names are aliases of the complete (Table 7 / 8) suites
    assert load_suite(PIPELINES / "eval" / "ucf101.yaml").name == "ucf101-table7"
    assert load_suite(PIPELINES / "eval" / "kinetics400.yaml").name == "kinetics400-table8"


def test_an_absent_optional_list_is_kept_as_missing_and_still_defines_the_mean(ucf_layout):
    (ucf_layout / "hat/lists/hat-close-1.txt").unlink()
    (ucf_layout / "scuba/lists/scuba-places365.txt").unlink()
    suite = load_suite(PIPELINES / "eval" / "ucf101-table7.yaml")
    assert [s.name for s in suite.missing] == ["scuba-places365", "hat-close-1"]
    assert "hat-close-1" not in [s.name for s in suite.splits]
    assert suite.means() == TABLE7  # the definition does not shrink with what is present
    assert "hat-close-1" in suite.means_text()


def test_every_shipped_suite_parses_with_a_definition(ucf_layout, monkeypatch):
    monkeypatch.setenv("HVU_ROOT", str(ucf_layout))
    monkeypatch.setenv("HVU_SEEN", "val_seen")
    monkeypatch.setenv("HVU_UNSEEN", "val_unseen")
    for suite_file in SUITES:
        suite = load_suite(suite_file)
        assert suite.definition, suite_file.name
    hvu = load_suite(PIPELINES / "eval" / "hvu.yaml")
    assert hvu.views == (2, 3) and hvu.means() == {"unseen_action": ["unseen"], "unseen_scene": ["unseen"]}
