"""Side-by-side table of evaluated runs, mean and spread (sample standard deviation) over seeds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from devias_tk.errors import DeviasError

COLUMNS = ("seen_action", "unseen_action_mean", "seen_scene", "unseen_scene_mean", "hm")
HEADERS = ("seen action", "unseen action", "seen scene", "unseen scene", "H.M.")


def load_reports(runs: list[Path], suite: str) -> list[dict]:
    reports = []
    for run in runs:
        path = Path(run) / "eval" / suite / "report.json"
        if not path.is_file():
            raise DeviasError(f"{run}: not evaluated on '{suite}' (no {path}); run devias-tk eval first")
        reports.append(json.loads(path.read_text()))
    return reports


def _cell(values: list[float | None]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{np.mean(values):.1f} ± {np.std(values, ddof=1):.1f}"


def compare_runs(runs: list[Path], suite: str) -> str:
    """Markdown: one row per method label (runs sharing a label are seeds), columns of the H.M. table."""
    groups: dict[str, list[dict]] = {}
    for report in load_reports(runs, suite):
        groups.setdefault(report["label"], []).append(report)
    lines = ["| method | seeds | " + " | ".join(HEADERS) + " |", "|---|---|" + "---|" * len(HEADERS)]
    for label, reports in groups.items():
        seeds = ",".join(str(r.get("seed")) for r in reports)
        lines.append(f"| {label} | {seeds} | " + " | ".join(_cell([r.get(c) for r in reports]) for c in COLUMNS) + " |")
    return "\n".join(lines) + "\n"
