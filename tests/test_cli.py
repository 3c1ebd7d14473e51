import json
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from devias_tk.cli import app

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def test_help_lists_every_group():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for group in ("data", "masks", "scenes", "train", "eval", "bench"):
        assert f" {group} " in result.output


@pytest.mark.parametrize("command", [["data", "synth"], ["data", "inspect"], ["data", "bias"]])
def test_command_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "Example" in result.output


def test_unknown_preset_is_refused(tmp_path):
    result = runner.invoke(app, ["data", "synth", str(tmp_path / "x"), "--preset", "huge"])
    assert result.exit_code == 2 and "unknown preset 'huge'" in result.output
    assert not (tmp_path / "x").exists()


def test_unbiased_draws_scenes_independently_of_actions(tmp_path):
    result = runner.invoke(app, ["data", "synth", str(tmp_path / "x"), "--preset", "tiny", "--rho", "0.5",
                                 "--unbiased"])
    assert result.exit_code == 2 and "not both" in result.output
    result = runner.invoke(app, ["data", "synth", str(tmp_path / "u"), "--preset", "tiny", "--unbiased", "-j", "1"])
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "u" / "meta.json").read_text())
    assert meta["config"]["rho"] == 0.25 and meta["config"]["num_scenes"] == 4  # tiny: 4 scenes


def test_inspect_prints_tables_and_writes_contact_sheets(tiny_benchmark, tmp_path):
    result = runner.invoke(app, ["data", "inspect", str(tiny_benchmark), "--sheets", str(tmp_path), "-j", "1"])
    assert result.exit_code == 0, result.output
    for split in ("train", "test", "scuba-places", "scuba-stylized", "scuba-sinusoid", "hat-scene-only",
                  "hat-random", "hat-close", "hat-far"):
        assert split in result.output
        assert (tmp_path / f"{split}.png").stat().st_size > 1000
    assert "train: action x scene" in result.output and "0 Walk" in result.output


def test_inspect_reports_unreadable_files_and_fails(tiny_benchmark, tmp_path):
    root = tmp_path / "ds"
    shutil.copytree(tiny_benchmark, root)
    (root / "videos" / "broken.avi").write_text("not a video")
    (root / "lists" / "extra.txt").write_text("videos/broken.avi 0 0\nvideos/missing.avi 1 1\n")
    result = runner.invoke(app, ["data", "inspect", str(root), "-j", "1"])
    assert result.exit_code == 1
    assert "videos/broken.avi: not a decodable video" in result.output
    assert "videos/missing.avi: file not found" in result.output


def test_malformed_list_is_a_one_line_error(tmp_path):
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "train.txt").write_text("a.avi 0 0\nb.avi zero 0\n")
    result = subprocess.run(
        [sys.executable, "-m", "devias_tk", "data", "inspect", str(tmp_path)], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert f"{tmp_path / 'lists' / 'train.txt'}:2: action index 'zero' is not an integer" in result.stderr
    assert "Traceback" not in result.stderr


def test_bias_command_prints_accuracies(tiny_benchmark):
    result = runner.invoke(app, ["data", "bias", str(tiny_benchmark), "-j", "1"])
    assert result.exit_code == 0, result.output
    assert "scuba-places" in result.output and "25.0%" in result.output  # chance with 4 actions


def test_the_command_line_imports_a_group_only_when_it_runs():
    # a short make-chain step (data lists, masks extract, eval compare) must not pay for torch and every stage
    code = ("import sys, devias_tk.cli as c; assert 'torch' not in sys.modules and 'devias_tk.cli.train' not in "
            "sys.modules; import devias_tk.cli.data, devias_tk.cli.eval; assert 'torch' not in sys.modules, 'data';"
            "print(len(c.COMMANDS))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "10"
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("train", "predict", "features", "import", "data", "masks", "scenes", "pretrain", "eval", "bench"):
        assert f" {name} " in result.output
