"""Two writers on one output, with real processes: a second `masks extract`, `scenes label` or `train` on the
output (or shard) another process is writing stops with an error naming that process; shards that share no
video run together; a lock never outlives its process (kill -9)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_scenes_label import TINY_GRID, _brightness_model, grey_videos  # noqa: F401 - the module's fixture

from devias_tk.data.lists import read_list, write_list
from devias_tk.errors import DeviasError
from devias_tk.masks import extract
from devias_tk.masks.windows import WindowSpec
from devias_tk.scenes import label as lb
from devias_tk.train import engine
from devias_tk.train.config import config_from
from devias_tk.utils.locks import shards_overlap
from devias_tk.utils.workers import FAULT_ENV

SPEC = WindowSpec(window=8, stride=2, hop=2, size=32, tubelet_size=8)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "devias_tk", *args]


def _start_holding(command: list[str], lock_file: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `command` and wait until it holds `lock_file` (its owner record is written once locked)."""
    proc = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (lock_file.is_file() and f'"pid": {proc.pid}' in lock_file.read_text()):
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.05)
    return proc


def _kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def test_shards_overlap_when_they_share_a_list_entry():
    assert not shards_overlap((0, 2), (1, 4)) and shards_overlap((0, 2), (2, 4))  # 0,2,4.. vs 1,5.. / 2,6..
    assert shards_overlap((0, 1), (3, 7)) and shards_overlap((1, 3), (1, 3)) and not shards_overlap((0, 3), (1, 3))


def test_a_second_masks_extract_on_a_shard_being_written_is_refused(tiny_benchmark, tmp_path):
    videos = read_list(tiny_benchmark / "lists/train.txt")[:4]
    write_list(tmp_path / "list.txt", videos)
    out = tmp_path / "masks.zarr"
    args = ["masks", "extract", "--root", str(tiny_benchmark), "--list", str(tmp_path / "list.txt"), "--out", str(out),
            "--window", "8", "--stride", "2", "--size", "32", "-j", "1", "--timeout", "300"]
    # the first writer holds shard 0/2 (videos 0 and 2) while its first video's decode hangs
    first = _start_holding(_cli(*args, "--shard", "0/2"), out / "_locks/shard-0-of-2.lock",
                           {FAULT_ENV: f"hang:{videos[0].path}"})
    try:
        second = subprocess.run(_cli(*args, "--shard", "0/2"), capture_output=True, text=True, timeout=120)
        assert second.returncode == 2
        message = " ".join(second.stderr.split())
        held = f"masks extract {out}: shard 0/2 is being written by another process (pid {first.pid} on host "
        assert held in message
        assert "command: " in message and "masks extract" in message.split("command: ")[1]
        # a shard sharing no video with it runs meanwhile; one sharing videos (2/4 holds video 2) is refused
        done = extract.extract(tiny_benchmark, tmp_path / "list.txt", out, SPEC, shard=(1, 2), show_progress=False)
        assert done.done == 2
        with pytest.raises(DeviasError, match=rf"shard 0/2 is being written by another process \(pid {first.pid} .* "
                                              "and shares videos with shard 2/4"):
            extract.extract(tiny_benchmark, tmp_path / "list.txt", out, SPEC, shard=(2, 4), show_progress=False)
    finally:
        _kill(first)
    # the kernel dropped the killed writer's lock: its shard resumes at once
    resumed = extract.extract(tiny_benchmark, tmp_path / "list.txt", out, SPEC, shard=(0, 2), show_progress=False)
    assert resumed.done == 2


def test_scenes_label_refuses_a_store_shard_another_process_holds(grey_videos, tmp_path):  # noqa: F811
    out = tmp_path / "scenes.zarr"
    lb.label(grey_videos, grey_videos / "list.txt", _brightness_model(), out, TINY_GRID, device="cpu", jobs=1,
             show_progress=False)
    holder = [sys.executable, "-c", "import sys, time, pathlib; from devias_tk.utils.locks import lock_shard; "
              "lock = lock_shard(pathlib.Path(sys.argv[1]), (0, 1), 'test'); time.sleep(120)", str(out / "_locks")]
    proc = _start_holding(holder, out / "_locks/shard-0-of-1.lock")
    try:
        with pytest.raises(DeviasError, match=rf"scenes label {out}: shard 0/1 is being written by another process "
                                              rf"\(pid {proc.pid} "):
            lb.label(grey_videos, grey_videos / "list.txt", _brightness_model(), out, TINY_GRID, device="cpu",
                     jobs=1, show_progress=False)
    finally:
        _kill(proc)
    assert lb.label(grey_videos, grey_videos / "list.txt", _brightness_model(), out, TINY_GRID, device="cpu",
                    jobs=1, show_progress=False).skipped == 2


def test_a_second_train_into_one_run_directory_is_refused(tiny_run_setup, tiny_benchmark, tmp_path):
    recipe, _ = tiny_run_setup
    run = tmp_path / "run"
    args = ["train", "--recipe", str(recipe), "--out", str(run), "optim.epochs=1"]
    # the first run holds RUN while a video's decode hangs (no loader workers: nothing bounds it)
    hang = read_list(tiny_benchmark / "lists/train.txt")[0].path
    first = _start_holding(_cli(*args), run / ".lock", {FAULT_ENV: f"hang:{hang}"})
    try:
        second = subprocess.run(_cli(*args), capture_output=True, text=True, timeout=120)
        assert second.returncode == 2
        message = " ".join(second.stderr.split())
        assert f"{run} is being written by another process (pid {first.pid} on host " in message
        assert "use another --out" in message and not (run / "checkpoints").exists()
    finally:
        _kill(first)
    assert engine.train(config_from(recipe, ["optim.epochs=1"]), run).steps == 6
