"""Foreign scene models: Places365 CSAIL ResNets, an MAE-fine-tuned timm ViT and the DEVIAS video teacher,
each from a fabricated file in its published layout, equal to a reference forward; the teacher labels
windows as whole clips through `scenes label`; wrong files and options give clear errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from checkpoint_fixtures import devias_teacher, mae_vit, mae_vit_forward, videomae_finetuned, videomae_forward
from typer.testing import CliRunner

from devias_tk.cache.store import VideoStore
from devias_tk.cli import app
from devias_tk.data.encode import write_video
from devias_tk.data.lists import VideoEntry, write_list
from devias_tk.data.video import Video
from devias_tk.data.windows import ClipGrid, window_indices
from devias_tk.errors import DeviasError
from devias_tk.scenes import inflate
from devias_tk.scenes import label as lb
from devias_tk.scenes.model import IMAGENET_MEAN, IMAGENET_STD, default_normalisation, load_scene_model
from devias_tk.scenes.preprocess import crop_views, eval_view

runner = CliRunner(env={"COLUMNS": "250", "NO_COLOR": "1"})


def _categories(path: Path, count: int = 365) -> Path:
    """categories_places365.txt's layout: '/a/airfield 0', sub-paths in names, no trailing newline."""
    names = [f"/{chr(97 + i % 26)}/scene_{i}" + ("/outdoor" if i % 7 == 0 else "") for i in range(count)]
    path.write_text("\n".join(f"{name} {i}" for i, name in enumerate(names)))
    return path


def _csail(path: Path, arch: str) -> torch.nn.Module:
    """A CSAIL release file: DataParallel-prefixed torchvision names, no num_batches_tracked (saved before
    PyTorch 0.4.1), the legacy (non-zip) container. Returns the original torchvision module it holds."""
    torch.manual_seed(0)
    net = getattr(torchvision.models, arch)(weights=None, num_classes=365)
    g = torch.Generator().manual_seed(1)
    for m in net.modules():  # non-trivial BatchNorm statistics, or the check would hide a mix-up
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data = 1 + 0.1 * torch.randn(m.num_features, generator=g)
            m.bias.data = 0.1 * torch.randn(m.num_features, generator=g)
            m.running_mean = 0.1 * torch.randn(m.num_features, generator=g)
            m.running_var = 0.5 + torch.rand(m.num_features, generator=g)
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    payload = {"epoch": 90, "arch": arch, "state_dict": {f"module.{k}": v for k, v in state.items()},
               "best_prec1": 54.65}
    torch.save(payload, path, _use_new_zipfile_serialization=False)
    return net.eval()


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_places365_csail_resnets_load_strictly_and_match_torchvision(tmp_path, arch):
    reference = _csail(tmp_path / f"{arch}_places365.pth.tar", arch)
    categories = _categories(tmp_path / "categories_places365.txt")
    model = load_scene_model(tmp_path / f"{arch}_places365.pth.tar", classes=categories, strict=True)
    assert model.report.format == f"places365-csail {arch}" and model.report.problems == 0
    assert model.report.container == "state_dict" and any("'module.' prefix" in n for n in model.report.notes)
    assert (model.input_size, model.resize_size, model.mean, model.std) == (224, 256, IMAGENET_MEAN, IMAGENET_STD)
    assert model.class_names[0] == "/a/scene_0/outdoor" and model.class_names[363] == "/z/scene_363"
    assert model.inflation == "frame-average" and model.describe()["arch"] == f"torchvision.{arch}"
    images = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(model.module(images), reference(images))


def test_csail_files_with_another_arch_or_wrong_options_are_refused(tmp_path):
    _csail(tmp_path / "r18.pth.tar", "resnet18")
    categories = _categories(tmp_path / "categories.txt")
    with pytest.raises(DeviasError, match=r"r18\.pth\.tar: this format stores no class names; give --classes"):
        load_scene_model(tmp_path / "r18.pth.tar")
    with pytest.raises(DeviasError, match=r"10 class names, but r18\.pth\.tar's classifier has 365 outputs"):
        load_scene_model(tmp_path / "r18.pth.tar", classes=_categories(tmp_path / "ten.txt", 10))
    with pytest.raises(DeviasError, match="the file says arch 'resnet18'; --arch resnet50 does not apply"):
        load_scene_model(tmp_path / "r18.pth.tar", classes=categories, arch="resnet50")
    torch.save({"epoch": 1, "arch": "densenet161", "state_dict": {"module.features.conv0.weight": torch.zeros(1)}},
               tmp_path / "dense.pth.tar")
    with pytest.raises(DeviasError, match="arch 'densenet161'; supported: resnet18, resnet50"):
        load_scene_model(tmp_path / "dense.pth.tar", classes=categories)


def test_an_mae_finetuned_timm_vit_loads_with_arch_and_matches_mae(tmp_path):
    sd = mae_vit(192, 12, grid=2, num_classes=5)
    # as MAE's fine-tuning saves it: weights under 'model' beside optimizer, scaler and argparse args
    torch.save({"model": sd, "optimizer": {"state": {}}, "epoch": 99, "scaler": {"scale": 65536.0},
                "args": argparse.Namespace(model="vit_base_patch16", global_pool=True, nb_classes=5)},
               tmp_path / "mae_places.pth")
    classes = _categories(tmp_path / "five.txt", 5)
    model = load_scene_model(tmp_path / "mae_places.pth", classes=classes, arch="vit_tiny_patch16_224", input_size=32,
                             strict=True)
    assert model.report.format == "timm-state-dict vit_tiny_patch16_224" and model.report.problems == 0
    assert any("global_pool='avg'" in n for n in model.report.notes)
    assert (model.input_size, model.resize_size) == (32, 36) and (model.mean, model.std) == default_normalisation(
        "vit_tiny_patch16_224")
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        torch.testing.assert_close(model.module(images), mae_vit_forward(sd, images, heads=3), atol=2e-5, rtol=1e-4)
    # without --arch the file is not guessed
    with pytest.raises(DeviasError, match=r"not a scene-model checkpoint .*image ViT \(192 dims, 12 blocks.*--arch"):
        load_scene_model(tmp_path / "mae_places.pth", classes=classes)
    with pytest.raises(DeviasError, match="unknown timm architecture 'vit_nonesuch'"):
        load_scene_model(tmp_path / "mae_places.pth", classes=classes, arch="vit_nonesuch")


def _teacher_file(tmp_path: Path) -> tuple[dict, Path, Path]:
    sd = devias_teacher(192, 2, num_classes=6)
    path = tmp_path / "scene_teacher.pth"
    torch.save({"model": sd, "epoch": 29, "args": argparse.Namespace(nb_classes=6)}, path)
    return sd, path, _categories(tmp_path / "six.txt", 6)


def test_the_devias_teacher_loads_strictly_and_matches_the_reference(tmp_path):
    sd, path, classes = _teacher_file(tmp_path)
    model = load_scene_model(path, classes=classes, input_size=32, strict=True)
    assert model.report.format == "devias-scene-teacher" and model.report.problems == 0
    assert model.report.loaded == sorted(model.module.state_dict()) and model.inflation == "clip-model"
    assert (model.input_size, model.resize_size, model.mean) == (32, 32, IMAGENET_MEAN)
    clips = torch.randn(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        torch.testing.assert_close(model.module(clips), videomae_forward(sd, clips, heads=3)["logits"],
                                   atol=2e-5, rtol=1e-4)
    with pytest.raises(DeviasError, match="architecture is read from its weights; --arch vit_base_patch16_224"):
        load_scene_model(path, classes=classes, arch="vit_base_patch16_224")
    torch.save({"model": videomae_finetuned(64, 2)}, tmp_path / "action.pth")
    with pytest.raises(DeviasError, match=r"a VideoMAE action model without a cls token, not a scene model"):
        load_scene_model(tmp_path / "action.pth", classes=classes)


def test_scenes_label_runs_the_teacher_on_each_window_clip(tmp_path):
    sd, path, classes = _teacher_file(tmp_path)
    root = tmp_path / "videos"
    root.mkdir()
    rng = np.random.default_rng(0)
    for name, frames in (("a.avi", 11), ("b.avi", 3)):  # b is shorter than one window (padded)
        blocks = rng.integers(0, 256, (frames, 5, 7, 3), np.uint8)
        write_video(root / name, blocks.repeat(8, axis=1).repeat(8, axis=2), fps=25)
    write_list(root / "list.txt", [VideoEntry("a.avi", -1, 0), VideoEntry("b.avi", -1, 0)])
    out = tmp_path / "s.zarr"
    args = ["scenes", "label", "--root", str(root), "--list", str(root / "list.txt"), "--model", str(path),
            "--classes", str(classes), "--input-size", "32", "--window", "4", "--stride", "2", "--batch", "8",
            "--device", "cpu", "-j", "1", "--strict", "--crops", "1:1,0.5:2"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "devias-scene-teacher (weights under 'model'): 33 tensors loaded, 0 missing, 0 unexpected" in result.output
    assert "3 attention heads assumed" in result.output
    store = VideoStore(out)
    grid = ClipGrid(window=4, stride=2, hop=2)
    model = load_scene_model(path, classes=classes, input_size=32)
    assert store.attrs["inflation"] == "clip-model" and store.attrs["class_names"] == model.class_names
    assert store.attrs["model"] == {"arch": "devias-video-vit-teacher", "checkpoint": "scene_teacher.pth",
                                    "sha256": model.sha256, "input_size": 32}
    for name in ("a.avi", "b.avi"):
        video = Video(root / name)
        starts = store.video_attrs(name)["starts"]
        probs, crop_probs = store.group(name)["probs"][...], store.group(name)["crop_probs"][...]
        assert probs.shape == (len(starts), 6) and crop_probs.shape == (len(starts), 5, 6)
        for k, rows in enumerate(window_indices(len(video), starts, grid)):
            frames = video.frames(rows)
            # each (window, view) is one clip through the teacher: the eval view, then the crops
            for view, got in zip([eval_view(frames, 32, 32), *crop_views(frames, store.attrs["crop_grid"], 32)],
                                 [probs[k], *crop_probs[k]], strict=True):
                x = inflate.normalise(torch.from_numpy(view), IMAGENET_MEAN, IMAGENET_STD).transpose(0, 1)[None]
                expected = videomae_forward(sd, x, heads=3)["logits"].softmax(-1)[0].numpy()  # x: (1, C, T, H, W)
                np.testing.assert_allclose(got, expected, atol=2e-3)
    with pytest.raises(DeviasError, match="tubelets of 2 frames; window 3 does not divide"):
        lb.label(root, root / "list.txt", model, tmp_path / "t.zarr", ClipGrid(window=3, stride=2, hop=2), device="cpu")
