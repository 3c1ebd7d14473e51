"""`scenes train --video`: the video scene model from an image ViT by patch-kernel inflation (equal outputs on a
static clip), layer-wise lr decay, a tiny run on fabricated images (learns, resumes bit-identically after a
crash), its self-describing file run by `scenes label` as a clip model, and the export to the DEVIAS teacher
layout read back (and by the reference forward) with the same outputs."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import timm
import torch
from checkpoint_fixtures import videomae_forward
from typer.testing import CliRunner

from devias_tk.cache.store import VideoStore
from devias_tk.cli import app
from devias_tk.data.encode import write_video
from devias_tk.data.lists import VideoEntry, write_list
from devias_tk.data.windows import ClipGrid
from devias_tk.engine.checkpoint import load_checkpoint
from devias_tk.errors import DeviasError
from devias_tk.models.backbone import sinusoid_table
from devias_tk.models.scene_model import IMAGENET_MEAN, IMAGENET_STD, save_checkpoint
from devias_tk.models.teacher import VideoSceneTeacher, map_image_vit, teacher_state_dict
from devias_tk.scenes import label as lb
from devias_tk.scenes import video_train
from devias_tk.scenes.export import export_teacher
from devias_tk.scenes.inflate import normalise
from devias_tk.scenes.model import load_scene_model
from devias_tk.scenes.preprocess import eval_view
from devias_tk.scenes.train import static_clips
from devias_tk.scenes.video_config import config_from

runner = CliRunner(env={"COLUMNS": "250", "NO_COLOR": "1"})
COLOURS = {"red": (200, 30, 30), "green": (30, 180, 40), "blue": (40, 50, 210)}
RECIPE = """
data: {root: ROOT, train_list: train.txt, val_list: val.txt, size: 32, scale: [0.5, 1.0], num_workers: 0}
model: {size: tiny, embed_dim: 64, depth: 1, num_heads: 1, frames: 4, tubelet_size: 2, drop_path: 0.1}
mix: {mixup: 0.8, cutmix: 1.0}
optim: {lr: 0.05, epochs: 2, batch_size: 4, accum_steps: 2, warmup_epochs: 0.5, layer_decay: 0.65}
run: {seed: 1, threads: 1, log_every: 1, device: cpu}
"""


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """Three colour classes of 8 noisy images each (40 x 48), Places365-style lists and folder class names."""
    root = tmp_path_factory.mktemp("scene_images")
    rng = np.random.default_rng(0)
    train, val = [], []
    for label, (name, colour) in enumerate(COLOURS.items()):
        (root / name).mkdir()
        for i in range(8):
            image = np.clip(np.array(colour) + rng.normal(0, 25, (40, 48, 3)), 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / name / f"{i}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            (val if i >= 6 else train).append(f"{name}/{i}.png {label}\n")
    (root / "train.txt").write_text("".join(train))
    (root / "val.txt").write_text("".join(val))
    return root


@pytest.fixture(scope="module")
def recipe(images, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("recipe") / "video.yaml"
    path.write_text(RECIPE.replace("ROOT", str(images)))
    return path


@pytest.fixture(scope="module")
def finished(recipe, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "run"
    video_train.train_video(config_from(recipe), run)
    return run


def _timm_vit(num_classes: int = 3, depth: int = 2) -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, depth=depth,
                             num_classes=num_classes).eval()


def _image_model_file(path: Path, vit: torch.nn.Module) -> Path:
    """A `scenes train` image scene model file holding `vit` (one block, 32 px, three classes)."""
    return save_checkpoint(path, vit, arch="vit_tiny_patch16_224", model_kwargs={"img_size": 32, "depth": 1},
                           class_names=["a", "b", "c"], input_size=32, resize_size=36, mean=IMAGENET_MEAN,
                           std=IMAGENET_STD)


def test_an_inflated_image_vit_gives_the_image_outputs_on_a_static_clip():
    """With one tubelet the teacher's tokens sit where timm's do (cls at 0, patch i at i + 1): given timm the same
    sinusoid table, the inflated model on a static clip equals the image model on the image, the k bias included."""
    vit = _timm_vit()
    with torch.no_grad():
        vit.pos_embed.copy_(sinusoid_table(5, 192)[None])
        for blk in vit.blocks:
            blk.attn.qkv.bias.normal_(0, 0.5)  # q, k and v biases all non-zero
    teacher = VideoSceneTeacher(3, embed_dim=192, depth=2, num_heads=3, img_size=32, frames=2, tubelet_size=2).eval()
    mapped = map_image_vit(vit.state_dict(), {k: v.shape for k, v in teacher.state_dict().items()})
    missing, unexpected = teacher.load_state_dict(mapped.state, strict=True), mapped.unexpected
    assert not missing.missing_keys and not unexpected and set(mapped.ignored) == {"pos_embed"}
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(teacher(static_clips(images, 2)), vit(images), atol=1e-4, rtol=1e-4)
    # a head of another class count is left fresh
    other = map_image_vit(_timm_vit(num_classes=5).state_dict(), {k: v.shape for k, v in teacher.state_dict().items()})
    assert "head.weight" not in other.state and "head.weight" in other.ignored


def test_init_from_an_image_scene_model_file_reports_what_it_loaded(tmp_path):
    vit = _timm_vit(depth=1)
    path = _image_model_file(tmp_path / "image.pt", vit)
    model = VideoSceneTeacher(3, embed_dim=192, depth=1, num_heads=3, img_size=32, frames=4, tubelet_size=2)
    report = video_train.load_init(model, path)
    assert report.problems == 0 and "pos_embed" in report.ignored
    assert "patch kernel inflated over 2 frames" in report.summary()
    kernel = model.state_dict()["backbone.patch_embed.proj.weight"]
    torch.testing.assert_close(kernel.sum(dim=2), vit.state_dict()["patch_embed.proj.weight"])
    torch.testing.assert_close(model.head.weight, vit.head.weight)
    with pytest.raises(DeviasError, match="not weights a video scene model can start from"):
        torch.save({"model": {"fc.weight": torch.zeros(3, 4)}}, tmp_path / "cnn.pth")
        video_train.load_init(model, tmp_path / "cnn.pth")


def test_layer_decay_puts_the_cls_token_with_the_patch_embedding():
    model = VideoSceneTeacher(3, embed_dim=64, depth=2, num_heads=1, img_size=32, frames=2)
    groups = video_train.layer_decay_groups(model, 0.05, 0.5)
    scale = {name: (g["lr_scale"], g["weight_decay"]) for g in groups for name in g["names"]}
    assert scale["cls_token"] == (0.125, 0.0)  # 0.5 ** (depth + 1)
    assert scale["backbone.patch_embed.proj.weight"] == (0.125, 0.05)
    assert scale["backbone.blocks.0.attn.qkv.weight"] == (0.25, 0.05)
    assert scale["backbone.blocks.1.mlp.fc1.bias"] == (0.5, 0.0)
    assert scale["head.weight"] == (1.0, 0.05) and scale["backbone.norm.weight"] == (1.0, 0.0)
    assert len(scale) == len(list(model.parameters()))


def test_a_tiny_run_learns_and_writes_a_self_describing_clip_model(finished, images):
    model = load_scene_model(finished / "scene_model.pt")
    assert model.arch == "video-vit" and model.inflation == "clip-model" and model.frames == 4
    assert model.class_names == list(COLOURS) and (model.input_size, model.resize_size) == (32, 37)
    epochs = model.metrics["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2] and model.metrics["val_top1"] == epochs[-1]["val_top1"]
    assert epochs[-1]["val_top1"] == 100.0  # three flat colours
    # the validation figure is the file's model on the eval view of each val image as a static clip
    x = []
    for line in (images / "val.txt").read_text().splitlines():
        image = cv2.cvtColor(cv2.imread(str(images / line.split()[0])), cv2.COLOR_BGR2RGB)
        x.append(eval_view(image[None], 32, 37)[0])
    with torch.no_grad():
        logits = model.module(static_clips(normalise(torch.from_numpy(np.stack(x)), IMAGENET_MEAN, IMAGENET_STD), 4))
    assert logits.argmax(1).tolist() == [0, 0, 1, 1, 2, 2]


class _Crash(Exception):
    pass


def test_a_crashed_run_resumes_bit_identically(recipe, finished, tmp_path, monkeypatch):
    run = tmp_path / "run"
    cfg = config_from(recipe, ["run.save_every_steps=2"])
    real = video_train.compute_loss

    def crash_at_step_7(net, batch, spec, step):
        if step == 7:
            raise _Crash
        return real(net, batch, spec, step)

    monkeypatch.setattr(video_train, "compute_loss", crash_at_step_7)
    with pytest.raises(_Crash):
        video_train.train_video(cfg, run)
    assert load_checkpoint(run / "checkpoints/last.pt")["step"] == 6
    monkeypatch.setattr(video_train, "compute_loss", real)
    reference = load_checkpoint(finished / "checkpoints/last.pt")
    assert video_train.train_video(cfg, run).steps == reference["step"] == 8  # 18 images, batch 4, 2 epochs
    resumed = load_checkpoint(run / "checkpoints/last.pt")
    for key, value in reference["model"].items():
        assert torch.equal(value, resumed["model"][key]), key
    assert resumed["val_history"] == reference["val_history"]
    with pytest.raises(DeviasError, match="another configuration"):
        video_train.train_video(config_from(recipe, ["optim.lr=0.1"]), run)


def test_scenes_label_runs_it_on_every_window_and_refuses_another_clip_length(finished, tmp_path):
    root = tmp_path / "videos"
    root.mkdir()
    frames = np.zeros((9, 40, 56, 3), np.uint8)
    frames[..., 2] = 210  # a blue video
    write_video(root / "blue.avi", frames, fps=25)
    write_list(root / "list.txt", [VideoEntry("blue.avi", -1, 2)])
    model = load_scene_model(finished / "scene_model.pt")
    summary = lb.label(root, root / "list.txt", model, tmp_path / "s.zarr", ClipGrid(window=4, stride=2, hop=2),
                       device="cpu", jobs=1, crops="none", show_progress=False)
    assert summary.clips == 2
    store = VideoStore(tmp_path / "s.zarr")
    assert store.attrs["inflation"] == "clip-model" and store.video_attrs("blue.avi")["video_top5"][0] == 2
    with pytest.raises(DeviasError, match="trained on 4-frame clips; label with --window 4 \\(not 8\\)"):
        lb.label(root, root / "list.txt", model, tmp_path / "t.zarr", ClipGrid(window=8, stride=1, hop=1),
                 device="cpu", jobs=1, crops="none", show_progress=False)


def test_export_to_the_teacher_layout_reads_back_with_the_same_outputs(finished, tmp_path):
    result = runner.invoke(app, ["scenes", "export", "--teacher", str(finished), "--out", str(tmp_path / "t.pth")])
    assert result.exit_code == 0, result.output
    own = load_scene_model(finished / "scene_model.pt")
    teacher = load_scene_model(tmp_path / "t.pth", classes=tmp_path / "t-classes.txt", input_size=32, strict=True)
    assert teacher.report.format == "devias-scene-teacher" and teacher.report.problems == 0
    assert teacher.class_names == own.class_names and teacher.inflation == "clip-model"
    state = torch.load(tmp_path / "t.pth", weights_only=True)["model"]
    assert "cls_token" in state and "blocks.0.attn.q_bias" in state
    assert not any(k.startswith("backbone.") for k in state)
    assert state.keys() == teacher_state_dict(own.module).keys()
    clips = torch.randn(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        expected = own.module(clips)
        torch.testing.assert_close(teacher.module(clips), expected, atol=0, rtol=0)
        # the release's computation (VideoMAE's ViT with a cls token, 64-dim heads) on the exported weights
        torch.testing.assert_close(videomae_forward(state, clips, heads=1)["logits"], expected, atol=2e-5, rtol=1e-4)
    image_model = _image_model_file(tmp_path / "image.pt", _timm_vit(depth=1))
    with pytest.raises(DeviasError, match="only video scene models"):
        export_teacher(image_model, tmp_path / "x.pth")


def test_the_cli_maps_flags_onto_the_recipe_and_refuses_what_does_not_apply(images, recipe, tmp_path):
    out = tmp_path / "cli"
    args = ["scenes", "train", "--video", "--recipe", str(recipe), "--out", str(out), "--list",
            str(images / "train.txt"), "--epochs", "1", "--frames", "2", "mix.mixup=0", "mix.cutmix=0"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "label with --window 2" in result.output
    model = load_scene_model(out / "scene_model.pt")
    assert model.frames == 2 and len(model.metrics["epochs"]) == 1
    saved = (out / "config.yaml").read_text()
    assert f"train_list: {images / 'train.txt'}" in saved and "mixup: 0.0" in saved
    refused = runner.invoke(app, ["scenes", "train", "--video", "--recipe", str(recipe), "--out", str(tmp_path / "x"),
                                  "--arch", "resnet18"])
    assert refused.exit_code != 0 and "model.size=tiny|small|base" in refused.output
    refused = runner.invoke(app, ["scenes", "train", "--root", str(images), "--list", str(images / "train.txt"),
                                  "--out", str(tmp_path / "i.pt"), "--frames", "8"])
    assert refused.exit_code != 0 and "--frames: only with --video" in refused.output


def test_every_precision_choice_is_accepted(recipe):
    assert config_from(recipe, ["run.amp=native"]).run.amp == "native"
    assert config_from(recipe, ["run.amp=fp16"]).run.amp == "fp16"


@pytest.mark.parametrize(("override", "message"), [
    ("model.frames=5", "model.frames 5 must be a positive multiple of model.tubelet_size 2"),
    ("data.size=40", "data.size 40 must be a multiple of model.patch_size 16"),
    ("model.size=huge", "model.size must be one of tiny, small, base"),
    ("optim.layer_decay=0", "optim.layer_decay must be in (0, 1]"),
    ("mix.prob=2", "prob, switch_prob in [0, 1]"),
    ("run.trackers=wandb", "logs to RUN/metrics.jsonl"),
    ("data.classes=nope.txt", "nope.txt"),
    ("run.amp=fp8", "run.amp must be one of auto, native, bf16, fp16, off (got 'fp8')"),
])
def test_configuration_errors_come_before_any_work(recipe, tmp_path, override, message):
    with pytest.raises(DeviasError, match=re.escape(message)):
        video_train.train_video(config_from(recipe, [override]), tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints").exists()
