"""The masks and scenes stages on a local dask.distributed cluster write the same stores as locally."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dask
import numpy as np
import pytest

from devias_tk.cache.store import VideoStore
from devias_tk.data.lists import read_list, write_list
from devias_tk.errors import DeviasError
from devias_tk.masks import extract
from devias_tk.masks.windows import WindowSpec
from devias_tk.utils.workers import Backend, run_tasks

distributed = pytest.importorskip("distributed")

SPEC = WindowSpec(window=8, stride=2, hop=2, size=32, tubelet_size=8)


def _files(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((path / "videos").rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def cluster():
    # Our per-chunk supervised pool starts a child process on the worker: Dask's daemon workers cannot.
    with dask.config.set({"distributed.worker.daemon": False}), distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local.scheduler_address


def _square(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x * x


def test_run_tasks_on_dask_keeps_indices_and_failures(cluster):
    results = sorted(run_tasks(_square, list(range(7)), 1, 30, backend=Backend("dask", cluster, chunk=2)),
                     key=lambda r: r.index)
    assert [r.index for r in results] == list(range(7))
    assert [r.value for r in results if r.ok] == [0, 1, 4, 16, 25, 36]
    assert results[3].error == "ValueError: three" and results[3].item == 3
    with pytest.raises(DeviasError, match="needs --scheduler"):
        list(run_tasks(_square, [1], 1, 30, backend=Backend("dask", None)))


def test_masks_stage_on_dask_equals_local(cluster, tiny_benchmark, tmp_path):
    entries = read_list(tiny_benchmark / "lists/train.txt")[:10]
    write_list(tmp_path / "list.txt", entries)
    local = tmp_path / "local.zarr"
    extract.extract(tiny_benchmark, tmp_path / "list.txt", local, SPEC, jobs=1, show_progress=False)
    remote = tmp_path / "dask.zarr"
    summary = extract.extract(tiny_benchmark, tmp_path / "list.txt", remote, SPEC, show_progress=False,
                              backend=Backend("dask", cluster, chunk=3))
    assert summary.done == 10 and summary.failed == {}
    assert _files(remote) == _files(local)
    assert VideoStore(remote).attrs == VideoStore(local).attrs


def test_scenes_stage_on_dask_equals_local(cluster, tiny_benchmark, tmp_path):
    from devias_tk.data.windows import ClipGrid
    from devias_tk.scenes.label import label
    from devias_tk.scenes.model import build_image_model, save_checkpoint

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module, kwargs = build_image_model("vit_tiny_patch16_224", 4, 32, depth=1)
    model = save_checkpoint(tmp_path / "scene.pt", module, arch="vit_tiny_patch16_224", model_kwargs=kwargs,
                            class_names=["a", "b", "c", "d"], input_size=32, resize_size=32,
                            mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    entries = read_list(tiny_benchmark / "lists/test.txt")[:6]
    write_list(tmp_path / "list.txt", entries)
    grid = ClipGrid(8, 2, 2)
    label(tiny_benchmark, tmp_path / "list.txt", model, tmp_path / "local.zarr", grid, device="cpu", jobs=1,
          show_progress=False)
    label(tiny_benchmark, tmp_path / "list.txt", model, tmp_path / "dask.zarr", grid, device="cpu",
          show_progress=False, backend=Backend("dask", cluster, chunk=2))
    a, b = VideoStore(tmp_path / "local.zarr"), VideoStore(tmp_path / "dask.zarr")
    assert a.done() == b.done() == {e.path for e in entries}
    for e in entries:
        np.testing.assert_array_equal(a.group(e.path)["probs"][...], b.group(e.path)["probs"][...])
