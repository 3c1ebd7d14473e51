"""What every training-like stage (`train`, `pretrain`, `scenes train --video`) shares around its loop: the
device and process group, the run directory (resume rules, config.yaml, run.json), the metrics log and the data
loader."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from rich.console import Console
from torch.nn.parallel import DistributedDataParallel

from devias_tk import __version__
from devias_tk.data.guarded import GuardedItems, GuardedLoader
from devias_tk.engine import distributed as dist_utils
from devias_tk.engine.checkpoint import load_checkpoint, resume_state, unwrap
from devias_tk.engine.recipe import RunSection
from devias_tk.engine.trackers import Trackers
from devias_tk.errors import DeviasError
from devias_tk.utils.atomic import atomic_write_text
from devias_tk.utils.diskfull import disk_full_guard
from devias_tk.utils.locks import lock_output
from devias_tk.utils.runlog import LOG_FILE, file_only, log, run_log


@dataclass
class RunResult:
    """What a finished `train` / `pretrain` call reports: steps and epochs done, wall seconds, the last logged
    values and the per-rank parameter checksums."""

    run_dir: Path
    steps: int
    epochs: int
    seconds: float
    last: dict[str, float]
    checksums: list[float]


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def pick_device(wanted: str) -> torch.device:
    """"auto" (CUDA when present), "cpu" or "cuda"; an unavailable CUDA is a user error."""
    if wanted == "auto":
        wanted = "cuda" if torch.cuda.is_available() else "cpu"
    if wanted == "cuda" and not torch.cuda.is_available():
        raise DeviasError("run.device=cuda but no CUDA device is available")
    return torch.device(wanted)


def start_process(wanted: str, threads: int) -> tuple[torch.device, dist_utils.DistInfo]:
    """Device, process group (under torchrun) and CPU threads of this process."""
    device = pick_device(wanted)
    info = dist_utils.init_from_env(device.type)
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    if threads > 0:
        torch.set_num_threads(threads)
    return device, info


RESUME_FREE = (("data", "max_skipped"), ("data", "decode_timeout"))  # may change between a stop and its resume


@dataclass
class RunStart:
    """Where a training-like stage's body runs (`run_locked`): the run directory, device, process group, start
    time, console and command line."""

    run_dir: Path
    device: torch.device
    info: dist_utils.DistInfo
    started: float
    console: Console
    command: str


def run_locked(run_dir: str | Path, run: RunSection, prepare: Callable[[], Any],
               body: Callable[[Any, RunStart], RunResult], console: Console | None = None,
               command: str = "") -> RunResult:
    """A training-like stage's start: device and process group, the seed (the model is initialised while
    preparing), every check of `prepare()`, then `body(prepared, start)`. The main process holds the run
    directory's writer lock (RUN/.lock: a second `train` / `pretrain` into the same RUN stops with the holder's
    pid, host and command) and its messages go to `console` and are appended to RUN/log.txt
    (devias_tk.utils.runlog); other ranks print nothing."""
    started = time.perf_counter()
    device, info = start_process(run.device, run.threads)
    torch.manual_seed(run.seed)
    prepared = prepare()
    start = RunStart(Path(run_dir), device, info, started, console or Console(stderr=True), command)
    if not info.is_main:
        return body(prepared, start)
    start.run_dir.mkdir(parents=True, exist_ok=True)
    lock = lock_output(start.run_dir / ".lock", f"{start.run_dir}")
    try:
        with run_log(start.run_dir / LOG_FILE, start.console, command):
            return body(prepared, start)
    finally:
        lock.release()


def check_same_config(run_dir: Path, resolved: dict[str, Any], rebuild: Callable[[dict], dict]) -> None:
    """Refuse to resume a run directory written with another configuration (`rebuild`: a saved
    config.yaml tree -> its resolved dict). The bad-video budget and time limit may change (RESUME_FREE):
    raising them is how a run stopped by bad videos continues."""
    saved_path = run_dir / "config.yaml"

    def comparable(tree: dict[str, Any]) -> dict[str, Any]:
        tree = {k: dict(v) if isinstance(v, dict) else v for k, v in tree.items()}
        for section, key in RESUME_FREE:
            if isinstance(tree.get(section), dict):
                tree[section].pop(key, None)
        return tree

    if saved_path.is_file() and comparable(rebuild(yaml.safe_load(saved_path.read_text()))) != comparable(resolved):
        raise DeviasError(f"{run_dir} holds a run with another configuration; resume it with its own "
                          "recipe and overrides, or use another --out")


def resume_run(start: RunStart, resume: str, cfg: Any, build_config: Callable[[dict], Any],
               load: Callable[[Path], dict[str, Any]] = load_checkpoint) -> dict | None:
    """The checkpoint state a stage resumes from (`resume_state`; None: a fresh start), refusing a run directory
    written with another configuration than `cfg` (`build_config`: a saved config.yaml tree -> its config)."""
    say = log.warning if start.info.is_main else (lambda _message: None)
    source, state = resume_state(start.run_dir, resume, load, say, start.info.is_main)
    if source is not None:
        check_same_config(start.run_dir, cfg.to_dict(), lambda tree: build_config(tree).to_dict())
    return state


def write_run_files(run_dir: Path, config: dict[str, Any], info: dist_utils.DistInfo, device: torch.device,
                    command: str, **extra: Any) -> None:
    """RUN/config.yaml (the resolved configuration) and RUN/run.json (versions, command, world size, ...)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(config, sort_keys=False))
    atomic_write_text(run_dir / "run.json", json.dumps({
        "toolkit_version": __version__, "git_commit": git_commit(), "command": command or " ".join(sys.argv),
        "world_size": info.world, "device": str(device), "torch": torch.__version__, **extra,
    }, indent=1) + "\n")


class Tensorboard:
    """Scalars to RUN/tensorboard when the optional tensorboard package is installed."""

    def __init__(self, path: Path, enabled: bool) -> None:
        self.writer = None
        if enabled:
            with contextlib.suppress(ImportError):
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(path))

    def log(self, values: dict[str, float], step: int) -> None:
        if self.writer is not None:
            for k, v in values.items():
                if isinstance(v, int | float):
                    self.writer.add_scalar(k, v, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class MetricsLog:
    """RUN/metrics.jsonl (one JSON object per call, appended, flushed), TensorBoard scalars and the optional
    experiment trackers (`devias_tk.engine.trackers`); a no-op off the main process."""

    def __init__(self, run_dir: Path, enabled: bool, trackers: Trackers | None = None) -> None:
        self.path = run_dir / "metrics.jsonl"
        self.file = open(self.path, "a") if enabled else None  # noqa: SIM115
        self.board = Tensorboard(run_dir / "tensorboard", enabled)
        self.trackers = trackers or Trackers()

    def log(self, values: dict[str, Any], step: int) -> None:
        if self.file is not None:
            with disk_full_guard(self.path):
                self.file.write(json.dumps(values) + "\n")
                self.file.flush()
            self.board.log(values, values.get("step", step))
            self.trackers.log(values, values.get("step", step))

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        self.board.close()
        self.trackers.close()


def finish_run(run_dir: Path, net: torch.nn.Module, info: dist_utils.DistInfo, steps: int, epochs: int,
               started: float, last: dict[str, float]) -> RunResult:
    """A finished run's end: the per-rank parameter checksums (RUN/parameter_checksums.json, main process), the
    process group closed, and what the stage reports."""
    checksums = dist_utils.parameter_checksums(unwrap(net), info)
    if info.is_main:
        atomic_write_text(run_dir / "parameter_checksums.json", json.dumps(checksums) + "\n")
    dist_utils.shutdown(info)
    seconds = time.perf_counter() - started
    file_only(f"finished: {steps} steps, {epochs} epochs in {seconds:.0f} s; "
              f"last loss {last.get('loss', float('nan')):.4f}")
    return RunResult(run_dir, steps, epochs, seconds, last, checksums)


def wrap_model(model: torch.nn.Module, info: dist_utils.DistInfo, device: torch.device,
               compile_model: bool) -> torch.nn.Module:
    """DDP under torchrun (gradients all-reduced), then torch.compile when asked."""
    net = model
    if info.enabled:
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    return torch.compile(net) if compile_model else net


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 matrix products in hardware (AVX512-BF16 or AMX). Elsewhere oneDNN
    emulates bf16 and autocast makes a CPU step slower, not faster."""
    cpu = getattr(torch, "cpu", None)
    checks = (getattr(cpu, "_is_avx512_bf16_supported", None), getattr(cpu, "_is_amx_tile_supported", None))
    return any(check is not None and check() for check in checks)


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of run.amp on `device`, None for fp32: "fp16" float16 always (losses scaled, see
    `grad_scaler`), "bf16" always, "auto" bf16 on CUDA, "native" bf16 on CUDA and on CPUs with bf16 in hardware,
    "off" never."""
    if amp == "fp16":
        _check_fp16_autocast(device)
        return torch.float16
    if amp == "native":
        enabled = device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16())
    else:
        enabled = amp == "bf16" or (amp == "auto" and device.type == "cuda")
    return torch.bfloat16 if enabled else None


def _check_fp16_autocast(device: torch.device) -> None:
    # A torch whose autocast lacks float16 on this device only warns and runs fp32: refuse instead, so a run
    # never trains in another precision than its log says.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.autocast(device.type, dtype=torch.float16)
    if any("not supported" in str(w.message) for w in caught):
        raise DeviasError(f"run.amp=fp16: this torch ({torch.__version__}) has no float16 autocast on "
                          f"{device.type}; use bf16 or off")


def grad_scaler(amp: str, device: torch.device) -> torch.amp.GradScaler | None:
    """fp16's loss scaler; None for every other precision, whose steps then run exactly as without one."""
    return torch.amp.GradScaler(device.type) if amp == "fp16" else None


def precision_label(dtype: torch.dtype | None) -> str:
    """How a run's log names its precision."""
    return {torch.float16: "fp16 autocast with loss scaling", torch.bfloat16: "bf16 autocast"}.get(dtype, "fp32")


def precision_line(amp: str, dtype: torch.dtype | None, device: torch.device) -> str:
    """The precision line a training-like stage prints at its start."""
    line = f"precision: {precision_label(dtype)} on {device.type} (run.amp={amp})"
    amx_fp16 = getattr(getattr(torch, "cpu", None), "_is_amx_fp16_supported", None)
    if dtype == torch.float16 and device.type == "cpu" and not (amx_fp16 is not None and amx_fp16()):
        # measured on a Xeon with AVX512-BF16 but no fp16 units: a step 30x slower than fp32
        line += "; warning: this CPU emulates float16, many times slower than fp32 (fp16 is meant for GPUs)"
    return line


def make_loader(dataset: GuardedItems, batch_size: int, sampler: Any, workers: int,
                device: torch.device, collate_fn: Callable | None = None) -> GuardedLoader:
    """The training loader: bad videos replaced, hung or crashing decoders bounded (devias_tk.data.guarded).
    Persistent spawned workers (no thread state of this process is forked): the sampler, in this process,
    carries the epoch to them."""
    return GuardedLoader(dataset, batch_size, sampler, workers, pin_memory=device.type == "cuda",
                         collate_fn=collate_fn)
