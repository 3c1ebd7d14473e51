"""Scene targets in training: the cached crop that best covers the training crop, format-1 stores refused,
and data.scene_source=online (the frozen scene model on the mixed clip inside the step), by hand and in a run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from devias_tk.cache.kinds import SCENE_LABELS
from devias_tk.cache.store import VideoStore, file_sha256
from devias_tk.data.crop_grid import best_crop, square_grid
from devias_tk.data.encode import write_video
from devias_tk.data.lists import VideoEntry, read_class_names, read_list
from devias_tk.data.transforms import IMAGENET_MEAN, IMAGENET_STD, to_normalized_tensor_layout
from devias_tk.data.windows import ClipGrid
from devias_tk.errors import DeviasError
from devias_tk.models.scene_model import (
    SceneModel,
    build_image_model,
    image_probs,
    save_checkpoint,
    training_clip_probs,
)
from devias_tk.train import engine, step
from devias_tk.train.config import config_from
from devias_tk.train.data import TrainClips, TrainDataSpec
from devias_tk.train.losses import LossConfig

GRID = ClipGrid(window=4, stride=2, hop=2)
CROPS = "1:1,0.5:2"
MODEL_MEAN, MODEL_STD = (0.5, 0.4, 0.3), (0.25, 0.2, 0.3)


@pytest.fixture()
def ramp_video(tmp_path):
    """Red = the column's position, green = the row's, so a clip's content says where its crop was."""
    h, w = 48, 96
    video = np.zeros((12, h, w, 3), np.uint8)
    video[..., 0] = np.linspace(0, 255, w).astype(np.uint8)[None, None, :]
    video[..., 1] = np.linspace(0, 255, h).astype(np.uint8)[None, :, None]
    write_video(tmp_path / "ramp.avi", video, fps=25)
    return tmp_path


def _scene_store(path, crops: str | None = CROPS, windows: int = 4):
    """Window k, crop c -> a distribution peaked on class (c + k) % 5 (a format-1 store: no crop grid)."""
    attrs = {"kind": "scene-labels"} if crops is None else {"kind": "scene-labels", "crop_grid": square_grid(crops)}
    store = VideoStore.open_or_create(path, attrs, ("kind",))
    eye = np.eye(5, dtype=np.float16)
    crop_probs = np.stack([[eye[(c + k) % 5] for c in range(5)] for k in range(windows)])
    store.commit("ramp.avi", {"probs": (crop_probs[:, 0], (windows, 5)), "crop_probs": (crop_probs, crop_probs.shape)},
                 {"num_frames": 12, "starts": [0, 2, 4, 6][:windows]})
    return store


def test_the_target_is_the_window_on_the_best_covering_crop(ramp_video):
    _scene_store(ramp_video / "s.zarr")
    spec = TrainDataSpec(grid=GRID, size=32, scale=(0.1, 1.0), flip=False, scene_source="store", num_scenes=5)
    ds = TrainClips(ramp_video, [VideoEntry("ramp.avi", 0, -1)], spec, None, ramp_video / "s.zarr")
    grid = np.array(square_grid(CROPS))
    picked, windows = set(), set()
    for epoch in range(40):
        ds.set_epoch(epoch)
        item = ds[0]
        y0, x0, y1, x1 = item["crop_box"].tolist()
        red = (item["clip"][0, 0].numpy() * IMAGENET_STD[0] + IMAGENET_MEAN[0]) * 255
        green = (item["clip"][1, 0].numpy() * IMAGENET_STD[1] + IMAGENET_MEAN[1]) * 255
        # the box is where the clip came from: the ramps' values at its edges (within a pixel or two)
        assert abs(red[:, 0].mean() - 255 * x0) < 8 and abs(red[:, -1].mean() - 255 * x1) < 8
        assert abs(green[0].mean() - 255 * y0) < 12 and abs(green[-1].mean() - 255 * y1) < 12
        k, c = item["window"], best_crop((y0, x0, y1, x1), grid)
        assert item["scene"].dtype == torch.float32 and int(item["scene"].argmax()) == (c + k) % 5
        picked.add(c)
        windows.add(k)
    assert picked == {0, 1, 2, 3, 4} and windows == {0, 1, 2, 3}


def test_a_store_without_crop_targets_is_refused(ramp_video):
    _scene_store(ramp_video / "old.zarr", crops=None)
    spec = TrainDataSpec(grid=GRID, size=32, scene_source="store", num_scenes=5)
    ds = TrainClips(ramp_video, [VideoEntry("ramp.avi", 0, -1)], spec, None, ramp_video / "old.zarr")
    with pytest.raises(DeviasError, match=r"without crop targets .*re-run `devias-tk scenes label`"):
        ds[0]


class ColourScores(torch.nn.Module):
    """Logits from each image's mean channel values: (N, 3, H, W) -> (N, 3); records the input shape."""

    def __init__(self, clip: bool = False) -> None:
        super().__init__()
        self.clip, self.shapes = clip, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(x.shape))
        dims = (2, 3, 4) if self.clip else (2, 3)  # a clip model pools over time too
        return 4.0 * x.mean(dim=dims)


def _clip_tensor(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(to_normalized_tensor_layout(frames))  # what TrainClips gives: (C, T, H, W)


def test_online_probs_equal_the_cached_computation_by_hand():
    frames = np.random.default_rng(0).integers(0, 256, (2, 4, 16, 16, 3), np.uint8)  # two clips of four frames
    clips = torch.stack([_clip_tensor(f) for f in frames])
    module = ColourScores()
    got = training_clip_probs(module, clips, IMAGENET_MEAN, IMAGENET_STD, 16, MODEL_MEAN, MODEL_STD)
    assert module.shapes == [(8, 3, 16, 16)]
    for b in range(2):  # the labelling stage's frame-average of the model in its own units
        want = image_probs(module, torch.from_numpy(frames[b]), MODEL_MEAN, MODEL_STD).mean(0)
        torch.testing.assert_close(got[b], want, atol=1e-5, rtol=1e-5)
    # the same numbers by hand for clip 0: softmax(4 * ((mean / 255 - model mean) / model std)) per frame
    means = frames[0].reshape(4, -1, 3).mean(1) / 255
    logits = 4 * (means - np.array(MODEL_MEAN)) / np.array(MODEL_STD)
    soft = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(got[0].numpy(), soft.mean(0), atol=1e-5)


def test_online_probs_resize_to_the_model_and_feed_a_clip_model_whole_clips():
    levels = np.array([[30, 200, 90], [250, 10, 120], [60, 60, 240]], np.uint8)  # one colour per frame
    frames = np.broadcast_to(levels[:, None, None], (3, 32, 32, 3)).copy()
    clips = _clip_tensor(frames)[None]
    module = ColourScores()
    got = training_clip_probs(module, clips, IMAGENET_MEAN, IMAGENET_STD, 16, MODEL_MEAN, MODEL_STD)
    assert module.shapes == [(3, 3, 16, 16)]  # resized to the model's input
    small = torch.from_numpy(np.broadcast_to(levels[:, None, None], (3, 16, 16, 3)).copy())
    torch.testing.assert_close(got[0], image_probs(module, small, MODEL_MEAN, MODEL_STD).mean(0), atol=1e-5,
                               rtol=1e-5)
    clip_module = ColourScores(clip=True)
    got = training_clip_probs(clip_module, clips, IMAGENET_MEAN, IMAGENET_STD, 16, MODEL_MEAN, MODEL_STD,
                              clip_model=True)
    assert clip_module.shapes == [(1, 3, 3, 16, 16)]  # (B, C, T, S, S)
    logits = 4 * (levels.mean(0) / 255 - np.array(MODEL_MEAN)) / np.array(MODEL_STD)
    np.testing.assert_allclose(got[0].numpy(), np.exp(logits) / np.exp(logits).sum(), atol=1e-5)


def _colour_scene_model() -> SceneModel:
    return SceneModel(module=ColourScores(), arch="test-colour", class_names=["r", "g", "b"], input_size=16,
                      resize_size=16, mean=MODEL_MEAN, std=MODEL_STD)


def test_the_step_scores_the_mixed_clip(monkeypatch):
    seen: dict[str, torch.Tensor] = {}

    class Recorder(torch.nn.Module):
        def forward(self, clips):
            seen["clips"] = clips
            return {}

    def fake_loss(out, targets, num_actions, cfg):
        seen["scene"] = targets["scene"]
        return torch.zeros(()), {}

    monkeypatch.setattr(step, "baseline_loss", fake_loss)
    rng = np.random.default_rng(1)
    levels = rng.integers(0, 256, (4, 3), np.uint8)  # four single-colour clips
    clips = torch.stack([_clip_tensor(np.broadcast_to(v, (2, 32, 32, 3)).copy()) for v in levels])
    soft = torch.zeros(4, 32, 32, dtype=torch.uint8)
    soft[:, :8, :8] = 255  # the "actor": a corner; the rest is background that the mix replaces
    batch = {"clip": clips, "action": torch.zeros(4, dtype=torch.long), "scene": torch.full((4,), -1),
             "soft_mask": soft}
    spec = step.StepSpec(method="two-token", num_actions=2, mix="fame", beta=64 / 1024, p_aug=1.0, be_max_lambda=0.3,
                         patch_size=16, guide_pool=4, loss=LossConfig())
    model = _colour_scene_model()
    step.compute_loss(Recorder(), batch, spec, torch.Generator().manual_seed(0), scene_model=model)
    assert not torch.equal(seen["clips"], clips)  # every clip got another's background
    want = model.training_clip_probs(seen["clips"], IMAGENET_MEAN, IMAGENET_STD)
    torch.testing.assert_close(seen["scene"], want)
    assert seen["scene"].shape == (4, 3)
    unmixed = model.training_clip_probs(clips, IMAGENET_MEAN, IMAGENET_STD)
    assert (seen["scene"].argmax(1) != unmixed.argmax(1)).any()  # the background decides


ONLINE_RECIPE = """
data: {root: ROOT, train_list: lists/train.txt, scene_source: online, scene_model: MODEL, frames: 8, stride: 2,
       hop: 2, size: 32, scale: [0.3, 1.0], num_workers: 0, val_fraction: 0}
model: {method: two-token, size: tiny, depth: 1, embed_dim: 32, num_heads: 2}
aug: {mix: be}
optim: {lr: 1.0e-2, epochs: 1, batch_size: 4, warmup_epochs: 0}
run: {seed: 1, threads: 1, log_every: 1}
"""


@pytest.fixture(scope="module")
def online_setup(tiny_benchmark, tmp_path_factory):
    work = tmp_path_factory.mktemp("online")
    torch.manual_seed(0)
    names = read_class_names(tiny_benchmark / "scenes.txt")
    module, kwargs = build_image_model("vit_tiny_patch16_224", len(names), 32)
    model = save_checkpoint(work / "scene.pt", module, arch="vit_tiny_patch16_224", model_kwargs=kwargs,
                            class_names=names, input_size=32, resize_size=37, mean=(0.5,) * 3, std=(0.5,) * 3)
    recipe = work / "online.yaml"
    recipe.write_text(ONLINE_RECIPE.replace("ROOT", str(tiny_benchmark)).replace("MODEL", str(model)))
    return recipe, model


def test_an_online_run_trains_on_the_scene_model_targets(online_setup, tmp_path):
    recipe, _ = online_setup
    cfg = config_from(recipe)
    prep = engine.prepare(cfg)
    assert prep.scene_model is not None and prep.scene_model.class_names == prep.scenes
    assert not any(p.requires_grad for p in prep.scene_model.module.parameters())
    result = engine.train(cfg, tmp_path / "run")
    assert result.steps == 6 and math.isfinite(result.last["loss"]) and result.last["scene"] > 0


def test_online_configuration_errors_come_before_any_work(online_setup, tiny_benchmark, tmp_path):
    recipe, _ = online_setup
    wrong = tmp_path / "scenes.txt"
    wrong.write_text("".join(f"{i} other{i}\n" for i in range(4)))
    cases = [
        (["data.scene_model=null"], "data.scene_source=online needs a scene model"),
        ([f"data.scenes={wrong}"], "not the class names scene.pt was trained with"),
        (["data.scene_model=/nope.pt"], "scene model file not found"),
        (["data.scene_source=web"], "data.scene_source must be one of store, list, online"),
    ]
    for overrides, message in cases:
        with pytest.raises(DeviasError) as err:
            engine.prepare(config_from(recipe, overrides))
        assert message in str(err.value), (overrides, str(err.value))
    # without data.scenes the names come from the model file
    assert engine.prepare(config_from(recipe, ["data.scenes=null"])).scenes == read_class_names(
        tiny_benchmark / "scenes.txt")


def test_a_format_1_scene_store_is_refused(online_setup, tiny_benchmark, tmp_path):
    recipe, _ = online_setup
    list_path = tiny_benchmark / "lists/train.txt"
    attrs = {"kind": "scene-labels", "format_version": 1, "window": 8, "stride": 2, "hop": 2, "num_classes": 4,
             "list_sha256": file_sha256(list_path)}
    store = VideoStore.open_or_create(tmp_path / "old.zarr", attrs, ("kind",))
    for e in read_list(list_path):
        store.commit(e.path, {"probs": (np.full((1, 4), 0.25, np.float16), (1, 4))}, {"num_frames": 32, "starts": [0]})
    with pytest.raises(DeviasError, match=r"scene store format version 1, training reads version 2 .*"
                                          r"re-run `devias-tk scenes label`"):
        engine.prepare(config_from(recipe, ["data.scene_source=store", f"data.scene_store={tmp_path / 'old.zarr'}"]))
    attrs.update(format_version=SCENE_LABELS.version, crop_grid=[])  # labelled with --crops none
    store = VideoStore.open_or_create(tmp_path / "eval.zarr", attrs, ("kind",))
    for e in read_list(list_path):
        store.commit(e.path, {"probs": (np.full((1, 4), 0.25, np.float16), (1, 4))}, {"num_frames": 32, "starts": [0]})
    with pytest.raises(DeviasError, match=r"labelled with --crops none \(for evaluation\), so it holds no training"):
        engine.prepare(config_from(recipe, ["data.scene_source=store", f"data.scene_store={tmp_path / 'eval.zarr'}"]))
