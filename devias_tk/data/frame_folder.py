"""A folder of numbered images read as a video (mmaction2 / SCUBA / HAT "rawframes").

Frame names: ``000001.jpg``, ``frame000001.jpg`` or ``img_00001.jpg`` (any digit count), with the
extension .jpg, .jpeg or .png (any case). Numbering starts at 1 (a folder starting at 0 is read as
0-based) and must be contiguous. Other files in the folder (``flow_x_00001.jpg``, ``.DS_Store``) are
ignored; one folder must not mix two namings. Frames are decoded with OpenCV into uint8 RGB.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import numpy as np

from devias_tk.data.video_source import VideoInfo, read_unique
from devias_tk.errors import VideoReadError

# Image folders carry no frame rate; 30 fps is the common capture rate (UCF-101 is 25, Kinetics
# mostly 30) and only matters to code that converts frames to seconds.
DEFAULT_FPS = 30.0
FRAME_NAME = re.compile(r"^(frame|img_)?(\d+)\.(jpg|jpeg|png)$", re.IGNORECASE)


def frame_names(names: list[str]) -> list[str] | str:
    """Order a folder listing into frames; a short reason (str) when it is not a usable frame folder."""
    groups: dict[tuple[str, str], dict[int, str]] = {}
    for name in names:
        match = FRAME_NAME.match(name)
        if match is None:
            continue
        prefix, digits, ext = match.groups()
        group = groups.setdefault(((prefix or "").lower(), ext.lower()), {})
        number = int(digits)
        if number in group:
            return f"two files for frame {number}: {', '.join(sorted((group[number], name)))}"
        group[number] = name
    if not groups:
        return "no frame images (.jpg/.jpeg/.png)"
    if len(groups) > 1:
        examples = ", ".join(sorted(min(g.values()) for g in groups.values())[:3])
        return f"mixed frame names ({examples})"
    numbered = next(iter(groups.values()))
    first, last = min(numbered), max(numbered)
    if first > 1:
        return f"missing frames: numbering starts at {first}, not 1"
    absent = [n for n in range(first, last + 1) if n not in numbered]
    if absent:
        return f"missing frames: {len(absent)} of {first}..{last} absent (first: {absent[0]})"
    return [numbered[n] for n in range(first, last + 1)]


def read_image(path: Path) -> np.ndarray | str:
    """uint8 RGB (H, W, 3), or a short reason when the file cannot be decoded."""
    if not path.is_file():
        return f"frame file not found: {path.name}"
    if path.stat().st_size == 0:
        return f"empty frame file: {path.name}"
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        return f"unreadable frame: {path.name}"
    return image[:, :, ::-1]


class FrameFolder:
    """Frames of one folder; `read(indices)` decodes 0-based frame indices (any order, repeats)."""

    def __init__(self, folder: str | os.PathLike, fps: float = DEFAULT_FPS,
                 error_path: str | os.PathLike | None = None, what: str = "") -> None:
        # `error_path` / `what`: a composite source reports its own path and which part failed.
        self.folder = Path(folder)
        self._error_path = str(error_path if error_path is not None else folder)
        self._what = what
        if not self.folder.exists():
            self._fail("file not found" if not what else "folder not found")
        if not self.folder.is_dir():
            self._fail("not a folder")
        names = frame_names(os.listdir(self.folder))
        if isinstance(names, str):
            # An empty directory keeps the reason a directory always had before frame folders existed.
            self._fail(f"not a regular file nor a frame folder: {names}" if not what and names.startswith("no frame")
                       else names)
        self.names: list[str] = names
        first = self._decode(0)
        self.info = VideoInfo(len(names), float(fps), int(first.shape[0]), int(first.shape[1]))

    def _fail(self, reason: str) -> None:
        raise VideoReadError(self._error_path, f"{self._what}: {reason}" if self._what else reason)

    def _decode(self, index: int) -> np.ndarray:
        image = read_image(self.folder / self.names[index])
        if isinstance(image, str):
            self._fail(image)
        return image

    def __len__(self) -> int:
        return len(self.names)

    def read(self, indices: np.ndarray) -> np.ndarray:
        """(T, H, W, 3) uint8 RGB for in-range 0-based indices; each distinct frame decoded once."""
        return read_unique(indices, self._read_sorted)

    def _read_sorted(self, unique: np.ndarray) -> np.ndarray:
        out = np.empty((unique.size, self.info.height, self.info.width, 3), np.uint8)
        for k, i in enumerate(unique.tolist()):
            image = self._decode(i)
            if image.shape[:2] != (self.info.height, self.info.width):
                self._fail(f"frame {self.names[i]} is {image.shape[1]}x{image.shape[0]}, "
                           f"the first is {self.info.width}x{self.info.height}")
            out[k] = image
        return out

    def read_masks(self, indices: np.ndarray, threshold: int = 128) -> np.ndarray:
        """(T, H, W) bool: the first (red) channel above `threshold`, as HAT's person masks are read."""
        return self.read(indices)[..., 0] > threshold

