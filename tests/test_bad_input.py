"""Issue 32, case by case: bad input stops with one line before any work (predict's outputs, its inputs, eval's
labels), and eval says which videos it could not read and how many each figure covers."""

from __future__ import annotations

import json
import shutil

import pytest
from run_fixtures import fabricate_run
from typer.testing import CliRunner

from devias_tk.cli import app
from devias_tk.data.lists import read_list
from devias_tk.utils.words import plural

runner = CliRunner(env={"COLUMNS": "400", "NO_COLOR": "1"})


@pytest.fixture(scope="module")
def run(tiny_benchmark, tmp_path_factory):
    return fabricate_run(tmp_path_factory.mktemp("badinput") / "run", tiny_benchmark)


def _error(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.output.strip()


def test_predict_refuses_existing_outputs_empty_inputs_and_a_missing_root_before_loading_anything(tmp_path):
    video = tmp_path / "a b.avi"
    video.write_bytes(b"x")
    absent_run = str(tmp_path / "no-run")  # never loaded: each refusal comes first
    (tmp_path / "p.json").write_text("{}")
    out = _error(runner.invoke(app, ["predict", "--run", absent_run, str(video), "--json", str(tmp_path / "p.json")]))
    assert "--json" in out and "already exists" in out
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    assert "no videos to predict" in _error(runner.invoke(app, ["predict", "--run", absent_run, str(empty)]))
    out = _error(runner.invoke(app, ["predict", "--run", absent_run, str(empty), "--root", str(tmp_path / "nope")]))
    assert out.count("error:") == 1 and "--root" in out and "not a folder" in out
    (tmp_path / "ov").write_text("")
    assert "is a file" in _error(runner.invoke(app, ["predict", "--run", absent_run, str(video), "--overlay",
                                                     str(tmp_path / "ov")]))


def _suite(tmp_path, bench, list_text: str) -> str:
    (tmp_path / "l.txt").write_text(list_text)
    suite = tmp_path / "s.yaml"
    suite.write_text(f"name: t\nroot: {bench}\nviews: [1, 1]\nsplits:\n"
                     f"  - {{name: t, list: {tmp_path / 'l.txt'}, seen: true, action: top1, scene: top1}}\n")
    return str(suite)


def test_eval_refuses_a_label_past_the_class_list_naming_the_line(run, tiny_benchmark, tmp_path):
    first = read_list(tiny_benchmark / "lists/test.txt")[0]
    suite = _suite(tmp_path, tiny_benchmark, f"# two videos\n{first.path} 0 0\n{first.path} 9 0\n")
    out = _error(runner.invoke(app, ["eval", "--run", str(run), "--suite", suite, "--device", "cpu",
                                     "--jobs", "0"]))
    assert f"{tmp_path / 'l.txt'}:3:" in out and "action index 9 is not one of the 4 action classes" in out
    assert not (run / "eval" / "t").exists()  # refused before any prediction


def test_eval_names_unreadable_videos_and_what_each_figure_covers(run, tiny_benchmark, tmp_path):
    entries = read_list(tiny_benchmark / "lists/test.txt")[:3]
    root = tmp_path / "bench"
    for e in entries:
        (root / e.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny_benchmark / e.path, root / e.path)
    (root / entries[1].path).write_bytes(b"broken")
    for name in ("actions.txt", "scenes.txt"):
        shutil.copy(tiny_benchmark / name, root / name)
    lines = "".join(f"{e.path} {e.action} {-1 if i == 2 else e.scene}\n" for i, e in enumerate(entries))
    suite = _suite(tmp_path, root, lines)
    result = runner.invoke(app, ["eval", "--run", str(run), "--suite", suite, "--device", "cpu", "--jobs", "0"])
    assert result.exit_code == 0, result.output
    assert entries[1].path in result.output and "1 unreadable video left out" in result.output
    report_md = (run / "eval" / "t" / "report.md").read_text()
    assert f"- `{entries[1].path}`: not a decodable video" in report_md
    assert "- t: 3 videos listed, 1 unreadable, scored: action 2, scene 1" in report_md
    report = json.loads((run / "eval" / "t" / "report.json").read_text())
    assert report["splits"]["t"]["scored_action"] == 2 and list(report["unreadable"]["t"]) == [entries[1].path]


def test_plural_forms():
    assert plural(1, "video") == "1 video" and plural(2, "video") == "2 videos" and plural(0, "video") == "0 videos"
    assert plural(1, "class", "classes") == "1 class" and plural(3, "class", "classes") == "3 classes"
