"""`train --dry-run`: what a training command would do, without training or writing anything.

The plan holds the merged configuration, the data plan (videos listed, held out, trained on; what each
store the run reads holds of the list, and why it lacks the others: a failure the stage recorded, or
never processed), the schedule (batches and updates per epoch, in all, the warm-up, the scaled lr), and
the checks `prepare` ran, each as a line, with the first failed one. The run directory is only read:
whether training would start fresh or resume it, and whether its configuration matches.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devias_tk.cache.store import VideoStore
from devias_tk.data.lists import VideoEntry, read_list
from devias_tk.engine.checkpoint import load_initial_weights, resume_state
from devias_tk.engine.optim import Schedule
from devias_tk.engine.runtime import check_same_config
from devias_tk.errors import DeviasError
from devias_tk.models.factory import METHODS
from devias_tk.train.config import TrainConfig, build_config
from devias_tk.train.engine import prepare


@dataclass
class StoreCoverage:
    """What a store holds of the training list."""

    what: str  # "mask store" | "scene store"
    path: str
    listed: int
    held: int = 0  # listed videos with a complete entry
    failed: dict[str, str] = field(default_factory=dict)  # listed video -> reason the stage recorded
    absent: list[str] = field(default_factory=list)  # listed videos the stage never finished
    error: str = ""  # the store cannot be opened


@dataclass
class TrainPlan:
    config: dict[str, Any]
    list_path: str
    listed: int = 0
    train_videos: int = 0
    val_videos: int = 0
    val_source: str = ""
    stores: list[StoreCoverage] = field(default_factory=list)
    processes: int = 1
    batch_size: int = 0
    accum_steps: int = 1
    epochs: int = 0
    schedule: Schedule | None = None
    run_dir: str = ""
    checks: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problem: str | None = None  # the first check that failed

    @property
    def ok(self) -> bool:
        return self.problem is None


def store_coverage(what: str, path: str, entries: list[VideoEntry]) -> StoreCoverage:
    """How much of `entries` the store at `path` holds; failures with the reason the stage recorded."""
    cover = StoreCoverage(what, path, len(entries))
    try:
        store = VideoStore(path)
    except DeviasError as exc:
        cover.error = str(exc)
        return cover
    done, failures = store.done(), store.failures()
    for e in entries:
        if e.path in done:
            cover.held += 1
        elif e.path in failures:
            cover.failed[e.path] = failures[e.path]
        else:
            cover.absent.append(e.path)
    return cover


def _stores(cfg: TrainConfig) -> list[tuple[str, str]]:
    """(what, path) of the stores this configuration reads."""
    out = []
    record = METHODS.get(cfg.method)  # an unknown method: prepare names it
    if cfg.data.mask_store and ((record is not None and record.needs_masks) or cfg.aug.mix == "fame"):
        out.append(("mask store", cfg.data.mask_store))
    if cfg.data.scene_store and cfg.data.scene_source == "store" and not (record is not None and record.scene_free):
        out.append(("scene store", cfg.data.scene_store))
    return out


def processes_from_env() -> int:
    """The world size torchrun sets (1 outside torchrun)."""
    return max(1, int(os.environ.get("WORLD_SIZE", "1")))


def plan_training(cfg: TrainConfig, run_dir: str | Path, resume: str = "auto",
                  processes: int | None = None) -> TrainPlan:
    """Run every check of `train` and describe the run it would make; never trains, never writes.
    `processes`: the number of training processes to plan for (default: torchrun's WORLD_SIZE, else 1)."""
    processes = processes or processes_from_env()
    list_path = cfg.resolve(cfg.data.train_list, True)
    plan = TrainPlan(cfg.to_dict(), str(list_path), processes=processes, batch_size=cfg.optim.batch_size,
                     accum_steps=cfg.optim.accum_steps, epochs=cfg.optim.epochs, run_dir=str(run_dir))
    try:
        entries = read_list(list_path)
        plan.listed = len(entries)
        plan.stores = [store_coverage(what, path, entries) for what, path in _stores(cfg) if Path(path).exists()]
        prep = prepare(cfg, plan.checks)
        plan.train_videos, plan.val_videos, plan.warnings = len(prep.entries), len(prep.val_entries), prep.warnings
        if cfg.data.val_list:
            plan.val_source = f"data.val_list {cfg.data.val_list}"
        elif prep.val_entries:
            plan.val_source = f"held out of the training list (data.val_fraction={cfg.data.val_fraction}, " \
                              f"seed {cfg.run.seed})"
        else:
            plan.val_source = f"none (data.val_fraction={cfg.data.val_fraction}: no best.pt)"
        plan.schedule = cfg.schedule(len(prep.entries), processes)
        if plan.schedule.batches_per_epoch == 0:
            raise DeviasError(f"{len(prep.entries)} training videos are fewer than one batch of "
                              f"{cfg.optim.batch_size} x {processes} processes")
        plan.checks.append(f"schedule: {plan.schedule.batches_per_epoch} batches per epoch per process")
        resumes = _check_run_dir(cfg, Path(run_dir), resume, plan)
        if cfg.run.init and resumes is None:  # a resumed run does not read run.init
            report = load_initial_weights(prep.model, cfg.run.init, strict=cfg.run.init_strict, method=cfg.method)
            plan.checks.append("run.init " + report.summary().replace("\n", "\n    "))
    except DeviasError as exc:
        plan.problem = str(exc)
    return plan


def _check_run_dir(cfg: TrainConfig, run_dir: Path, resume: str, plan: TrainPlan) -> Path | None:
    """The checkpoint training would resume (None: a new run), checked against the configuration."""
    # is_main False: a damaged last.pt is reported (the fallback is said), not moved aside
    source, state = resume_state(run_dir, resume, is_main=False,
                                 say=lambda text: plan.warnings.append(text.removeprefix("warning: ")))
    if source is None or state is None:
        plan.checks.append(f"run directory {run_dir}: training would start a new run there")
        return None
    check_same_config(run_dir, cfg.to_dict(), lambda tree: build_config(tree).to_dict())
    plan.checks.append(f"run directory {run_dir}: same configuration; training would resume {source} at epoch "
                       f"{state['epoch']}, batch {state['epoch_batch']} (step {state['step']})")
    return source


def describe(plan: TrainPlan) -> list[str]:
    """The data plan as lines of text (for the CLI and for logs)."""
    lines = [f"train list {plan.list_path}: {plan.listed} videos"]
    if plan.schedule is not None:
        lines.append(f"validation: {plan.val_videos} videos, {plan.val_source}; {plan.train_videos} videos trained on")
    for s in plan.stores:
        if s.error:
            lines.append(f"{s.what} {s.path}: {s.error}")
            continue
        lines.append(f"{s.what} {s.path}: holds {s.held} of the {s.listed} listed videos; "
                     f"{len(s.failed)} failed in the stage, {len(s.absent)} never processed")
        lines += [f"  skipped {path}: {reason}" for path, reason in list(s.failed.items())[:10]]
        lines += [f"  skipped {path}: not processed (re-run the stage)" for path in s.absent[:10]]
        more = len(s.failed) + len(s.absent) - min(10, len(s.failed)) - min(10, len(s.absent))
        if more > 0:
            lines.append(f"  ... {more} more")
    sch = plan.schedule
    if sch is not None:
        lines.append(f"batch: {plan.batch_size} clips x {plan.accum_steps} accumulation steps x {plan.processes} "
                     f"process(es) = {sch.total_batch} clips per update; base lr scaled to {sch.base_lr:.3g}")
        lines.append(f"steps: {sch.batches_per_epoch} batches and {sch.updates_per_epoch} updates per epoch; "
                     f"{plan.epochs} epochs = {sch.total_updates} updates ({sch.warmup_updates} of warm-up)")
    return lines
