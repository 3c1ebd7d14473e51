"""The store kinds, declared once: each kind's name (the root attribute `kind`), the format version this toolkit
writes and reads (`format_version`), the command that writes it, and what a video group's window rows hold.

Writers (`masks extract`, `masks import-gt`, `scenes label`, `features`) stamp these values; readers
(training, the scene-target benchmark, `scenes eval`, `eval knn`) check a store against the same record, so a
format change is one edit here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devias_tk import __version__
from devias_tk.cache.store import file_sha256


@dataclass(frozen=True)
class StoreKind:
    name: str  # root attribute `kind`
    version: int  # root attribute `format_version`
    writer: str  # the command that writes it, named when a store must be rebuilt
    rows: Mapping[str, str] = field(default_factory=dict)  # per video group: array -> what its row k holds

    def stamp(self, list_path: Path, num_videos: int, **own: Any) -> dict[str, Any]:
        """A writer's root attributes: this kind and format, the toolkit version, the stage's `own` ones, then
        the list the store is built from."""
        return {"kind": self.name, "format_version": self.version, "toolkit_version": __version__, **own,
                "source_list": Path(list_path).name, "list_sha256": file_sha256(list_path), "num_videos": num_videos}


# History: 1 computed the tubelet masks on frames resized to `tubelet_size` (too coarse for FAME's colour model
# and blur); 2 computes them at the working size and area-pools them.
FAME_MASKS = StoreKind("fame-masks", 2, "devias-tk masks extract", {
    "soft": "uint8 (H, W): window k's clip-level soft mask at the working size, round(255 * p)",
    "tubelet": "uint8 (window // 2, h, w): window k's per-tubelet soft masks, area-pooled to short side tubelet_size",
})
MASK_ROWS = ("soft", "tubelet")  # what a training item reads of a mask store's window

# History: 2 added crop_probs and the crop_grid attribute (per-crop training targets).
SCENE_LABELS = StoreKind("scene-labels", 2, "devias-tk scenes label", {
    "probs": "float16 (S,): window k's scene distribution on the model's eval view",
    "top5": "int16 (5,): window k's most probable classes (-1 past S classes)",
    "crop_probs": "float16 (C, S): window k's distribution on each crop of the crop grid (absent with --crops none)",
})
SCENE_ROWS = ("crop_probs",)  # what a training item reads of a scene store's window

FEATURES = StoreKind("features", 1, "devias-tk features", {})  # per video (or per clip), not per window
