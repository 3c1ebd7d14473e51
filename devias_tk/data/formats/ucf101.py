"""UCF-101: `classInd.txt` ('1 ApplyEyeMakeup', 1-based) and the split files of splits 1-3.

`trainlist0N.txt` lines are 'Class/v_X.avi <1-based label>', `testlist0N.txt` lines 'Class/v_X.avi'
(the label comes from the class folder); parsing is `devias_tk.data.lists.read_ucf101_*`. Output:
lists `trainlist0N` / `testlist0N` (the recipes read `lists/trainlist01.txt`) and `actions.txt`;
scenes are unknown (-1) until `scenes label` gives pseudo labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from devias_tk.data.formats.common import Conversion, join, locate
from devias_tk.data.lists import VideoEntry, read_ucf101_class_index, read_ucf101_split
from devias_tk.errors import DeviasError

SPLITS = (1, 2, 3)


def convert(root: str | Path, splits_dir: str | Path, splits: Sequence[int] = (1,), videos: str = "",
            keep_missing: bool = False) -> Conversion:
    """Lists for the given splits; `videos` is the folder holding the class folders, relative to root.

    A listed 'Class/v_X.avi' that is absent but has a frame folder 'Class/v_X' uses the folder.
    """
    root, splits_dir = Path(root), Path(splits_dir)
    bad = [s for s in splits if s not in SPLITS]
    if bad:
        raise DeviasError(f"UCF-101 has splits 1, 2 and 3, not {bad}")
    conv = Conversion(actions=read_ucf101_class_index(splits_dir / "classInd.txt"))
    for split in splits:
        for kind in ("train", "test"):
            list_file = splits_dir / f"{kind}list0{split}.txt"
            name = list_file.stem
            conv.lists[name] = []
            for n, entry in enumerate(read_ucf101_split(list_file, conv.actions), start=1):
                rel = join(videos, entry.path)
                found = locate(root, rel)
                conv.add(name, VideoEntry(found or rel, entry.action, entry.scene), found is not None,
                         f"{list_file.name} entry {n}", keep_missing)
    return conv
