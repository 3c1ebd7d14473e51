import torch
from test_masks_fame import _moving_square_clip
from typer.testing import CliRunner

from devias_tk.bench.release_fame import release_style_masks
from devias_tk.cli import app


def test_release_style_anchor_finds_the_moving_block():
    clip, truth = _moving_square_clip()
    x = torch.from_numpy(clip).permute(3, 0, 1, 2)[None]
    masks, tubelets = release_style_masks(x)
    assert masks.shape == (1, 64, 64) and tubelets.shape == (1, 8, 64, 64)
    soft = masks[0]
    assert soft[torch.from_numpy(truth)].mean() > soft[~torch.from_numpy(truth)].mean() + 0.3


def test_bench_masks_reports_its_figures(tiny_benchmark, tmp_path):
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
    result = runner.invoke(app, ["bench", "masks", "--root", str(tiny_benchmark), "--videos", "4", "-j", "1",
                                 "--size", "32", "--work", str(tmp_path), "--json", str(tmp_path / "b.json")])
    assert result.exit_code == 0, result.output
    assert "videos/s" in result.output and "KiB per video" in result.output and "release-style" in result.output
    import json

    figures = json.loads((tmp_path / "b.json").read_text())
    assert figures["videos"] == 4 and figures["runs"]["1"]["videos_per_s"] > 0
