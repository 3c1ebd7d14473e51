"""One vocabulary across commands: new spellings, old ones hidden but accepted, value names in help, missing options
named, recipe misspellings caught with a suggestion before any work."""

import inspect
import re

import pytest
from typer.testing import CliRunner

from devias_tk.cli import COMMANDS, app, load_command
from devias_tk.cli.defaults import DECODE_TIMEOUT
from devias_tk.cli.vocabulary import OLD_SPELLINGS
from devias_tk.errors import DeviasError

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def _command_paths() -> list[list[str]]:
    paths = []
    for name in COMMANDS:
        command = load_command(name)
        paths.append([name])
        paths += [[name, sub] for sub in getattr(command, "commands", {})]
    return paths


def _params(path: list[str], args: list[str]) -> dict:
    """The parameters `args` give the command at `path`, parsed as the CLI parses them (nothing runs)."""
    command = load_command(path[0])
    for name in path[1:]:
        command = command.commands[name]
    return command.make_context(" ".join(path), list(args)).params


@pytest.mark.parametrize("path", _command_paths(), ids=" ".join)
def test_help_names_values_plainly_and_hides_old_spellings(path):
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    # typer 0.29's own rendering: <bool> after every flag, <int>, <str>, <path>, <list[Path]> ...
    assert not re.search(r"<(bool|int|float|str|path|file|dir|list\[\w+\])>", result.output), result.output
    # the first column of each row of the options panel: "--run,--run-dir", "--jobs  -j", "* --root"
    first = [m.group(1) for line in result.output.splitlines() if (m := re.match(r"│\s*\*?\s*(--[\w,-]+)", line))]
    options = {o for column in first for o in column.split(",")}
    assert "--help" in options and "run_arg" not in result.output  # no hidden argument in the usage line
    assert not options & set(OLD_SPELLINGS), (path, options & set(OLD_SPELLINGS))


def test_a_flag_shows_no_value_and_an_option_shows_its_type():
    out = runner.invoke(app, ["data", "check", "--help"]).output
    decode = next(line for line in out.splitlines() if "--decode " in line)
    assert "BOOLEAN" not in decode and "<" not in decode
    assert re.search(r"--timeout\s+FLOAT", out) and re.search(r"--json\s+PATH", out)
    assert re.search(r"--jobs\s+-j\s+INTEGER", out)


@pytest.mark.parametrize(("path", "old", "new", "param"), [
    (["eval"], ["--workers", "3"], ["-j", "3"], "jobs"),
    (["predict"], ["--workers", "3"], ["--jobs", "3"], "jobs"),
    (["features"], ["--workers", "3"], ["--jobs", "3"], "jobs"),
    (["pretrain", "probe"], ["--workers", "3"], ["-j", "3"], "jobs"),
    (["bench", "train"], ["--workers", "3"], ["-j", "3"], "jobs"),
    (["data", "check"], ["--report", "r.json"], ["--json", "r.json"], "report"),
    (["data", "bias"], ["--train", "t.txt"], ["--train-list", "t.txt"], "train"),
    (["data", "lists", "places365"], ["--train", "t.txt"], ["--train-list", "t.txt"], "train"),
    (["data", "lists", "places365"], ["--val", "v.txt"], ["--val-list", "v.txt"], "val"),
    (["scenes", "train"], ["--val", "v.txt"], ["--val-list", "v.txt"], "val"),
    (["pretrain", "probe"], ["--train", "t.txt"], ["--train-list", "t.txt"], "train_list"),
    (["pretrain", "probe"], ["--test", "a.txt", "--test", "b.txt"], ["--test-list", "a.txt", "--test-list", "b.txt"],
     "test_lists"),
    (["pretrain", "probe"], ["runs/p"], ["--run", "runs/p"], None),
    (["pretrain", "export"], ["runs/p"], ["--run", "runs/p"], None),
])
def test_old_spellings_still_parse_to_the_same_value(path, old, new, param):
    required = {
        ("eval",): [], ("predict",): ["--run", "r", "v.mp4"], ("features",): ["--run", "r", "--root", "d", "--list",
                                                                                "l.txt", "--out", "f.zarr"],
        ("pretrain", "probe"): ["--root", "d", "--train-list", "x.txt", "--test-list", "y.txt"],
        ("pretrain", "export"): ["--out", "o.pth"], ("bench", "train"): [],
        ("data", "check"): ["--root", "d", "--list", "l"],
        ("data", "bias"): ["d"], ("data", "lists", "places365"): ["--root", "d", "--categories", "c.txt"],
        ("scenes", "train"): ["--out", "o.pt"],
    }[tuple(path)]
    if param in ("train_list", "test_lists"):  # the option under test replaces the default one
        flag = "--train-list" if param == "train_list" else "--test-list"
        required = [a for i, a in enumerate(required) if flag not in required[max(i - 1, 0):i + 1]]
    given_old, given_new = _params(path, [*required, *old]), _params(path, [*required, *new])
    if param is None:  # the run: positional (old) or --run (new)
        assert given_old["run_arg"] is not None and given_new["run"] is not None
        assert str(given_old["run_arg"]) == str(given_new["run"])
    else:
        assert given_old[param] == given_new[param] and given_old[param] not in (None, [], 2, 16)


def test_a_missing_option_is_named():
    result = runner.invoke(app, ["eval", "--run", "runs/x"])
    assert result.exit_code == 2 and "missing option --suite" in result.output
    assert "Usage" not in result.output  # one line, not the whole help
    result = runner.invoke(app, ["eval", "--suite", "pipelines/eval/synthetic.yaml"])
    assert result.exit_code == 2 and "missing option --run" in result.output
    assert runner.invoke(app, ["eval"]).exit_code == 0  # bare: the help
    result = runner.invoke(app, ["pretrain", "probe", "--root", "d", "--train-list", "a", "--test-list", "b"])
    assert result.exit_code == 2 and "missing option --run" in result.output


def test_two_different_runs_are_refused():
    result = runner.invoke(app, ["pretrain", "export", "runs/a", "--run", "runs/b", "--out", "o.pth"])
    assert result.exit_code == 2 and "two runs given" in result.output


def test_both_knn_commands_default_to_auto_device():
    from devias_tk.evaluate.knn_run import knn_report
    from devias_tk.pretrain.probe import feature_probe

    assert _params(["eval", "knn"], [])["device"] == "auto"
    assert _params(["pretrain", "probe"], ["--run", "r", "--root", "d", "--train-list", "a", "--test-list",
                                           "b"])["device"] == "auto"
    for fn in (knn_report, feature_probe):
        assert inspect.signature(fn).parameters["device"].default == "auto"


def test_one_decode_timeout_everywhere():
    from devias_tk.data.check import check_list
    from devias_tk.data.guarded import DEFAULT_TIMEOUT
    from devias_tk.masks.extract import extract
    from devias_tk.pretrain.config import DataSection as PretrainData
    from devias_tk.scenes.label import label
    from devias_tk.train.config import DataSection

    for path in (["data", "check"], ["masks", "extract"], ["scenes", "label"]):
        name = " ".join(path)
        command = load_command(path[0]).commands[path[1]]
        timeout = next(p for p in command.params if p.name == "timeout")
        assert timeout.opts == ["--timeout"] and timeout.default == DECODE_TIMEOUT, name
    for fn in (check_list, extract, label):
        assert inspect.signature(fn).parameters["timeout"].default == DECODE_TIMEOUT, fn.__qualname__
    assert DataSection().decode_timeout == PretrainData().decode_timeout == DEFAULT_TIMEOUT == DECODE_TIMEOUT


@pytest.mark.parametrize(("override", "message"), [
    ("model.method=devais", "model.method: unknown method 'devais' (did you mean 'devias'?)"),
    ("model.num_slot=3", "unknown model key(s) for devias: num_slot (did you mean 'num_slots'?)"),
    ("model.foo=1", "unknown model key(s) for devias: foo (known:"),
    ("optim.lrr=1", "unknown key(s) in 'optim': lrr (did you mean 'lr'?)"),
    ("optimm.lr=1", "unknown section(s): optimm (did you mean 'optim'?)"),
])
def test_recipe_misspellings_suggest_the_known_name(override, message):
    from devias_tk.train.config import config_from

    with pytest.raises(DeviasError) as caught:
        config_from("pipelines/synthetic.yaml", [override])
    assert message in str(caught.value)


def test_a_key_of_another_method_is_let_through():
    from devias_tk.train.config import config_from

    cfg = config_from("pipelines/synthetic.yaml", ["model.method=two-token", "model.num_slots=4"])
    assert cfg.method == "two-token"


def test_pretrain_and_video_scene_recipes_suggest_too():
    from devias_tk.pretrain.config import build_config as pretrain_config
    from devias_tk.scenes.video_config import build_config as scene_config

    with pytest.raises(DeviasError, match=r"maee \(did you mean 'mae'\?\)"):
        pretrain_config({"maee": {}})
    with pytest.raises(DeviasError, match=r"model: not backbone keys: dept \(did you mean 'depth'\?\)"):
        pretrain_config({"model": {"dept": 4}})
    with pytest.raises(DeviasError, match=r"optimm \(did you mean 'optim'\?\)"):
        scene_config({"optimm": {}})


def test_train_dry_run_refuses_a_misspelt_method_before_any_data_check(tmp_path):
    result = runner.invoke(app, ["train", "--recipe", "pipelines/synthetic.yaml", "--out", str(tmp_path / "run"),
                                 "--dry-run", "model.method=devais", "data.root=/nonexistent"])
    assert result.exit_code == 2, result.output
    assert "did you mean 'devias'" in result.output
    assert "data plan" not in result.output and "checks" not in result.output
    assert not (tmp_path / "run").exists()
