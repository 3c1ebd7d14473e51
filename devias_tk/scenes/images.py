"""Places365-style image lists and a torch Dataset over them.

List format (Places365's `places365_train_standard.txt` / `places365_val.txt`, and the synthetic
benchmark's `scene_images/{train,val}.txt`): one image per line, ``<path> <class index>``, 0-based,
paths relative to the image root. A leading '/' (Places365 writes '/a/airfield/00000001.jpg') is
still relative to the root.

Class names come from a class file (`read_class_names`: '<index> <name>' or Places365's
'<name> <index>') or, without one, from the folder each class's images sit in.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from devias_tk.data import transforms
from devias_tk.data.lists import _content_lines
from devias_tk.errors import DeviasError, ListFormatError
from devias_tk.scenes.preprocess import eval_view


@dataclass(frozen=True)
class ImageEntry:
    path: str  # as written in the list
    label: int


def read_image_list(path: str | os.PathLike) -> list[ImageEntry]:
    """Read '<path> <index>' lines; a malformed line raises ListFormatError naming file:line."""
    path = Path(path)
    entries = []
    for line_no, line in _content_lines(path):
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2:
            raise ListFormatError(str(path), line_no, f"expected '<image path> <class index>', got {line!r}")
        try:
            label = int(parts[1])
        except ValueError:
            raise ListFormatError(str(path), line_no, f"class index {parts[1]!r} is not an integer") from None
        if label < 0:
            raise ListFormatError(str(path), line_no, f"class index {label} is negative")
        entries.append(ImageEntry(parts[0], label))
    if not entries:
        raise DeviasError(f"{path}: the image list is empty")
    return entries


def image_file(root: str | os.PathLike, entry: ImageEntry) -> Path:
    return Path(root) / entry.path.lstrip("/")


def class_names_from_folders(entries: Sequence[ImageEntry], source: str = "the list") -> list[str]:
    """Class i's name = the folder its images are in ('beach/beach_00001.jpg' -> 'beach',
    '/a/airfield/00000001.jpg' -> '/a/airfield'); every index 0..max must have one, consistently."""
    names: dict[int, str] = {}
    for e in entries:
        folder = str(PurePosixPath(e.path).parent)
        if folder in (".", "/"):
            raise DeviasError(f"{source}: {e.path!r} is not in a class folder; pass the class names file")
        if names.setdefault(e.label, folder) != folder:
            raise DeviasError(f"{source}: class {e.label} has images in {names[e.label]!r} and {folder!r}; "
                              "pass the class names file")
    missing = sorted(set(range(max(names) + 1)) - set(names))
    if missing:
        raise DeviasError(f"{source}: classes {missing[:5]} have no images, so their names are unknown; "
                          "pass the class names file")
    return [names[i] for i in range(len(names))]


def load_image(path: Path) -> np.ndarray:
    """uint8 RGB (H, W, 3); an unreadable file raises DeviasError naming it."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        reason = "file not found" if not path.exists() else "not a readable image"
        raise DeviasError(f"{path}: {reason}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@dataclass(frozen=True)
class Augment:
    """Training augmentation: random resized crop, horizontal flip, brightness/contrast jitter."""

    scale: tuple[float, float] = (0.25, 1.0)
    flip: bool = True
    jitter: float = 0.2  # brightness and contrast factors drawn from [1 - j, 1 + j]


def augment_image(image: np.ndarray, size: int, aug: Augment, rng: np.random.Generator) -> np.ndarray:
    """uint8 (H, W, 3) -> uint8 (size, size, 3)."""
    frames = image[None]
    box = transforms.random_resized_box(image.shape[0], image.shape[1], rng, scale=aug.scale)
    frames = transforms.crop_resize(frames, box, size)
    if aug.flip and rng.random() < 0.5:
        frames = transforms.hflip(frames)
    out = frames[0].astype(np.float32)
    if aug.jitter > 0:
        brightness, contrast = rng.uniform(1 - aug.jitter, 1 + aug.jitter, 2)
        out = (out - out.mean()) * contrast + out.mean() * brightness
    return np.clip(out, 0, 255).astype(np.uint8)


class ImageDataset(Dataset):
    """Items are (uint8 (S, S, 3) tensor of the eval view, label); training images come from `KeyedImages`."""

    def __init__(self, root: str | os.PathLike, entries: Sequence[ImageEntry], input_size: int,
                 resize_size: int) -> None:
        self.root, self.entries, self.input_size, self.resize_size = Path(root), list(entries), input_size, resize_size

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        entry = self.entries[index]
        view = eval_view(load_image(image_file(self.root, entry))[None], self.input_size, self.resize_size)[0]
        return torch.from_numpy(view), entry.label


class KeyedImages(Dataset):
    """Training items keyed by (epoch, index[, salt]) from `EpochSampler` (devias_tk.engine.sampler): {"image": uint8
    (S, S, 3), "label", "index"}. The crop, flip and jitter are drawn from (seed, epoch, index, salt) alone, so a
    resumed run sees the very same images; an unreadable file raises (the guarded loader replaces the sample)."""

    def __init__(self, root: str | os.PathLike, entries: Sequence[ImageEntry], input_size: int, augment: Augment,
                 seed: int = 0) -> None:
        self.root, self.entries, self.input_size, self.augment, self.seed = Path(root), list(entries), input_size, \
            augment, seed

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, key: int | tuple[int, ...]) -> dict:
        epoch, index, *salt = key if isinstance(key, tuple) else (0, key)
        entry = self.entries[index]
        rng = np.random.default_rng([self.seed, epoch, index, *salt])
        view = augment_image(load_image(image_file(self.root, entry)), self.input_size, self.augment, rng)
        return {"image": torch.from_numpy(view), "label": entry.label, "index": index}
