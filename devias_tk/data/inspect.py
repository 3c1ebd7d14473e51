"""Dataset inspection: per-split counts, action x scene co-occurrence, unreadable files, contact sheets."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from devias_tk.data.lists import VideoEntry, read_class_names, read_list, resolve
from devias_tk.data.video import Video
from devias_tk.errors import DeviasError, VideoReadError
from devias_tk.utils.atomic import atomic_path
from devias_tk.utils.progress import parallel_map


@dataclass
class SplitReport:
    name: str
    list_path: Path
    entries: list[VideoEntry]
    num_actions: int
    num_scenes: int
    cooccurrence: np.ndarray  # (num_actions + 1, num_scenes + 1); last row/column = unknown (-1)
    frame_counts: dict[str, int] = field(default_factory=dict)
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    def home_scenes(self) -> np.ndarray:
        """Each action's most frequent scene in this split (-1 where it has no scene-labelled video)."""
        known = self.cooccurrence[:-1, :-1]
        return np.where(known.sum(axis=1) > 0, known.argmax(axis=1), -1)

    def share_in_home(self, home: np.ndarray) -> float | None:
        """Fraction of (action, scene)-labelled videos whose scene is their action's `home` scene.

        With `home` taken from the training split this is the share of seen combinations: close to
        1 on a scene-biased seen split, close to 0 on an unseen-combination split.
        """
        known = self.cooccurrence[:-1, :-1]
        if known.sum() == 0:
            return None
        hits = sum(known[a, h] for a, h in enumerate(home) if h >= 0)
        return float(hits / known.sum())


def cooccurrence(entries: list[VideoEntry], num_actions: int, num_scenes: int) -> np.ndarray:
    """Counts of (action, scene) pairs; index -1 (unknown) lands in the last row / column."""
    table = np.zeros((num_actions + 1, num_scenes + 1), np.int64)
    for e in entries:
        if e.action >= num_actions or e.scene >= num_scenes:
            raise DeviasError(f"{e.path}: label ({e.action}, {e.scene}) is outside the class lists")
        table[e.action, e.scene] += 1  # -1 indexes the last row / column
    return table


def find_lists(root: Path) -> list[Path]:
    lists_dir = root / "lists"
    found = sorted(lists_dir.glob("*.txt")) if lists_dir.is_dir() else []
    if not found:
        raise DeviasError(f"{root}: no lists/*.txt found; pass list files with --list")
    # Keep the benchmark's own split order when there is one.
    meta_path = root / "meta.json"
    if meta_path.is_file():
        order = list(json.loads(meta_path.read_text()).get("splits", {}))
        found.sort(key=lambda p: (order.index(p.stem) if p.stem in order else len(order), p.stem))
    return found


def load_names(root: Path, filename: str, entries: list[list[VideoEntry]], attr: str) -> list[str]:
    path = root / filename
    if path.is_file():
        return read_class_names(path)
    count = max((getattr(e, attr) for group in entries for e in group), default=-1) + 1
    return [str(i) for i in range(count)]


def probe_video(path: str) -> tuple[str, int | None, str | None]:
    """(path, frame count or None, failure reason or None)."""
    try:
        return path, len(Video(path)), None
    except VideoReadError as exc:
        return path, None, exc.reason


def inspect_splits(root: str | Path, list_paths: list[Path] | None = None, jobs: int = 1,
                   check_videos: bool = True) -> tuple[list[SplitReport], list[str], list[str]]:
    """Reports for each list, plus the action and scene names."""
    root = Path(root)
    list_paths = list_paths or find_lists(root)
    entries = [read_list(p) for p in list_paths]
    actions = load_names(root, "actions.txt", entries, "action")
    scene_names = load_names(root, "scenes.txt", entries, "scene")
    reports = [
        SplitReport(p.stem, p, es, len(actions), len(scene_names), cooccurrence(es, len(actions), len(scene_names)))
        for p, es in zip(list_paths, entries, strict=True)
    ]
    if check_videos:
        paths = sorted({str(resolve(root, e)) for r in reports for e in r.entries})
        results = {p: (n, why) for p, n, why in parallel_map(probe_video, paths, jobs, "checking videos", "videos")}
        for r in reports:
            for e in r.entries:
                n, why = results[str(resolve(root, e))]
                if why is None:
                    r.frame_counts[e.path] = n
                else:
                    r.unreadable.append((e.path, why))
    return reports, actions, scene_names


def _label(img: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((14, img.shape[1], 3), 32, np.uint8)
    cv2.putText(bar, text, (2, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate([bar, img], axis=0)


def contact_sheet(root: Path, report: SplitReport, actions: list[str], scene_names: list[str],
                  out_path: Path, rows: int = 8, frames_per_row: int = 6, tile_height: int = 96) -> Path | None:
    """A PNG grid: one sampled video per row (spread over classes), evenly spaced frames across."""
    readable = [e for e in report.entries if e.path in report.frame_counts] if report.frame_counts else report.entries
    if not readable:
        return None
    # Round-robin over action classes so the rows show different classes.
    by_class: dict[int, list[VideoEntry]] = {}
    for e in readable:
        by_class.setdefault(e.action if e.action >= 0 else -(e.scene + 2), []).append(e)
    chosen: list[VideoEntry] = []
    while len(chosen) < rows and any(by_class.values()):
        for key in sorted(by_class):
            if by_class[key] and len(chosen) < rows:
                chosen.append(by_class[key].pop(0))
    strips = []
    for e in chosen:
        try:
            video = Video(resolve(root, e))
        except VideoReadError:
            continue
        idx = np.linspace(0, len(video) - 1, frames_per_row).round().astype(int)
        frames = video.frames(idx)
        scale = tile_height / frames.shape[1]
        tiles = [cv2.resize(f, (int(round(f.shape[1] * scale)), tile_height), interpolation=cv2.INTER_AREA)
                 for f in frames]
        action = actions[e.action] if e.action >= 0 else "-"
        scene = scene_names[e.scene] if e.scene >= 0 else "-"
        strips.append(_label(np.concatenate(tiles, axis=1), f"{action} | {scene} | {Path(e.path).name}"))
    if not strips:
        return None
    width = max(s.shape[1] for s in strips)
    strips = [np.pad(s, ((0, 2), (0, width - s.shape[1]), (0, 0))) for s in strips]
    sheet = np.concatenate(strips, axis=0)
    with atomic_path(out_path) as tmp:
        cv2.imwrite(str(tmp), sheet[:, :, ::-1])
    return out_path
