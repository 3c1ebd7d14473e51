"""`eval`: a run on a suite -> per-split predictions, metrics, H.M., report.json / report.md, figures."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from devias_tk.cache.store import file_sha256
from devias_tk.data.dataset import ClipDataset, ClipSpec
from devias_tk.data.lists import VideoEntry, check_labels, read_list
from devias_tk.data.scene_labels import store_scene_labels
from devias_tk.engine.distributed import SINGLE_PROCESS, DistInfo, from_main, gather_to_main, shutdown
from devias_tk.engine.runtime import start_process
from devias_tk.errors import DeviasError
from devias_tk.evaluate import diagnostics, figures
from devias_tk.evaluate.compare import partial_note
from devias_tk.evaluate.metrics import confusion_matrix, harmonic_mean, top_confusions, topk_accuracy
from devias_tk.evaluate.predict import RunModel, cached_predictions, load_run, predict_entries, save_predictions
from devias_tk.evaluate.shards import merge_shards, shard
from devias_tk.evaluate.suite import METRICS, SplitSpec, Suite
from devias_tk.models.factory import METHODS
from devias_tk.utils.atomic import atomic_write_text
from devias_tk.utils.words import plural

PREDICTIONS = "predictions"  # RUN/eval/predictions/: per-split predictions shared by every suite


@dataclass
class SplitResult:
    name: str
    seen: bool
    videos: int
    failed: dict[int, str]
    warnings: dict[int, str] = field(default_factory=dict)  # list index -> note of a partly decodable video
    action: float | None = None  # accuracy in [0, 1]
    scene: float | None = None
    action_metric: str | None = None
    scene_metric: str | None = None
    predictions: dict[str, Any] = field(default_factory=dict, repr=False)
    entries: list[VideoEntry] = field(default_factory=list, repr=False)
    root: Path = Path(".")
    scene_labels: np.ndarray | None = field(default=None, repr=False)


def scene_labels_for(split: SplitSpec, entries: list[VideoEntry], scenes: list[str]) -> np.ndarray:
    """Scene labels of a split's videos: the list's column, or the scene store's video-level pseudo label."""
    if split.scene_labels == "list":
        return np.array([e.scene for e in entries])
    return store_scene_labels(split.scene_store, [e.path for e in entries], scenes)


def check_split_labels(run: RunModel, suite: Suite) -> None:
    """Every split's list labels are indices into the run's class lists (-1: unknown, left out of the metric);
    only the columns the split scores, and the scene column only when the split reads it from the list."""
    for split in suite.splits:
        scenes = split.scene and split.scene_labels == "list" and run.scenes  # a scene-free run scores no scenes
        check_labels(split.list, read_list(split.list), len(run.actions) if split.action else None,
                     len(run.scenes) if scenes else None)


def scored_counts(result: SplitResult) -> dict[str, int | None]:
    """How many videos each of a split's figures covers: readable and labelled (None: the split has no such figure)."""
    ok = np.ones(result.videos, bool)
    ok[list(result.failed)] = False
    counts: dict[str, int | None] = {"scored_action": None, "scored_scene": None}
    if result.action is not None:
        counts["scored_action"] = int((ok & (np.array([e.action for e in result.entries]) >= 0)).sum())
    if result.scene is not None and result.scene_labels is not None:
        counts["scored_scene"] = int((ok & (np.asarray(result.scene_labels) >= 0)).sum())
    return counts


def coverage_line(name: str, split: dict[str, Any]) -> str:
    """One split's counts for the report: what its figures are averaged over."""
    scored = [f"{task} {split[f'scored_{task}']}" for task in ("action", "scene")
              if split.get(f"scored_{task}") is not None]
    partly = f", {split['partly_decodable']} partly decodable" if split.get("partly_decodable") else ""
    return (f"- {name}: {plural(split['videos'], 'video')} listed, {split['failed']} unreadable{partly}, scored: "
            f"{', '.join(scored) or 'none'}\n")


def _clip_spec(config: dict[str, Any], views: tuple[int, int]) -> ClipSpec:
    data = config["data"]
    return ClipSpec(clip_len=data["frames"], stride=data["stride"], size=data["size"], num_clips=views[0],
                    num_crops=views[1], short="repeat_last")


def split_predictions(run: RunModel, split: SplitSpec, root: Path, spec: ClipSpec, cache_dir: Path,
                      device: torch.device, batch_size: int, workers: int,
                      info: DistInfo = SINGLE_PROCESS) -> tuple[list[VideoEntry], dict[str, Any] | None]:
    """(entries, predictions) of a split, cached in cache_dir as <split>-<list hash>.npz, keyed by checkpoint,
    views, clip shape and list, so suites sharing a split (Table 2 and Table 7) predict it once. Under
    torchrun each rank predicts a shard (`devias_tk.evaluate.shards`) and rank 0 joins, saves and returns
    them; the other ranks get None."""
    entries = read_list(split.list)
    list_sha = file_sha256(split.list)
    key = {"checkpoint": run.checkpoint_sha, "views": [spec.num_clips, spec.num_crops], "frames": spec.clip_len,
           "stride": spec.stride, "size": spec.size, "list_sha256": list_sha}
    path = cache_dir / f"{split.name}-{list_sha[:12]}.npz"
    predictions = cached_predictions(path, key) if info.is_main else None
    if from_main(predictions is not None, info):
        return entries, predictions
    mine = shard(entries, info.rank, info.world)
    what = split.name if not info.enabled else f"{split.name} (rank 0 of {info.world}: {len(mine)} videos)"
    local = predict_entries(run, root, mine, spec, device, batch_size, workers, what, show_progress=info.is_main)
    shards = gather_to_main(local, info)
    if shards is None:
        return entries, None
    predictions = merge_shards(shards, len(entries))
    save_predictions(path, key, predictions, entries)
    return entries, predictions


def evaluate_split(run: RunModel, split: SplitSpec, root: Path, spec: ClipSpec, cache_dir: Path,
                   device: torch.device, batch_size: int, workers: int,
                   info: DistInfo = SINGLE_PROCESS) -> SplitResult | None:
    """Predictions (`split_predictions`) and metrics; None on the ranks other than 0 of a distributed run."""
    entries, predictions = split_predictions(run, split, root, spec, cache_dir, device, batch_size, workers, info)
    if predictions is None:
        return None
    result = SplitResult(split.name, split.seen, len(entries), predictions["failed"],
                         predictions.get("warnings", {}), predictions=predictions, entries=entries, root=root)
    ok = np.ones(len(entries), bool)
    ok[list(predictions["failed"])] = False
    if split.action and predictions["action_probs"] is not None:
        labels = np.array([e.action for e in entries])
        labels[~ok] = -1
        result.action = topk_accuracy(np.nan_to_num(predictions["action_probs"]), labels, METRICS[split.action])
        result.action_metric = split.action
    if split.scene and predictions["scene_probs"] is not None:
        labels = scene_labels_for(split, entries, run.scenes)
        result.scene_labels = labels
        labels = np.where(ok, labels, -1)
        result.scene = topk_accuracy(np.nan_to_num(predictions["scene_probs"]), labels, METRICS[split.scene])
        result.scene_metric = split.scene
    return result


def split_diagnostics(run: RunModel, split: SplitSpec, result: SplitResult, spec: ClipSpec, cache_dir: Path,
                      device: torch.device, batch_size: int, workers: int) -> dict[str, Any] | None:
    """The split's slot-attention and AMD diagnostics against its ground-truth actor masks
    (`devias_tk.evaluate.diagnostics`), cached beside the predictions as <split>-<list hash>.diagnostics.json
    keyed by checkpoint, clip shape, list and mask files; None (left out of the report) when the split has
    no ground-truth masks, no video with an actor, or the run no slot or token attention."""
    if not diagnostics.has_role_maps(run.model):
        return None
    digest = diagnostics.gt_digest(result.root, result.entries)
    if digest is None:
        return None
    list_sha = file_sha256(split.list)
    key = {"checkpoint": run.checkpoint_sha, "frames": spec.clip_len, "stride": spec.stride, "size": spec.size,
           "list_sha256": list_sha, "gt": digest, "version": diagnostics.VERSION}
    path = cache_dir / f"{split.name}-{list_sha[:12]}.diagnostics.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved.get("key") == key:
            return saved["diagnostics"]
    found = diagnostics.split_diagnostics(run.model, result.root, result.entries, set(result.failed), spec, device,
                                          batch_size, workers)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({"key": key, "diagnostics": found}, indent=1) + "\n")
    return found


def summarise(results: list[SplitResult], means: Mapping[str, Sequence[str]] | None = None,
              absent: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Seen / unseen action and scene, their means, and the H.M. (percentages).

    `means` names the unseen splits each mean is defined over (`Suite.means()`; default: the unseen
    results with that metric); `absent` gives the reason a defined split has no result (an optional
    list not found). A mean over fewer splits than defined (a split absent, or without a readable,
    labelled video) is still reported but marked: `<mean>_partial` true, `<mean>_covers` the splits it
    averages, `<mean>_missing` the others (reasons in `missing_splits`), and `hm_partial` when the
    H.M. rests on a partial mean. A model without a branch (Naive Action has no scene head) gets None.
    """
    seen = next(r for r in results if r.seen)
    absent = dict(absent or {})
    by_name = {r.name: r for r in results if not r.seen}

    def pct(v: float | None) -> float | None:
        return None if v is None or np.isnan(v) else round(100 * v, 2)

    summary: dict[str, Any] = {"seen_action": pct(seen.action), "seen_scene": pct(seen.scene), "means": {}}
    missing_splits: dict[str, str] = {}
    for task in ("action", "scene"):
        key = f"unseen_{task}"
        members = list(means[key]) if means is not None else [r.name for r in by_name.values()
                                                               if getattr(r, f"{task}_metric")]
        summary["means"][key] = members
        values = {n: getattr(by_name[n], task) for n in members if n in by_name}
        has_branch = any(v is not None for v in values.values())
        covered = [n for n in members if values.get(n) is not None and not np.isnan(values[n])]
        lacking = [n for n in members if n not in covered] if has_branch or not values else []
        for n in lacking:
            missing_splits[n] = absent.get(n, "no readable video with a label" if n in by_name else "not evaluated")
        summary[key] = {n: pct(values[n]) for n in covered}
        summary[f"{key}_mean"] = pct(float(np.mean([values[n] for n in covered]))) if covered else None
        summary[f"{key}_covers"] = covered
        summary[f"{key}_missing"] = lacking
        summary[f"{key}_partial"] = bool(covered and lacking)
    parts = [summary["seen_action"], summary["unseen_action_mean"], summary["seen_scene"], summary["unseen_scene_mean"]]
    summary["hm"] = round(harmonic_mean(parts), 2) if all(p is not None for p in parts) else None
    summary["hm_partial"] = summary["hm"] is not None and (summary["unseen_action_partial"]
                                                           or summary["unseen_scene_partial"])
    summary["missing_splits"] = missing_splits
    return summary


def markdown_table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    """A Table 2 / Table 7-like table: one row per (label, summary). The columns are the splits the
    suite defines its means over; '*' marks a partial mean (and an H.M. resting on one), 'n/a' a
    defined split without a result."""
    a_names, s_names = rows[0][1]["means"]["unseen_action"], rows[0][1]["means"]["unseen_scene"]

    def cell(v: float | None, partial: bool = False, missing: bool = False) -> str:
        if missing:
            return "n/a"
        return "-" if v is None else f"{v:.1f}" + ("*" if partial else "")

    header = ["method", "seen action", *a_names, "unseen action mean", "seen scene", *s_names, "unseen scene mean",
              "H.M."]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, s in rows:
        values = [cell(s["seen_action"]),
                  *(cell(s["unseen_action"].get(n), missing=n in s["unseen_action_missing"]) for n in a_names),
                  cell(s["unseen_action_mean"], s["unseen_action_partial"]), cell(s["seen_scene"]),
                  *(cell(s["unseen_scene"].get(n), missing=n in s["unseen_scene_missing"]) for n in s_names),
                  cell(s["unseen_scene_mean"], s["unseen_scene_partial"]), cell(s["hm"], s["hm_partial"])]
        lines.append("| " + " | ".join([label, *values]) + " |")
    notes = [f"\\* {label}: {partial_note(s)}" for label, s in rows if partial_note(s)]
    return "\n".join(lines) + "\n" + ("\n" + "\n".join(notes) + "\n" if notes else "")


def run_label(config: dict[str, Any], model: torch.nn.Module | None = None) -> str:
    """run.name when set, else 'DEVIAS', 'Two-Token w/ FAME', 'DEVIAS fine-tuned (project)', ... from a run's
    configuration (and for a fine-tuning run its `model`'s source and fusion)."""
    if config.get("run", {}).get("name"):
        return str(config["run"]["name"])
    method = config["model"].get("method", "devias")
    record = METHODS.get(method)
    if record is not None and record.from_run:
        source = getattr(model, "source", None) or config["model"].get("source", "")
        fusion = getattr(model, "fusion", None)
        named = METHODS[source].label if source in METHODS else source
        return f"{named} {record.label}".strip() + (f" ({fusion})" if fusion else "")
    label = record.label if record is not None else method
    mix = config.get("aug", {}).get("mix", "none")
    if not (record is not None and record.needs_masks) and mix in ("fame", "be"):  # DEVIAS's mix is the method's
        label += f" w/ {mix.upper()}"
    return label


def _attention_examples(run: RunModel, results: list[SplitResult], spec: ClipSpec, device: torch.device,
                        per_split: int = 2) -> list[dict]:
    """Centre-view slot attention of a few videos of the seen split and of the first unseen action split."""
    picks = [r for r in results if r.seen][:1] + [r for r in results if not r.seen and r.action is not None][:1]
    centre = ClipSpec(clip_len=spec.clip_len, stride=spec.stride, size=spec.size, num_clips=1, num_crops=1,
                      short=spec.short)
    examples = []
    _, h, w = run.model.backbone.grid(spec.clip_len, spec.size, spec.size)
    for r in picks:
        ds = ClipDataset(r.root, r.entries, centre, train=False)
        for i in [i for i in range(len(r.entries)) if i not in r.failed][:per_split]:
            clip = ds[i]["clip"][0]
            with torch.no_grad():
                out = run.model(clip[None].to(device))
                pred = run.model.predict_from_output(out)
            attn = out["attn"][0].float().cpu().numpy().reshape(out["attn"].shape[1], -1, h, w)
            action = run.actions[int(pred["action_logits"][0].argmax())]
            examples.append({
                "clip": clip.numpy(), "attn": attn, "action_slot": int(pred["action_slot"][0]),
                "scene_slot": int(pred["scene_slot"][0]),
                "title": f"{r.name}: {r.entries[i].path.split('/')[-1]} -> {action}",
            })
    return examples


def validation_warnings(run: RunModel, suite: Suite) -> list[str]:
    """Warnings when the evaluated best.pt was selected on a list that is also one of the suite's splits
    (same file content), i.e. on test data."""
    data = run.config.get("data", {})
    if run.checkpoint.name != "best.pt" or not data.get("val_list"):
        return []
    val = Path(data["val_list"])
    val = val if val.is_absolute() else Path(data.get("root", ".")) / val
    if not val.is_file():
        return [f"best.pt was selected on {val} (data.val_list), which is not found from here: "
                "cannot check that it is none of the suite's splits"]
    digest = file_sha256(val)
    return [f"best.pt was selected on data.val_list {val}, which is the '{s.name}' split of this suite "
            f"({s.list}): that split's numbers are optimistic; retrain with data.val_list unset (held-out "
            "training videos) or evaluate --checkpoint last"
            for s in suite.splits if file_sha256(s.list) == digest]


def evaluate(run_dir: str | Path, suite: Suite, views: tuple[int, int] | None = None, device: str = "auto",
             batch_size: int = 8, workers: int = 2, which: str = "auto") -> dict[str, Any] | None:
    """Evaluate a run on a suite; writes RUN/eval/<suite>/ (predictions: RUN/eval/predictions/) and returns
    the report dict. Under torchrun (WORLD_SIZE > 1) every rank predicts a shard of each split (NCCL on
    GPU, each rank on its LOCAL_RANK device; gloo on CPU), rank 0 gathers them, scores, writes and returns
    the report; the other ranks return None."""
    run_dir = Path(run_dir)
    if suite.name == PREDICTIONS:
        raise DeviasError(f"a suite may not be named '{PREDICTIONS}' (RUN/eval/{PREDICTIONS}/ holds the predictions)")
    dev, info = start_process(device, threads=0)
    try:
        return _evaluate(run_dir, suite, views, dev, batch_size, workers, which, info)
    finally:
        shutdown(info)


def _evaluate(run_dir: Path, suite: Suite, views: tuple[int, int] | None, dev: torch.device, batch_size: int,
              workers: int, which: str, info: DistInfo) -> dict[str, Any] | None:
    run = load_run(run_dir, which, dev)
    check_split_labels(run, suite)  # before any prediction: a bad label would otherwise be scored as a miss
    spec = _clip_spec(run.config, views or suite.views)
    out_dir = run_dir / "eval" / suite.name
    results = [evaluate_split(run, split, split.root or suite.root, spec, run_dir / "eval" / PREDICTIONS, dev,
                              batch_size, workers, info) for split in suite.splits]
    if not info.is_main:
        return None
    absent = {s.name: f"list not found: {s.list}" for s in suite.missing}
    summary = summarise(results, suite.means(), absent)
    found = {r.name: split_diagnostics(run, split, r, spec, run_dir / "eval" / PREDICTIONS, dev, batch_size, workers)
             for split, r in zip(suite.splits, results, strict=True)}
    diagnosed = {name: d for name, d in found.items() if d is not None}
    report = {
        "run": str(run_dir), "label": run_label(run.config, run.model), "method": run.method,
        "seed": run.config["run"]["seed"],
        "checkpoint": str(run.checkpoint), "suite": suite.name, "definition": suite.describe(),
        "means_text": suite.means_text(), "views": list(views or suite.views),
        "splits": {r.name: {"videos": r.videos, "failed": len(r.failed), "partly_decodable": len(r.warnings),
                            "action": r.action, "scene": r.scene,
                            "action_metric": r.action_metric, "scene_metric": r.scene_metric, **scored_counts(r)}
                   for r in results},
        "unreadable": {r.name: {r.entries[i].path: why for i, why in sorted(r.failed.items())}
                       for r in results if r.failed},
        "partly_decodable": {r.name: {r.entries[i].path: note for i, note in sorted(r.warnings.items())}
                             for r in results if r.warnings},
        "absent_splits": absent, "warnings": validation_warnings(run, suite),
        **summary,
    }
    if diagnosed:
        report["diagnostics_view"] = diagnostics.VIEW
        report["diagnostics"] = diagnosed
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "report.json", json.dumps(report, indent=1) + "\n")
    fig_paths, confused = _figures(run, results, spec, out_dir, dev)
    report["figures"] = [str(p) for p in fig_paths]
    md = [f"# {report['label']} on {suite.name}\n", f"Run `{run_dir}`, checkpoint `{run.checkpoint.name}`, "
          f"views {spec.num_clips}x{spec.num_crops} (temporal x spatial), top-1 unless the split says top-5.\n",
          f"\nDefinition: {report['definition']}\n"]
    if report["definition"] != report["means_text"]:
        md.append(f"\nMeans as computed: {report['means_text']}.\n")
    if absent:
        md.append("\nAbsent optional splits: " + "; ".join(f"{n} ({why})" for n, why in absent.items()) + "\n")
    md += ["\n", markdown_table([(report["label"], summary)])]
    md.append("\nVideos each figure covers (listed, unreadable, scored for action / scene; a video without a "
              "label, -1, is not scored):\n\n" + "".join(coverage_line(n, s) for n, s in report["splits"].items()))
    for name, videos in report["unreadable"].items():
        md.append(f"\nUnreadable videos of {name} (left out of the metrics):\n\n" +
                  "".join(f"- `{path}`: {why}\n" for path, why in videos.items()))
    for name, videos in report["partly_decodable"].items():
        md.append(f"\nPartly decodable videos of {name} (scored from the frames that decode):\n\n" +
                  "".join(f"- partly decodable: `{path}` ({note.removeprefix('partly decodable: ')})\n"
                          for path, note in videos.items()))
    md += [f"\n**Warning:** {w}\n" for w in report["warnings"]]
    if diagnosed:
        md += ["\n**Diagnostics against the ground-truth actor masks** ",
               f"({diagnostics.VIEW}; shares and IoUs in [0, 1], means over the videos whose centre clip shows the "
               "actor. Action slot on actor high and scene slot on actor low: disentangled; action slot on actor "
               "near the actor share (a uniform map's): the action slot looks at the scene. AMD IoU: the top-k "
               "patches of the AMD's mask from the action slot against the k patches at least half actor over the "
               "clip; chance: k random patches. Rules: docs/cli.md (eval).)\n\n", diagnostics.markdown(diagnosed)]
    md += confused + ["\nFigures:\n"] + [f"- `{p.name}`\n" for p in fig_paths]
    atomic_write_text(out_dir / "report.md", "".join(md))
    atomic_write_text(out_dir / "report.json", json.dumps(report, indent=1) + "\n")
    return report


def _confusions(run: RunModel, results: list[SplitResult]) -> list[tuple[str, str, np.ndarray, list[str]]]:
    """(task, split, confusion counts, class names): the action head on each unseen action split and the scene
    head on each unseen scene split, over its readable videos with a label."""
    found = []
    for r in [r for r in results if not r.seen]:
        ok = np.ones(len(r.entries), bool)
        ok[list(r.failed)] = False
        for task, probs, labels, names in (
                ("action", r.predictions.get("action_probs") if r.action is not None else None,
                 np.array([e.action for e in r.entries]), run.actions),
                ("scene", r.predictions.get("scene_probs") if r.scene is not None else None, r.scene_labels,
                 run.scenes)):
            if probs is None or labels is None:
                continue
            keep = ok & ~np.isnan(probs).any(axis=1)
            found.append((task, r.name, confusion_matrix(probs[keep].argmax(1), labels[keep], len(names)), names))
    return found


def confused_markdown(task: str, split: str, matrix: np.ndarray, names: list[str], k: int = 10) -> str:
    """report.md's list of a confusion matrix's most confused pairs (readable where the picture has no names)."""
    pairs = top_confusions(matrix, k)
    if not pairs:
        return ""
    lines = [f"\nMost confused {task} pairs on {split} (true -> predicted: videos, share of the true class):\n\n"]
    lines += [f"- {names[i]} -> {names[j]}: {n} ({100 * share:.0f}%)\n" for i, j, n, share in pairs]
    return "".join(lines)


def _figures(run: RunModel, results: list[SplitResult], spec: ClipSpec, out_dir: Path,
             device: torch.device) -> tuple[list[Path], list[str]]:
    """The report's figures, and report.md's lists of the most confused pairs."""
    paths, confused = [], []
    for task, split, matrix, names in _confusions(run, results):
        # the action files keep their historical name, confusion_<split>.png
        name = f"confusion_{split}.png" if task == "action" else f"confusion_scene_{split}.png"
        paths.append(figures.confusion_figure(matrix, names, f"{task} head on {split}", out_dir / name, task))
        confused.append(confused_markdown(task, split, matrix, names))
    seen = next(r for r in results if r.seen)
    a, s = seen.predictions.get("action_feat"), seen.predictions.get("scene_feat")
    if a is not None and s is not None:
        ok = ~(np.isnan(a).any(axis=1) | np.isnan(s).any(axis=1))
        actions = np.array([e.action for e in seen.entries])[ok]
        scenes = seen.scene_labels if seen.scene_labels is not None else np.array([e.scene for e in seen.entries])
        scenes = scenes[ok] if (scenes >= 0).any() else None
        paths.append(figures.projection_figure(a[ok], s[ok], actions, scenes,
                                               f"PCA of action- and scene-slot features ({seen.name})",
                                               out_dir / "features_pca.png"))
    curves = figures.training_curves(run.checkpoint.parent.parent / "metrics.jsonl", out_dir / "training_curves.png") \
        if (run.checkpoint.parent.parent / "metrics.jsonl").is_file() else None
    if curves is not None:
        paths.append(curves)
    if run.method in METHODS and METHODS[run.method].slots:
        examples = _attention_examples(run, results, spec, device)
        if examples:
            paths.append(figures.attention_grid(examples, out_dir / "slot_attention.png"))
    return paths, confused
