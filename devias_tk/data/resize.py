"""`data resize`: a copy of a dataset's listed videos with the short side scaled down, what Kinetics users train from.

Decoding a 340x256 frame costs a fraction of a 1280x720 one, and the training crop is 224 pixels anyway. Every
video keeps its list path, frame count and frame rate (each frame re-encoded, none dropped or added), so the
lists, mask stores and scene stores built on the original root work on the copy unchanged: their windows index
the same frames, and their masks are scaled to whatever frame size the loader decodes. Each file is written to a
temporary name, checked (frame count, size) and renamed into place, so a killed run leaves finished files and
nothing half-written; a re-run skips them. Videos that cannot be read or written are recorded with the reason
in OUT/resize-failures.json (tried again on a re-run); videos whose short side is already at or below the
target are copied as they are.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from devias_tk.data import transforms
from devias_tk.data.encode import FOURCC_BY_SUFFIX, write_video_blocks
from devias_tk.data.lists import VideoEntry, read_list, resolve
from devias_tk.data.video import Video
from devias_tk.errors import DeviasError, VideoReadError
from devias_tk.utils.atomic import atomic_path, atomic_write_text
from devias_tk.utils.progress import parallel_map
from devias_tk.utils.words import reason_line

MANIFEST = "resize.json"
FAILURES = "resize-failures.json"
BLOCK = 64  # frames decoded, resized and written at a time (memory stays flat for long videos)


@dataclass
class ResizeSummary:
    listed: int = 0
    resized: int = 0
    copied: int = 0  # already small enough
    skipped: int = 0  # done by an earlier run
    failed: dict[str, str] = field(default_factory=dict)  # list path -> reason


def target_size(height: int, width: int, short: int) -> tuple[int, int]:
    """(H, W) with the short side `short` and the aspect ratio kept, both even (the MPEG-4 encoders need it)."""
    h, w = transforms.short_side_size(height, width, short)
    return h + h % 2, w + w % 2


def _blocks(video: Video, size: tuple[int, int]) -> Iterator[np.ndarray]:
    whole = transforms.Box(0, 0, video.info.height, video.info.width)
    for start in range(0, len(video), BLOCK):
        frames = video.frames(np.arange(start, min(start + BLOCK, len(video))))
        yield transforms.crop_resize(frames, whole, size, cv2.INTER_AREA)  # area averaging: no aliasing


def resize_video(src: Path, dst: Path, short: int) -> str:
    """Write `dst`, the video `src` with its short side `short` ("resized"), or a copy when it is already at or
    below it ("copied"). Raises VideoReadError / DeviasError naming what went wrong."""
    video = Video(src)
    info = video.info
    if min(info.height, info.width) <= short:
        with atomic_path(dst) as tmp:
            shutil.copyfile(src, tmp)
        return "copied"
    if dst.suffix.lower() not in FOURCC_BY_SUFFIX:
        raise DeviasError(f"cannot write '{dst.suffix}' videos (.avi and .mp4 only); convert the file first")
    size = target_size(info.height, info.width, short)

    def check(tmp: Path) -> None:
        written = Video(tmp).info
        if written.num_frames != info.num_frames or (written.height, written.width) != size:
            raise DeviasError(f"the re-encoded file has {written.num_frames} frames of {written.width}x"
                              f"{written.height}, the source {info.num_frames} (wanted {size[1]}x{size[0]})")

    write_video_blocks(dst, _blocks(video, size), info.fps, size, check=check)
    return "resized"


def _one(entry: VideoEntry, root: Path, out: Path, short: int) -> tuple[str, str, str]:
    """(list path, "resized" | "copied" | "failed", reason); runs in a worker process."""
    try:
        return entry.path, resize_video(resolve(root, entry), out / entry.path, short), ""
    except (VideoReadError, DeviasError) as exc:
        return entry.path, "failed", reason_line(exc.reason if isinstance(exc, VideoReadError) else str(exc))
    except Exception as exc:  # a decoder or encoder error of this one video: recorded, the run goes on
        return entry.path, "failed", reason_line(f"{type(exc).__name__}: {exc}")


def resize_dataset(root: str | Path, list_path: str | Path, out: str | Path, short: int, jobs: int = 1
                   ) -> ResizeSummary:
    """Resize every video of the list under `out` (same relative paths); see the module docstring."""
    root, out = Path(root), Path(out)
    if short < 32:
        raise DeviasError(f"--short {short}: a short side of at least 32 pixels")
    if out.resolve() == root.resolve():
        raise DeviasError(f"--out {out} is the dataset root: write the resized copy elsewhere")
    entries = read_list(list_path)
    absolute = [e.path for e in entries if Path(e.path).is_absolute()]
    if absolute:
        raise DeviasError(f"{list_path}: {len(absolute)} absolute paths (e.g. {absolute[0]}); the copy mirrors paths "
                          "relative to --root, so list them relative to it")
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / MANIFEST
    settings = {"short": short, "source_root": str(root.resolve())}
    if manifest.is_file():
        before = json.loads(manifest.read_text())
        if before.get("short") != short:
            raise DeviasError(f"{out} holds videos resized to short side {before.get('short')}, not {short}; "
                              "use another --out")
    else:
        atomic_write_text(manifest, json.dumps(settings, indent=1) + "\n")
    summary = ResizeSummary(listed=len(entries))
    todo = [e for e in entries if not (out / e.path).is_file()]
    summary.skipped = len(entries) - len(todo)
    failures_path = out / FAILURES
    failed = json.loads(failures_path.read_text()) if failures_path.is_file() else {}
    for path, outcome, reason in parallel_map(_one, todo, jobs, "resize", "videos", (root, out, short)):
        if outcome != "failed":
            setattr(summary, outcome, getattr(summary, outcome) + 1)
        if outcome == "failed" or path in failed:  # the record changes: rewritten now, so a kill keeps it
            failed.pop(path, None)
            if outcome == "failed":
                failed[path] = reason
            atomic_write_text(failures_path, json.dumps(failed, indent=1, sort_keys=True) + "\n")
    listed = {e.path for e in entries}
    summary.failed = {p: r for p, r in failed.items() if p in listed}
    return summary
