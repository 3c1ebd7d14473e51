"""`data resize`: a smaller copy of a dataset that keeps every frame, so the stores built on the original work."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from devias_tk.cli import app
from devias_tk.data.lists import read_list, write_list
from devias_tk.data.resize import FAILURES, resize_dataset, target_size
from devias_tk.data.video import Video
from devias_tk.data.windows import ClipGrid
from devias_tk.train.data import TrainClips, TrainDataSpec

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def test_target_size_keeps_the_aspect_and_even_sides():
    assert target_size(240, 320, 256) == (256, 342)  # 341.3 -> 341 -> 342, even
    assert target_size(720, 1280, 320) == (320, 570)  # 568.9 -> 569 -> even
    assert target_size(1280, 720, 256) == (456, 256)  # portrait


def test_resize_keeps_frames_and_the_stores_built_on_the_original_root(tiny_benchmark, tmp_path):
    from devias_tk.masks import extract
    from devias_tk.masks.windows import WindowSpec

    root = tmp_path / "root"
    root.mkdir()
    (root / "videos").symlink_to(tiny_benchmark / "videos")
    (root / "bad").mkdir()
    (root / "bad" / "broken.avi").write_bytes(b"not a video at all" * 10)
    good = read_list(tiny_benchmark / "lists/train.txt")[::6]  # 4 videos, 64x48
    write_list(root / "good.txt", good)
    write_list(root / "all.txt", [*good, type(good[0])("bad/broken.avi", 0, 0)])
    out = tmp_path / "small"
    (out / good[0].path).parent.mkdir(parents=True)
    (out / good[0].path).with_name(".leftover.partial.avi").write_bytes(b"a killed run's temporary file")

    result = runner.invoke(app, ["data", "resize", "--root", str(root), "--list", str(root / "all.txt"), "--out",
                                 str(out), "--short", "32", "-j", "1"])
    assert result.exit_code == 1, result.output  # one video failed: recorded, the others written
    assert "4 resized" in result.output and "1 failed" in result.output
    failures = json.loads((out / FAILURES).read_text())
    assert list(failures) == ["bad/broken.avi"] and "decodable" in failures["bad/broken.avi"]
    for entry in good:
        src, dst = Video(root / entry.path), Video(out / entry.path)
        assert len(dst) == len(src) == 32 and (dst.info.height, dst.info.width) == (32, 44)
        a = src.frames([0, 17, 31]).astype(float)
        b = dst.frames([0, 17, 31]).astype(float)  # the same frames, smaller: their mean colours agree
        assert np.abs(a.mean(axis=(1, 2)) - b.mean(axis=(1, 2))).max() < 6

    again = resize_dataset(root, root / "all.txt", out, 32)  # a re-run: the done ones skipped, the bad one retried
    assert (again.skipped, again.resized, list(again.failed)) == (4, 0, ["bad/broken.avi"])

    # a mask store built on the original root trains on the resized one (same windows, masks scaled to the frame)
    extract.extract(root, root / "good.txt", tmp_path / "m.zarr", WindowSpec(8, 4, 4, 32, 8), jobs=1,
                    show_progress=False)
    spec = TrainDataSpec(grid=ClipGrid(8, 4, 4), size=32, guide_shape=(8, 8))
    items = [TrainClips(r, good, spec, mask_store=tmp_path / "m.zarr", seed=1)[(0, 2)] for r in (root, out)]
    assert items[0]["window"] == items[1]["window"] and items[1]["clip"].shape == (3, 8, 32, 32)
    assert items[1]["soft_mask"].shape == (32, 32)
    # the same draws on a frame of the same aspect: the same crop in frame terms, to a pixel or so
    np.testing.assert_allclose(items[0]["crop_box"], items[1]["crop_box"], atol=0.05)
