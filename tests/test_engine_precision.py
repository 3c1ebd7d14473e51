"""run.amp=native on a CPU with bf16: the faster of fp32 and bf16, measured on the run's first batch, kept on resume."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from devias_tk.engine import loop, precision, runtime
from devias_tk.engine.checkpoint import load_checkpoint
from devias_tk.errors import DeviasError
from devias_tk.train import engine
from devias_tk.train.config import config_from


class FakeClock:
    """A clock that `run(dtype)` advances by a fixed cost per precision."""

    def __init__(self, fp32: float, bf16: float) -> None:
        self.now, self.cost, self.calls = 0.0, {None: fp32, torch.bfloat16: bf16}, []

    def run(self, dtype):
        self.calls.append(dtype)
        self.now += self.cost[dtype]

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("fp32", "bf16", "expected"), [
    (0.30, 0.20, torch.bfloat16),  # a third cheaper: bf16
    (0.20, 0.30, None),  # the demo's step on an Intel Xeon with AVX512-BF16: bf16 slower, fp32
    (0.30, 0.28, None),  # 7% cheaper is inside the 10% margin: fp32
])
def test_the_faster_precision_is_chosen_with_a_margin_for_fp32(fp32, bf16, expected):
    clock = FakeClock(fp32, bf16)
    chosen, times = precision.faster_precision(clock.run, repeats=3, clock=clock)
    assert chosen == expected
    assert times == pytest.approx({"fp32": fp32, "bf16": bf16})
    assert clock.calls == [None, torch.bfloat16] * 4  # one warm-up each, then three interleaved rounds


def test_a_slow_step_is_timed_once_per_precision():
    clock = FakeClock(precision.SLOW_STEP_S + 1, 1.0)
    chosen, _ = precision.faster_precision(clock.run, repeats=3, clock=clock)
    assert chosen == torch.bfloat16 and len(clock.calls) == 4


def test_the_probe_leaves_the_model_its_statistics_and_the_rng_as_they_were():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batch = {"x": torch.randn(5, 6)}

    def compute(net, b, step):
        out = net(b["x"])
        return out.float().square().mean(), {}

    rng = torch.get_rng_state()
    run = precision.probe_step(model, compute, batch, 0, torch.device("cpu"))
    run(None)
    run(torch.bfloat16)
    assert torch.equal(torch.get_rng_state(), rng)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key  # running mean / var included
    assert all(p.grad is None for p in model.parameters())


def test_a_native_run_records_the_measured_choice_and_a_resume_keeps_it(tiny_run_setup, tmp_path, monkeypatch):
    recipe, _ = tiny_run_setup
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: True)
    probes = []

    def measured(run, *args, **kwargs):
        run(None)  # the probe runs a real step on the copy
        probes.append(1)
        return None, {"fp32": 0.2, "bf16": 0.3}

    monkeypatch.setattr(precision, "faster_precision", measured)
    seen = []
    real_fit = loop.fit

    def watching_fit(*args, **kwargs):
        seen.append(args[5])  # the LoopSpec
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(loop, "fit", watching_fit)
    real = engine.compute_loss
    calls = {"n": 0}

    def stops_at_step_5(*args, **kwargs):
        total, terms = real(*args, **kwargs)
        calls["n"] += 1
        return (total * float("nan"), terms) if calls["n"] == 6 else (total, terms)  # the probe's step is the 1st

    monkeypatch.setattr(engine, "compute_loss", stops_at_step_5)
    cfg = config_from(recipe, ["run.amp=native", "run.save_every_steps=2"])
    run = tmp_path / "run"
    with pytest.raises(DeviasError, match="non-finite loss at step 5"):
        engine.train(cfg, run)
    assert probes == [1] and seen[0].probe_precision
    state = load_checkpoint(run / "checkpoints/last.pt")
    assert state["step"] == 4 and state[loop.MEASURED_KEY] == "fp32"
    assert "precision: fp32 on cpu (run.amp=native, the faster of the two on this CPU; one training step: " \
           "fp32 200 ms, bf16 300 ms)" in (run / "log.txt").read_text()

    monkeypatch.setattr(engine, "compute_loss", real)
    engine.train(cfg, run)  # resumes at step 4 in the recorded precision, without a second probe
    assert probes == [1] and not seen[1].probe_precision and not seen[1].autocast
    assert load_checkpoint(run / "checkpoints/last.pt")[loop.MEASURED_KEY] == "fp32"
    assert "(measured the faster on this CPU at the run's start)" in (run / "log.txt").read_text()


def test_other_precisions_and_cpus_without_bf16_are_not_probed(tiny_run_setup, tmp_path, monkeypatch):
    recipe, _ = tiny_run_setup
    monkeypatch.setattr(precision, "faster_precision", lambda *a, **k: pytest.fail("probed"))
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: False)
    engine.train(config_from(recipe, ["run.amp=native", "optim.epochs=1"]), tmp_path / "a")
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: True)
    engine.train(config_from(recipe, ["run.amp=bf16", "optim.epochs=1"]), tmp_path / "b")
    assert loop.MEASURED_KEY not in load_checkpoint(tmp_path / "b/checkpoints/last.pt")


def test_a_probe_that_keeps_fp32_trains_bit_identically_to_fp32(tiny_run_setup, tmp_path, monkeypatch):
    recipe, _ = tiny_run_setup
    engine.train(config_from(recipe, ["run.amp=off", "optim.epochs=1"]), tmp_path / "off")
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: True)
    real = precision.faster_precision

    def keeps_fp32(run, *args, **kwargs):
        real(run, repeats=1)  # the real probe's steps, in both precisions, on the copy
        return None, {"fp32": 0.2, "bf16": 0.3}

    monkeypatch.setattr(precision, "faster_precision", keeps_fp32)
    engine.train(config_from(recipe, ["run.amp=native", "optim.epochs=1"]), tmp_path / "native")
    a = load_checkpoint(tmp_path / "off/checkpoints/last.pt")["model"]
    b = load_checkpoint(tmp_path / "native/checkpoints/last.pt")["model"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
