"""Experiment trackers: fake `wandb` and `mlflow` modules receive what RUN/metrics.jsonl receives; a resumed run
continues the same tracker run; a tracker named but not installed stops the run before any work."""

from __future__ import annotations

import json
import sys
import types
from importlib.machinery import ModuleSpec

import pytest

from devias_tk.engine import trackers
from devias_tk.engine.trackers import flatten, parse_trackers, scalars
from devias_tk.errors import DeviasError
from devias_tk.train import engine
from devias_tk.train.config import config_from


class FakeWandb(types.ModuleType):
    """The part of wandb the toolkit calls: init(...) -> run with log(values, step) and finish()."""

    def __init__(self) -> None:
        super().__init__("wandb")
        self.__spec__ = ModuleSpec("wandb", None)
        self.inits: list[dict] = []
        self.logged: list[tuple[dict, int]] = []
        self.finished = 0

    def init(self, **kwargs):
        self.inits.append(kwargs)
        fake = self

        class Run:
            def log(self, values, step):
                fake.logged.append((values, step))

            def finish(self):
                fake.finished += 1

        return Run()


class FakeMlflow(types.ModuleType):
    """set_experiment, start_run(run_name= | run_id=) -> run.info.run_id, log_params, log_metrics, end_run."""

    def __init__(self) -> None:
        super().__init__("mlflow")
        self.__spec__ = ModuleSpec("mlflow", None)
        self.calls: list[tuple] = []
        self.metrics: list[tuple[dict, int]] = []

    def set_experiment(self, name):
        self.calls.append(("set_experiment", name))

    def start_run(self, run_name=None, run_id=None):
        self.calls.append(("start_run", run_name, run_id))
        return types.SimpleNamespace(info=types.SimpleNamespace(run_id=run_id or "mlflow-run-1"))

    def log_params(self, params):
        self.calls.append(("log_params", params))

    def log_metrics(self, values, step):
        self.metrics.append((values, step))

    def end_run(self):
        self.calls.append(("end_run",))


def test_names_and_values():
    assert parse_trackers(" wandb, mlflow,wandb ") == ["wandb", "mlflow"] and parse_trackers("") == []
    with pytest.raises(DeviasError, match=r"unknown tracker.*neptune"):
        parse_trackers("neptune")
    assert scalars({"loss": 1, "lr": 2.5e-4, "ok": True, "name": "x"}) == {"loss": 1.0, "lr": 2.5e-4}
    assert flatten({"optim": {"lr": 1e-3, "betas": [0.9, 0.999]}, "run": {"init": None}}) == \
        {"optim.lr": 1e-3, "optim.betas": "[0.9, 0.999]", "run.init": None}


def test_a_run_logs_to_both_trackers_and_a_resumed_run_continues_them(tiny_run_setup, tmp_path, monkeypatch):
    recipe, _ = tiny_run_setup
    wandb, mlflow = FakeWandb(), FakeMlflow()
    monkeypatch.setitem(sys.modules, "wandb", wandb)
    monkeypatch.setitem(sys.modules, "mlflow", mlflow)
    run = tmp_path / "run"
    overrides = ["optim.epochs=1", "run.trackers=wandb,mlflow", "run.tracker_project=tiny", "run.name=probe"]
    engine.train(config_from(recipe, overrides), run)

    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 3  # log steps 2, 4, 6 (log_every 2, 6 batches)
    expected = [(scalars(line), line["step"]) for line in lines]
    assert wandb.logged == expected and mlflow.metrics == expected
    [init] = wandb.inits
    assert init["project"] == "tiny" and init["name"] == "probe" and init["resume"] == "allow"
    assert init["config"]["optim"]["epochs"] == 1 and init["dir"] == str(run)
    assert wandb.finished == 1
    assert mlflow.calls[0] == ("set_experiment", "tiny") and mlflow.calls[1] == ("start_run", "probe", None)
    assert mlflow.calls[2][0] == "log_params" and mlflow.calls[2][1]["optim.lr"] == 0.01
    assert mlflow.calls[-1] == ("end_run",)
    ids = json.loads((run / "trackers.json").read_text())
    assert ids == {"wandb": init["id"], "mlflow": "mlflow-run-1"}

    # the same command again resumes the (finished) run: the same tracker runs continue, parameters not logged again
    engine.train(config_from(recipe, overrides), run)
    assert wandb.inits[1]["id"] == init["id"] and wandb.finished == 2
    assert mlflow.calls[-2:] == [("start_run", None, "mlflow-run-1"), ("end_run",)]
    assert sum(c[0] == "log_params" for c in mlflow.calls) == 1


def test_a_tracker_not_installed_stops_before_any_work(tiny_run_setup, tmp_path, monkeypatch):
    recipe, _ = tiny_run_setup
    monkeypatch.setattr(trackers, "installed", lambda name: name != "wandb")
    with pytest.raises(DeviasError, match=r"run.trackers names wandb, not installed here: pip install wandb"):
        engine.train(config_from(recipe, ["run.trackers=wandb"]), tmp_path / "run")
    assert not (tmp_path / "run").exists()
