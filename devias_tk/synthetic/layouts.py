"""A generated benchmark written out in the published layouts of the real datasets.

The make chains (`make ucf101-all`, `kinetics400-all`, `hvu-all`) read the official downloads through
the converters in `devias_tk.data.formats`. None of those downloads can be fetched where the toolkit
is developed, so this module lays the synthetic benchmark out the same way: the chains then run end to
end on data whose labels are known, and the converters are tested on more than hand-made fixtures.

Written under OUT/<name>/ (one folder per dataset, `docs/datasets.md`, "Published layouts")::

    ucf101/       UCF-101/<Class>/v_<Class>_gXX_cYY.avi, ucfTrainTestlist/{classInd,trainlist01,testlist01}.txt
    scuba/        <source>/<Class>/<video>/frame000001.jpg, <source>/testlist01.txt   (places365, vqgan, sinusoid)
    hat/          ori/ seg/ inp/<class>/<vid>/000001.jpg|png, list.csv, labels.csv,
                  actionswap_{rand,close,far}_{1,2,3}.pickle
    kinetics400/  annotations/{train,val}.csv, videos/<label>/<youtube_id>_<start:06d>_<end:06d>.mp4
    kinetics400-scuba/, kinetics400-hat/   as scuba/ and hat/, action labels in Kinetics-400's order
    hvu/          HVU_{Train,Val}_V1.0.csv, HVU_Tags_Categories_V1.0.csv, videos/<clip>.mp4,
                  subset/{train,val_seen,val_unseen}.txt
    places365/    categories_places365.txt, places365_train_standard.txt, places365_val.txt,
                  data_256/<letter>/<name>/NNNNNNNN.jpg, val_256/Places365_val_NNNNNNNN.jpg

Which benchmark split goes where: UCF-101 and Kinetics-400 take train and test; SCUBA's sources take
scuba-places, scuba-stylized and scuba-sinusoid; HAT takes the seen test videos (as HAT is built
from UCF-101's and Kinetics' test videos) and pairs them itself; HVU's validation CSV takes test and
hat-random, whose action/scene pairs are mostly unseen in training; Places365 takes the scene images.

Each dataset is written into OUT/.<name>.partial and renamed into place when complete, so a killed
run leaves no half layout and a re-run skips the finished ones.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import hashlib
import io
import os
import pickle
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from devias_tk.data.encode import write_video
from devias_tk.data.formats.common import numbered_lines, parse_int, read_json, read_text
from devias_tk.data.lists import VideoEntry, read_list
from devias_tk.data.video import Video
from devias_tk.errors import DeviasError
from devias_tk.synthetic.figure import PROPS
from devias_tk.utils.atomic import durable_replace, fsync_tree
from devias_tk.utils.locks import lock_output
from devias_tk.utils.progress import parallel_map

LAYOUTS = ("ucf101", "scuba", "hat", "kinetics400", "kinetics400-scuba", "kinetics400-hat", "hvu", "places365")
# SCUBA's three background sources and the benchmark split that plays each one.
SCUBA_SOURCES = {"places365": "scuba-places", "vqgan": "scuba-stylized", "sinusoid": "scuba-sinusoid"}
SWAP_KINDS = ("rand", "close", "far")
SWAP_SPLITS = (1, 2, 3)
CLIP_SECONDS = 10  # Kinetics / HVU clips are 10 s cut-outs of a YouTube video
NO_PROP_TAG = "person"  # the object tag of a benchmark generated with --no-props
META_KEYS = ("actions", "scenes", "scene_of_action", "close_scene_of_action", "far_scene_of_action", "splits")
# How `devias-tk data lists` reads each layout ({root}: the layout's folder).
READ_WITH = {
    "ucf101": "devias-tk data lists ucf101 --root {root}",
    "scuba": "devias-tk data lists scuba --root {root} --source places365 --source vqgan --source sinusoid",
    "hat": "devias-tk data lists hat --root {root}",
    "kinetics400-scuba": "devias-tk data lists scuba --root {root} --source places365 --source vqgan --source sinusoid "
                         "--actions <kinetics400 lists>/actions.txt",
    "kinetics400-hat": "devias-tk data lists hat --root {root}",
    "kinetics400": "devias-tk data lists kinetics400 --root {root} --videos videos "
                   "--csv {root}/annotations/train.csv --csv {root}/annotations/val.csv",
    "hvu": "devias-tk data lists hvu --root {root} --videos videos --csv {root}/HVU_Train_V1.0.csv "
           "--csv {root}/HVU_Val_V1.0.csv --categories {root}/HVU_Tags_Categories_V1.0.csv",
    "places365": "devias-tk data lists places365 --root {root} --categories {root}/categories_places365.txt "
                 "--train-list {root}/places365_train_standard.txt --val-list {root}/places365_val.txt",
}


# ----------------------------------------------------------------------------- the benchmark


@dataclass(frozen=True)
class Benchmark:
    """A generated benchmark: its folder, meta.json and every split's list."""

    root: Path
    meta: dict
    lists: dict[str, list[VideoEntry]]

    @property
    def actions(self) -> list[str]:
        return list(self.meta["actions"])

    @property
    def scenes(self) -> list[str]:
        return list(self.meta["scenes"])

    def split(self, name: str) -> list[VideoEntry]:
        if name not in self.lists:
            raise DeviasError(f"{self.root}: the benchmark has no split {name!r} (meta.json lists "
                              f"{', '.join(self.lists)})")
        return self.lists[name]


def load_benchmark(root: str | os.PathLike) -> Benchmark:
    """Read a benchmark written by `data synth`; anything else is a one-line error."""
    root = Path(root)
    if not root.is_dir():
        raise DeviasError(f"{root}: benchmark folder not found")
    if not (root / "meta.json").is_file():
        raise DeviasError(f"{root}: not a generated benchmark (no meta.json; `devias-tk data synth` writes one)")
    meta = read_json(root / "meta.json")
    missing = [k for k in META_KEYS if not isinstance(meta, dict) or k not in meta]
    if missing:
        raise DeviasError(f"{root / 'meta.json'}: not a benchmark's meta.json (lacks {', '.join(missing)})")
    lists = {name: read_list(root / info.get("list", f"lists/{name}.txt")) for name, info in meta["splits"].items()}
    return Benchmark(root, meta, lists)


def _class_and_video(entry: VideoEntry) -> tuple[str, str]:
    """('Walk', 'v_Walk_g01_c01') of 'videos/Walk/v_Walk_g01_c01.avi': the published layouts' two levels."""
    path = PurePosixPath(entry.path)
    return path.parent.name, path.stem


def clip_of(path: str) -> tuple[str, int, int]:
    """(youtube_id, time_start, time_end) of a benchmark video: derived from its path alone, so the same video
    has the same clip name in every layout and on every run. 11 characters of [A-Za-z0-9_-], like YouTube's."""
    digest = hashlib.sha256(path.encode()).digest()
    start = int.from_bytes(digest[12:16], "big") % 290
    return base64.urlsafe_b64encode(digest).decode()[:11], start, start + CLIP_SECONDS


def clip_name(path: str) -> str:
    youtube_id, start, end = clip_of(path)
    return f"{youtube_id}_{start:06d}_{end:06d}"


# ----------------------------------------------------------------------------- per-video work (worker processes)


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link (no second copy on disk), a copy where links are refused (another filesystem)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _imwrite(path: Path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), image):
        raise DeviasError(f"could not write {path}")


def _read_all(path: Path) -> tuple[np.ndarray, float]:
    video = Video(path)
    return video.frames(np.arange(len(video))), video.info.fps


def _frame_folder(task: tuple[Path, Path, str]) -> tuple[str, int]:
    """Decode a video into numbered JPEGs (`pattern` formatted with the 1-based frame number)."""
    source, folder, pattern = task
    frames, _ = _read_all(source)
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames, start=1):
        _imwrite(folder / pattern.format(i), frame[:, :, ::-1])
    return folder.as_posix(), len(frames)


def _hat_video(task: tuple[Path, Path, Path, str]) -> tuple[str, int]:
    """HAT's three folders of one video: the frames, the person masks and the frames with the person removed."""
    source, mask_file, root, key = task
    frames, _ = _read_all(source)
    masks = np.load(mask_file)["mask"]
    if masks.shape != frames.shape[:3]:
        raise DeviasError(f"{mask_file}: masks {masks.shape} do not match the video's frames {frames.shape[:3]}")
    folders = {name: root / name / key for name in ("ori", "seg", "inp")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    # HAT inpaints a slightly grown person mask: the person's soft edge and its compression halo go too.
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    for i, (frame, mask) in enumerate(zip(frames, masks, strict=True), start=1):
        bgr = np.ascontiguousarray(frame[:, :, ::-1])
        person = mask.astype(np.uint8) * 255
        _imwrite(folders["ori"] / f"{i:06d}.jpg", bgr)
        _imwrite(folders["seg"] / f"{i:06d}.png", person)
        _imwrite(folders["inp"] / f"{i:06d}.jpg", cv2.inpaint(bgr, cv2.dilate(person, kernel), 3, cv2.INPAINT_TELEA))
    return key, len(frames)


def _reencode(task: tuple[Path, Path]) -> tuple[str, int]:
    """Re-encode a video as MP4 (Kinetics and HVU clips are .mp4 files; the benchmark's are XviD AVI)."""
    source, target = task
    frames, fps = _read_all(source)
    write_video(target, frames, fps)
    return target.as_posix(), len(frames)


def _run(fn: Callable, tasks: Sequence, jobs: int, description: str) -> dict[str, int]:
    """fn over tasks on `jobs` processes with a progress bar: {key: frame count}."""
    return dict(parallel_map(fn, tasks, jobs, description, "videos"))


# ----------------------------------------------------------------------------- the layouts


def write_ucf101(bench: Benchmark, dest: Path, jobs: int) -> str:
    """UCF-101/<Class>/<file>.avi (linked) and ucfTrainTestlist/: the benchmark's splits/ already are that format."""
    for name in ("classInd.txt", "trainlist01.txt", "testlist01.txt"):
        source = bench.root / "splits" / name
        if not source.is_file():
            raise DeviasError(f"{source}: not found (the benchmark's UCF-101 split files)")
        (dest / "ucfTrainTestlist").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest / "ucfTrainTestlist" / name)
    entries = bench.split("train") + bench.split("test")
    for entry in entries:
        path = PurePosixPath(entry.path)  # videos/<Class>/v_<Class>_gXX_cYY.avi
        _link_or_copy(bench.root / path, dest / "UCF-101" / path.parent.name / path.name)
    return f"{len(entries)} videos ({len(bench.split('train'))} train, {len(bench.split('test'))} test), split 1"


def write_scuba(bench: Benchmark, dest: Path, jobs: int) -> str:
    """Per source, frame folders and an mmaction2 rawframe list with 0-based labels (the benchmark's order)."""
    tasks, rows = [], {}
    for source, split in SCUBA_SOURCES.items():
        rows[source] = []
        for entry in bench.split(split):
            cls, video = _class_and_video(entry)
            folder = dest / source / cls / video
            tasks.append((bench.root / entry.path, folder, "frame{:06d}.jpg"))
            rows[source].append((f"{cls}/{video}", folder.as_posix(), entry.action))
    counts = _run(_frame_folder, tasks, jobs, "scuba")
    for source, items in rows.items():
        (dest / source / "testlist01.txt").write_text("".join(f"{rel} {counts[folder]} {action}\n"
                                                              for rel, folder, action in items))
    return ", ".join(f"{source} {len(items)}" for source, items in rows.items()) + " frame folders"


def _distances(bench: Benchmark) -> np.ndarray:
    """Scene-to-scene distances (meta.json's; 0 / 1 for same / other scene when absent)."""
    given = bench.meta.get("scene_distances")
    if given is not None:
        return np.asarray(given, np.float64)
    n = len(bench.scenes)
    return 1.0 - np.eye(n)


def swap_pairs(bench: Benchmark, pool: Sequence[VideoEntry], kind: str, split: int,
               frames: dict[str, int]) -> dict[str, list]:
    """One Action-Swap file: {fg key: [bg key, bg frames, bg label]} over `pool` (the HAT videos).

    The background is a video of another action (any video where no other action exists):
    rand - any, preferring another scene than the foreground's; close / far - one whose scene is the
    meta's close / far scene of the foreground's action, else the nearest such scene available.
    Each (kind, split) is its own seeded draw, so splits 1-3 differ where there is a choice.
    """
    seed = int(bench.meta.get("seed", 0))
    rng = np.random.default_rng((seed, 300, SWAP_KINDS.index(kind), split))
    distance = _distances(bench)
    keys = ["/".join(_class_and_video(e)) for e in pool]
    out: dict[str, list] = {}
    for i in sorted(range(len(pool)), key=lambda i: keys[i]):
        fg = pool[i]
        others = [j for j in range(len(pool)) if j != i and pool[j].action != fg.action]
        others = others or [j for j in range(len(pool)) if j != i]
        if not others:
            continue  # a pool of one video: nothing to pair
        if kind == "rand":
            candidates = [j for j in others if pool[j].scene != fg.scene] or others
        else:
            target = bench.meta[f"{kind}_scene_of_action"][fg.action]
            # nearest = the smallest distance to the wanted scene (0: the scene itself)
            gap = [distance[pool[j].scene, target] if pool[j].scene >= 0 else np.inf for j in others]
            candidates = [j for j, g in zip(others, gap, strict=True) if g == min(gap)]
        j = candidates[int(rng.integers(len(candidates)))]
        # plain str / int only: HAT's reader unpickles with a restricted unpickler
        out[keys[i]] = [keys[j], int(frames[keys[j]]), int(pool[j].action)]
    return out


def write_hat(bench: Benchmark, dest: Path, jobs: int) -> str:
    """ori/ seg/ inp/ frame folders of the seen test videos, list.csv, labels.csv and the nine swap pickles."""
    pool = bench.split("test")
    tasks = []
    for entry in pool:
        mask = bench.root / "gt_masks" / PurePosixPath(entry.path).with_suffix(".npz")
        if not mask.is_file():
            raise DeviasError(f"{mask}: ground-truth mask not found (HAT's person masks come from it)")
        tasks.append((bench.root / entry.path, mask, dest, "/".join(_class_and_video(entry))))
    frames = _run(_hat_video, tasks, jobs, "hat")
    (dest / "labels.csv").write_text("id,name\n" + "".join(f"{i},{name}\n" for i, name in enumerate(bench.actions)))
    (dest / "list.csv").write_text("".join(f"{key} {frames[key]} {e.action}\n"
                                           for (*_, key), e in zip(tasks, pool, strict=True)))
    for kind in SWAP_KINDS:
        for split in SWAP_SPLITS:
            pairs = swap_pairs(bench, pool, kind, split, frames)
            (dest / f"actionswap_{kind}_{split}.pickle").write_bytes(pickle.dumps(pairs, protocol=4))
    return f"{len(pool)} videos (ori, seg, inp), {len(SWAP_KINDS) * len(SWAP_SPLITS)} swap files"


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buffer.getvalue())


def write_kinetics400(bench: Benchmark, dest: Path, jobs: int) -> str:
    """annotations/train.csv (benchmark train), val.csv (seen test); MP4 clips in class folders."""
    tasks, counts = [], []
    for csv_name, split in (("train", "train"), ("val", "test")):
        rows = []
        for entry in bench.split(split):
            label = bench.actions[entry.action]
            youtube_id, start, end = clip_of(entry.path)
            rows.append((label, youtube_id, start, end, csv_name))
            tasks.append((bench.root / entry.path, dest / "videos" / label / f"{clip_name(entry.path)}.mp4"))
        _write_csv(dest / "annotations" / f"{csv_name}.csv",
                   ("label", "youtube_id", "time_start", "time_end", "split"), rows)
        counts.append(f"{len(rows)} {csv_name}")
    _run(_reencode, tasks, jobs, "kinetics400")
    return f"{len(tasks)} clips ({', '.join(counts)})"


def object_tag(bench: Benchmark, action: int) -> str:
    """The object an action is performed with (figure.PROPS): a tag of HVU's 'object' category."""
    name = bench.actions[action]
    if not bench.meta.get("config", {}).get("props", True) or name not in PROPS:
        return NO_PROP_TAG
    return PROPS[name][0]


def write_hvu(bench: Benchmark, dest: Path, jobs: int) -> str:
    """The official CSVs (tags 'Action|scene|object'), the tag categories, flat MP4 clips and the paper's
    subset lists: train, and validation split by whether its (action, scene) pair occurs in train."""
    groups = {"HVU_Train_V1.0.csv": bench.split("train"),
              "HVU_Val_V1.0.csv": bench.split("test") + bench.split("hat-random")}
    tasks = []
    for csv_name, entries in groups.items():
        rows = []
        for e in entries:
            if e.action < 0 or e.scene < 0:
                raise DeviasError(f"{bench.root}: {e.path} lacks an action or scene label (HVU has both)")
            youtube_id, start, end = clip_of(e.path)
            rows.append(("|".join((bench.actions[e.action], bench.scenes[e.scene], object_tag(bench, e.action))),
                         youtube_id, start, end))
            tasks.append((bench.root / e.path, dest / "videos" / f"{clip_name(e.path)}.mp4"))
        _write_csv(dest / csv_name, ("Tags", "youtube_id", "time_start", "time_end"), rows)
    objects = sorted({object_tag(bench, a) for a in range(len(bench.actions))})
    clash = set(objects) & (set(bench.actions) | set(bench.scenes))
    if clash:
        raise DeviasError(f"object tag(s) {sorted(clash)} are also action or scene names")
    # Actions, then objects, then scenes: the reader's class indices count within a category, not by line.
    _write_csv(dest / "HVU_Tags_Categories_V1.0.csv", ("Tag", "Category"),
               [(a, "action") for a in bench.actions] + [(o, "object") for o in objects]
               + [(s, "scene") for s in bench.scenes])
    seen_pairs = {(e.action, e.scene) for e in bench.split("train")}
    subsets = {"train": bench.split("train"),
               "val_seen": [e for e in groups["HVU_Val_V1.0.csv"] if (e.action, e.scene) in seen_pairs],
               "val_unseen": [e for e in groups["HVU_Val_V1.0.csv"] if (e.action, e.scene) not in seen_pairs]}
    (dest / "subset").mkdir()
    for name, entries in subsets.items():
        (dest / "subset" / f"{name}.txt").write_text("".join(f"{clip_name(e.path)}.mp4 {e.action} {e.scene}\n"
                                                             for e in entries))
    _run(_reencode, tasks, jobs, "hvu")
    return (f"{len(tasks)} clips; subset train {len(subsets['train'])}, val_seen {len(subsets['val_seen'])}, "
            f"val_unseen {len(subsets['val_unseen'])}")


def _image_list(path: Path) -> list[tuple[str, int]]:
    """The benchmark's scene-image lists: '<scene>/<file>.jpg <index>'."""
    rows = []
    for line_no, line in numbered_lines(read_text(path)):
        rel, _, index = line.rpartition(" ")
        rows.append((rel, parse_int(index, str(path), line_no, "scene index")))
    return rows


def places365_category(name: str) -> str:
    """'beach' -> '/b/beach': Places365 names a category by its first letter's folder and its own."""
    return f"/{name[0]}/{name}"


def write_places365(bench: Benchmark, dest: Path, jobs: int) -> str:
    """The three official file lists and the images (linked) under data_256/ and val_256/."""
    (dest / "categories_places365.txt").write_text("".join(f"{places365_category(n)} {i}\n"
                                                           for i, n in enumerate(bench.scenes)))
    train_lines, per_class = [], [0] * len(bench.scenes)
    for rel, index in _image_list(bench.root / "scene_images" / "train.txt"):
        per_class[index] += 1
        path = f"{places365_category(bench.scenes[index])}/{per_class[index]:08d}.jpg"
        _link_or_copy(bench.root / "scene_images" / rel, dest / "data_256" / path.lstrip("/"))
        train_lines.append(f"{path} {index}\n")
    val_lines = []
    for k, (rel, index) in enumerate(_image_list(bench.root / "scene_images" / "val.txt"), start=1):
        name = f"Places365_val_{k:08d}.jpg"
        _link_or_copy(bench.root / "scene_images" / rel, dest / "val_256" / name)
        val_lines.append(f"{name} {index}\n")
    (dest / "places365_train_standard.txt").write_text("".join(train_lines))
    (dest / "places365_val.txt").write_text("".join(val_lines))
    return f"{len(bench.scenes)} categories, {len(train_lines)} train and {len(val_lines)} val images"


def in_kinetics_order(bench: Benchmark) -> Benchmark:
    """The benchmark with its actions numbered as Kinetics-400's lists number them (sorted class names):
    SCUBA and HAT publish their Kinetics-400 versions with that dataset's labels, not UCF-101's."""
    order = sorted(range(len(bench.actions)), key=lambda a: bench.actions[a])
    new_index = {old: new for new, old in enumerate(order)}
    meta = dict(bench.meta, actions=[bench.actions[a] for a in order])
    for key in ("scene_of_action", "close_scene_of_action", "far_scene_of_action"):
        meta[key] = [bench.meta[key][a] for a in order]
    lists = {name: [dataclasses.replace(e, action=new_index.get(e.action, e.action)) for e in entries]
             for name, entries in bench.lists.items()}
    return Benchmark(bench.root, meta, lists)


WRITERS: dict[str, Callable[[Benchmark, Path, int], str]] = {
    "ucf101": write_ucf101, "scuba": write_scuba, "hat": write_hat, "kinetics400": write_kinetics400,
    "kinetics400-scuba": lambda bench, dest, jobs: write_scuba(in_kinetics_order(bench), dest, jobs),
    "kinetics400-hat": lambda bench, dest, jobs: write_hat(in_kinetics_order(bench), dest, jobs),
    "hvu": write_hvu, "places365": write_places365,
}


# ----------------------------------------------------------------------------- staging and the whole run


@dataclass(frozen=True)
class LayoutResult:
    name: str
    path: Path
    skipped: bool  # already complete before this run
    summary: str  # what was written ("" when skipped)
    seconds: float

    @property
    def read_with(self) -> str:
        return READ_WITH[self.name].format(root=self.path)


def _flush_tree(root: Path) -> None:
    """Every file under `root` on disk before the rename, so a layout survives a power loss, not only a kill.

    Linux's sync() waits for the writeback, as an fsync of every file would: one call instead of ~20,000 fsyncs
    (the default preset's SCUBA frames: 0.3 s instead of 7 s). Elsewhere sync() may return early: fsync each.
    """
    if sys.platform.startswith("linux"):
        os.sync()
    else:
        fsync_tree(root)


def write_layout(bench: Benchmark, out: Path, name: str, jobs: int = 1) -> LayoutResult:
    """OUT/<name>/, staged in OUT/.<name>.partial and renamed into place when complete; skipped when present."""
    if name not in WRITERS:
        raise DeviasError(f"unknown layout {name!r}; choose from {', '.join(LAYOUTS)}")
    final = out / name
    if final.exists():
        return LayoutResult(name, final, True, "", 0.0)
    start = time.perf_counter()
    staging = out / f".{name}.partial"
    if staging.exists():  # left by a killed run (the caller's lock says no other run writes here)
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    try:
        summary = WRITERS[name](bench, staging, jobs)
        _flush_tree(staging)
        durable_replace(staging, final)  # the rename, flushed: a layout that exists is complete
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return LayoutResult(name, final, False, summary, time.perf_counter() - start)


def write_layouts(bench_root: str | os.PathLike, out: str | os.PathLike, names: Sequence[str] = LAYOUTS,
                  jobs: int = 1) -> list[LayoutResult]:
    """Every named layout of the benchmark at `bench_root` under `out` (one writer at a time per `out`)."""
    unknown = [n for n in names if n not in WRITERS]
    if unknown:
        raise DeviasError(f"unknown layout(s) {', '.join(map(repr, unknown))}; choose from {', '.join(LAYOUTS)}")
    bench = load_benchmark(bench_root)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lock = lock_output(out / ".layout.lock", str(out))
    try:
        return [write_layout(bench, out, name, jobs) for name in dict.fromkeys(names)]
    finally:
        lock.release()
