"""Scene model: inflation, window averaging, top-k, checkpoint round trip and wrong files, image lists, training."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from devias_tk.cli import app
from devias_tk.engine.optim import Schedule
from devias_tk.errors import DeviasError, ListFormatError
from devias_tk.scenes import inflate
from devias_tk.scenes.images import ImageEntry, class_names_from_folders, read_image_list
from devias_tk.scenes.model import FORMAT, build_image_model, load_scene_model, save_checkpoint
from devias_tk.scenes.preprocess import eval_view, resize_size_for
from devias_tk.scenes.train import TrainConfig, train_scene_model

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
MEAN, STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)


@pytest.fixture(scope="module")
def vit() -> torch.nn.Module:
    torch.manual_seed(0)
    module, _ = build_image_model("vit_tiny_patch16_224", 6, 32)
    return module.eval()


def _images(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), np.uint8))


def test_inflation_equals_the_image_model_on_a_static_clip(vit):
    image = _images(1)
    static = image.repeat(16, 1, 1, 1)
    expected = inflate.image_probs(vit, image, MEAN, STD)[0]
    torch.testing.assert_close(inflate.clip_probs(vit, static, MEAN, STD), expected, atol=1e-6, rtol=1e-5)
    clip = inflate.normalise(static, MEAN, STD).permute(1, 0, 2, 3)[None]  # (1, C, T, H, W)
    with torch.inference_mode():
        torch.testing.assert_close(inflate.FrameAverage(vit)(clip)[0], expected, atol=1e-6, rtol=1e-5)
    assert abs(float(expected.sum()) - 1) < 1e-5 and expected.std() > 0  # a real distribution, not uniform


def test_shared_frames_give_each_window_its_clip_distribution(vit):
    frames = _images(12, seed=1)
    positions = np.array([[0, 2, 4, 6], [2, 4, 6, 8], [4, 6, 8, 10], [8, 10, 11, 11]])  # overlapping, padded
    per_frame = inflate.image_probs(vit, frames, MEAN, STD).numpy()
    shared = inflate.window_probs(per_frame, positions)
    for k, rows in enumerate(positions):
        direct = inflate.clip_probs(vit, frames[torch.from_numpy(rows)], MEAN, STD).numpy()
        np.testing.assert_allclose(shared[k], direct, atol=1e-6)


def test_window_probs_and_topk_by_hand():
    frame_probs = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    np.testing.assert_allclose(inflate.window_probs(frame_probs, np.array([[0, 1, 2], [1, 2, 2], [0, 1, 1]])),
                               [[0.5, 0.5], [1 / 3, 2 / 3], [1 / 3, 2 / 3]])  # a repeated frame counts twice
    top = inflate.topk_padded(np.array([[0.1, 0.4, 0.4, 0.1], [0.7, 0.1, 0.05, 0.15]]))
    assert top.dtype == np.int16 and top.tolist() == [[1, 2, 0, 3, -1], [0, 3, 1, 2, -1]]
    assert inflate.topk_padded(np.arange(8.0)).tolist() == [7, 6, 5, 4, 3]


def test_inflated_patch_kernel_embeds_a_static_clip_like_the_image():
    torch.manual_seed(0)
    conv2d = torch.nn.Conv2d(3, 8, 4, stride=4)
    conv3d = torch.nn.Conv3d(3, 8, (2, 4, 4), stride=(2, 4, 4))
    with torch.no_grad():
        conv3d.weight.copy_(inflate.inflate_patch_kernel(conv2d.weight, 2))
        conv3d.bias.copy_(conv2d.bias)
        image = torch.randn(1, 3, 8, 8)
        clip = image[:, :, None].repeat(1, 1, 4, 1, 1)
        out = conv3d(clip)
        for t in range(2):
            torch.testing.assert_close(out[:, :, t], conv2d(image), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="kernel"):
        inflate.inflate_patch_kernel(conv3d.weight, 2)


def test_eval_view_resizes_the_short_side_and_crops_the_centre():
    frames = np.zeros((2, 96, 128, 3), np.uint8)
    frames[:, :, 64:] = 200  # right half bright
    view = eval_view(frames, 112, resize_size_for(112))
    assert resize_size_for(112) == 128 and view.shape == (2, 112, 112, 3) and view.dtype == np.uint8
    # short side 96 -> 128 (long 171), centre crop 112: the bright half starts at column 171/2 - 29.5 = 56
    assert view[0, :, :54].max() == 0 and view[0, :, 58:].min() == 200
    with pytest.raises(ValueError, match="smaller than input_size"):
        eval_view(frames, 112, 100)


def test_checkpoint_round_trip(vit, tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", vit, arch="vit_tiny_patch16_224", model_kwargs={"img_size": 32},
                           class_names=list("abcdef"), input_size=32, resize_size=37, mean=MEAN, std=STD,
                           metrics={"val_top1": 50.0})
    model = load_scene_model(path)
    assert (model.arch, model.class_names, model.input_size, model.resize_size) == (
        "vit_tiny_patch16_224", list("abcdef"), 32, 37)
    assert model.mean == MEAN and model.inflation == "frame-average" and model.metrics == {"val_top1": 50.0}
    assert model.checkpoint == "m.pt" and len(model.sha256) == 64 and not model.module.training
    assert model.describe() == {"arch": "vit_tiny_patch16_224", "checkpoint": "m.pt", "sha256": model.sha256,
                                "input_size": 32}
    images = _images(3)
    torch.testing.assert_close(inflate.image_probs(model.module, images, MEAN, STD),
                               inflate.image_probs(vit, images, MEAN, STD))
    assert list(tmp_path.iterdir()) == [path]  # written atomically: no temporary left


def test_wrong_files_give_clear_errors(vit, tmp_path):
    with pytest.raises(DeviasError, match="scene model file not found"):
        load_scene_model(tmp_path / "nope.pt")
    (tmp_path / "notes.pt").write_text("not a checkpoint\n")
    with pytest.raises(DeviasError, match=r"notes.pt: not a PyTorch checkpoint"):
        load_scene_model(tmp_path / "notes.pt")
    torch.save({"model": vit.state_dict(), "epoch": 3}, tmp_path / "foreign.pth")
    with pytest.raises(DeviasError, match=rf"not a scene-model checkpoint .*keys epoch, model.*{FORMAT}"):
        load_scene_model(tmp_path / "foreign.pth")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(DeviasError, match="a list"):
        load_scene_model(tmp_path / "list.pt")
    good = save_checkpoint(tmp_path / "m.pt", vit, arch="vit_tiny_patch16_224", model_kwargs={"img_size": 32},
                           class_names=list("abc"), input_size=32, resize_size=37, mean=MEAN, std=STD)
    with pytest.raises(DeviasError, match=r"weights do not fit vit_tiny_patch16_224"):
        load_scene_model(good)  # 3 class names, 6-way head
    payload = torch.load(good, weights_only=True)
    torch.save({**payload, "format_version": 9}, tmp_path / "future.pt")
    with pytest.raises(DeviasError, match="format version 9 is not supported"):
        load_scene_model(tmp_path / "future.pt")


def test_models_without_img_size_build_and_unknown_names_are_refused():
    module, kwargs = build_image_model("resnet18", 3, 64)
    assert kwargs == {} and module(torch.zeros(1, 3, 64, 64)).shape == (1, 3)
    with pytest.raises(DeviasError, match="unknown timm architecture 'vit_huge_nope'"):
        build_image_model("vit_huge_nope", 3, 64)


def test_image_lists_and_class_names(tmp_path):
    (tmp_path / "p.txt").write_text("/a/airfield/00000001.jpg 0\n/a/alcove/00000001.jpg 1\n/a/airfield/2.jpg 0\n")
    entries = read_image_list(tmp_path / "p.txt")
    assert entries[1] == ImageEntry("/a/alcove/00000001.jpg", 1)
    assert class_names_from_folders(entries) == ["/a/airfield", "/a/alcove"]
    with pytest.raises(DeviasError, match="classes \\[1\\] have no images"):
        class_names_from_folders([ImageEntry("a/x.jpg", 0), ImageEntry("c/y.jpg", 2)])
    with pytest.raises(DeviasError, match="class 0 has images in 'a' and 'b'"):
        class_names_from_folders([ImageEntry("a/x.jpg", 0), ImageEntry("b/y.jpg", 0)])
    (tmp_path / "bad.txt").write_text("a/x.jpg 0\na/y.jpg zero\n")
    with pytest.raises(ListFormatError, match=r"bad.txt:2: class index 'zero' is not an integer"):
        read_image_list(tmp_path / "bad.txt")


def test_lr_schedule_warms_up_then_decays_to_zero():
    # the image trainer's schedule: the shared one, per step, no floor
    schedule = Schedule(epochs=5, batches_per_epoch=2, accum_steps=1, base_lr=1.0, min_lr=0.0, warmup_epochs=1.0)
    lrs = [schedule.lr(s) for s in range(10)]
    assert lrs[:2] == [0.0, 0.5] and lrs[2] == 1.0 and all(a >= b for a, b in itertools.pairwise(lrs[2:]))
    assert schedule.lr(10) == 0.0


def test_training_writes_a_checkpoint_that_loads(tiny_benchmark, tmp_path):
    images = tiny_benchmark / "scene_images"
    result = train_scene_model(images, images / "train.txt", tmp_path / "s.pt", val_list=images / "val.txt",
                               config=TrainConfig(input_size=32, epochs=2, batch=8), jobs=0, device="cpu",
                               show_progress=False)
    assert result.class_names == ["beach", "forest", "desert", "city"]
    assert [e["epoch"] for e in result.epochs] == [1, 2] and all("val_top1" in e for e in result.epochs)
    model = load_scene_model(tmp_path / "s.pt")
    assert model.class_names == result.class_names and model.input_size == 32 and model.resize_size == 37
    assert model.metrics["val_top1"] == result.epochs[-1]["val_top1"] and model.metrics["train_images"] == 24
    payload = torch.load(tmp_path / "s.pt", weights_only=True)
    assert payload["train"]["arch"] == "vit_tiny_patch16_224" and payload["train"]["val_list"] == "val.txt"


def test_train_command(tiny_benchmark, tmp_path):
    images = tiny_benchmark / "scene_images"
    result = runner.invoke(app, ["scenes", "train", "--root", str(images), "--list", str(images / "train.txt"),
                                 "--val-list", str(images / "val.txt"), "--out", str(tmp_path / "s.pt"), "--size", "32",
                                 "--epochs", "1", "--batch", "12", "-j", "1", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "epoch 1/1: loss" in result.output and "validation top-1" in result.output
    assert load_scene_model(tmp_path / "s.pt").num_classes == 4
    result = runner.invoke(app, ["scenes", "train", "--root", str(images), "--list", str(images / "train.txt"),
                                 "--out", str(tmp_path / "x.pt"), "--arch", "nope_net"])
    assert result.exit_code == 2 and "unknown timm architecture 'nope_net'" in result.output
