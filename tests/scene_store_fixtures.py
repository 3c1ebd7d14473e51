"""A fabricated scene-label store (as `scenes label` writes one) with chosen video-level pseudo labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from devias_tk.cache.store import VideoStore, file_sha256
from devias_tk.data.lists import read_list


def fabricate_scene_store(path: Path, root: Path, list_path: Path, shift: int = 0) -> Path:
    """A format-2 store (one window, one full-frame crop). Video-level pseudo label of each video of
    `list_path` = (its true scene + shift) % number of scenes, the class names those of root/scenes.txt."""
    names = [line.split(maxsplit=1)[1] for line in (root / "scenes.txt").read_text().splitlines()]
    store = VideoStore.open_or_create(path, {"kind": "scene-labels", "class_names": names,
                                             "num_classes": len(names), "window": 8, "stride": 2, "hop": 2,
                                             "list_sha256": file_sha256(list_path), "format_version": 2,
                                             "crop_grid": [[0.0, 0.0, 1.0, 1.0]]}, ("kind",))
    for e in read_list(list_path):
        probs = np.full(len(names), 0.1, np.float16)
        probs[(e.scene + shift) % len(names)] = 0.7
        store.commit(e.path, {"video_probs": (probs, (len(names),)),
                             "crop_probs": (probs[None, None], (1, 1, len(names)))}, {"num_frames": 32, "starts": [0]})
    return path
