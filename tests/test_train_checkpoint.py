"""Checkpoints carry a checksum checked on load; `--resume auto` falls back to the previous checkpoint when the
last one is damaged, says so, and ends where an undamaged run ends."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
import torch
from rich.console import Console
from run_fixtures import fabricate_run

from devias_tk.engine.checkpoint import load_checkpoint, resume_state, save_checkpoint
from devias_tk.errors import DeviasError
from devias_tk.evaluate.predict import load_run
from devias_tk.train import engine
from devias_tk.train.config import config_from


def _flip_a_tensor_byte(path: Path, tensor: torch.Tensor) -> None:
    """Damage one byte inside `tensor`'s stored data, as bit rot or a torn write would."""
    data = bytearray(path.read_bytes())
    at = data.find(tensor.numpy().tobytes())
    assert at > 0
    data[at + 5] ^= 0x10
    path.write_bytes(bytes(data))


def test_a_damaged_checkpoint_is_refused_by_name(tmp_path):
    weights = torch.arange(1000, dtype=torch.float32)
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"model": {"w": weights}, "epoch": 3, "best": float("-inf"), "betas": (0.9, 0.99)})
    state = load_checkpoint(path)
    assert torch.equal(state["model"]["w"], weights) and state["epoch"] == 3 and "checksum" not in state
    _flip_a_tensor_byte(path, weights)
    with pytest.raises(DeviasError, match=r"last.pt: damaged checkpoint \(its checksum does not match"):
        load_checkpoint(path)
    path.write_bytes(path.read_bytes()[:2000])  # cut short
    with pytest.raises(DeviasError, match=r"last\.pt: not a readable checkpoint"):
        load_checkpoint(path)


def test_eval_refuses_a_damaged_checkpoint(tiny_benchmark, tmp_path):
    run = fabricate_run(tmp_path / "run", tiny_benchmark)
    last = run / "checkpoints/last.pt"
    weights = next(v for v in load_checkpoint(last)["model"].values() if v.numel() > 100)
    _flip_a_tensor_byte(last, weights)
    with pytest.raises(DeviasError, match="damaged checkpoint"):
        load_run(run)


def test_resume_auto_falls_back_to_the_previous_checkpoint_and_says_so(tiny_run_setup, tmp_path):
    recipe, _ = tiny_run_setup
    cfg = config_from(recipe, ["optim.epochs=2"])
    reference = tmp_path / "reference"
    engine.train(cfg, reference)
    folder = reference / "checkpoints"
    assert load_checkpoint(folder / "last.pt")["epoch"] == 2 and load_checkpoint(folder / "previous.pt")["epoch"] == 1
    want = load_checkpoint(folder / "last.pt")["model"]

    run = tmp_path / "run"
    shutil.copytree(reference, run)
    last = run / "checkpoints/last.pt"
    _flip_a_tensor_byte(last, next(v for v in want.values() if v.numel() > 100))
    out = io.StringIO()
    assert engine.train(cfg, run, console=Console(file=out, width=300)).steps == 12
    said = " ".join(out.getvalue().split())
    assert f"warning: {last}: damaged checkpoint (its checksum does not match its contents); resuming from the " \
           f"previous checkpoint {run / 'checkpoints/previous.pt'} instead (epoch 1, step 6)" in said
    got = load_checkpoint(last)["model"]
    assert all(torch.equal(got[k], want[k]) for k in want)  # epoch 2 trained again, to the same parameters
    assert (run / "checkpoints/last.pt.damaged").is_file()  # kept aside, not moved onto the good previous.pt

    # nothing intact: refused, naming both files
    for name in ("last.pt", "previous.pt"):
        (run / "checkpoints" / name).write_bytes(b"garbage")
    with pytest.raises(DeviasError, match=r"no intact checkpoint to resume \(.*last.pt.*previous.pt"):
        resume_state(run, "auto")
