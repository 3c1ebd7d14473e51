"""The pre-training stage: VideoMAE on the videos of a list, with the engine pieces of `train`.

`prepare` checks everything that can fail before work (folders, list, model shape, mask ratio);
`pretrain` checks that the listed videos open (once per run, cached), then trains and writes:

    RUN/config.yaml             the resolved configuration
    RUN/run.json                toolkit version, git commit, command line, world size
    RUN/metrics.jsonl           one JSON object per log step
    RUN/checkpoints/last.pt     model (encoder `backbone.*` + decoder), optimizer, position; loads into
                                `devias-tk train` with run.init=..., `pretrain export` writes VideoMAE's layout
    RUN/figures/recon-eNNNN.png original / masked input / reconstruction of fixed clips at chosen epochs
    RUN/figures/loss.png        the loss curve
    RUN/video_check.json        the list's unreadable videos (checked once; skipped ones also in skipped_videos.txt)
    RUN/skipped_videos.txt      videos left out before work, with the reason (devias_tk.engine.faults)
    RUN/bad_samples.jsonl       samples replaced mid-run (a video that failed to decode in a loader worker)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from devias_tk.cache.store import file_sha256
from devias_tk.data.guarded import GuardedItems
from devias_tk.data.lists import VideoEntry, read_list
from devias_tk.data.video import use_decoder
from devias_tk.data.windows import ClipGrid
from devias_tk.engine import distributed as dist_utils
from devias_tk.engine.checkpoint import load_initial_weights, unwrap
from devias_tk.engine.faults import SampleFaults, leave_out, write_skipped
from devias_tk.engine.loop import Stage
from devias_tk.engine.optim import build_optimizer, param_groups, scaled_schedule
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
from devias_tk.errors import DeviasError
from devias_tk.models.backbone import VideoViT
from devias_tk.models.checkpoints import (
    DEVIAS_TK_PRETRAIN,
    VIDEOMAE_PRETRAIN,
    KeyMap,
    LoadReport,
    find_state_dict,
    load_mapped,
    read_checkpoint,
    strip_prefix,
    video_vit_format,
)
from devias_tk.models.videomae import VideoMAEPretrainer, from_videomae_state_dict
from devias_tk.pretrain import figures
from devias_tk.pretrain.config import METHOD, MAESection, PretrainConfig, build_config
from devias_tk.pretrain.data import PretrainClips, PretrainDataSpec, fixed_clips, unreadable_videos
from devias_tk.pretrain.export import load_run_checkpoint
from devias_tk.pretrain.mae import masked_input, num_masked, reconstruct, unnormalize
from devias_tk.pretrain.step import MAEStepSpec, compute_loss
from devias_tk.utils.atomic import atomic_write_text
from devias_tk.utils.runlog import log

CHECK_FILE = "video_check.json"
FIGURE_SEED = 7919  # fixes the figure clips' masks, apart from the training masks


@dataclass
class Prepared:
    cfg: PretrainConfig
    root: Path
    entries: list[VideoEntry]
    data_spec: PretrainDataSpec
    step_spec: MAEStepSpec
    backbone_config: dict[str, Any]
    mae_config: dict[str, Any]
    model: VideoMAEPretrainer  # built (on CPU) while checking the configuration


def build_pretrainer(backbone_config: dict[str, Any], mae: dict[str, Any]) -> VideoMAEPretrainer:
    """The encoder exactly as `devias-tk train` builds it from the same backbone keys, plus the decoder."""
    backbone = VideoViT(**backbone_config)
    return VideoMAEPretrainer(backbone, mae["decoder_dim"], mae["decoder_depth"], mae["decoder_heads"],
                              backbone_config.get("mlp_ratio", 4.0))


def mae_config(section: MAESection) -> dict[str, Any]:
    return {"decoder_dim": section.decoder_dim, "decoder_depth": section.decoder_depth,
            "decoder_heads": section.decoder_heads, "mask_ratio": section.mask_ratio,
            "norm_target": section.norm_target}


def prepare(cfg: PretrainConfig) -> Prepared:
    """Every check that can fail before pre-training starts, except opening each video (see `pretrain`)."""
    use_decoder(cfg.data.decoder)
    root = Path(cfg.data.root)
    if not root.is_dir():
        raise DeviasError(f"data.root {root} is not a folder")
    entries = read_list(cfg.list_path)
    if not entries:
        raise DeviasError(f"{cfg.list_path}: no videos")
    grid = ClipGrid(cfg.data.frames, cfg.data.stride, cfg.data.hop)
    try:
        grid.validate()
        backbone_config = cfg.backbone_config()
        mae = mae_config(cfg.mae)
        model = build_pretrainer(backbone_config, mae)
        token_grid = tuple(model.backbone.grid())
        num_masked(token_grid[1] * token_grid[2], cfg.mae.mask_ratio)
    except (ValueError, TypeError) as exc:
        raise DeviasError(f"model: {exc}") from None
    backbone = model.backbone
    data_spec = PretrainDataSpec(grid=grid, size=cfg.data.size, token_grid=token_grid,
                                 mask_ratio=cfg.mae.mask_ratio, scales=cfg.data.scales,
                                 max_distort=cfg.data.max_distort, flip=cfg.data.flip)
    step_spec = MAEStepSpec(backbone.patch_size, backbone.tubelet_size, cfg.mae.norm_target)
    return Prepared(cfg, root, entries, data_spec, step_spec, backbone_config, mae, model)


def load_init(model: VideoMAEPretrainer, path: str | Path, strict: bool) -> LoadReport:
    """Weights to start pre-training from: a VideoMAE pre-training file or a `devias-tk pretrain` checkpoint
    gives the whole network (encoder, decoder, mask token); any other file `train` reads (VideoMAE fine-tuned,
    the DEVIAS teacher, a training run) gives the encoder only, the decoder starting fresh."""
    state, container = find_state_dict(read_checkpoint(path, "initial weights"), path)
    state, _ = strip_prefix(state, "module.")
    fmt = video_vit_format(state)
    if fmt not in (VIDEOMAE_PRETRAIN, DEVIAS_TK_PRETRAIN):
        return load_initial_weights(model, path, strict)
    own = from_videomae_state_dict(state) if fmt == VIDEOMAE_PRETRAIN else state
    report = load_mapped(model, KeyMap.identity(own), file=path, fmt=fmt, container=container)
    report.check(strict)
    return report


def _readable(prep: Prepared, run_dir: Path) -> tuple[list[VideoEntry], dict[str, str]]:
    """The listed videos that open, and the others (path -> reason); refuses past data.max_skipped. The probe
    is cached in the run directory against the list's checksum, so a resumed run does not probe again."""
    cfg = prep.cfg
    cache = run_dir / CHECK_FILE
    sha = file_sha256(cfg.list_path)
    saved = json.loads(cache.read_text()) if cache.is_file() else {}
    if saved.get("list_sha256") == sha:
        failed = saved["unreadable"]
    else:
        log.info(f"checking that the {len(prep.entries)} listed videos open")
        failed = unreadable_videos(prep.root, prep.entries, max(1, cfg.data.num_workers))
    entries = leave_out(prep.entries, failed, cfg.data.max_skipped, cfg.list_path, "cannot be read",
                        "drop them from the list (`devias-tk data check` lists them all)")
    atomic_write_text(cache, json.dumps({"list": str(cfg.list_path), "list_sha256": sha, "unreadable": failed},
                                        indent=1) + "\n")
    return entries, failed


class FigureMaker:
    """Reconstructions of fixed clips (and the loss curve) after chosen epochs; main process only."""

    def __init__(self, prep: Prepared, entries: list[VideoEntry], run_dir: Path, device: torch.device,
                 autocast: bool, dtype: torch.dtype = torch.bfloat16) -> None:
        cfg = prep.cfg
        self.clips, self.masks = fixed_clips(prep.root, entries, prep.data_spec, cfg.run.figure_clips,
                                             cfg.run.seed + FIGURE_SEED)
        self.run_dir, self.device, self.autocast, self.cfg, self.spec = run_dir, device, autocast, cfg, prep.step_spec
        self.dtype = dtype

    def due(self, epoch: int) -> bool:
        every = self.cfg.run.figure_every
        return epoch == 1 or epoch == self.cfg.optim.epochs or bool(every and epoch % every == 0)

    @torch.no_grad()
    def __call__(self, model: VideoMAEPretrainer, epoch: int) -> None:
        if not self.due(epoch):
            return
        model.eval()
        clips, masks = self.clips.to(self.device), self.masks.to(self.device)
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.autocast):
            pred = model(clips, masks)
        video = unnormalize(clips.float())
        p, t = self.spec.patch_size, self.spec.tubelet_size
        recon = reconstruct(video, masks, pred, p, t, self.spec.norm_target)
        shown = masked_input(video, masks, p, t)
        folder = self.run_dir / "figures"
        folder.mkdir(parents=True, exist_ok=True)
        ratio = self.cfg.mae.mask_ratio
        figures.reconstruction_figure(video.cpu().numpy(), shown.cpu().numpy(), recon.cpu().numpy(),
                                      f"epoch {epoch}: tube masking {ratio:.0%}; reconstruction = visible input + "
                                      "predicted tubelets (with the true patch mean/std)",
                                      folder / f"recon-e{epoch:04d}.png")
        figures.loss_curve(self.run_dir / "metrics.jsonl", folder / "loss.png")


def pretrain(cfg: PretrainConfig, run_dir: str | Path, resume: str = "auto", console: Console | None = None,
             command: str = "") -> RunResult:
    """Pre-train `cfg` into `run_dir`. resume: "auto" (continue RUN/checkpoints/last.pt if present),
    "never" (refuse a run directory that has checkpoints), or a checkpoint path."""
    return run_locked(run_dir, cfg.run, lambda: prepare(cfg), lambda prep, start: _pretrain(prep, start, resume),
                      console, command)


def _pretrain(prep: Prepared, start: RunStart, resume: str) -> RunResult:
    cfg, run_dir, device, info = prep.cfg, start.run_dir, start.device, start.info
    state = resume_run(start, resume, cfg, build_config, load_run_checkpoint)

    if info.is_main:
        entries, failed = _readable(prep, run_dir)
        write_skipped(run_dir, failed, log.warning)
    dist_utils.barrier(info)
    if not info.is_main:
        failed = json.loads((run_dir / CHECK_FILE).read_text())["unreadable"]
        entries = [e for e in prep.entries if e.path not in failed]

    model = prep.model.to(device)
    optimizer = build_optimizer(param_groups(model, cfg.optim.weight_decay, 1.0, 1.0), cfg.optim.betas)
    dataset = GuardedItems(PretrainClips(prep.root, entries, prep.data_spec, cfg.run.seed), [e.path for e in entries],
                           "replace", cfg.run.seed, timeout=cfg.data.decode_timeout)
    sampler = EpochSampler(len(dataset), cfg.optim.batch_size, cfg.run.seed, info.rank, info.world)
    schedule = scaled_schedule(cfg.optim, sampler.batches_per_epoch, info.world)
    stage = Stage(start, cfg.run, model, optimizer, state, load_init, lambda: write_run_files(
        run_dir, cfg.to_dict(), info, device, start.command, method=METHOD, videos=len(entries),
        parameters=sum(p.numel() for p in model.parameters()),
        encoder_parameters=sum(p.numel() for p in model.backbone.parameters())))
    metrics = MetricsLog(run_dir, info.is_main)
    make_figures = FigureMaker(prep, entries, run_dir, device, stage.autocast, stage.dtype) if info.is_main else None

    def after_epoch(epoch: int) -> None:
        if make_figures is not None:
            make_figures(unwrap(stage.net), epoch)

    loader = make_loader(dataset, cfg.optim.batch_size, sampler, cfg.data.num_workers, device)
    faults = SampleFaults(run_dir, len(prep.entries), cfg.data.max_skipped, len(failed), info)
    last = stage.fit(loader, sampler, schedule, lambda n, batch, _step: compute_loss(n, batch, prep.step_spec),
                     lambda: {"config": cfg.to_dict(), "method": METHOD, "model_config": prep.backbone_config,
                              "mae_config": prep.mae_config},
                     metrics, faults, "pretrain", after_epoch=after_epoch)
    return stage.finish(last)
