"""Video-level scene labels from a scene-label store (`scenes label`): the argmax of each video's
`video_probs`, the scene model's pseudo label. Evaluation suites, the k-NN check and training-time
validation all read pseudo labels through this one function."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from devias_tk.cache.store import VideoStore
from devias_tk.data.lists import UNKNOWN, VideoEntry
from devias_tk.errors import DeviasError


def store_scene_labels(store_path: str | os.PathLike, paths: Sequence[str],
                       class_names: Sequence[str] | None = None) -> np.ndarray:
    """(N,) int labels of `paths` (list paths) from a scene store; -1 for a video the store lacks.
    `class_names`: the model's scene classes; a store labelled with other classes is refused."""
    if not os.path.exists(store_path):
        raise DeviasError(f"{store_path}: scene store not found")
    store = VideoStore(store_path)
    names = store.attrs.get("class_names")
    if class_names is not None and names is not None and list(names) != list(class_names):
        raise DeviasError(f"{store_path}: its scene classes differ from the model's ({len(names)} vs "
                          f"{len(class_names)})")
    done = store.done()
    return np.array([int(np.argmax(store.group(p)["video_probs"][...])) if p in done else UNKNOWN for p in paths],
                    dtype=np.int64)


def with_store_scenes(entries: Sequence[VideoEntry], store_path: str | os.PathLike,
                      class_names: Sequence[str] | None = None) -> list[VideoEntry]:
    """`entries` with their scene column replaced by the store's pseudo labels (-1 where it has none)."""
    labels = store_scene_labels(store_path, [e.path for e in entries], class_names)
    return [VideoEntry(e.path, e.action, int(s)) for e, s in zip(entries, labels, strict=True)]
