"""Every recipe and suite in pipelines/ runs: those the smoke chains do not run (`make smoke-chains`,
tests/test_make_chains.py) run here, a few steps each, in-process, on the tiny benchmark laid out as each recipe
expects its data. Only scale is shrunk (the ViT's width and depth, the clip's frames and size, epochs, batch,
loader workers and threads); everything else comes from the recipe and what it inherits.

- scene-synthetic-video.yaml on the benchmark's scene images; its clip scene model labels the train list for
  synthetic.yaml, which trains DEVIAS on the demo's caches (the Makefile's demo-caches: `masks extract
  --motion-only`, `scenes label` with the demo's crop grid, both on the recipe's window grid); the `synthetic` and
  `synthetic-train` suites then score that run;
- pretrain-synthetic.yaml (its checkpoint then starts synthetic.yaml's model with model.stem=hmlp, strictly) and
  pretrain-kinetics400.yaml (a ViT-B recipe, shrunk) on the benchmark's train list;
- finetune-{ucf101,diving48,ssv2,activitynet}.yaml from one tiny DEVIAS run, each on a folder holding the lists
  its recipe and its suite (pipelines/eval/finetune-*.yaml) name, then scored by that suite;
- scene-places365.yaml on the scene images in Places365's published layout (`data layout`, `data lists places365`).

The last test holds every pipelines/ file to a run: the files this module runs, plus what `make -n` says the
smoke-chain targets of tests/test_make_chains.py run, plus the two suites that are aliases of others.
"""

from __future__ import annotations

import ast
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from devias_tk.cache.store import VideoStore
from devias_tk.cli import app
from devias_tk.data.lists import read_class_names, read_list
from devias_tk.engine.checkpoint import load_checkpoint, load_initial_weights
from devias_tk.evaluate.runner import evaluate
from devias_tk.evaluate.suite import Suite, load_suite
from devias_tk.pretrain import engine as pretrain_engine
from devias_tk.pretrain.config import config_from as pretrain_config
from devias_tk.scenes.model import load_scene_model
from devias_tk.scenes.video_config import config_from as scene_config
from devias_tk.train import engine as train_engine
from devias_tk.train.config import config_from as train_config

REPO = Path(__file__).resolve().parents[1]
PIPELINES = REPO / "pipelines"
HANDED_OUT: set[str] = set()  # the pipelines/ files this module runs (relative paths), filled at import


def recipe(name: str) -> Path:
    """pipelines/<name>, recorded as run by this module (the constants below are the only way in)."""
    HANDED_OUT.add(name)
    return PIPELINES / name


def suite_file(name: str) -> Path:
    return recipe(f"eval/{name}.yaml")


SYNTHETIC = recipe("synthetic.yaml")
SYNTHETIC_SUITE = suite_file("synthetic")
SYNTHETIC_TRAIN_SUITE = suite_file("synthetic-train")
PRETRAIN_SYNTHETIC = recipe("pretrain-synthetic.yaml")
PRETRAIN_K400 = recipe("pretrain-kinetics400.yaml")
SCENE_VIDEO = recipe("scene-synthetic-video.yaml")
SCENE_PLACES = recipe("scene-places365.yaml")
# named in full so a search for a recipe's file finds the test that runs it
FINETUNES = {
    "ucf101": (recipe("finetune-ucf101.yaml"), suite_file("finetune-ucf101")),
    "diving48": (recipe("finetune-diving48.yaml"), suite_file("finetune-diving48")),
    "ssv2": (recipe("finetune-ssv2.yaml"), suite_file("finetune-ssv2")),
    "activitynet": (recipe("finetune-activitynet.yaml"), suite_file("finetune-activitynet")),
}
# suites that are another suite under an older name: run wherever their target runs
ALIASES = {"eval/ucf101.yaml": "eval/ucf101-table7.yaml", "eval/kinetics400.yaml": "eval/kinetics400-table8.yaml"}

# The shrink, scale only (as the Makefile's SMOKE_SHAPE): a one-block, 32-wide ViT, one epoch without warm-up,
# no loader processes, one thread. Clip frames and size are set per recipe.
VIT = ["model.depth=1", "model.embed_dim=32", "model.num_heads=2"]
SLOTS = ["model.slot_head_dim=16", "model.amd_hidden=[16,16]"]
SHORT = ["optim.epochs=1", "optim.warmup_epochs=0"]
LOCAL = ["data.num_workers=0", "run.threads=1"]
TRAIN_VIDEOS = 24  # the tiny benchmark: 4 actions x 6 training videos; 24 scene images for training, 8 to validate
TEST_VIDEOS = 8

runner = CliRunner(env={"COLUMNS": "250", "NO_COLOR": "1"})


def invoke(*args: object) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result.output


def assert_trained(run: Path, method: str, steps: int) -> dict:
    """RUN/checkpoints/last.pt after `steps` batches of one epoch, the run's method recorded in it and in
    run.json, every logged loss finite; returns the checkpoint."""
    state = load_checkpoint(run / "checkpoints/last.pt")
    assert (state["step"], state["epoch"], state["epoch_batch"]) == (steps, 1, 0)
    assert state["method"] == json.loads((run / "run.json").read_text())["method"] == method
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [row["loss"] for row in rows if "loss" in row]
    assert losses and all(math.isfinite(v) for v in losses), rows
    assert rows[-1 if "loss" in rows[-1] else -2]["step"] == steps  # the last step was logged
    return state


def assert_reported(report: dict, run: Path, suite: Suite, method: str) -> None:
    """RUN/eval/<suite>/report.json scores every split the suite defines, each on every listed video."""
    assert report == json.loads((run / "eval" / suite.name / "report.json").read_text())
    assert report["method"] == method and report["suite"] == suite.name and report["absent_splits"] == {}
    assert suite.missing == () and list(report["splits"]) == [s.name for s in suite.splits]
    for split in suite.splits:
        scored = report["splits"][split.name]
        assert scored["videos"] == len(read_list(split.list)) > 0 and scored["failed"] == 0, (split.name, scored)
        for task in ("action", "scene"):
            if getattr(split, task):  # the split's metric, on a model with that output
                assert scored[task] is not None and 0 <= scored[task] <= 1, (split.name, task, scored)


# ---------------------------------------------------------------------------------------------- the demo


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pipelines")


@pytest.fixture(scope="module")
def scene_video_run(tiny_benchmark, work) -> Path:
    """scene-synthetic-video.yaml as its header runs it (no --init: the image model is the demo's, not needed to
    start), on the benchmark's scene images: its lists and `../scenes.txt` as the recipe names them."""
    run = work / "scene-video"
    invoke("scenes", "train", "--video", "--recipe", SCENE_VIDEO, "--out", run, "--root",
           tiny_benchmark / "scene_images", "data.size=32", *VIT, *SHORT, *LOCAL)
    return run


@pytest.fixture(scope="module")
def demo_caches(tiny_benchmark, scene_video_run, work) -> tuple[Path, Path]:
    """(mask store, scene store) as the Makefile's demo-caches builds them, on synthetic.yaml's window grid."""
    data = train_config(SYNTHETIC).data
    grid = ["--window", data.frames, "--stride", data.stride, "--hop", data.hop]
    masks, scenes = work / "masks-motion-train.zarr", work / "scenes-train.zarr"
    train_list = tiny_benchmark / "lists/train.txt"
    invoke("masks", "extract", "--root", tiny_benchmark, "--list", train_list, "--out", masks, *grid, "--motion-only",
           "-j", 1)
    invoke("scenes", "label", "--root", tiny_benchmark, "--list", train_list, "--model",
           scene_video_run / "scene_model.pt", "--out", scenes, *grid, "--crops", "1:1,0.75:2", "-j", 1)
    return masks, scenes


def demo_overrides(bench: Path, caches: tuple[Path, Path]) -> list[str]:
    """The demo's command (TRAIN_COMMON), shrunk: frames and stride stay synthetic.yaml's (its cached grid)."""
    return [f"data.root={bench}", f"data.mask_store={caches[0]}", f"data.scene_store={caches[1]}",
            "data.scene_source=store", "data.size=32", *VIT, *SLOTS]


@pytest.fixture(scope="module")
def synthetic_run(tiny_benchmark, demo_caches, work) -> Path:
    cfg = train_config(SYNTHETIC, [*demo_overrides(tiny_benchmark, demo_caches), *SHORT, *LOCAL])
    run = work / "synthetic"
    train_engine.train(cfg, run)
    return run


def test_scene_synthetic_video_trains_the_demos_clip_scene_model(scene_video_run, tiny_benchmark):
    cfg = scene_config(SCENE_VIDEO)
    state = assert_trained(scene_video_run, "video-scene-model", steps=TRAIN_VIDEOS // cfg.optim.batch_size)
    # inherited from scene-places365.yaml: the tubelet, the lr decay and the label smoothing
    assert state["config"]["model"]["tubelet_size"] == 2 and state["config"]["mix"]["label_smoothing"] == 0.1
    model = load_scene_model(scene_video_run / "scene_model.pt")
    assert model.inflation == "clip-model" and model.frames == cfg.model.frames == train_config(SYNTHETIC).data.frames
    assert model.class_names == read_class_names(tiny_benchmark / "scenes.txt")
    assert [e["epoch"] for e in model.metrics["epochs"]] == [1] and 0 <= model.metrics["val_top1"] <= 100


def test_synthetic_trains_devias_on_the_demos_caches(synthetic_run, demo_caches, tiny_benchmark):
    cfg = train_config(SYNTHETIC)
    state = assert_trained(synthetic_run, "devias", steps=TRAIN_VIDEOS // cfg.optim.batch_size)
    saved = state["config"]
    # the recipe's own method, mixing, stem, slots and loss weights reached the run
    assert (saved["model"]["method"], saved["aug"]["mix"], saved["model"]["stem"]) == ("devias", "fame", "conv3d")
    assert saved["model"]["slot_iters"] == cfg.model["slot_iters"] and saved["loss"] == json.loads(
        json.dumps(cfg.to_dict()["loss"]))
    assert state["class_names"]["scenes"] == read_class_names(tiny_benchmark / "scenes.txt")
    masks, scenes = (VideoStore(path) for path in demo_caches)
    for store in (masks, scenes):  # the caches on the recipe's own grid (its 8 x 8 windows, not shrunk)
        assert [store.attrs[k] for k in ("window", "stride", "hop")] == [cfg.data.frames, cfg.data.stride, cfg.data.hop]
    assert scenes.attrs["inflation"] == "clip-model" and len(scenes.attrs["crop_grid"]) > 1
    last = [json.loads(line) for line in (synthetic_run / "metrics.jsonl").read_text().splitlines()][-1]
    # every DEVIAS term was computed: the scene store's targets, the masks' mask decoder and guidance
    for term in ("action", "scene", "cos", "amd", "guide"):
        assert math.isfinite(last[term]), last
    assert last["scene"] > 0 and last["amd"] > 0 and last["guide"] > 0, last


def test_the_synthetic_suites_score_the_demo_run(synthetic_run, tiny_benchmark, tmp_path, monkeypatch):
    # `synthetic`: its root from DEVIAS_SYNTH_ROOT, as `make demo` sets it
    monkeypatch.setenv("DEVIAS_SYNTH_ROOT", str(tiny_benchmark))
    suite = load_suite(SYNTHETIC_SUITE)
    report = evaluate(synthetic_run, suite, workers=0)
    assert_reported(report, synthetic_run, suite, "devias")
    assert report["label"] == "DEVIAS" and report["hm"] is not None and not report["hm_partial"]
    assert len(report["splits"]) == 8 and (synthetic_run / "eval/synthetic/slot_attention.png").is_file()
    # `synthetic-train`: its root is data/synthetic, relative to where it runs
    (tmp_path / "data").mkdir()
    (tmp_path / "data/synthetic").symlink_to(tiny_benchmark)
    monkeypatch.chdir(tmp_path)
    suite = load_suite(SYNTHETIC_TRAIN_SUITE)
    report = evaluate(synthetic_run, suite, workers=0)
    assert_reported(report, synthetic_run, suite, "devias")
    assert report["splits"]["train"]["videos"] == TRAIN_VIDEOS and report["hm"] is None  # no unseen splits


# ---------------------------------------------------------------------------------------------- pre-training


def test_pretrain_synthetic_pretrains_the_demos_backbone_and_starts_it(tiny_benchmark, demo_caches, work):
    cfg = pretrain_config(PRETRAIN_SYNTHETIC, [f"data.root={tiny_benchmark}", "data.size=32", *VIT, *SHORT, *LOCAL])
    demo = train_config(SYNTHETIC)
    # backbone_from: synthetic.yaml's ViT and clip; the stem its own (per patch: masked pixels must not leak)
    assert cfg.model["size"] == demo.model["size"] and cfg.model["stem"] == "hmlp" != demo.model["stem"]
    assert (cfg.data.frames, cfg.data.stride) == (demo.data.frames, demo.data.stride)
    run = work / "pretrain-synthetic"
    pretrain_engine.pretrain(cfg, run)
    state = assert_trained(run, "videomae-pretrain", steps=TRAIN_VIDEOS // cfg.optim.batch_size)
    assert (state["mae_config"]["mask_ratio"], state["mae_config"]["decoder_depth"]) == (cfg.mae.mask_ratio,
                                                                                         cfg.mae.decoder_depth)
    assert (run / "figures/recon-e0001.png").is_file()
    # the checkpoint starts `train --recipe pipelines/synthetic.yaml ... model.stem=hmlp`: every encoder tensor
    model = train_engine.prepare(train_config(SYNTHETIC, [*demo_overrides(tiny_benchmark, demo_caches),
                                                          "model.stem=hmlp"])).model
    report = load_initial_weights(model, run / "checkpoints/last.pt", strict=True, method="devias")
    assert report.problems == 0
    assert set(report.loaded) == {k for k in model.state_dict() if k.startswith("backbone.")}


def test_pretrain_kinetics400_pretrains_its_vit_b_shrunk(tiny_benchmark, work):
    full = pretrain_config(PRETRAIN_K400)
    # backbone_from kinetics400.yaml, which takes ViT-B at 16 x 4 x 224 from ucf101.yaml
    assert (full.model["size"], full.data.frames, full.data.stride, full.data.size) == ("base", 16, 4, 224)
    cfg = pretrain_config(PRETRAIN_K400, [f"data.root={tiny_benchmark}", "model.size=tiny", *VIT, "data.frames=4",
                                          "data.size=32", "mae.decoder_depth=1", "optim.batch_size=12", *SHORT,
                                          *LOCAL])
    run = work / "pretrain-kinetics400"
    pretrain_engine.pretrain(cfg, run)
    state = assert_trained(run, "videomae-pretrain", steps=TRAIN_VIDEOS // 12)
    assert state["mae_config"]["mask_ratio"] == full.mae.mask_ratio and state["config"]["data"]["stride"] == 4
    assert json.loads((run / "run.json").read_text())["videos"] == TRAIN_VIDEOS


# ---------------------------------------------------------------------------------------------- fine-tuning


@pytest.fixture(scope="module")
def devias_source(tiny_run_setup, work) -> Path:
    """A tiny DEVIAS run (conftest's recipe) to fine-tune from."""
    source, _ = tiny_run_setup
    run = work / "devias-source"
    train_engine.train(train_config(source, ["optim.epochs=1", "optim.batch_size=12"]), run)
    return run


def lay_out(bench: Path, root: Path, cfg, suite_path: Path, monkeypatch) -> Suite:
    """ROOT as the fine-tuning recipe and its suite name the files: the benchmark's videos, its train list at the
    recipe's data.train_list, its class names at data.actions, its test list where the suite reads it, the suite's
    root variable set to ROOT. Returns the suite."""
    root.mkdir()
    (root / "videos").symlink_to(bench / "videos")
    for source, target in ((bench / "lists/train.txt", cfg.resolve(cfg.data.train_list, True)),
                           (bench / "actions.txt", cfg.resolve(cfg.data.actions, True))):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
    variable = re.fullmatch(r"\$\{(\w+):-[^}]*\}", yaml.safe_load(suite_path.read_text())["root"])
    assert variable, f"{suite_path}: root is not ${{VAR:-default}}"
    monkeypatch.setenv(variable.group(1), str(root))
    suite = load_suite(suite_path)
    assert suite.root == root and [s.name for s in suite.splits] == ["test"]
    suite.seen.list.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(bench / "lists/test.txt", suite.seen.list)
    return suite


@pytest.mark.parametrize("target", list(FINETUNES))
def test_finetune_recipes_start_from_a_devias_run_and_score_their_suite(target, devias_source, tiny_benchmark, work,
                                                                        monkeypatch):
    recipe_path, suite_path = FINETUNES[target]
    root = work / f"{target}-data"
    cfg = train_config(recipe_path, [f"data.root={root}", f"run.init={devias_source}", "data.frames=4",
                                     "data.size=32", *SHORT, *LOCAL])
    suite = lay_out(tiny_benchmark, root, cfg, suite_path, monkeypatch)
    run = work / f"finetune-{target}"
    train_engine.train(cfg, run)
    held = json.loads((run / "run.json").read_text())["validation"]
    assert held["train_videos"] + held["videos"] == TRAIN_VIDEOS and held["videos"] > 0  # data.val_fraction: 0.05
    state = assert_trained(run, "finetune", steps=held["train_videos"] // cfg.optim.batch_size)
    # the source's architecture and slots, the recipe's fusion; no scene classes
    assert state["model_config"]["source"] == "devias" and state["model_config"]["fusion"] == cfg.model["fusion"]
    assert state["model_config"]["embed_dim"] == 32 and state["class_names"]["scenes"] == []
    assert (state["config"]["data"]["stride"], state["config"]["data"]["flip"]) == (cfg.data.stride, cfg.data.flip)
    assert (run / "checkpoints/best.pt").is_file()
    report = evaluate(run, suite, workers=0)
    assert_reported(report, run, suite, "finetune")
    test = report["splits"]["test"]
    assert test["videos"] == TEST_VIDEOS and test["scene"] is None and report["views"] == [2, 3]
    assert report["label"] == f"DEVIAS fine-tuned ({cfg.model['fusion']})"


# ---------------------------------------------------------------------------------------------- Places365


@pytest.fixture(scope="module")
def places365(tiny_benchmark, work) -> Path:
    """The scene images in Places365's published layout, listed as scene-places365.yaml's header says."""
    invoke("data", "layout", tiny_benchmark, work / "official", "--as", "places365", "-j", 1)
    root = work / "official/places365"
    invoke("data", "lists", "places365", "--root", root, "--categories", root / "categories_places365.txt",
           "--train-list", root / "places365_train_standard.txt", "--val-list", root / "places365_val.txt")
    return root


def test_scene_places365_trains_the_papers_scene_model_on_places365_files(places365, tiny_benchmark, work):
    full = scene_config(SCENE_PLACES)
    assert (full.model.size, full.model.frames, full.data.size) == ("base", 16, 224)
    run = work / "scene-places365"
    invoke("scenes", "train", "--video", "--recipe", SCENE_PLACES, "--out", run, "--root", places365,
           "model.size=tiny", *VIT, "model.frames=4", "data.size=32", "optim.batch_size=12", *SHORT, *LOCAL)
    state = assert_trained(run, "video-scene-model", steps=TRAIN_VIDEOS // 12)
    # the recipe's regularisation ran: mixup and cutmix, label smoothing, two batches per update
    assert state["config"]["mix"] == json.loads(json.dumps(full.to_dict()["mix"]))
    assert state["config"]["optim"]["accum_steps"] == 2
    model = load_scene_model(run / "scene_model.pt")
    # Places365's class names ('/b/beach'), as `data lists places365` wrote them from the categories file
    assert model.class_names == read_class_names(places365 / "scenes.txt") and model.frames == 4
    assert [name.rsplit("/", 1)[-1] for name in model.class_names] == read_class_names(tiny_benchmark / "scenes.txt")
    assert [e["epoch"] for e in model.metrics["epochs"]] == [1] and 0 <= model.metrics["val_top1"] <= 100


# ---------------------------------------------------------------------------------------------- all of them


def smoke_chain_files(out: Path) -> set[str]:
    """The pipelines/ files the smoke-chain targets that tests/test_make_chains.py runs pass to their steps, as
    `make -n` expands them (what the chains run with their smoke variables, not every rule that names a file)."""
    targets = re.findall(r'run_killed_then_finished\("([\w-]+)"', (REPO / "tests/test_make_chains.py").read_text())
    assert targets, "tests/test_make_chains.py runs no smoke-chain target"
    dry = subprocess.run(["make", "-n", "-C", str(REPO), "--no-print-directory", *targets, f"SMOKE={out}",
                          f"VENV={Path(sys.executable).parent.parent}", "NEED_VENV=", "PYTHON=" + sys.executable],
                         capture_output=True, text=True, timeout=120)
    assert dry.returncode == 0, dry.stderr
    return set(re.findall(r"(?<![\w/.-])pipelines/([\w/.-]+\.yaml)", dry.stdout))


META_TEST = "test_every_recipe_and_suite_runs_here_or_in_a_smoke_chain"


def constants_used_by_tests() -> tuple[set[str], set[str]]:
    """(module constants holding recipe() / suite_file() paths, names the tests and fixtures read, their
    decorators included; this test aside)."""
    tree = ast.parse(Path(__file__).read_text())
    constants = {target.id for node in tree.body if isinstance(node, ast.Assign)
                 and any(isinstance(n, ast.Call) and getattr(n.func, "id", None) in ("recipe", "suite_file")
                         for n in ast.walk(node))
                 for target in node.targets if isinstance(target, ast.Name)}

    def runs(node: ast.FunctionDef) -> bool:
        fixture = any("fixture" in ast.unparse(d) for d in node.decorator_list)
        return (fixture or node.name.startswith("test_")) and node.name != META_TEST

    read = {n.id for node in tree.body if isinstance(node, ast.FunctionDef) and runs(node)
            for n in ast.walk(node) if isinstance(n, ast.Name)}
    return constants, read


@pytest.mark.skipif(shutil.which("make") is None, reason="the smoke chains (tests/test_make_chains.py) need GNU make")
def test_every_recipe_and_suite_runs_here_or_in_a_smoke_chain(tmp_path, monkeypatch):
    shipped = {p.relative_to(PIPELINES).as_posix() for p in (*PIPELINES.glob("*.yaml"),
                                                            *PIPELINES.glob("eval/*.yaml"))}
    constants, read = constants_used_by_tests()
    assert constants and constants <= read, f"handed out but run by no test: {sorted(constants - read)}"
    smoke = smoke_chain_files(tmp_path / "smoke")
    assert not (tmp_path / "smoke").exists()  # a dry run
    here_and_smoke = HANDED_OUT | smoke
    # an alias loads to the very suite it names, which runs
    for var in sorted({v for p in PIPELINES.glob("eval/*.yaml") for v in re.findall(r"\$\{(\w+)", p.read_text())}):
        monkeypatch.setenv(var, str(tmp_path / var))
    for alias, same in ALIASES.items():
        assert load_suite(PIPELINES / alias) == load_suite(PIPELINES / same), alias
        assert same in here_and_smoke and alias not in here_and_smoke, alias
    covered = here_and_smoke | set(ALIASES)
    assert shipped == covered, (f"run by nothing (give it a run in this file): {sorted(shipped - covered)}; "
                                f"run but not shipped: {sorted(covered - shipped)}")
