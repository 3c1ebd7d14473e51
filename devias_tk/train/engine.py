"""The training loop: checks before work, DDP/AMP/compile, schedule, checkpoints, resume, logging.

Read top to bottom: `prepare` validates the configuration against the data and caches without
training; `train` runs epochs of `compute_loss` steps and writes the run directory:

    RUN/config.yaml           the resolved configuration
    RUN/run.json              toolkit version, git commit, command line, world size
    RUN/metrics.jsonl         one JSON object per log step (loss terms, lr, clips/s, with the scene mix the
                              action loss over its mixed and unmixed samples) and per validation
    RUN/training_curves.png   loss terms, validation top-1 and lr so far, redrawn at each epoch end
    RUN/checkpoints/last.pt   latest state (model, optimizer, epoch, step); best.pt by validation;
                              previous.pt: the last.pt before, for `--resume auto` when last.pt is damaged
    RUN/skipped_videos.txt    listed videos left out before work (no store entry), with the stage's reason
    RUN/bad_samples.jsonl     samples replaced mid-run (a video that failed to decode, hung or crashed)
    RUN/tensorboard/          scalars, when the tensorboard package is installed
    RUN/.lock                 held by the running process (a second `train` into RUN is refused)
    RUN/trackers.json         the W&B / MLflow run ids, with run.trackers (devias_tk.engine.trackers)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from devias_tk.cache.kinds import FAME_MASKS, SCENE_LABELS, StoreKind
from devias_tk.cache.store import VideoStore, file_sha256
from devias_tk.data.dataset import ClipDataset, ClipSpec
from devias_tk.data.guarded import GuardedItems, GuardedLoader, collate_readable
from devias_tk.data.lists import VideoEntry, check_labels, read_class_names, read_list
from devias_tk.data.video import use_decoder
from devias_tk.data.windows import ClipGrid
from devias_tk.engine.checkpoint import load_initial_weights, save_checkpoint, unwrap
from devias_tk.engine.curves import CurvesRefresher
from devias_tk.engine.faults import SampleFaults, leave_out, read_skipped, write_skipped
from devias_tk.engine.loop import Stage
from devias_tk.engine.optim import build_optimizer, param_groups
from devias_tk.engine.runtime import (
    MetricsLog,
    RunResult,
    RunStart,
    make_loader,
    resume_run,
    run_locked,
    write_run_files,
)
from devias_tk.engine.sampler import EpochSampler
from devias_tk.engine.trackers import check_trackers, open_trackers
from devias_tk.errors import DeviasError
from devias_tk.models.factory import Method, build_model, method_record, split_config
from devias_tk.models.scene_model import CLIP_MODEL, SceneModel, load_scene_model
from devias_tk.train.config import TrainConfig, build_config
from devias_tk.train.data import TrainClips, TrainDataSpec, collate_train
from devias_tk.train.finetune import with_source
from devias_tk.train.step import ActionByMix, StepSpec, compute_loss, step_generator
from devias_tk.train.validate import SELECTION, quick_eval, selection_score, validation_set
from devias_tk.utils.runlog import log

GUIDE_PIXELS_PER_PATCH = 4  # per-tubelet masks are resized to 4x4 pixels per patch before pooling


@dataclass
class Prepared:
    cfg: TrainConfig
    root: Path
    entries: list[VideoEntry]
    val_entries: list[VideoEntry]
    actions: list[str]
    scenes: list[str]
    data_spec: TrainDataSpec
    step_spec: StepSpec
    model_config: dict[str, Any]
    model: torch.nn.Module  # built (on CPU) while checking the model configuration
    warnings: list[str]  # about the validation set (data.val_list that looks like test data, ...)
    scene_model: SceneModel | None = None  # data.scene_source=online: loaded (on CPU), frozen
    skipped: dict[str, str] = field(default_factory=dict)  # listed videos left out before work -> why
    listed: int = 0  # videos in the training list


def _check_store(path: str | None, kind: StoreKind, what: str, grid: ClipGrid, list_path: Path,
                 entries: list[VideoEntry], check_version: bool = True,
                 passed: Callable[[str], None] = lambda _text: None) -> tuple[VideoStore, dict[str, str]]:
    """The store, checked against the recipe and the list, and the listed videos it lacks (`_store_gaps`)."""
    if path is None:
        raise DeviasError(f"this configuration needs a {what} (set data.{what.replace(' ', '_')})")
    store_path = Path(path)
    if not store_path.exists():
        raise DeviasError(f"{store_path}: {what} not found")
    store = VideoStore(store_path)
    if store.attrs.get("kind") != kind.name:
        raise DeviasError(f"{store_path}: is a {store.attrs.get('kind')!r} store, not a {kind.name!r} store")
    if check_version and store.attrs.get("format_version") != kind.version:
        raise DeviasError(f"{store_path}: {what} format {store.attrs.get('format_version')}, this toolkit reads "
                          f"format {kind.version}; re-run `masks extract` (or `masks import-gt`) into a new store")
    for key in ("window", "stride", "hop"):
        if store.attrs.get(key) != getattr(grid, key):
            raise DeviasError(f"{store_path}: built with {key}={store.attrs.get(key)}, the recipe uses "
                              f"{getattr(grid, key)} (data.frames / data.stride / data.hop)")
    if store.attrs.get("list_sha256") != file_sha256(list_path):
        raise DeviasError(f"{store_path}: built from another list than {list_path} "
                          f"({store.attrs.get('source_list')}); rebuild it for this list")
    gaps = _store_gaps(store, entries, kind.writer)
    held = (f"an entry for each of the {len(entries)} listed videos" if not gaps else
            f"entries for {len(entries) - len(gaps)} of the {len(entries)} listed videos")
    passed(f"{what} {store_path}: a {kind.name} store (format {store.attrs.get('format_version')}), window "
           f"{grid.window} / stride {grid.stride} / hop {grid.hop} as the recipe, built from {list_path.name}, {held}")
    return store, gaps


def _store_gaps(store: VideoStore, entries: list[VideoEntry], stage: str) -> dict[str, str]:
    """Listed videos without an entry in `store` -> why: the reason the stage recorded, or that it has not
    processed them (an interrupted or sharded run not finished)."""
    done = store.done()
    missing = [e.path for e in entries if e.path not in done]
    if not missing:
        return {}
    recorded = store.failures()
    name = store.path.name
    return {p: f"{name}: {recorded[p]}" if p in recorded else f"{name}: not processed yet (re-run `{stage}`)"
            for p in missing}


def prepare(cfg: TrainConfig, checks: list[str] | None = None, left_out: Mapping[str, str] | None = None) -> Prepared:
    """Every check that can fail before training starts: files, stores, labels, class counts, shapes.
    `checks` (when given) receives one line per check passed, in order (`train --dry-run` prints them).

    Listed videos a store lacks are left out (`Prepared.skipped`, with the stage's reason) up to
    data.max_skipped; `left_out`: the set a resumed run started with, kept as it was."""
    passed = checks.append if checks is not None else (lambda _text: None)
    use_decoder(cfg.data.decoder)
    trackers = check_trackers(cfg.run.trackers)
    if trackers:
        passed(f"experiment trackers installed: {', '.join(trackers)} (project {cfg.run.tracker_project})")
    root = Path(cfg.data.root)
    if not root.is_dir():
        raise DeviasError(f"data.root {root} is not a folder")
    passed(f"data.root {root} is a folder")
    list_path = cfg.resolve(cfg.data.train_list, True)
    entries = read_list(list_path)
    if not entries:
        raise DeviasError(f"{list_path}: no videos")
    passed(f"train list {list_path}: {len(entries)} videos in the list format")
    actions = read_class_names(cfg.resolve(cfg.data.actions, True))
    try:
        record = method_record(cfg.method)
    except ValueError as exc:
        raise DeviasError(f"model: {exc}") from None
    scenes, scene_model = _scene_classes(cfg, record)
    _check_labels(cfg, record, list_path, entries, actions, scenes, scene_model is not None, passed)
    grid = ClipGrid(cfg.data.frames, cfg.data.stride, cfg.data.hop)
    gaps = _check_stores(cfg, record, grid, list_path, entries, scenes, passed)
    model_config, probe = _probe_model(cfg, record, len(actions), len(scenes), passed)
    data_spec, step_spec = _specs(cfg, record, probe.backbone.patch_size, len(actions), len(scenes))
    listed = len(entries)
    if left_out is not None:  # a resumed run: the videos it started without, and no other
        gaps = _as_left_out(gaps, left_out, entries)
    entries = leave_out(entries, gaps, cfg.data.max_skipped, list_path, "have no entry in the stores",
                        "re-run the stage for the videos it has not processed, and fix or drop the failed ones")
    if gaps:
        passed(f"{len(gaps)} of the {listed} listed videos left out (no store entry), within data.max_skipped="
               f"{cfg.data.max_skipped}")
    entries, val_entries, warnings = validation_set(cfg, list_path, entries, scenes, not record.scene_free)
    if val_entries and not cfg.data.val_list and len(entries) < cfg.optim.batch_size:
        raise DeviasError(f"{len(entries)} training videos (after holding out {len(val_entries)} for validation) are "
                          f"fewer than one batch of {cfg.optim.batch_size}; lower data.val_fraction or the batch size")
    passed(f"validation: {len(val_entries)} videos" + (f" from data.val_list {cfg.data.val_list}" if cfg.data.val_list
                                                       else " held out of the training list") +
           f", {len(entries)} left to train on")
    if scene_model is not None:
        _check_online_model(cfg, scene_model, passed)
    return Prepared(cfg, root, entries, val_entries, actions, scenes, data_spec, step_spec, model_config, probe,
                    warnings, scene_model, gaps, listed)


def _scene_classes(cfg: TrainConfig, record: Method) -> tuple[list[str], SceneModel | None]:
    """The scene class names (data.scenes, the online scene model's, the scene store's, or none for a
    scene-free method) and, for data.scene_source=online, the frozen scene model."""
    online = cfg.data.scene_source == "online" and not record.scene_free
    scene_model = None
    if record.from_run:
        scenes = []  # the target task is actions only: no scene classes, labels or stores
    elif cfg.data.scenes is not None:
        scenes = read_class_names(cfg.resolve(cfg.data.scenes, True))
    elif online:
        scene_model = _online_scene_model(cfg, None)
        scenes = scene_model.class_names
    elif cfg.data.scene_store and Path(cfg.data.scene_store).exists():
        scenes = list(VideoStore(cfg.data.scene_store).attrs.get("class_names") or [])
    elif record.scene_free:
        scenes = []  # no scene head: a Naive Action run (UCF-101's stage before DEVIAS) needs no scene classes
    else:
        raise DeviasError("data.scenes is null: the scene class names come from data.scene_store, which is not set")
    if online and scene_model is None:
        scene_model = _online_scene_model(cfg, scenes)
    return scenes, scene_model


def _check_labels(cfg: TrainConfig, record: Method, list_path: Path, entries: list[VideoEntry], actions: list[str],
                  scenes: list[str], online: bool, passed: Callable[[str], None]) -> None:
    """Every video's action label, and its scene label when training reads the list's, is one of the classes."""
    check_labels(list_path, entries, len(actions), None, unknown_ok=False)  # eval and features share this check
    passed(f"{len(actions)} action classes; every video's action label is one of them")
    passed(f"{len(scenes)} scene classes" + (f" (from the scene model {cfg.data.scene_model})" if online else ""))
    if cfg.data.scene_source == "list" and not record.scene_free:
        check_labels(list_path, entries, None, len(scenes))  # past the class list: named by line, not "no label"
        bad = [e.path for e in entries if not 0 <= e.scene < len(scenes)]
        if bad:
            raise DeviasError(f"{list_path}: {len(bad)} videos have no scene label (e.g. {bad[0]}); "
                              "use data.scene_source=store with a scene-label store")
        passed("every video's scene label (data.scene_source=list) is one of the scene classes")


def _check_stores(cfg: TrainConfig, record: Method, grid: ClipGrid, list_path: Path, entries: list[VideoEntry],
                  scenes: list[str], passed: Callable[[str], None]) -> dict[str, str]:
    """The mask and scene stores the run reads, checked; the listed videos they lack -> the stages' reasons."""
    gaps: dict[str, str] = {}
    if record.needs_masks or cfg.aug.mix == "fame":
        _, gaps = _check_store(cfg.data.mask_store, FAME_MASKS, "mask store", grid, list_path, entries,
                               passed=passed)
    if cfg.data.scene_source != "store" or record.scene_free:
        return gaps
    # the scene store's version is checked below, with what a training run needs of it
    store, scene_gaps = _check_store(cfg.data.scene_store, SCENE_LABELS, "scene store", grid, list_path,
                                     entries, check_version=False, passed=passed)
    for path, reason in scene_gaps.items():
        gaps[path] = f"{gaps[path]}; {reason}" if path in gaps else reason
    if store.attrs.get("format_version") != SCENE_LABELS.version:
        raise DeviasError(f"{cfg.data.scene_store}: scene store format version {store.attrs.get('format_version')}"
                          f", training reads version {SCENE_LABELS.version} (scene targets per training crop); "
                          "re-run `devias-tk scenes label` into a new --out")
    if not store.attrs.get("crop_grid"):
        raise DeviasError(f"{cfg.data.scene_store}: labelled with --crops none (for evaluation), so it holds no "
                          "training targets; label the training list with a crop grid")
    if store.attrs.get("num_classes") != len(scenes):
        raise DeviasError(f"{cfg.data.scene_store}: {store.attrs.get('num_classes')} scene classes, "
                          f"{cfg.data.scenes} lists {len(scenes)}")
    passed(f"scene store {cfg.data.scene_store}: format {SCENE_LABELS.version}, training targets per crop "
           f"({len(store.attrs['crop_grid'])} grid crops), {len(scenes)} classes as data.scenes")
    return gaps


def _probe_model(cfg: TrainConfig, record: Method, num_actions: int, num_scenes: int,
                 passed: Callable[[str], None]) -> tuple[dict[str, Any], torch.nn.Module]:
    """The method's model configuration (a fine-tuning's from its source run) and the model, built on CPU."""
    try:
        model_config, _ = split_config(record.name, {k: v for k, v in cfg.model.items() if k != "method"})
        if record.from_run:
            model_config, source_line = with_source(cfg.run.init, model_config)
            passed(source_line)
        model_config.setdefault("frames", cfg.data.frames)
        model_config.setdefault("img_size", cfg.data.size)
        probe = build_model(record.name, num_actions=num_actions, num_scenes=num_scenes, **model_config)
    except (ValueError, TypeError) as exc:
        raise DeviasError(f"model: {exc}") from None
    if record.slots and cfg.loss.lambda_guide and probe.backbone.tubelet_size != 2:
        raise DeviasError("attention guidance uses per-frame-pair masks: model.tubelet_size must be 2")
    params = sum(p.numel() for p in probe.parameters())
    tokens = "x".join(map(str, probe.backbone.patch_embed.grid(cfg.data.frames, cfg.data.size, cfg.data.size)))
    passed(f"model {record.name} builds: {params / 1e6:.2f} M parameters; a {cfg.data.frames}x{cfg.data.size}x"
           f"{cfg.data.size} clip gives a {tokens} token grid")
    return model_config, probe


def _specs(cfg: TrainConfig, record: Method, patch: int, num_actions: int,
           num_scenes: int) -> tuple[TrainDataSpec, StepSpec]:
    """What a training item holds and what a step computes, from the recipe and the model's patch size."""
    grid_side = cfg.data.size // patch
    data_spec = TrainDataSpec(
        grid=ClipGrid(cfg.data.frames, cfg.data.stride, cfg.data.hop), size=cfg.data.size, scale=cfg.data.scale,
        flip=cfg.data.flip, color_jitter=cfg.data.color_jitter, guide_shape=(grid_side * GUIDE_PIXELS_PER_PATCH,) * 2,
        scene_source=cfg.data.scene_source if not record.scene_free else "list",  # a scene-free method reads none
        num_scenes=num_scenes, rand_augment=cfg.data.rand_augment, repeats=cfg.data.repeats,
        device_transforms=cfg.data.device_transforms,
    )
    step_spec = StepSpec(
        method=record.name, num_actions=num_actions, mix=cfg.aug.mix, beta=cfg.aug.beta, p_aug=cfg.aug.p_aug,
        be_max_lambda=cfg.aug.be_max_lambda, patch_size=patch, guide_pool=GUIDE_PIXELS_PER_PATCH, loss=cfg.loss,
        clip_size=cfg.data.size, clear_donor=cfg.aug.clear_donor,
    )
    return data_spec, step_spec


def _as_left_out(gaps: Mapping[str, str], left_out: Mapping[str, str], entries: list[VideoEntry]) -> dict[str, str]:
    """A resumed run's videos left out: those it started without, and no other (a video it trains on that a store
    has lost since is an error)."""
    lost = [p for p in gaps if p not in left_out]
    if lost:
        raise DeviasError(f"{len(lost)} videos this run trains on have no store entry any more (e.g. {lost[0]}: "
                          f"{gaps[lost[0]]}): the stores changed since the run started; restore them, or "
                          "start a new run (another --out)")
    listed_paths = {e.path for e in entries}
    return {p: r for p, r in left_out.items() if p in listed_paths}


def _check_online_model(cfg: TrainConfig, scene_model: SceneModel, passed: Callable[[str], None]) -> None:
    if scene_model.inflation == CLIP_MODEL:
        tubelet = getattr(scene_model.module, "tubelet_size", 1)
        if cfg.data.frames % tubelet:
            raise DeviasError(f"{cfg.data.scene_model}: a clip scene model taking tubelets of {tubelet} frames; "
                              f"data.frames {cfg.data.frames} does not divide")
    passed(f"online scene model {cfg.data.scene_model} loaded ({scene_model.inflation})")


def _online_scene_model(cfg: TrainConfig, scenes: list[str] | None) -> SceneModel:
    """The frozen scene model of data.scene_source=online, its classes checked against data.scenes."""
    if cfg.data.scene_model is None:
        raise DeviasError("data.scene_source=online needs a scene model (set data.scene_model to a file "
                          "`devias-tk scenes label --model` reads)")
    source = f"data.scenes ({cfg.resolve(cfg.data.scenes, True)})"
    model = load_scene_model(cfg.data.scene_model, class_names=scenes, classes_from=source)
    model.module.eval().requires_grad_(False)
    return model


def train(cfg: TrainConfig, run_dir: str | Path, resume: str = "auto", console: Console | None = None,
          command: str = "") -> RunResult:
    """Train `cfg` into `run_dir`. resume: "auto" (continue from RUN/checkpoints/last.pt, or previous.pt when
    last.pt is damaged), "never" (refuse a run directory that has checkpoints), or a checkpoint path.
    The run directory is locked while training (a second `train` into it stops, naming this process)."""
    return run_locked(run_dir, cfg.run, lambda: prepare(cfg), lambda prep, start: _train(prep, start, resume),
                      console, command)


def _train(prep: Prepared, start: RunStart, resume: str) -> RunResult:
    cfg, run_dir, device, info = prep.cfg, start.run_dir, start.device, start.info
    state = resume_run(start, resume, cfg, build_config)
    if state is not None:
        prep = _as_started(prep, run_dir)
    model = prep.model.to(device)
    if prep.scene_model is not None:
        prep.scene_model.module.to(device)
    optimizer = build_optimizer(
        param_groups(model, cfg.optim.weight_decay, cfg.optim.layer_decay, cfg.optim.slot_lr_scale), cfg.optim.betas
    )
    dataset = _training_items(prep)
    sampler = EpochSampler(len(dataset), cfg.optim.batch_size, cfg.run.seed, info.rank, info.world)
    stage = Stage(start, cfg.run, model, optimizer, state,
                  lambda m, path, strict: load_initial_weights(m, path, strict=strict, method=cfg.method),
                  lambda: _start_run_files(prep, start))
    best = [state.get("best", -math.inf) if state is not None else -math.inf]  # best.pt's score, a cell for closures
    del state
    net, pos = stage.net, stage.pos
    faults = SampleFaults(run_dir, prep.listed, cfg.data.max_skipped, len(prep.skipped), info)
    val_loader = _validation_loader(prep) if prep.val_entries and info.is_main else None
    trackers = open_trackers(cfg.run.trackers, run_dir, cfg.to_dict(), cfg.run.name or run_dir.name,
                             cfg.run.tracker_project, info.is_main)
    metrics = MetricsLog(run_dir, info.is_main, trackers)
    saved = {"config": cfg.to_dict(), "method": cfg.method,
             "class_names": {"actions": prep.actions, "scenes": prep.scenes}, "model_config": prep.model_config}
    curves = CurvesRefresher(run_dir, info.is_main)

    def after_epoch(epoch: int) -> None:
        validate(epoch)
        curves()  # after validation, so the epoch's scores are in the figure

    def validate(epoch: int) -> None:
        if val_loader is None:  # main process only: best.pt is written without a barrier
            return
        scores = quick_eval(net, val_loader, device, None, stage.autocast, stage.dtype)
        score = selection_score(scores)
        if score is not None:
            scores[SELECTION] = score
            log.info(f"epoch {epoch}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
        metrics.log({"epoch": epoch, "step": pos.step, **scores}, pos.step)
        if score is not None and score >= best[0]:  # a tie goes to the later epoch (a saturated score)
            best[0] = score
            save_checkpoint(run_dir / "checkpoints" / "best.pt", {
                "model": unwrap(net).state_dict(), "epoch": epoch, "epoch_batch": 0, "step": pos.step,
                "best": score, "best_metric": SELECTION, "val_scores": scores, **saved,
            })
    by_mix = ActionByMix()  # action loss over mixed / unmixed samples between log steps

    def compute(n: torch.nn.Module, batch: Mapping[str, Any], step: int) -> tuple[torch.Tensor, dict]:
        loss, terms = compute_loss(n, batch, prep.step_spec, step_generator(cfg.run.seed, step, device),
                                   prep.scene_model)
        return loss, by_mix.take(terms)

    loader = make_loader(dataset, cfg.optim.batch_size, sampler, cfg.data.num_workers, device, collate_train)
    last = stage.fit(loader, sampler, cfg.schedule(len(dataset), info.world), compute,
                     lambda: {"best": best[0], **saved}, metrics, faults, "train", clips_key="crop_box",
                     after_epoch=after_epoch, log_values=lambda: by_mix.values(info), closing=(val_loader,))
    return stage.finish(last)


def _as_started(prep: Prepared, run_dir: Path) -> Prepared:
    """A resumed run's preparation: the training set it started with (the videos it left out then, whatever the
    stores hold now)."""
    recorded = read_skipped(run_dir)
    if recorded is not None and recorded.keys() != prep.skipped.keys():
        return prepare(prep.cfg, left_out=recorded)
    return prep


def _training_items(prep: Prepared) -> GuardedItems:
    """The training clips with their cached masks and scene targets, bad videos replaced (same action)."""
    cfg = prep.cfg
    clips = TrainClips(prep.root, prep.entries, prep.data_spec, cfg.data.mask_store if prep.step_spec.needs_masks
                       else None, cfg.data.scene_store if prep.data_spec.scene_source == "store" else None,
                       cfg.run.seed, cache_mb=cfg.data.cache_mb)
    return GuardedItems(clips, [e.path for e in prep.entries], "replace", cfg.run.seed,
                        groups=[e.action for e in prep.entries], timeout=cfg.data.decode_timeout)


def _validation_loader(prep: Prepared) -> GuardedLoader:
    """The held-out (or data.val_list) videos, one centre view each, unreadable ones reported and passed over."""
    cfg = prep.cfg
    spec = ClipSpec(clip_len=cfg.data.frames, stride=cfg.data.stride, size=cfg.data.size, num_clips=1,
                    num_crops=1, short="repeat_last")
    items = GuardedItems(ClipDataset(prep.root, prep.val_entries, spec, train=False),
                         [e.path for e in prep.val_entries], "report", timeout=cfg.data.decode_timeout)
    return GuardedLoader(items, cfg.optim.batch_size, workers=cfg.data.num_workers, collate_fn=collate_readable,
                         context="forkserver", persistent=False, prefetch=2)


def _start_run_files(prep: Prepared, start: RunStart) -> None:
    """RUN/config.yaml, run.json and skipped_videos.txt, and what the run validates on (main process)."""
    cfg, run_dir = prep.cfg, start.run_dir
    write_run_files(run_dir, cfg.to_dict(), start.info, start.device, start.command, num_actions=len(prep.actions),
                    num_scenes=len(prep.scenes), method=cfg.method,
                    validation={"source": "data.val_list" if cfg.data.val_list else "held-out training videos",
                                "videos": len(prep.val_entries), "train_videos": len(prep.entries),
                                "selection": SELECTION},
                    warnings=prep.warnings, skipped_videos=len(prep.skipped))
    write_skipped(run_dir, prep.skipped, log.warning)
    what = (f"data.val_list ({len(prep.val_entries)} videos)" if cfg.data.val_list else
            f"{len(prep.val_entries)} of {len(prep.entries) + len(prep.val_entries)} training videos held out "
            f"(data.val_fraction={cfg.data.val_fraction}, seed {cfg.run.seed})")
    log.info(f"validation: {what}; best.pt by the H.M. of action and scene top-1" if prep.val_entries
             else "validation: none (no held-out videos); no best.pt")
    for warning in prep.warnings:
        log.warning(f"warning: {warning}")
