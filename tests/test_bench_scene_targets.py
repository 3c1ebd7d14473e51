"""`bench scene-targets` on the tiny benchmark with a colour model: full-frame crops agree with the online
target on full-frame training crops, mixed clips are scored against their donor, bad grids and stores."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from devias_tk.bench.scene_targets import bench_scene_targets, eval_view_box, grid_coverage
from devias_tk.cache.store import VideoStore
from devias_tk.cli import app
from devias_tk.data.crop_grid import square_grid
from devias_tk.data.lists import read_list
from devias_tk.data.windows import ClipGrid
from devias_tk.errors import DeviasError
from devias_tk.models.scene_model import SceneModel, save_checkpoint
from devias_tk.scenes import label as lb

GRID = ClipGrid(window=8, stride=2, hop=2)
runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


class ColourScores(torch.nn.Module):
    """The class is the dominant colour channel (flip- and resize-invariant but for interpolation)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 50.0 * x.mean(dim=(2, 3))


def _model() -> SceneModel:
    return SceneModel(module=ColourScores(), arch="test-colour", class_names=["r", "g", "b"], input_size=32,
                      resize_size=36, mean=(0.5,) * 3, std=(0.5,) * 3, checkpoint="colour", sha256="c" * 64)


@pytest.fixture(scope="module")
def labelled(tiny_benchmark, tmp_path_factory):
    work = tmp_path_factory.mktemp("targets")
    lb.label(tiny_benchmark, tiny_benchmark / "lists/train.txt", _model(), work / "s.zarr", GRID, device="cpu",
             show_progress=False, crops="1:1,0.5:2")
    masks = VideoStore.open_or_create(work / "m.zarr", {"kind": "fame-masks"}, ("kind",))
    scenes = VideoStore(work / "s.zarr")
    for e in read_list(tiny_benchmark / "lists/train.txt"):
        attrs = scenes.video_attrs(e.path)
        k = len(attrs["starts"])
        soft, tub = np.zeros((k, 48, 64), np.uint8), np.zeros((k, 4, 12, 16), np.uint8)
        masks.commit(e.path, {"soft": (soft, soft.shape), "tubelet": (tub, tub.shape)},
                     {"num_frames": attrs["num_frames"], "starts": attrs["starts"]})
    return work


def test_full_frame_targets_agree_on_full_frame_crops_and_mixed_clips_follow_their_donor(tiny_benchmark, labelled):
    # scale (1, 1) on 4:3 frames: every training crop is the whole frame; beta 0: a mixed clip is its donor
    r = bench_scene_targets(tiny_benchmark, tiny_benchmark / "lists/train.txt", _model(), labelled / "s.zarr", GRID,
                            32, {"full": "1:1", "quarters": "0.5:2"}, scale=(1.0, 1.0), samples=40,
                            mask_store=labelled / "m.zarr", beta=0.0, batch=8)
    assert r.targets == ["centre", "full", "quarters"]
    for which in ("plain", "mixed"):
        assert [row[1] for row in getattr(r, which)["full"]] == [0, 0, 0, 40]  # all in the top area bin
    # the full-frame crop is the training crop up to interpolation (and the flip, which a colour mean ignores)
    assert r.percent("plain", "full")[-1] >= 95.0
    for target in r.targets:
        # every sample donates its clip, unchanged (beta 0), to exactly one other of its batch, and is scored
        # against the donor's cached target: the same agreements as on plain clips
        assert sum(row[0] for row in r.mixed[target]) == sum(row[0] for row in r.plain[target])
        assert sum(row[2] for row in r.mixed[target]) == pytest.approx(sum(row[2] for row in r.plain[target]))
    assert r.mean_tv("plain", "full")[-1] < 0.05 < r.mean_tv("plain", "quarters")[-1]  # distances, not only argmax
    assert r.grids["quarters"] == [list(b) for b in square_grid("0.5:2")]
    # the grid geometry: the full frame covers a full-frame crop exactly, a quarter by IoU 1/4
    # (a few draws land on a 63-pixel-wide box: the aspect-ratio draw, not the fallback)
    assert r.coverage["full"][-1] == pytest.approx(1.0, abs=0.01)
    assert r.coverage["quarters"][-1] == pytest.approx(0.25, abs=0.01)
    np.testing.assert_allclose(eval_view_box(48, 64, 32, 36), [[1 / 18, 1 / 6, 17 / 18, 5 / 6]])


def test_grid_coverage_by_hand():
    cover = grid_coverage({"full": np.array([[0, 0, 1, 1]])}, 48, 64, (0.5, 0.5), samples=200)
    assert cover["full"][2] == pytest.approx(0.5, abs=0.01) and np.isnan(cover["full"][0])  # area 1/2: IoU 1/2


def test_grids_outside_the_store_and_other_models_are_refused(tiny_benchmark, labelled):
    args = (tiny_benchmark, tiny_benchmark / "lists/train.txt")
    with pytest.raises(DeviasError, match=r"crop \[0\.25, 0\.25, 0\.75, 0\.75\] is not in the scene store's grid"):
        bench_scene_targets(*args, _model(), labelled / "s.zarr", GRID, 32, {"centre3": "0.5:1"}, samples=1)
    other = _model()
    other.sha256 = "d" * 64
    with pytest.raises(DeviasError, match="labelled by colour, not by"):
        bench_scene_targets(*args, other, labelled / "s.zarr", GRID, 32, samples=1)


def test_the_command_prints_the_tables(tiny_benchmark, labelled, tmp_path):
    torch.manual_seed(0)
    from devias_tk.models.scene_model import build_image_model

    module, kwargs = build_image_model("vit_tiny_patch16_224", 4, 32)
    model = save_checkpoint(tmp_path / "m.pt", module, arch="vit_tiny_patch16_224", model_kwargs=kwargs,
                            class_names=["a", "b", "c", "d"], input_size=32, resize_size=36, mean=(0.5,) * 3,
                            std=(0.5,) * 3)
    store = tmp_path / "s.zarr"
    lb.label(tiny_benchmark, tiny_benchmark / "lists/train.txt", model, store, GRID, device="cpu",
             show_progress=False, crops="1:1")
    result = runner.invoke(app, ["bench", "scene-targets", "--root", str(tiny_benchmark), "--model", str(model),
                                 "--scene-store", str(store), "--samples", "8", "--size", "32", "--frames", "8",
                                 "--stride", "2", "--hop", "2", "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    assert "plain clips" in result.output and "│ store (1)" in result.output and "mean IoU" in result.output
    assert (tmp_path / "r.json").is_file()
