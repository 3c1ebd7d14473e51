"""A method is one record: the worked example of docs/python.md ("Adding a method"), run as written, trains on
the tiny benchmark and evaluates like the built-in methods; the built-in records say what the stages ask."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console

from devias_tk.evaluate import runner
from devias_tk.evaluate.suite import load_suite
from devias_tk.models.factory import METHODS, method_record
from devias_tk.train import engine
from devias_tk.train.config import config_from

DOC = Path(__file__).resolve().parents[1] / "docs" / "python.md"
SUITE = """
name: tiny
root: ROOT
views: [1, 1]
splits:
  - {name: test, list: lists/test.txt, seen: true, action: top1, scene: top1}
  - {name: scuba-sinusoid, list: lists/scuba-sinusoid.txt, action: top1}
"""


def _example() -> str:
    section = DOC.read_text().split("## Adding a method", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


@pytest.fixture()
def mean_tokens():
    exec(compile(_example(), str(DOC), "exec"), {"__name__": "docs_example"})  # registers "mean-tokens"
    yield METHODS["mean-tokens"]
    METHODS.pop("mean-tokens", None)


def test_the_documented_method_trains_and_evaluates(mean_tokens, tiny_run_setup, tiny_benchmark, tmp_path):
    recipe, _ = tiny_run_setup
    cfg = config_from(recipe, ["model.method=mean-tokens", "aug.mix=none", "optim.epochs=1"])
    result = engine.train(cfg, tmp_path / "run", console=Console(quiet=True))
    assert result.steps == 24 // 4 and {"action", "scene", "loss"} <= set(result.last)
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.replace("ROOT", str(tiny_benchmark)))
    report = runner.evaluate(tmp_path / "run", load_suite(suite), device="cpu", workers=0)
    assert report["label"] == "Mean Tokens" and report["method"] == "mean-tokens"
    assert report["seen_action"] is not None and report["seen_scene"] is None  # scene-free: no scene column


def test_the_records_say_what_the_stages_ask():
    assert [m for m in METHODS if METHODS[m].needs_masks] == ["devias"] == [m for m in METHODS if METHODS[m].slots]
    assert {m for m in METHODS if METHODS[m].scene_free} == {"naive-action", "finetune"}
    assert method_record("two-token-unified").label == "Two-Token (unified head)"
    assert METHODS["devias"].loss_terms == ("action", "scene", "cos", "amd", "guide")
    with pytest.raises(ValueError, match="unknown method 'nope'; choose from devias"):
        method_record("nope")
