"""The epoch loop every trainer runs: per-step learning rate, autocast (fp16 with a loss scaler), gradient
accumulation (with DDP's no_sync), clipping, a non-finite-loss stop, JSON-lines logging, live progress and
checkpoints, resumable mid-epoch.

The stage supplies the step's computation (`compute(net, batch, step) -> (loss, terms)`), how to
save (`save(name, position) -> path`) and what to do after an epoch (`after_epoch(epoch)`: figures,
validation). Randomness that the loop owns is a function of (seed, step, rank): the global torch
generator (stochastic depth, dropout) is re-seeded every step, so a resumed run is bit-identical.

fp16 (`fit`'s `scaler`): each micro-step's loss is scaled before backward; an update unscales the gradients
(before clipping) and is skipped when any is inf / NaN, the scale then halved. A skipped update does not move
the learning-rate schedule (`Position.skipped`) and is not a fault: the non-finite-loss stop looks at the
unscaled loss only. The scaler's state and the skipped count are saved with the checkpoint.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn

from devias_tk.engine import distributed as dist_utils
from devias_tk.engine import precision
from devias_tk.engine.checkpoint import LAST, save_checkpoint, unwrap
from devias_tk.engine.faults import SampleFaults
from devias_tk.engine.optim import Schedule, set_lr
from devias_tk.engine.recipe import RunSection
from devias_tk.engine.runtime import (
    MetricsLog,
    RunResult,
    RunStart,
    autocast_dtype,
    finish_run,
    grad_scaler,
    precision_line,
    wrap_model,
)
from devias_tk.errors import DeviasError
from devias_tk.models.checkpoints import LoadReport
from devias_tk.utils.runlog import log


@dataclass
class Position:
    epoch: int = 0
    epoch_batch: int = 0  # batches of `epoch` already trained
    step: int = 0  # batches (micro-steps) since the start of the run
    skipped: int = 0  # optimizer updates the fp16 loss scaler skipped (inf / NaN gradients)

    def schedule_step(self, accum_steps: int) -> int:
        """The micro-step the learning rate follows: skipped updates do not count."""
        return self.step - self.skipped * accum_steps


def restore(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict | None,
            scaler: torch.amp.GradScaler | None = None) -> Position:
    """Model, optimizer (and fp16 loss scaler) from a resumed checkpoint's state, and where in the run it stopped
    (None: the start)."""
    if state is None:
        return Position()
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scaler is not None and "scaler" in state:
        scaler.load_state_dict(state["scaler"])
    return Position(state["epoch"], state["epoch_batch"], state["step"], state.get("skipped_updates", 0))


@dataclass(frozen=True)
class LoopSpec:
    seed: int
    autocast: bool
    log_every: int
    save_every: int  # epochs
    save_every_steps: int = 0  # 0: only at epoch ends
    description: str = "train"
    clips_key: str = "clip"
    amp_dtype: torch.dtype = torch.bfloat16  # float16 needs fit's `scaler`
    # run.amp=native on a CPU with bf16: time the first batch in fp32 and in bf16 and train in the faster
    # (devias_tk.engine.precision); `fit`'s `on_precision` hears the choice
    probe_precision: bool = False


def saver(run_dir: Path, net: nn.Module, optimizer: torch.optim.Optimizer, info: dist_utils.DistInfo,
          fields: Callable[[], dict[str, Any]], scaler: torch.amp.GradScaler | None = None,
          ) -> Callable[[str, Position], Path]:
    """The loop's `save(name, position)`: RUN/checkpoints/<name> with the model, the optimizer, the position, the
    fp16 loss scaler (when there is one) and the stage's `fields()` (written by the main process; last.pt keeps
    the one it replaces as previous.pt), then a barrier, so no process runs ahead of a checkpoint."""

    def save(name: str, at: Position) -> Path:
        path = run_dir / "checkpoints" / name
        if info.is_main:
            # without a scaler the checkpoint holds exactly what it did before fp16 existed
            scaled = {} if scaler is None else {"scaler": scaler.state_dict(), "skipped_updates": at.skipped}
            save_checkpoint(path, {
                "model": unwrap(net).state_dict(), "optimizer": optimizer.state_dict(), "epoch": at.epoch,
                "epoch_batch": at.epoch_batch, "step": at.step, **scaled, **fields(),
            }, keep_previous=name == LAST)
        dist_utils.barrier(info)
        return path

    return save


def progress_bar(console: Console, enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
        TimeRemainingColumn(), console=console, disable=not enabled,
    )


Compute = Callable[[nn.Module, Mapping[str, Any], int], tuple[torch.Tensor, dict]]


def fit(net: nn.Module, optimizer: torch.optim.Optimizer, loader: Any, sampler: Any, schedule: Schedule,
        spec: LoopSpec, pos: Position, compute: Compute, save: Callable[[str, Position], Path], *,
        device: torch.device, info: dist_utils.DistInfo, metrics: MetricsLog, console: Console,
        after_epoch: Callable[[int], None] | None = None, last_good: Path | None = None,
        faults: SampleFaults | None = None, log_values: Callable[[], dict[str, float]] | None = None,
        scaler: torch.amp.GradScaler | None = None,
        on_precision: Callable[[torch.dtype | None, dict[str, float]], None] | None = None) -> dict[str, float]:
    """Train from `pos` to the end of `schedule.epochs`; returns the last logged values. `sampler` has
    `set_epoch(epoch, skip_batches)`; `pos` is updated in place. `faults`: the replaced samples of a guarded
    loader, recorded; past their budget the run is saved (last.pt) and stops with their error. `log_values`:
    the stage's own values of a log step (monitoring collected between log steps), logged after the terms.
    `scaler`: fp16's loss scaler (see the module's docstring); None runs the unscaled step. `on_precision`: see
    `_measure_precision` (with `spec.probe_precision`)."""
    bpe = schedule.batches_per_epoch
    autocast, amp_dtype, probe = spec.autocast, spec.amp_dtype, spec.probe_precision
    last: dict[str, float] = {}
    net.train()
    with progress_bar(console, info.is_main) as progress:
        task = progress.add_task(spec.description, total=bpe * schedule.epochs,
                                 completed=pos.epoch * bpe + pos.epoch_batch, status="")
        window_start, window_clips = time.perf_counter(), 0
        while pos.epoch < schedule.epochs:
            sampler.set_epoch(pos.epoch, pos.epoch_batch)
            for batch in loader:
                if faults is not None:
                    faults.take(batch, pos.epoch, pos.step)
                set_lr(optimizer, schedule.lr(pos.schedule_step(schedule.accum_steps)))
                torch.manual_seed((spec.seed * 1_000_003 + pos.step) * 4099 + info.rank)
                batch = {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
                if probe:
                    probe, (autocast, amp_dtype) = False, _measure_precision(net, compute, batch, pos.step, device,
                                                                             log_values, on_precision)
                sync = info.enabled and (pos.step + 1) % schedule.accum_steps != 0
                with net.no_sync() if sync else contextlib.nullcontext():  # type: ignore[operator]
                    with torch.autocast(device.type, dtype=amp_dtype, enabled=autocast):
                        loss, terms = compute(net, batch, pos.step)
                    share = loss / schedule.accum_steps
                    (share if scaler is None else scaler.scale(share)).backward()
                pos.step += 1
                pos.epoch_batch += 1
                window_clips += batch[spec.clips_key].shape[0] * info.world
                if pos.step % schedule.accum_steps == 0:
                    if scaler is None:
                        if schedule.clip_grad:
                            torch.nn.utils.clip_grad_norm_(net.parameters(), schedule.clip_grad)
                        optimizer.step()
                    elif not _scaled_update(net, optimizer, scaler, schedule.clip_grad):
                        pos.skipped += 1
                    optimizer.zero_grad(set_to_none=True)
                check_now = device.type == "cpu" or pos.step % spec.log_every == 0
                if check_now and not bool(torch.isfinite(loss)):
                    values = {k: float(v) for k, v in terms.items()}
                    raise DeviasError(
                        f"non-finite loss at step {pos.step} (epoch {pos.epoch}, batch {pos.epoch_batch}); terms: "
                        f"{values}; last good checkpoint: {last_good or 'none yet'}"
                    )
                if faults is not None and faults.should_stop(pos.step, schedule.accum_steps, check_now):
                    raise faults.error(save("last.pt", pos))
                if pos.step % spec.log_every == 0 or pos.epoch_batch == bpe:
                    clips_per_s = window_clips / max(time.perf_counter() - window_start, 1e-9)
                    last = _log_record(pos, bpe, optimizer, loss, terms, info, log_values, scaler, clips_per_s)
                    metrics.log(last, pos.step)
                    window_start, window_clips = time.perf_counter(), 0
                    progress.update(task, status=f"epoch {pos.epoch + 1}/{schedule.epochs} loss {last['loss']:.3f} "
                                                 f"lr {last['lr']:.2e} {last['clips_per_s']:.1f} clips/s")
                progress.update(task, advance=1)
                if spec.save_every_steps and pos.step % spec.save_every_steps == 0 \
                        and pos.step % schedule.accum_steps == 0 and pos.epoch_batch < bpe:
                    last_good = save("last.pt", pos)
            pos.epoch += 1
            pos.epoch_batch = 0
            if after_epoch is not None:
                after_epoch(pos.epoch)
                net.train()
            if pos.epoch % spec.save_every == 0 or pos.epoch == schedule.epochs:
                last_good = save("last.pt", pos)
    return last


def _log_record(pos: Position, bpe: int, optimizer: torch.optim.Optimizer, loss: torch.Tensor,
                terms: Mapping[str, torch.Tensor], info: dist_utils.DistInfo,
                log_values: Callable[[], dict[str, float]] | None, scaler: torch.amp.GradScaler | None,
                clips_per_s: float) -> dict[str, float]:
    """A log step's values: position, learning rate, the loss (mean over processes), its terms, the stage's own
    values, the fp16 scaler's state and the clips per second since the last log step."""
    return {
        "step": pos.step, "epoch": pos.epoch + pos.epoch_batch / bpe,
        "lr": optimizer.param_groups[0]["lr"] / optimizer.param_groups[0].get("lr_scale", 1.0),
        "loss": float(dist_utils.all_reduce_mean(loss.detach().float(), info)),
        **{k: float(v) for k, v in terms.items()}, **(log_values() if log_values else {}),
        **({} if scaler is None else {"loss_scale": scaler.get_scale(), "skipped_updates": pos.skipped}),
        "clips_per_s": clips_per_s,
    }


def _measure_precision(net: nn.Module, compute: Compute, batch: Mapping[str, Any], step: int, device: torch.device,
                       log_values: Callable[[], dict[str, float]] | None,
                       on_precision: Callable[[torch.dtype | None, dict[str, float]], None] | None,
                       ) -> tuple[bool, torch.dtype]:
    """The first batch timed in fp32 and bf16 on a copy of the model (`precision.faster_precision`): (autocast,
    dtype) for the rest of the run; `on_precision(dtype or None, times)` hears the choice."""
    chosen, times = precision.faster_precision(precision.probe_step(unwrap(net), compute, batch, step, device))
    if log_values is not None:
        log_values()  # drops what the probe's steps added to the stage's monitoring
    if on_precision is not None:
        on_precision(chosen, times)
    return chosen is not None, chosen or torch.bfloat16


def _scaled_update(net: nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                   clip_grad: float | None) -> bool:
    """One fp16 update: gradients unscaled (clipped in true units), the step taken unless any is inf / NaN, the
    scale adapted. Whether the step was taken: the scaler halves the scale exactly when it skips, and only then
    (its step has already read the inf / NaN flags on the host, so reading the scale costs no extra wait)."""
    if clip_grad:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(net.parameters(), clip_grad)
    scaler.step(optimizer)
    before = scaler.get_scale()
    scaler.update()
    return scaler.get_scale() >= before


# the checkpoint field of run.amp=native's measured choice on CPU ("bf16" | "fp32"), kept across a resume
MEASURED_KEY = "amp_measured"


class Stage:
    """What `train`, `pretrain` and `scenes train --video` set up alike around `fit`: the weights a new run starts
    from (run.init, read by the stage's `load_init(model, path, strict)`), the resumed position (model,
    optimizer, fp16 loss scaler), the stage's run files (`start_files`, main process), DDP / torch.compile and the
    autocast precision. `fit` then trains with checkpoints in RUN/checkpoints, `finish` ends the run."""

    def __init__(self, start: RunStart, run: RunSection, model: nn.Module, optimizer: torch.optim.Optimizer,
                 state: dict | None, load_init: Callable[[nn.Module, str, bool], LoadReport],
                 start_files: Callable[[], None]) -> None:
        self.start, self.run, self.optimizer = start, run, optimizer
        if run.init and state is None:
            report = load_init(model, run.init, run.init_strict)
            if start.info.is_main:
                log.info(f"init from {report.summary()}")
        self.scaler = grad_scaler(run.amp, start.device)
        self.pos = restore(model, optimizer, state, self.scaler)
        if start.info.is_main:
            if state is not None:
                log.info(f"resuming {start.run_dir} at epoch {self.pos.epoch}, batch {self.pos.epoch_batch} "
                         f"(step {self.pos.step})")
            start_files()
        self.net = wrap_model(model, start.info, start.device, run.compile)
        self._set_precision(autocast_dtype(run.amp, start.device))
        # run.amp=native on a CPU with bf16: the faster of fp32 and bf16, measured on the first batch (`fit`) or
        # recorded by the run before a resume; not under torchrun (every process must agree) or torch.compile
        self.measured: str | None = None
        self.probe = (self.amp_dtype is not None and run.amp == "native" and start.device.type == "cpu"
                      and not start.info.enabled and not run.compile)
        if self.probe and state is not None and state.get(MEASURED_KEY) in ("bf16", "fp32"):
            self.probe, self.measured = False, state[MEASURED_KEY]
            self._set_precision(torch.bfloat16 if self.measured == "bf16" else None)
        if start.info.is_main and not self.probe:
            log.info(precision_line(run.amp, self.amp_dtype, start.device)
                     + (" (measured the faster on this CPU at the run's start)" if self.measured else ""))

    def _set_precision(self, dtype: torch.dtype | None) -> None:
        self.amp_dtype = dtype
        self.autocast = dtype is not None
        self.dtype = dtype or torch.bfloat16  # the autocast dtype when `autocast`

    def _measured(self, dtype: torch.dtype | None, times: dict[str, float]) -> None:
        self._set_precision(dtype)
        self.probe, self.measured = False, "bf16" if dtype is not None else "fp32"
        log.info(precision.probe_line(dtype, times))

    def fit(self, loader: Any, sampler: Any, schedule: Schedule, compute: Compute, fields: Callable[[], dict[str, Any]],
            metrics: MetricsLog, faults: SampleFaults, description: str, clips_key: str = "clip",
            after_epoch: Callable[[int], None] | None = None, log_values: Callable[[], dict[str, float]] | None = None,
            closing: tuple[Any, ...] = ()) -> dict[str, float]:
        """`fit` from the resumed position, saving the model, optimizer, position and the stage's `fields()`;
        `loader`, the loaders in `closing` and `metrics` are closed after. Returns the last logged values."""
        start, run = self.start, self.run
        spec = LoopSpec(seed=run.seed, autocast=self.autocast, amp_dtype=self.dtype, log_every=run.log_every,
                        save_every=run.save_every, save_every_steps=run.save_every_steps, description=description,
                        clips_key=clips_key, probe_precision=self.probe)

        def all_fields() -> dict[str, Any]:
            return {**fields(), **({MEASURED_KEY: self.measured} if self.measured else {})}

        save = saver(start.run_dir, self.net, self.optimizer, start.info, all_fields, self.scaler)
        last_path = start.run_dir / "checkpoints" / LAST
        try:
            return fit(self.net, self.optimizer, loader, sampler, schedule, spec, self.pos, compute, save,
                       device=start.device, info=start.info, metrics=metrics, console=start.console,
                       after_epoch=after_epoch, last_good=last_path if last_path.is_file() else None, faults=faults,
                       log_values=log_values, scaler=self.scaler, on_precision=self._measured)
        finally:
            for opened in (loader, *closing):
                if opened is not None:
                    opened.close()
            metrics.close()

    def finish(self, last: dict[str, float]) -> RunResult:
        """The run's end (`finish_run`): parameter checksums, the process group closed, what the stage reports."""
        start = self.start
        return finish_run(start.run_dir, self.net, start.info, self.pos.step, self.pos.epoch, start.started, last)
