"""Training init from VideoMAE pre-training / fine-tuned files, the DEVIAS teacher and the toolkit's own
checkpoints: strict loads from fabricated files, outputs equal to VideoMAE's forward, reports, wrong files."""

from __future__ import annotations

import argparse
import io

import pytest
import torch
from checkpoint_fixtures import (
    devias_teacher,
    last_block_tokens,
    sinusoid,
    videomae_finetuned,
    videomae_forward,
    videomae_pretraining,
)
from rich.console import Console

from devias_tk.engine.checkpoint import load_initial_weights, save_checkpoint
from devias_tk.errors import DeviasError
from devias_tk.models.checkpoints import compact, read_checkpoint
from devias_tk.models.factory import build_model
from devias_tk.train import engine
from devias_tk.train.config import config_from

DIM, HEADS = 64, 2
TINY = {"size": "tiny", "embed_dim": DIM, "depth": 2, "num_heads": HEADS, "frames": 4, "img_size": 32}


def _model(method: str = "naive-action", num_actions: int = 7, **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    extra = {"slot_head_dim": 16, "amd_hidden": [16, 16]} if method == "devias" else {}
    return build_model(method, num_actions=num_actions, num_scenes=3, **TINY, **extra, **kw).eval()


def _clips(n: int = 2) -> torch.Tensor:
    return torch.randn(n, 3, 4, 32, 32, generator=torch.Generator().manual_seed(5))


class Extra:
    """An object no checkpoint reader should unpickle."""


@pytest.mark.parametrize("container", ["model", "module"])
def test_pretraining_file_loads_strictly_and_matches_the_videomae_encoder(tmp_path, container):
    sd = videomae_pretraining(DIM, 2)
    path = tmp_path / "checkpoint-799.pth"
    # as VideoMAE's save_model writes it: argparse args beside the weights (DeepSpeed: under 'module')
    torch.save({container: sd, "optimizer": {"state": {}}, "epoch": 799, "args": argparse.Namespace(lr=1.5e-4)}, path)
    model = _model()
    report = load_initial_weights(model, path, strict=True)
    assert report.format == "videomae-pretrain" and report.container == container and report.problems == 0
    backbone = sorted(k for k in model.state_dict() if k.startswith("backbone."))
    assert report.loaded == backbone and report.fresh == ["head.bias", "head.weight"]
    decoder = {k for k in sd if k.startswith(("decoder.", "encoder_to_decoder.")) or k == "mask_token"}
    assert set(report.ignored) == decoder
    assert "encoder_to_decoder.weight" in report.ignored and "mask_token" in report.ignored
    clips = _clips()
    with torch.no_grad():
        got = model.backbone(clips)
    reference = videomae_forward(sd, clips, HEADS, prefix="encoder.")["tokens"]
    torch.testing.assert_close(got, reference, atol=2e-5, rtol=1e-4)
    text = report.summary()
    assert "videomae-pretrain (weights under" in text and "ignored (pre-training decoder): decoder.*" in text


@pytest.mark.parametrize(("mean_pooling", "layer_scale"), [(True, False), (False, True)])
def test_finetuned_file_loads_strictly_and_the_blocks_match_videomae(tmp_path, mean_pooling, layer_scale):
    sd = videomae_finetuned(DIM, 2, num_classes=7, mean_pooling=mean_pooling, layer_scale=layer_scale)
    sd["pos_embed"] = sinusoid(1 + 8 + 7, DIM)[None, : 2 * 2 * 2]  # a saved copy of the fixed table: tolerated
    torch.save({"model": sd, "epoch": 30}, tmp_path / "ft.pth")
    model = _model(init_values=0.1 if layer_scale else None)
    report = load_initial_weights(model, tmp_path / "ft.pth", strict=True)
    assert report.format == "videomae-finetune" and report.problems == 0 and report.fresh == []
    assert "pos_embed" in report.ignored and "sinusoid" in report.ignored["pos_embed"]
    assert "head.weight" in report.loaded  # naive-action with the file's class count takes its head
    torch.testing.assert_close(model.head.weight, sd["head.weight"])
    clips = _clips()
    reference = videomae_forward(sd, clips, HEADS)
    torch.testing.assert_close(last_block_tokens(model, clips), reference["blocks"], atol=2e-5, rtol=1e-4)
    norm = "fc_norm" if mean_pooling else "norm"
    torch.testing.assert_close(model.backbone.norm.weight, sd[f"{norm}.weight"])
    if mean_pooling:
        assert any("fc_norm" in note and "per-token" in note for note in report.notes)
    else:
        with torch.no_grad():
            torch.testing.assert_close(model.backbone(clips), reference["tokens"], atol=2e-5, rtol=1e-4)
    if layer_scale:
        torch.testing.assert_close(model.backbone.blocks[1].gamma_2, sd["blocks.1.gamma_2"])


def test_head_with_another_class_count_or_meaning_is_dropped(tmp_path):
    torch.save({"model": videomae_finetuned(DIM, 2, num_classes=400)}, tmp_path / "k400.pth")
    report = load_initial_weights(_model(num_actions=7), tmp_path / "k400.pth", strict=True)
    assert report.ignored["head.weight"] == "400 classes in the file, 7 in the model: dropped"
    devias = _model("devias")
    report = load_initial_weights(devias, tmp_path / "k400.pth", strict=True)
    assert "400-way classifier" in report.ignored["head.bias"] and report.problems == 0
    assert "head.weight" in report.fresh and any(k.startswith("slot_attention.") for k in report.fresh)


def test_mismatches_are_reported_and_strict_refuses_them(tmp_path):
    sd = videomae_finetuned(DIM, 2, layer_scale=True)
    sd["pos_embed"] = torch.randn(1, 16, DIM)  # learned positions: the toolkit's table is fixed
    sd = {k: v for k, v in sd.items() if not k.startswith("blocks.1.mlp.fc2.")}
    sd["blocks.0.attn.proj.weight"] = torch.randn(DIM, DIM // 2)
    torch.save({"model": sd}, tmp_path / "odd.pth")
    report = load_initial_weights(_model(), tmp_path / "odd.pth")  # no layer scale in the model
    assert report.missing == ["backbone.blocks.0.attn.proj.weight", "backbone.blocks.1.mlp.fc2.bias",
                              "backbone.blocks.1.mlp.fc2.weight"]
    assert report.unexpected == sorted(["pos_embed", "blocks.0.gamma_1", "blocks.0.gamma_2", "blocks.1.gamma_1",
                                        "blocks.1.gamma_2"])
    assert report.reshaped == [f"blocks.0.attn.proj.weight: file ({DIM}, {DIM // 2}), model ({DIM}, {DIM})"]
    assert any("learned position table" in n for n in report.notes)
    assert any("init_values" in n for n in report.notes)
    text = report.summary()
    assert "3 missing, 5 unexpected, 1 reshaped" in text and "unexpected: blocks.*.gamma_1 (2)" in text
    with pytest.raises(DeviasError, match=r"odd.pth: strict loading refused .*missing: .*unexpected: .*pos_embed"):
        load_initial_weights(_model(), tmp_path / "odd.pth", strict=True)


def test_the_scene_teacher_and_toolkit_checkpoints_start_a_model(tmp_path):
    teacher = devias_teacher(DIM, 2)
    torch.save({"model": teacher}, tmp_path / "teacher.pth")
    model = _model()
    report = load_initial_weights(model, tmp_path / "teacher.pth", strict=True)
    assert report.format == "devias-scene-teacher" and "cls_token" in report.ignored and "head.weight" in report.ignored
    torch.testing.assert_close(model.backbone.blocks[1].attn.q_bias, teacher["blocks.1.attn.q_bias"])

    save_checkpoint(tmp_path / "last.pt", {"model": model.state_dict(), "epoch": 3, "config": {"a": [1, 2]}})
    again = _model()
    report = load_initial_weights(again, tmp_path / "last.pt", strict=True)
    assert report.format == "devias-tk/checkpoint/1" and len(report.loaded) == len(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(again(_clips())["action_logits"], model(_clips())["action_logits"])
    other = _model(num_actions=5)
    with pytest.raises(DeviasError, match=r"strict loading refused.*head.weight: file \(7, 64\), model \(5, 64\)"):
        load_initial_weights(other, tmp_path / "last.pt", strict=True)
    assert load_initial_weights(other, tmp_path / "last.pt").reshaped[0].startswith("head.bias")
    torch.save({f"backbone.{k}": v for k, v in model.backbone.state_dict().items()}, tmp_path / "raw.pt")
    assert load_initial_weights(_model(), tmp_path / "raw.pt", strict=False).format == "devias-tk state dict"


def test_wrong_files_give_clear_errors(tmp_path):
    model = _model()
    with pytest.raises(DeviasError, match=r"nope\.pth: initial weights not found"):
        load_initial_weights(model, tmp_path / "nope.pth")
    (tmp_path / "notes.pth").write_text("hello, not a checkpoint\n")
    with pytest.raises(DeviasError, match=r"notes\.pth: not a PyTorch checkpoint that loads safely"):
        load_initial_weights(model, tmp_path / "notes.pth")
    resnet = {"conv1.weight": torch.zeros(64, 3, 7, 7), "bn1.weight": torch.ones(64),
              "layer1.0.conv1.weight": torch.zeros(64, 64, 3, 3), "fc.weight": torch.zeros(365, 512)}
    torch.save({"state_dict": resnet}, tmp_path / "resnet.pth")
    with pytest.raises(DeviasError, match=r"resnet.pth: not weights this model can start from: .*ResNet-style CNN "
                                          r"\(conv1, layer1..4, fc with 365 outputs\)"):
        load_initial_weights(model, tmp_path / "resnet.pth")
    image_vit = {"cls_token": torch.zeros(1, 1, 192), "patch_embed.proj.weight": torch.zeros(192, 3, 16, 16),
                 "blocks.0.norm1.weight": torch.ones(192)}
    torch.save(image_vit, tmp_path / "vit.pth")
    with pytest.raises(DeviasError, match=r"an image ViT \(192 dims, 1 blocks, patch kernel 16x16, cls token\)"):
        load_initial_weights(model, tmp_path / "vit.pth")
    torch.save({"epoch": 3, "model": "vit_base"}, tmp_path / "meta.pth")
    with pytest.raises(DeviasError, match=r"meta.pth: no weights found in a dict with keys epoch, model"):
        load_initial_weights(model, tmp_path / "meta.pth")
    torch.save({"model": videomae_finetuned(96, 2)}, tmp_path / "wide.pth")
    with pytest.raises(DeviasError, match=r"no tensor fits this model .*video ViT \(96 dims.*backbone has 64 dims"):
        load_initial_weights(model, tmp_path / "wide.pth")
    torch.save({"model": videomae_finetuned(DIM, 2), "extra": Extra()}, tmp_path / "pickled.pth")
    with pytest.raises(DeviasError, match=r"pickled.pth: the file pickles .*Extra, which is not read without trusting"):
        read_checkpoint(tmp_path / "pickled.pth")


def test_compact_groups_block_indices():
    keys = [f"blocks.{i}.gamma_{j}" for i in range(12) for j in (1, 2)] + ["pos_embed"]
    assert compact(keys) == "blocks.*.gamma_1 (12), blocks.*.gamma_2 (12), pos_embed"
    many = [f"decoder.part{i}.weight" for i in range(20)]
    assert compact(many) == "decoder.* (20)"


RECIPE = """
data: {root: ROOT, train_list: lists/train.txt, scene_source: list, frames: 8, stride: 2, hop: 2, size: 32,
       num_workers: 0}
model: {method: naive-action, size: tiny, depth: 1, embed_dim: 32, num_heads: 2}
aug: {mix: none}
optim: {lr: 1.0e-3, epochs: 1, batch_size: 8, warmup_epochs: 0}
run: {seed: 1, threads: 1, log_every: 100}
"""


def test_the_trainer_starts_from_videomae_weights_and_honours_init_strict(tiny_benchmark, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.replace("ROOT", str(tiny_benchmark)))
    sd = videomae_pretraining(32, 1)
    torch.save({"model": sd, "args": argparse.Namespace(model="pretrain_videomae_tiny")}, tmp_path / "pt.pth")
    out = io.StringIO()
    cfg = config_from(recipe, [f"run.init={tmp_path / 'pt.pth'}", "run.init_strict=true"])
    engine.train(cfg, tmp_path / "run", console=Console(file=out, width=300))
    printed = out.getvalue()
    assert "init from " in printed
    assert "videomae-pretrain (weights under 'model'): 17 tensors loaded, 0 missing" in printed
    sd["encoder.pos_embed"] = torch.randn(1, 64, 32)
    torch.save({"model": sd}, tmp_path / "learned.pth")
    cfg = config_from(recipe, [f"run.init={tmp_path / 'learned.pth'}", "run.init_strict=true"])
    with pytest.raises(DeviasError, match=r"learned.pth: strict loading refused .*unexpected: encoder.pos_embed"):
        engine.train(cfg, tmp_path / "run2", console=Console(file=io.StringIO()))
