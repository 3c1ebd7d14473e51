"""HAT Action-Swap videos, composited at read time from a small JSON description.

`devias-tk data lists hat` writes one description per swap entry; its paths are relative to the
JSON file's folder, so a dataset folder can be moved as a whole::

    {"format": "hat-action-swap", "version": 1,
     "foreground": {"frames": "../../ori/archery/01xSt...", "masks": "../../seg/archery/01xSt..."},
     "background": {"frames": "../../inp/bowling/0a1b...", "masks": "../../seg/bowling/0a1b...",
                    "listed_frames": 300, "label": 31},
     "origin": {"swaps": "actionswap_rand_1.pickle", "key": "archery/01xSt..."}}

Frame i (0-based) of the composite, with N_fg foreground and N_bg background frames:

- background frame j(i) = clip(round(i / N_fg * N_bg), 0, N_bg - 1): the same relative position;
- the background and its mask are resized (bilinear / nearest) so the short side equals the
  foreground's; the composite has that size and N_fg frames;
- the person (foreground mask > 128 on its first channel) is pasted onto the inpainted background,
  shifted by trunc(c_bg - c_fg) pixels, where c_fg is the centre of mass of the foreground mask
  and c_bg that of the background video's own person mask, both on the FIRST frame of the request
  (HAT aligns each sampled clip on its first frame). An empty mask's centre is the image centre.
  Centres are taken over the thresholded masks; the pasted person is clipped at the borders.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from devias_tk.data.frame_folder import DEFAULT_FPS, FrameFolder
from devias_tk.data.video_source import VideoInfo
from devias_tk.errors import VideoReadError

FORMAT = "hat-action-swap"
VERSION = 1


def background_index(indices: np.ndarray, num_foreground: int, num_background: int) -> np.ndarray:
    """Background frame shown with each foreground frame: the same relative position in time."""
    idx = np.round(np.asarray(indices, np.float64) / num_foreground * num_background).astype(np.int64)
    return np.clip(idx, 0, num_background - 1)


def resized_size(foreground_hw: tuple[int, int], background_hw: tuple[int, int]) -> tuple[int, int]:
    """Background (height, width) scaled so its short side equals the foreground's short side."""
    scale = min(foreground_hw) / min(background_hw)
    return int(background_hw[0] * scale + 0.5), int(background_hw[1] * scale + 0.5)


def mask_centre(mask: np.ndarray) -> tuple[float, float]:
    """(row, column) centre of mass of a boolean mask; the image centre when it is empty."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return mask.shape[0] / 2, mask.shape[1] / 2
    return float(rows.mean()), float(cols.mean())


def alignment_shift(foreground_mask: np.ndarray, background_mask: np.ndarray) -> tuple[int, int]:
    """(dy, dx) moving the foreground person's centre onto the background person's (truncated)."""
    fy, fx = mask_centre(foreground_mask)
    by, bx = mask_centre(background_mask)
    return int(by - fy), int(bx - fx)


def paste(background: np.ndarray, person: np.ndarray, mask: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
    """Copy of `background` with person pixels (mask True) written at their position + shift."""
    out = background.copy()
    dy, dx = shift
    height, width = mask.shape
    y0, y1 = max(0, -dy), min(height, out.shape[0] - dy)
    x0, x1 = max(0, -dx), min(width, out.shape[1] - dx)
    if y0 >= y1 or x0 >= x1:
        return out  # shifted entirely off the frame
    region = out[y0 + dy : y1 + dy, x0 + dx : x1 + dx]
    keep = mask[y0:y1, x0:x1]
    region[keep] = person[y0:y1, x0:x1][keep]
    return out


def describe(json_path: Path, foreground: Path, foreground_masks: Path, background: Path, background_masks: Path,
             listed_frames: int, label: int, swaps_file: str, key: str) -> dict:
    """The description for one swap entry, with folders relative to where the JSON will be written."""
    base = json_path.parent

    def rel(p: Path) -> str:
        return Path(os.path.relpath(p, base)).as_posix()

    return {
        "format": FORMAT, "version": VERSION,
        "foreground": {"frames": rel(foreground), "masks": rel(foreground_masks)},
        "background": {"frames": rel(background), "masks": rel(background_masks),
                       "listed_frames": int(listed_frames), "label": int(label)},
        "origin": {"swaps": swaps_file, "key": key},
    }


def _resize(frames: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    if frames.shape[1:3] == size:
        return frames
    return np.stack([cv2.resize(f, (size[1], size[0]), interpolation=interpolation) for f in frames])


class SwapVideo:
    """The composite of one description; `read(indices)` follows the rules in the module docstring."""

    def __init__(self, path: Path, spec: dict) -> None:
        self.path = path
        base = path.parent
        try:
            fg, bg = spec["foreground"], spec["background"]
            parts = {name: base / section[key] for name, section, key in (
                ("foreground frames", fg, "frames"), ("foreground masks", fg, "masks"),
                ("background frames", bg, "frames"), ("background masks", bg, "masks"))}
        except (KeyError, TypeError):
            raise VideoReadError(str(path), "swap description lacks foreground/background frames or masks") from None
        self.fg, self.fg_masks, self.bg, self.bg_masks = (
            FrameFolder(folder, error_path=path, what=name) for name, folder in parts.items())
        for frames, masks, name in ((self.fg, self.fg_masks, "foreground"), (self.bg, self.bg_masks, "background")):
            if len(masks) != len(frames):
                self._fail(f"{name} masks: {len(masks)} frames, the {name} has {len(frames)}")
            if (masks.info.height, masks.info.width) != (frames.info.height, frames.info.width):
                self._fail(f"{name} masks are {masks.info.width}x{masks.info.height}, "
                           f"the frames {frames.info.width}x{frames.info.height}")
        self.size = resized_size((self.fg.info.height, self.fg.info.width), (self.bg.info.height, self.bg.info.width))
        self.info = VideoInfo(len(self.fg), DEFAULT_FPS, *self.size)

    def _fail(self, reason: str) -> None:
        raise VideoReadError(str(self.path), reason)

    def read(self, indices: np.ndarray) -> np.ndarray:
        j = background_index(indices, len(self.fg), len(self.bg))
        background = _resize(self.bg.read(j), self.size, cv2.INTER_LINEAR)
        first_bg_mask = _resize(self.bg_masks.read_masks(j[:1]).astype(np.uint8), self.size, cv2.INTER_NEAREST)[0] > 0
        masks = self.fg_masks.read_masks(indices)
        shift = alignment_shift(masks[0], first_bg_mask)  # aligned on the first requested frame
        person = self.fg.read(indices)
        return np.stack([paste(b, p, m, shift) for b, p, m in zip(background, person, masks, strict=True)])


def open_description(path: str | os.PathLike) -> SwapVideo:
    """Open a .json video description (only HAT Action-Swap descriptions exist so far)."""
    path = Path(path)
    if not path.is_file():
        raise VideoReadError(str(path), "not a regular file")
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VideoReadError(str(path), f"not a valid JSON video description ({type(exc).__name__})") from None
    if not isinstance(spec, dict) or spec.get("format") != FORMAT:
        got = spec.get("format") if isinstance(spec, dict) else type(spec).__name__
        raise VideoReadError(str(path), f"unknown video description format {got!r} (expected {FORMAT!r})")
    if spec.get("version") != VERSION:
        raise VideoReadError(str(path), f"unsupported {FORMAT} version {spec.get('version')!r}")
    return SwapVideo(path, spec)
