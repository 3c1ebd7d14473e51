import json

import pytest
from typer.testing import CliRunner

from devias_tk.bench.train import bench_train, vit_forward_flops
from devias_tk.cli import app

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def test_flop_count_matches_the_anchor():
    # ViT-B/16 at 16x224x224: 1568 tokens, about 361 GFLOP per forward pass (the facts' anchor)
    assert vit_forward_flops(12, 768, 1568, 2 * 16 * 16) / 1e9 == pytest.approx(361, abs=1)


@pytest.mark.parametrize("method", ["devias", "two-token"])
def test_bench_train_runs_the_real_step(method):
    r = bench_train(method, "tiny", frames=4, size=32, batch=2, device="cpu", steps=1, warmup=1)
    assert r.clips_per_s > 0 and r.peak_memory_gib > 0 and r.precision == "fp32" and r.batch == 2


def test_bench_train_cli_takes_the_recipe_shape_and_precision(tmp_path, monkeypatch):
    from devias_tk.engine import runtime

    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: True)
    args = ["bench", "train", "--model", "tiny", "--depth", "1", "--stem", "conv3d", "--frames", "4", "--size", "32",
            "--batch", "2", "--steps", "1", "--warmup", "0", "--json", str(tmp_path / "b.json")]
    result = runner.invoke(app, [*args, "--amp", "native"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "b.json").read_text())[0]["precision"] == "bf16 autocast"
    assert runner.invoke(app, [*args, "--amp", "off"]).exit_code == 0
    assert json.loads((tmp_path / "b.json").read_text())[0]["precision"] == "fp32"
    assert runner.invoke(app, [*args, "--amp", "fp16"]).exit_code == 0
    assert json.loads((tmp_path / "b.json").read_text())[0]["precision"] == "fp16 autocast with loss scaling"
    result = runner.invoke(app, [*args, "--amp", "fp8"])
    assert result.exit_code != 0 and "--amp must be one of auto, native, bf16, fp16, off" in result.output
    r = bench_train("naive-action", "tiny", frames=4, size=32, batch=2, steps=1, warmup=0, depth=1, stem="conv3d")
    assert r.clips_per_s > 0


def test_bench_train_with_loader_on_files(tiny_benchmark, tmp_path):
    import torch

    from devias_tk.data.windows import ClipGrid
    from devias_tk.masks import extract
    from devias_tk.masks.windows import WindowSpec
    from devias_tk.scenes.label import label
    from devias_tk.scenes.model import build_image_model, save_checkpoint

    train = tiny_benchmark / "lists/train.txt"
    extract.extract(tiny_benchmark, train, tmp_path / "m.zarr", WindowSpec(8, 4, 4, 32, 8), jobs=1,
                    show_progress=False)
    torch.manual_seed(0)
    module, kwargs = build_image_model("vit_tiny_patch16_224", 4, 32, depth=1)
    model = save_checkpoint(tmp_path / "s.pt", module, arch="vit_tiny_patch16_224", model_kwargs=kwargs,
                            class_names=list("abcd"), input_size=32, resize_size=32, mean=(0.5,) * 3, std=(0.5,) * 3)
    label(tiny_benchmark, train, model, tmp_path / "s.zarr", ClipGrid(8, 4, 4), device="cpu", jobs=1,
          show_progress=False)
    result = runner.invoke(app, ["bench", "train", "--with-loader", "--root", str(tiny_benchmark), "--mask-store",
                                 str(tmp_path / "m.zarr"), "--scene-store", str(tmp_path / "s.zarr"), "--model", "tiny",
                                 "--frames", "8", "--size", "32", "--batch", "4", "--jobs", "0",
                                 "--loader-batches", "3", "--steps", "1", "--json", str(tmp_path / "b.json")])
    assert result.exit_code == 0, result.output
    figures = json.loads((tmp_path / "b.json").read_text())
    assert figures["loader_clips_per_s"] > 0 and figures["end_to_end_clips_per_s"] > 0
    phases = figures["breakdown"]
    assert {"open", "decode", "mask read", "scene read", "crop", "normalise", "mask crop", "collate"} <= set(phases)
    assert figures["cpu_ms_per_clip"] == pytest.approx(sum(p["cpu_ms"] for p in phases.values()))
    # tiny videos: 32 frames, key frames every 12; an 8x4 window spans 29 frames
    assert 29 <= figures["frames_decoded_per_window"] <= 29 + 11
    # two clips per decoded window, cropped and normalised by the step: a batch of 4 videos is 8 clips
    result = runner.invoke(app, ["bench", "train", "--with-loader", "--root", str(tiny_benchmark), "--mask-store",
                                 str(tmp_path / "m.zarr"), "--scene-store", str(tmp_path / "s.zarr"), "--model", "tiny",
                                 "--frames", "8", "--size", "32", "--batch", "4", "--jobs", "0", "--repeats", "2",
                                 "--device-transforms", "--loader-batches", "1", "--steps", "1", "--profile", "2",
                                 "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    figures = json.loads((tmp_path / "r.json").read_text())
    assert figures["repeats"] == 2 and figures["end_to_end_clips_per_s"] > 0
    assert "normalise" not in figures["breakdown"] and figures["breakdown"]["decode"]["cpu_ms"] > 0
