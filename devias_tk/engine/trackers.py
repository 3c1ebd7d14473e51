"""Optional experiment trackers (Weights & Biases, MLflow) behind one interface, beside the run's own logs.

`run.trackers=wandb,mlflow` (default: none) sends every value `train` logs to RUN/metrics.jsonl (and
TensorBoard) to the named trackers too: the resolved configuration once, then the numbers of each log step
and validation. Neither package is a dependency: a tracker named but not installed stops the run before
any work, saying what to install. Only the main process logs. The tracker's run id is kept in
RUN/trackers.json, so a resumed run continues the same tracker run.

- wandb: `wandb.init(project=run.tracker_project, name=<run label>, dir=RUN, config=<config>, id=<kept>,
  resume="allow")`, `run.log(values, step=step)`, `run.finish()`. Offline use: `WANDB_MODE=offline`.
- mlflow: `mlflow.set_experiment(run.tracker_project)`, `mlflow.start_run(run_id=<kept> or run_name=<label>)`,
  `mlflow.log_params(<config, dotted keys>)` on a new run, `mlflow.log_metrics(values, step=step)`,
  `mlflow.end_run()`. Where it writes: `MLFLOW_TRACKING_URI` (mlflow's default: ./mlruns).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from devias_tk.errors import DeviasError
from devias_tk.utils.atomic import atomic_write_text

TRACKERS = ("wandb", "mlflow")
IDS_FILE = "trackers.json"


class Tracker(Protocol):
    def log(self, values: Mapping[str, float], step: int) -> None: ...

    def close(self) -> None: ...


def parse_trackers(text: str) -> list[str]:
    """'wandb,mlflow' -> ['wandb', 'mlflow']; an unknown name is an error."""
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in TRACKERS]
    if unknown:
        raise DeviasError(f"run.trackers: unknown tracker(s) {', '.join(unknown)} (known: {', '.join(TRACKERS)})")
    return list(dict.fromkeys(names))


def installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def check_trackers(text: str) -> list[str]:
    """The trackers `text` names, each installed, or a DeviasError saying what to install."""
    names = parse_trackers(text)
    missing = [n for n in names if not installed(n)]
    if missing:
        raise DeviasError(f"run.trackers names {', '.join(missing)}, not installed here: pip install "
                          f"{' '.join(missing)} (or drop it from run.trackers)")
    return names


def scalars(values: Mapping[str, Any]) -> dict[str, float]:
    """The numbers among logged values (trackers take numbers only)."""
    return {k: float(v) for k, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'optim': {'lr': 1e-3}} -> {'optim.lr': 1e-3}; lists become their string form."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out |= flatten(value, f"{prefix}{key}.")
        else:
            plain = isinstance(value, int | float | str | bool) or value is None
            out[f"{prefix}{key}"] = value if plain else str(value)
    return out


class WandbTracker:
    def __init__(self, wandb: Any, run_dir: Path, config: Mapping[str, Any], name: str, project: str,
                 run_id: str) -> None:
        self.run = wandb.init(project=project, name=name, dir=str(run_dir), config=dict(config), id=run_id,
                              resume="allow")

    def log(self, values: Mapping[str, float], step: int) -> None:
        self.run.log(dict(values), step=step)

    def close(self) -> None:
        self.run.finish()


class MlflowTracker:
    def __init__(self, mlflow: Any, config: Mapping[str, Any], name: str, project: str,
                 run_id: str | None) -> None:
        self.mlflow = mlflow
        mlflow.set_experiment(project)
        if run_id is None:
            self.run = mlflow.start_run(run_name=name)
            mlflow.log_params(flatten(config))
        else:  # a resumed training run continues its MLflow run
            self.run = mlflow.start_run(run_id=run_id)
        self.run_id = self.run.info.run_id

    def log(self, values: Mapping[str, float], step: int) -> None:
        self.mlflow.log_metrics(dict(values), step=step)

    def close(self) -> None:
        self.mlflow.end_run()


class Trackers:
    """The trackers of a run as one: `log(values, step)` to each, `close()` each."""

    def __init__(self, trackers: Sequence[Tracker] = ()) -> None:
        self.trackers = list(trackers)

    def log(self, values: Mapping[str, Any], step: int) -> None:
        numbers = scalars(values)
        for tracker in self.trackers:
            tracker.log(numbers, step)

    def close(self) -> None:
        for tracker in self.trackers:
            tracker.close()


def open_trackers(text: str, run_dir: Path, config: Mapping[str, Any], name: str, project: str,
                  enabled: bool = True) -> Trackers:
    """Start (or, with RUN/trackers.json, continue) the trackers `text` names; none off the main process."""
    names = check_trackers(text)
    if not enabled or not names:
        return Trackers()
    ids_path = run_dir / IDS_FILE
    ids: dict[str, str] = json.loads(ids_path.read_text()) if ids_path.is_file() else {}
    opened: list[Tracker] = []
    for tracker_name in names:
        module = importlib.import_module(tracker_name)
        if tracker_name == "wandb":
            ids.setdefault("wandb", uuid.uuid4().hex[:12])
            opened.append(WandbTracker(module, run_dir, config, name, project, ids["wandb"]))
        else:
            tracker = MlflowTracker(module, config, name, project, ids.get("mlflow"))
            ids["mlflow"] = tracker.run_id
            opened.append(tracker)
    atomic_write_text(ids_path, json.dumps(ids, indent=1) + "\n")
    return Trackers(opened)
