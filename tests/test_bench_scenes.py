import json

from typer.testing import CliRunner

from devias_tk.cli import app


def test_bench_scenes_reports_its_figures(tiny_benchmark, tmp_path):
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
    result = runner.invoke(app, ["bench", "scenes", "--size", "32", "--frames", "8", "--batch", "8", "--iters", "2",
                                 "--classes", "4", "--device", "cpu", "--root", str(tiny_benchmark), "--videos", "3",
                                 "-j", "1", "--work", str(tmp_path), "--json", str(tmp_path / "b.json")])
    assert result.exit_code == 0, result.output
    assert "images/s" in result.output and "clips/s" in result.output and "stage on 3 videos" in result.output
    figures = json.loads((tmp_path / "b.json").read_text())
    assert figures["images_per_s"] > 0 and figures["stage"]["videos"] == 3 and figures["stage"]["clips"] > 0
    # 175 frames, 8-frame windows at stride and hop 4: 37 windows over 44 distinct frames
    assert abs(figures["frames_per_window"] - 44 / 37) < 1e-9
    assert not (tmp_path / "scenes_bench.zarr").exists()
