"""Side-by-side table of evaluated runs, mean and spread (sample standard deviation) over seeds."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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


PARTIAL = {"unseen_action_mean": "unseen_action_partial", "unseen_scene_mean": "unseen_scene_partial",
           "hm": "hm_partial"}


def _cell(values: list[float | None], partial: bool = False) -> str:
    values = [v for v in values if v is not None]
    mark = "*" if partial else ""
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.1f}{mark}"
    return f"{np.mean(values):.1f} ± {np.std(values, ddof=1):.1f}{mark}"


def partial_note(summary: Mapping[str, Any]) -> str:
    """'' or one line naming what a partial mean covers and lacks (the '*' of the tables), or which
    splits a mean that could not be reported at all lacks."""
    parts = []
    for key, what in (("unseen_action", "unseen action"), ("unseen_scene", "unseen scene")):
        lacking = [f"{n} ({summary['missing_splits'].get(n, 'missing')})" for n in summary.get(f"{key}_missing", [])]
        if summary.get(f"{key}_partial"):
            parts.append(f"{what} mean covers {', '.join(summary[f'{key}_covers'])} only; missing "
                         f"{', '.join(lacking)}")
        elif lacking:
            parts.append(f"{what} mean not reported: missing {', '.join(lacking)}")
    return "; ".join(parts)


def _notes(report: dict) -> list[str]:
    """What a reader must know about one report: partial means, absent splits, selection warnings."""
    who = f"{report['label']} (seed {report.get('seed')})"
    note = partial_note(report)
    notes = [f"\\* {who}: {note}"] if note else []
    absent = report.get("absent_splits") or {}
    if absent:
        notes.append(f"{who}: absent splits: " + "; ".join(f"{n} ({why})" for n, why in absent.items()))
    notes += [f"{who}: warning: {w}" for w in report.get("warnings") or []]
    if "definition" not in report:
        notes.append(f"{who}: an older report without its suite's definition; re-run devias-tk eval")
    return notes


def compare_runs(runs: list[Path], suite: str) -> str:
    """Markdown: one row per method label (runs sharing a label are seeds), columns of the H.M. table.
    A cell is marked '*' when a run's mean covers fewer splits than the suite defines (named below the
    table, with absent splits and validation warnings); the suite's definition heads the table."""
    reports = load_reports(runs, suite)
    groups: dict[str, list[dict]] = {}
    for report in reports:
        groups.setdefault(report["label"], []).append(report)
    definitions = sorted({r.get("definition", "") for r in reports} - {""})
    lines = [f"Suite '{suite}': {d}\n" for d in definitions]
    if len(definitions) > 1:
        lines.append("**These reports use different definitions: their means are not comparable.**\n")
    lines += ["| method | seeds | " + " | ".join(HEADERS) + " |", "|---|---|" + "---|" * len(HEADERS)]
    for label, group in groups.items():
        seeds = ",".join(str(r.get("seed")) for r in group)
        cells = [_cell([r.get(c) for r in group], any(r.get(PARTIAL.get(c, ""), False) for r in group))
                 for c in COLUMNS]
        lines.append(f"| {label} | {seeds} | " + " | ".join(cells) + " |")
    notes = [n for r in reports for n in _notes(r)]
    return "\n".join(lines) + "\n" + ("\n" + "\n".join(notes) + "\n" if notes else "") + knn_section(runs, reports)


KNN_COLUMNS = ("A-A", "S-S", "A-S", "S-A")


def knn_section(runs: list[Path], reports: list[dict]) -> str:
    """'' or a Markdown k-NN table (top-1 %, mean ± std over seeds) of the runs that hold RUN/eval/knn.json
    (`devias-tk eval knn --json`); runs without one are left out of it."""
    groups: dict[str, list[dict]] = {}
    for run, report in zip(runs, reports, strict=True):
        path = Path(run) / "eval" / "knn.json"
        if path.is_file():
            groups.setdefault(report["label"], []).append(json.loads(path.read_text()))
    if not groups:
        return ""
    first = next(iter(groups.values()))[0]
    lines = [f"\nk-NN (k={first.get('k')}) top-1 %, fitted on {first.get('train_list')}, classifying "
             f"{first.get('test_list')}; chance: action {100 * first['chance_action']:.1f}, scene "
             f"{100 * first['chance_scene']:.1f}. A-S: fitted on action features and action labels, queried with scene "
             "features (action left in the scene slot); S-A the reverse; near chance when disentangled.\n",
             "| method | seeds | " + " | ".join(KNN_COLUMNS) + " |", "|---|---|" + "---|" * len(KNN_COLUMNS)]
    for label, group in groups.items():
        cells = [_cell([100 * g[c] for g in group]) for c in KNN_COLUMNS]
        lines.append(f"| {label} | {len(group)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def comparison_figure(runs: list[Path], suite: str, markdown: Path) -> Path:
    """`eval compare`'s picture beside its Markdown (FILE.md -> FILE.png): per method, seen action, unseen action
    and H.M. as grouped bars (mean over seeds, sample standard deviation as error bars); a partial mean is drawn
    as reported."""
    from devias_tk.evaluate.figures import comparison_figure as draw

    # never over the Markdown itself, should it be named .png
    path = markdown.with_suffix(".png") if markdown.suffix.lower() != ".png" else markdown.with_suffix(".bars.png")

    rows: dict[str, dict[str, list[float]]] = {}
    for report in load_reports(runs, suite):
        row = rows.setdefault(report["label"], {})
        for column in COLUMNS:
            if report.get(column) is not None:
                row.setdefault(column, []).append(float(report[column]))
    return draw(rows, f"suite '{suite}': mean over seeds, error bars: their standard deviation", path)
