"""Reading a scene-label store: a video's top-5 with names, and pseudo-label accuracy against true scenes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from devias_tk.cache.kinds import SCENE_LABELS
from devias_tk.cache.store import VideoStore
from devias_tk.data.lists import UNKNOWN, VideoEntry
from devias_tk.errors import DeviasError


def open_scene_store(path: str | os.PathLike) -> VideoStore:
    store = VideoStore(path)
    if store.attrs.get("kind") != SCENE_LABELS.name:
        raise DeviasError(f"{path}: not a scene-label store (kind {store.attrs.get('kind')!r})")
    return store


@dataclass(frozen=True)
class Ranked:
    index: int
    name: str
    prob: float


def video_ranking(store: VideoStore, video: str) -> list[Ranked]:
    """The video-level top-5 (fewer when there are fewer classes), most probable first."""
    names = store.attrs["class_names"]
    probs = store.group(video)["video_probs"][...]
    return [Ranked(i, names[i], float(probs[i])) for i in store.video_attrs(video)["video_top5"] if i >= 0]


def window_rankings(store: VideoStore, video: str) -> list[tuple[int, list[Ranked]]]:
    """(start frame, top-5) of every cached window."""
    names = store.attrs["class_names"]
    group = store.group(video)
    probs, top5 = group["probs"][...], group["top5"][...]
    starts = store.video_attrs(video)["starts"]
    return [(s, [Ranked(int(i), names[i], float(probs[k, i])) for i in top5[k] if i >= 0])
            for k, s in enumerate(starts)]


@dataclass
class PseudoLabelScore:
    videos: int  # entries with a known scene
    labelled: int  # of those, found in the store
    top1: float  # percent of labelled
    top5: float


def pseudo_label_accuracy(store: VideoStore, entries: Sequence[VideoEntry]) -> PseudoLabelScore:
    """Top-1 / top-5 of the video-level pseudo label against each entry's true scene (entries with -1 skipped)."""
    known = [e for e in entries if e.scene != UNKNOWN]
    hits1 = hits5 = labelled = 0
    for e in known:
        if not store.has(e.path):
            continue
        top5 = store.video_attrs(e.path)["video_top5"]
        labelled += 1
        hits1 += top5[0] == e.scene
        hits5 += e.scene in top5
    pct = (lambda n: 100.0 * n / labelled) if labelled else (lambda _n: float("nan"))
    return PseudoLabelScore(len(known), labelled, pct(hits1), pct(hits5))

