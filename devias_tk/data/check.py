"""`data check`: does every entry of a list exist and open (and decode), are its labels in range?

Each video is opened (and with `decode`, its first, middle and last frames decoded) in a supervised
worker process, so a decoder that hangs or crashes on a broken file is recorded, not fatal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devias_tk.data.lists import VideoEntry, read_class_names, read_list, resolve
from devias_tk.data.video import Video
from devias_tk.errors import VideoReadError
from devias_tk.utils.workers import single_threaded_cv2, supervised_map

KINDS = ("missing", "unreadable", "undecodable", "label", "duplicate")


@dataclass(frozen=True)
class Problem:
    kind: str  # one of KINDS
    path: str  # as written in the list
    detail: str


@dataclass
class CheckReport:
    list_path: Path
    entries: list[VideoEntry]
    actions: list[str] | None
    scenes: list[str] | None
    problems: list[Problem] = field(default_factory=list)
    frame_counts: dict[str, int] = field(default_factory=dict)

    def counts(self, attr: str) -> Counter[int]:
        """Videos per class index (-1 = unknown) for 'action' or 'scene'."""
        return Counter(getattr(e, attr) for e in self.entries)

    def by_kind(self) -> dict[str, list[Problem]]:
        return {k: [p for p in self.problems if p.kind == k] for k in KINDS}

    def to_json(self) -> dict:
        def names(attr: str, classes: list[str] | None) -> dict:
            counts = self.counts(attr)
            return {
                "classes": len(classes) if classes is not None else None,
                "counts": {str(k): counts[k] for k in sorted(counts)},
                "empty_classes": [i for i in range(len(classes)) if not counts[i]] if classes is not None else None,
            }

        return {
            "list": str(self.list_path), "entries": len(self.entries), "ok": not self.problems,
            "problems": [{"kind": p.kind, "path": p.path, "detail": p.detail} for p in self.problems],
            "actions": names("action", self.actions), "scenes": names("scene", self.scenes),
            "frames": {"min": min(self.frame_counts.values(), default=None),
                       "max": max(self.frame_counts.values(), default=None)},
        }


def probe(task: tuple[str, bool]) -> tuple[int | None, str | None, str | None]:
    """(frame count, failure kind, reason) for one video; runs in a worker process."""
    path, decode = task
    try:
        video = Video(path)
    except VideoReadError as exc:
        return None, "missing" if exc.reason == "file not found" else "unreadable", exc.reason
    if decode:
        n = len(video)
        try:
            video.frames(sorted({0, n // 2, n - 1}))
        except VideoReadError as exc:
            return n, "undecodable", exc.reason
    return len(video), None, None


def label_problems(entries: list[VideoEntry], actions: list[str] | None, scenes: list[str] | None) -> list[Problem]:
    """Labels beyond the class files, and paths listed more than once."""
    problems = []
    for e in entries:
        for attr, classes in (("action", actions), ("scene", scenes)):
            value = getattr(e, attr)
            if classes is not None and value >= len(classes):
                problems.append(Problem("label", e.path, f"{attr} {value} >= {len(classes)} classes"))
    for path, n in Counter(e.path for e in entries).items():
        if n > 1:
            problems.append(Problem("duplicate", path, f"listed {n} times"))
    return problems



def check_list(root: str | Path, list_path: str | Path, actions_path: Path | None = None,
               scenes_path: Path | None = None, jobs: int = 1, decode: bool = False, timeout: float = 120.0,
               advance: Callable[[], None] = lambda: None) -> CheckReport:
    """Check one list. Class files default to ROOT/actions.txt and ROOT/scenes.txt when they exist."""
    root, list_path = Path(root), Path(list_path)
    entries = read_list(list_path)
    names = []
    for given, default in ((actions_path, root / "actions.txt"), (scenes_path, root / "scenes.txt")):
        path = given if given is not None else (default if default.is_file() else None)
        names.append(read_class_names(path) if path is not None else None)
    report = CheckReport(list_path, entries, *names)
    report.problems.extend(label_problems(entries, *names))
    paths = list(dict.fromkeys(e.path for e in entries))  # each distinct path once, in list order
    tasks = [(str(resolve(root, VideoEntry(p))), decode) for p in paths]
    results: dict[str, tuple] = {}
    for result in supervised_map(probe, tasks, jobs, timeout, single_threaded_cv2) if tasks else ():
        results[paths[result.index]] = result.value if result.ok else (None, "unreadable", result.error)
        advance()
    for p in paths:
        count, kind, reason = results[p]
        if count is not None:
            report.frame_counts[p] = count
        if kind is not None:
            report.problems.append(Problem(kind, p, reason))
    order = {k: i for i, k in enumerate(KINDS)}
    report.problems.sort(key=lambda q: (order[q.kind], q.path))
    return report
