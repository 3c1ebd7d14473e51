"""A full disk (ENOSPC) part-way through a write: the stage stops with a message naming the path and the space
needed, nothing half-written is left visible, and the same command resumes once there is space."""

from __future__ import annotations

import errno
import hashlib
from pathlib import Path

import pytest
import torch
from test_scenes_label import TINY_GRID, _brightness_model, grey_videos  # noqa: F401 - the module's fixture

from devias_tk.cache.store import VideoStore
from devias_tk.data.lists import read_list, write_list
from devias_tk.engine import checkpoint
from devias_tk.errors import DiskFullError
from devias_tk.masks import extract
from devias_tk.masks.windows import WindowSpec
from devias_tk.scenes import label as lb
from devias_tk.train import engine
from devias_tk.train.config import config_from
from devias_tk.utils.diskfull import is_disk_full
from devias_tk.utils.workers import FAULT_ENV

SPEC = WindowSpec(window=8, stride=2, hop=2, size=32, tubelet_size=8)


def _files(store: Path) -> dict[str, str]:
    return {str(p.relative_to(store)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((store / "videos").rglob("*")) if p.is_file()}


def test_a_wrapped_enospc_is_recognised():
    full = OSError(errno.ENOSPC, "No space left on device")
    try:
        try:
            raise full
        except OSError:
            raise RuntimeError("PytorchStreamWriter failed writing file data/0") from None  # torch.save's wrapper
    except RuntimeError as wrapped:
        assert is_disk_full(wrapped)  # found as the context, although `from None` hides it from the traceback
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))


def test_masks_extract_stops_on_a_full_disk_and_resumes(tiny_benchmark, tmp_path, monkeypatch):
    videos = read_list(tiny_benchmark / "lists/train.txt")[:4]
    write_list(tmp_path / "list.txt", videos)
    reference = tmp_path / "reference.zarr"
    extract.extract(tiny_benchmark, tmp_path / "list.txt", reference, SPEC, show_progress=False)
    out = tmp_path / "masks.zarr"
    # the third video's write fails after its first array (in the worker process that writes it)
    monkeypatch.setenv(FAULT_ENV, f"enospc:{videos[2].path}")
    with pytest.raises(DiskFullError) as err:
        extract.extract(tiny_benchmark, tmp_path / "list.txt", out, SPEC, show_progress=False)
    text = str(err.value)
    assert text.startswith(f"{out}: no space left on device: this write needs about ")
    assert "free there" in text and "the 2 videos still to do need about " in text and "a video so far)" in text
    assert "re-run the same command" in text
    store = VideoStore(out)
    assert store.done() == {videos[0].path, videos[1].path} and store.failures() == {}  # not the video's fault
    monkeypatch.delenv(FAULT_ENV)
    resumed = extract.extract(tiny_benchmark, tmp_path / "list.txt", out, SPEC, show_progress=False)
    assert resumed.skipped == 2 and resumed.done == 2 and resumed.failed == {}
    assert _files(out) == _files(reference) and list((out / "_partial").iterdir()) == []


def test_scenes_label_stops_on_a_full_disk_and_resumes(grey_videos, tmp_path, monkeypatch):  # noqa: F811
    out = tmp_path / "scenes.zarr"
    monkeypatch.setenv(FAULT_ENV, "enospc:short.avi")
    with pytest.raises(DiskFullError, match=rf"^{out}: no space left on device: this write needs about "):
        lb.label(grey_videos, grey_videos / "list.txt", _brightness_model(), out, TINY_GRID, device="cpu", jobs=1,
                 show_progress=False)
    assert VideoStore(out).done() == {"ramp.avi"} and VideoStore(out).failures() == {}
    monkeypatch.delenv(FAULT_ENV)
    resumed = lb.label(grey_videos, grey_videos / "list.txt", _brightness_model(), out, TINY_GRID, device="cpu",
                       jobs=1, show_progress=False)
    assert resumed.skipped == 1 and resumed.done == 1 and list((out / "_partial").iterdir()) == []


def test_train_stops_on_a_full_disk_keeping_its_last_checkpoint_and_resumes(tiny_run_setup, tmp_path,
                                                                            monkeypatch):
    recipe, _ = tiny_run_setup
    cfg = config_from(recipe, ["optim.epochs=2"])
    reference = tmp_path / "reference"
    engine.train(cfg, reference)
    real_save, saves = torch.save, []

    def save_until_full(obj, f, *args, **kwargs):
        saves.append(f.name)
        if len(saves) == 2:  # the second checkpoint (epoch 2) finds the disk full half-way
            f.write(b"PK\x03\x04" + bytes(5000))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", save_until_full)
    run = tmp_path / "run"
    with pytest.raises(DiskFullError) as err:
        engine.train(cfg, run)
    last = run / "checkpoints/last.pt"
    assert str(err.value).startswith(f"{last}: no space left on device: this write needs about ")
    assert "MiB" in str(err.value) or "KiB" in str(err.value)
    assert checkpoint.load_checkpoint(last)["epoch"] == 1  # the previous save, intact
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.pt"]  # no partial file left
    monkeypatch.setattr(checkpoint.torch, "save", real_save)
    assert engine.train(cfg, run).steps == 12
    want, got = (checkpoint.load_checkpoint(r / "checkpoints/last.pt")["model"] for r in (reference, run))
    assert all(torch.equal(got[k], want[k]) for k in want)
