"""run.amp=fp16: float16 autocast with a loss scaler in the shared loop (train, pretrain), on CPU; the scaler's
skipped updates (no parameter change, the scale halved, the schedule held, no fault), its state in last.pt and
an exact resume; bf16 / off run without a scaler."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from rich.console import Console
from torch import nn

from devias_tk.engine import runtime
from devias_tk.engine.checkpoint import load_checkpoint
from devias_tk.engine.distributed import SINGLE_PROCESS
from devias_tk.engine.loop import LoopSpec, Position, fit
from devias_tk.engine.optim import Schedule
from devias_tk.pretrain import engine as pretrain_engine
from devias_tk.pretrain.config import config_from as pretrain_config_from
from devias_tk.train import engine
from devias_tk.train.config import config_from

PRETRAIN_RECIPE = """
data: {root: ROOT, train_list: lists/train.txt, frames: 4, stride: 2, hop: 1, size: 32, num_workers: 0}
model: {size: tiny, depth: 1, embed_dim: 32, num_heads: 2}
mae: {mask_ratio: 0.5, decoder_depth: 1}
optim: {lr: 0.3, min_lr: 0.001, epochs: 2, batch_size: 4, warmup_epochs: 0.5}
run: {seed: 3, threads: 1, log_every: 2, amp: fp16, save_every_steps: 2}
"""


class _Sampler:
    def set_epoch(self, epoch: int, skip: int) -> None:
        pass


class _Stop(Exception):
    """Stands for a kill: raised from the step's computation."""


def _tiny_fit(tmp_path: Path, *, accum: int = 1, poison: set[int] = frozenset(), clip: float | None = None,
              scaler: torch.amp.GradScaler | None = None, dtype: torch.dtype = torch.float16):
    """Eight steps of a linear model through `fit`; the micro-steps in `poison` get an inf gradient (finite loss).
    Returns (per step: parameters before it, its lr, its autocast dtype; the position; the scaler)."""
    torch.manual_seed(0)
    net = nn.Linear(8, 2)
    optimizer = torch.optim.AdamW(net.parameters(), lr=0.0, foreach=True)
    g = torch.Generator().manual_seed(1)
    batches = [{"clip": torch.randn(4, 8, generator=g)} for _ in range(8)]
    seen: list[dict] = []
    current = {"step": -1}

    def poisoned(grad: torch.Tensor) -> torch.Tensor:
        return torch.full_like(grad, float("inf")) if current["step"] in poison else grad

    net.weight.register_hook(poisoned)

    def compute(n: nn.Module, batch: dict, step: int) -> tuple[torch.Tensor, dict]:
        current["step"] = step
        out = n(batch["clip"])
        seen.append({"params": [p.detach().clone() for p in n.parameters()], "lr": optimizer.param_groups[0]["lr"],
                     "dtype": out.dtype})
        return out.float().pow(2).mean(), {}

    schedule = Schedule(epochs=1, batches_per_epoch=8, accum_steps=accum, base_lr=0.1, min_lr=0.0,
                        warmup_epochs=0.5, clip_grad=clip)
    spec = LoopSpec(seed=0, autocast=True, amp_dtype=dtype, log_every=1, save_every=1)
    pos = Position()
    fit(net, optimizer, batches, _Sampler(), schedule, spec, pos, compute, lambda _n, _p: tmp_path / "x.pt",
        device=torch.device("cpu"), info=SINGLE_PROCESS, metrics=runtime.MetricsLog(tmp_path, False),
        console=Console(quiet=True), scaler=scaler)
    seen.append({"params": [p.detach().clone() for p in net.parameters()]})
    return seen, pos, scaler


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_amp_choices_pick_the_dtype_and_a_scaler_only_for_fp16():
    cpu = torch.device("cpu")
    assert runtime.autocast_dtype("fp16", cpu) == torch.float16
    assert runtime.autocast_dtype("bf16", cpu) == torch.bfloat16
    assert runtime.autocast_dtype("off", cpu) is None
    assert isinstance(runtime.grad_scaler("fp16", cpu), torch.amp.GradScaler)
    assert all(runtime.grad_scaler(amp, cpu) is None for amp in ("auto", "native", "bf16", "off"))
    assert runtime.precision_label(torch.float16) == "fp16 autocast with loss scaling"
    assert "warning" not in runtime.precision_line("fp16", torch.float16, torch.device("cuda"))
    assert "warning" not in runtime.precision_line("bf16", torch.bfloat16, cpu)


def test_an_inf_gradient_skips_the_update_halves_the_scale_and_holds_the_schedule(tmp_path):
    seen, pos, scaler = _tiny_fit(tmp_path, poison={5}, clip=1.0, scaler=torch.amp.GradScaler("cpu", init_scale=256.0))
    assert all(s["dtype"] == torch.float16 for s in seen[:-1])
    assert pos.step == 8 and pos.skipped == 1
    assert _same(seen[5]["params"], seen[6]["params"]), "the skipped update changed the parameters"
    assert not _same(seen[4]["params"], seen[5]["params"]) and not _same(seen[6]["params"], seen[7]["params"])
    # the update after the skipped one runs at the skipped one's learning rate
    assert seen[6]["lr"] == seen[5]["lr"] != seen[4]["lr"]
    assert scaler.get_scale() == 128.0
    assert all(torch.isfinite(p).all() for p in seen[-1]["params"])


def test_with_accumulation_one_poisoned_micro_step_skips_its_whole_update(tmp_path):
    seen, pos, scaler = _tiny_fit(tmp_path, accum=2, poison={2}, scaler=torch.amp.GradScaler("cpu", init_scale=256.0))
    assert pos.skipped == 1 and scaler.get_scale() == 128.0
    # micro-steps 2 and 3 form update 1: skipped, so the parameters entering step 4 are those entering step 2
    assert _same(seen[2]["params"], seen[4]["params"])
    assert not _same(seen[4]["params"], seen[6]["params"])
    assert [s["lr"] for s in seen[4:6]] == [seen[2]["lr"]] * 2


def test_without_a_scaler_the_loop_steps_as_before(tmp_path):
    # bf16 and off: no scaler, no skipped count; every update after the first (lr 0: warm-up) moves the parameters
    seen, pos, _ = _tiny_fit(tmp_path, dtype=torch.bfloat16)
    assert pos.skipped == 0 and all(s["dtype"] == torch.bfloat16 for s in seen[:-1])
    assert not any(_same(seen[i]["params"], seen[i + 1]["params"]) for i in range(1, 8))


def _train_cfg(recipe: Path, *overrides: str):
    return config_from(recipe, ["run.amp=fp16", "run.save_every_steps=2", "optim.epochs=2", *overrides])


def _stop_at(module, name: str, monkeypatch, call: int) -> None:
    real = getattr(module, name)
    calls = {"n": 0}

    def stopping(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            raise _Stop
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, stopping)


def _assert_resumed_exactly(reference: Path, resumed: Path) -> None:
    a, b = load_checkpoint(reference / "checkpoints/last.pt"), load_checkpoint(resumed / "checkpoints/last.pt")
    assert a["scaler"] == b["scaler"] and a["skipped_updates"] == b["skipped_updates"]
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key


def test_train_fp16_runs_saves_its_scaler_and_resumes_exactly(tiny_run_setup, tmp_path, monkeypatch):
    recipe, _ = tiny_run_setup
    reference = tmp_path / "reference"
    torch.manual_seed(3)
    initial = engine.prepare(_train_cfg(recipe)).model.state_dict()
    result = engine.train(_train_cfg(recipe), reference)
    assert result.steps == 12
    state = load_checkpoint(reference / "checkpoints/last.pt")
    assert {"scale", "_growth_tracker"} <= set(state["scaler"]) and state["scaler"]["scale"] > 0
    assert state["skipped_updates"] >= 0
    assert any(not torch.equal(initial[k], state["model"][k]) for k in initial), "no parameter changed"
    lines = [json.loads(x) for x in (reference / "metrics.jsonl").read_text().splitlines() if '"loss"' in x]
    assert lines and all(torch.isfinite(torch.tensor(line["loss"])) for line in lines)
    assert all("loss_scale" in line for line in lines)
    # a stop after step 7 (last.pt at step 6), then the same command: the same parameters and scale
    stopped = tmp_path / "stopped"
    with monkeypatch.context() as m:
        _stop_at(engine, "compute_loss", m, 8)
        with pytest.raises(_Stop):
            engine.train(_train_cfg(recipe), stopped)
    at_stop = load_checkpoint(stopped / "checkpoints/last.pt")
    assert at_stop["step"] == 6 and "scaler" in at_stop
    engine.train(_train_cfg(recipe), stopped)
    _assert_resumed_exactly(reference, stopped)


def test_train_fp16_skips_a_forced_inf_gradient_without_the_non_finite_fault(tiny_run_setup, tmp_path, monkeypatch):
    recipe, _ = tiny_run_setup
    real = engine.compute_loss
    calls = {"n": 0}

    def inf_gradient(model, *args, **kwargs):
        total, terms = real(model, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:  # the loss stays finite; its gradient through this term is inf
            head = next(p for p in model.parameters() if p.requires_grad)
            total = total + _inf_grad(head)
        return total, terms

    engine.train(_train_cfg(recipe, "optim.epochs=1"), tmp_path / "plain")
    monkeypatch.setattr(engine, "compute_loss", inf_gradient)
    engine.train(_train_cfg(recipe, "optim.epochs=1"), tmp_path / "run")  # no DeviasError: the loss was finite
    plain = load_checkpoint(tmp_path / "plain" / "checkpoints/last.pt")
    state = load_checkpoint(tmp_path / "run" / "checkpoints/last.pt")
    # one skip more than the run without it (whose first update may already overflow the initial scale)
    assert state["skipped_updates"] == plain["skipped_updates"] + 1
    assert state["scaler"]["scale"] == plain["scaler"]["scale"] / 2


class _InfGrad(torch.autograd.Function):
    """0 forward, an inf gradient backward."""

    @staticmethod
    def forward(x: torch.Tensor) -> torch.Tensor:
        return x.sum() * 0.0

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        x, = ctx.saved_tensors
        return torch.full_like(x, float("inf"))

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(inputs[0])


def _inf_grad(x: torch.Tensor) -> torch.Tensor:
    return _InfGrad.apply(x)


def test_bf16_and_off_checkpoints_hold_no_scaler(tiny_run_setup, tmp_path):
    recipe, _ = tiny_run_setup
    for amp in ("bf16", "'off'"):
        run = tmp_path / amp.strip("'")
        engine.train(config_from(recipe, [f"run.amp={amp}", "optim.epochs=1"]), run)
        state = load_checkpoint(run / "checkpoints/last.pt")
        assert "scaler" not in state and "skipped_updates" not in state
        lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
        assert not any("loss_scale" in line for line in lines)


def test_pretrain_fp16_runs_saves_its_scaler_and_resumes_exactly(tiny_benchmark, tmp_path, monkeypatch):
    recipe = tmp_path / "pretrain.yaml"
    recipe.write_text(PRETRAIN_RECIPE.replace("ROOT", str(tiny_benchmark)))
    reference = tmp_path / "reference"
    result = pretrain_engine.pretrain(pretrain_config_from(recipe), reference)
    assert result.steps == 12 and torch.isfinite(torch.tensor(result.last["loss"]))
    state = load_checkpoint(reference / "checkpoints/last.pt")
    assert state["scaler"]["scale"] > 0 and "skipped_updates" in state
    stopped = tmp_path / "stopped"
    with monkeypatch.context() as m:
        _stop_at(pretrain_engine, "compute_loss", m, 8)
        with pytest.raises(_Stop):
            pretrain_engine.pretrain(pretrain_config_from(recipe), stopped)
    assert load_checkpoint(stopped / "checkpoints/last.pt")["step"] == 6
    pretrain_engine.pretrain(pretrain_config_from(recipe), stopped)
    _assert_resumed_exactly(reference, stopped)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fp16_on_cuda_skips_an_inf_gradient(tmp_path):
    torch.manual_seed(0)
    net = nn.Linear(8, 2).cuda()
    optimizer = torch.optim.AdamW(net.parameters(), lr=0.1, foreach=True)
    scaler = torch.amp.GradScaler("cuda", init_scale=256.0)
    batches = [{"clip": torch.randn(4, 8)} for _ in range(4)]

    def compute(n: nn.Module, batch: dict, step: int) -> tuple[torch.Tensor, dict]:
        out = n(batch["clip"])
        assert out.dtype == torch.float16
        loss = out.float().pow(2).mean()
        return (loss + _inf_grad(n.weight)) if step == 1 else loss, {}

    schedule = Schedule(epochs=1, batches_per_epoch=4, accum_steps=1, base_lr=0.1, min_lr=0.0, warmup_epochs=0,
                        clip_grad=1.0)
    pos = Position()
    fit(net, optimizer, batches, _Sampler(), schedule,
        LoopSpec(seed=0, autocast=True, amp_dtype=torch.float16, log_every=1, save_every=1), pos, compute,
        lambda _n, _p: tmp_path / "x.pt", device=torch.device("cuda"), info=SINGLE_PROCESS,
        metrics=runtime.MetricsLog(tmp_path, False), console=Console(quiet=True), scaler=scaler)
    assert pos.skipped == 1 and scaler.get_scale() == 128.0

