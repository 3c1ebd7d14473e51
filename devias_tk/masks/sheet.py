"""A picture of one cached window: frames with the hard mask, the soft mask, the per-tubelet masks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from devias_tk.cache.store import VideoStore
from devias_tk.data.lists import VideoEntry, resolve
from devias_tk.data.video import Video
from devias_tk.errors import DeviasError
from devias_tk.masks.fame import top_fraction_mask
from devias_tk.masks.windows import WindowSpec, resize_frames, window_indices
from devias_tk.utils.atomic import atomic_path


def _caption(tile: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((14, tile.shape[1], 3), 24, np.uint8)
    cv2.putText(bar, text, (2, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.32, (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate([bar, tile])


def _heat(values: np.ndarray, height: int, width: int) -> np.ndarray:
    resized = cv2.resize(values, (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.applyColorMap(resized, cv2.COLORMAP_INFERNO)[:, :, ::-1]


def mask_sheet(store: VideoStore, root: str | Path, video: str, out: str | Path, window_index: int = -1,
               beta: float = 0.3) -> Path:
    """Write the PNG; rows: frames with the top-beta mask, then the soft mask and tubelet masks."""
    attrs = store.video_attrs(video)
    spec = WindowSpec(**{k: store.attrs[k] for k in ("window", "stride", "hop", "size", "tubelet_size")})
    soft_all = store.group(video)["soft"]
    count = soft_all.shape[0]
    k = count // 2 if window_index < 0 else window_index
    if not 0 <= k < count:
        raise DeviasError(f"{video}: window {k} does not exist (the store holds {count})")
    soft = soft_all[k]
    tubelets = store.group(video)["tubelet"][k]
    indices = window_indices(attrs["num_frames"], attrs["starts"], spec)[k]
    frames = (resize_frames(Video(resolve(root, VideoEntry(video))).frames(indices), spec.size) * 255).astype(np.uint8)
    frames = frames[:, : soft.shape[0], : soft.shape[1]]
    hard = top_fraction_mask(soft, beta)
    tint = np.array([255, 40, 40], np.float32)
    row1 = []
    for i, f in enumerate(frames[::2]):
        shown = f.astype(np.float32)
        shown[hard] = 0.55 * shown[hard] + 0.45 * tint
        shown[~hard] *= 0.6
        row1.append(_caption(shown.astype(np.uint8), f"frame {int(indices[2 * i])}"))
    h, w = soft.shape
    row2 = [_caption(_heat(soft, h, w), f"clip soft, window {k}")]
    row2 += [_caption(_heat(t, h, w), f"tubelet {j}") for j, t in enumerate(tubelets)]
    width = max(len(row1), len(row2)) * w
    rows = [np.concatenate(r, axis=1) for r in (row1, row2)]
    rows = [np.pad(r, ((0, 2), (0, width - r.shape[1]), (0, 0))) for r in rows]
    out = Path(out)
    with atomic_path(out) as tmp:
        cv2.imwrite(str(tmp), np.concatenate(rows)[:, :, ::-1])
    return out
