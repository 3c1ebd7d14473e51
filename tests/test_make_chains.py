"""`make smoke-chains`: `make ucf101-all`, `kinetics400-all` and `hvu-all` end to end on the embedded benchmark
laid out as the official downloads (`devias-tk data layout`), with a one-block ViT and one epoch per training.

Each chain is killed once mid-way (the make and every child, SIGKILL) and the same command finishes it; every
report the chain promises exists and scores every split of its suite; a further `make` runs nothing. HVU runs
under torchrun with two processes (gloo on CPU). A check of the chains, not of the method's accuracy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devias_tk.evaluate.suite import load_suite

REPO = Path(__file__).resolve().parents[1]
PIPELINES = REPO / "pipelines"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None or not (BIN / "devias-tk").exists(),
                                reason="needs GNU make and the devias-tk console script beside this Python")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("smoke")


def make_command(target: str, smoke: Path) -> list[str]:
    # the devias-tk of this Python's environment, used as it is (no install step)
    return ["make", "-C", str(REPO), "--no-print-directory", target, f"SMOKE={smoke}", f"VENV={BIN.parent}",
            "NEED_VENV=", "PYTHON=" + sys.executable]


def run_killed_then_finished(target: str, smoke: Path, kill_when: Path, timeout: float = 600) -> str:
    """Start `make target`, SIGKILL its process group once `kill_when` exists, run the same command to the end;
    returns the finishing run's output."""
    log = smoke / f"{target}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(make_command(target, smoke), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        deadline = time.monotonic() + timeout
        while proc.poll() is None and not kill_when.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        still_running = proc.poll() is None
        if still_running:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert still_running, f"{target} ended (status {proc.returncode}) before {kill_when} appeared:\n" + \
        log.read_text()[-3000:]
    done = subprocess.run(make_command(target, smoke), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{target} after the kill:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def assert_nothing_left_to_do(target: str, smoke: Path) -> None:
    again = subprocess.run(make_command(target, smoke), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    step = re.compile(rf"(^|\s){re.escape(str(BIN / 'devias-tk'))}\s|-m torch\.distributed\.run\s")
    ran = [line for line in again.stdout.splitlines() if step.search(line)]
    assert not ran, f"a second `make {target}` ran steps again: {ran}"
    assert "Nothing to be done" in again.stdout


def assert_suite_reported(run: Path, suite_name: str, env: dict[str, str], method: str) -> dict:
    """RUN/eval/<suite>/report.json scores every split the suite defines, each on at least one video."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        suite = load_suite(PIPELINES / "eval" / f"{suite_name}.yaml")
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    assert suite.missing == (), f"{suite_name}: the chain wrote no list for {[s.name for s in suite.missing]}"
    report = json.loads((run / "eval" / suite_name / "report.json").read_text())
    assert (run / "eval" / suite_name / "report.md").is_file()
    assert report["method"] == method and report["absent_splits"] == {}
    assert set(report["splits"]) == {s.name for s in suite.splits}
    for name, split in report["splits"].items():
        assert split["videos"] > 0 and split["failed"] == 0, (suite_name, name, split)
    return report


def test_ucf101_chain_from_nothing_with_pretraining_then_naive_action_then_devias(smoke):
    work = smoke / "ucf101"
    run_killed_then_finished("smoke-ucf101", smoke, kill_when=work / "scenes.done")
    # from nothing: the chain pre-trained (no VIDEOMAE_CKPT), and each training started from the one before
    assert (work / "pretrain/checkpoints/last.pt").is_file()
    naive = json.loads((work / "naive-action/run.json").read_text())["command"]
    devias = json.loads((work / "run/run.json").read_text())["command"]
    assert f"run.init={work}/pretrain/checkpoints/last.pt" in naive
    assert f"run.init={work}/naive-action/checkpoints/last.pt" in devias and "data.scene_model=" in devias
    env = {"WORK": str(work), "UCF101_ROOT": str(smoke / "official/ucf101"),
           "SCUBA_ROOT": str(smoke / "official/scuba"), "HAT_ROOT": str(smoke / "official/hat")}
    for suite in ("ucf101-table2", "ucf101-table7"):
        assert_suite_reported(work / "naive-action", suite, env, "naive-action")
        report = assert_suite_reported(work / "run", suite, env, "devias")
        assert report["hm"] is not None
        table = (work / f"{suite}.md").read_text()
        assert "Naive Action" in table and "DEVIAS" in table
    assert_nothing_left_to_do("smoke-ucf101", smoke)


def test_kinetics400_chain_from_a_videomae_file(smoke):
    work = smoke / "kinetics400"
    run_killed_then_finished("smoke-kinetics400", smoke, kill_when=work / "caches")
    assert (smoke / "videomae_ucf101.pth").is_file()
    env = {"WORK": str(work), "K400_ROOT": str(smoke / "official/kinetics400"),
           "SCUBA_ROOT": str(smoke / "official/kinetics400-scuba"), "HAT_ROOT": str(smoke / "official/kinetics400-hat")}
    for suite in ("kinetics400-table3", "kinetics400-table8"):
        report = assert_suite_reported(work / "run", suite, env, "devias")
        assert report["hm"] is not None and (work / f"{suite}.md").is_file()
    assert_nothing_left_to_do("smoke-kinetics400", smoke)


def test_hvu_chain_from_its_published_files_under_torchrun(smoke):
    work = smoke / "hvu"
    run_killed_then_finished("smoke-hvu", smoke, kill_when=work / "run")
    # class names and the seen / unseen split come from HVU's own CSVs; nobody wrote them by hand
    assert (work / "actions.txt").is_file() and (work / "scenes.txt").is_file()
    env = {"WORK": str(work), "HVU_ROOT": str(smoke / "official/hvu"), "HVU_SEEN": "HVU_Val_V1.0-seen",
           "HVU_UNSEEN": "HVU_Val_V1.0-unseen"}
    report = assert_suite_reported(work / "run", "hvu", env, "devias")
    assert report["hm"] is not None and (work / "hvu.md").is_file()
    assert json.loads((work / "run/run.json").read_text())["world_size"] == 2
    assert_nothing_left_to_do("smoke-hvu", smoke)
