"""Bad videos in a training-like run (`train`, `pretrain`): the ones left out before work, the ones replaced
mid-run, and the budget `data.max_skipped` that bounds both.

Before work, listed videos a stage could not process (no store entry: the stage's reason from the store's
`failures/`) or that do not open are left out and listed in RUN/skipped_videos.txt; more than
`data.max_skipped` x listed videos refuses to start. Mid-run, a video that fails to decode in a loader
worker is replaced by another sample (devias_tk.data.guarded) and recorded in RUN/bad_samples.jsonl; when the
videos left out before work plus the distinct videos that failed since this process started pass the same
budget, the run saves a resumable checkpoint and stops.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch.distributed as dist

from devias_tk.data.guarded import FAULT_KEY
from devias_tk.data.lists import VideoEntry
from devias_tk.engine.distributed import DistInfo
from devias_tk.errors import DeviasError
from devias_tk.utils.atomic import atomic_write_text
from devias_tk.utils.diskfull import disk_full_guard

SKIPPED_FILE = "skipped_videos.txt"
BAD_SAMPLES_FILE = "bad_samples.jsonl"


def allowed_skips(share: float, listed: int) -> int:
    """How many of `listed` videos data.max_skipped = `share` lets a run leave out or lose."""
    return math.floor(share * listed + 1e-9)  # 0.29 x 100 is 28.999...: still 29


def leave_out(entries: list[VideoEntry], failed: Mapping[str, str], share: float, list_path: Path, what: str,
              fix: str) -> list[VideoEntry]:
    """`entries` without the `failed` ones (path -> reason); refuses past `share` of the list.

    `what` says what is wrong with them ("cannot be read"), `fix` how to mend it."""
    if len(failed) > allowed_skips(share, len(entries)):
        shown = "; ".join(f"{p}: {r}" for p, r in list(failed.items())[:5])
        raise DeviasError(
            f"{list_path}: {len(failed)} of {len(entries)} listed videos {what} ({shown}"
            f"{'; ...' if len(failed) > 5 else ''}); {fix}, or let up to a share of the list be left out with "
            f"data.max_skipped (now {share}: {allowed_skips(share, len(entries))} videos)")
    return [e for e in entries if e.path not in failed]


def write_skipped(run_dir: Path, failed: Mapping[str, str], say: Callable[[str], None]) -> None:
    """RUN/skipped_videos.txt: `path<TAB>reason` per video left out, written even when empty: a resumed run
    keeps the set its run started with (`read_skipped`)."""
    path = run_dir / SKIPPED_FILE
    atomic_write_text(path, "".join(f"{p}\t{r}\n" for p, r in failed.items()))
    if failed:
        say(f"left out {len(failed)} listed videos (listed with their reasons in {path})")


def read_skipped(run_dir: Path) -> dict[str, str] | None:
    """The videos a run left out when it started; None for a run without the record."""
    path = run_dir / SKIPPED_FILE
    if not path.is_file():
        return None
    return dict(line.split("\t", 1) for line in path.read_text().splitlines() if "\t" in line)


def read_bad_samples(run_dir: Path) -> list[dict[str, Any]]:
    """The records of RUN/bad_samples.jsonl (a resumed run may have written a sample twice: once per try)."""
    path = run_dir / BAD_SAMPLES_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip().endswith("}")]


class SampleFaults:
    """Replaced samples of this run: `take` pulls them off each batch, `should_stop` records them (main process)
    and says when the budget is passed, at a point where a checkpoint can be saved (an optimizer update).

    Under DDP the ranks' records are gathered at the steps where the loop synchronises anyway (`check_now`),
    so every rank reaches the same decision at the same step."""

    def __init__(self, run_dir: Path, listed: int, share: float, left_out: int, info: DistInfo) -> None:
        self.path = run_dir / BAD_SAMPLES_FILE
        self.listed, self.share, self.left_out, self.info = listed, share, left_out, info
        self.pending: list[dict[str, Any]] = []
        self.videos: dict[str, str] = {}  # distinct videos that failed since this process started -> reason
        self.stop = False

    @property
    def budget(self) -> int:
        return allowed_skips(self.share, self.listed) - self.left_out

    def take(self, batch: dict[str, Any], epoch: int, step: int) -> None:
        for text in batch.pop(FAULT_KEY, ()) or ():
            for record in json.loads(text) if text else ():
                self.pending.append({"epoch": epoch, "step": step, **record})

    def _gather(self) -> list[dict[str, Any]]:
        if not self.info.enabled:
            return self.pending
        parts: list[Sequence[dict[str, Any]]] = [[] for _ in range(self.info.world)]
        dist.all_gather_object(parts, self.pending)
        return [r for part in parts for r in part]

    def should_stop(self, step: int, accum_steps: int, check_now: bool) -> bool:
        if check_now or not self.info.enabled:
            records = self._gather()
            self.pending = []
            if records and self.info.is_main:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with disk_full_guard(self.path), open(self.path, "a") as f:
                    f.write("".join(json.dumps(r) + "\n" for r in records))
            for r in records:
                self.videos.setdefault(r["video"], r["reason"])
            self.stop = self.stop or len(self.videos) > self.budget
        return self.stop and step % accum_steps == 0

    def error(self, checkpoint: Path) -> DeviasError:
        shown = "; ".join(f"{v}: {r}" for v, r in list(self.videos.items())[:5])
        return DeviasError(
            f"stopped: {len(self.videos)} videos failed to decode during the run ({shown}"
            f"{'; ...' if len(self.videos) > 5 else ''}); data.max_skipped={self.share} lets a run lose "
            f"{allowed_skips(self.share, self.listed)} of its {self.listed} listed videos ({self.left_out} left out "
            f"before work). Every replaced sample is in {self.path}; the run is saved in {checkpoint}: fix or drop "
            "those videos, or raise data.max_skipped, and re-run the same command to resume")
