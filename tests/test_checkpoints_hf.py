"""VideoMAE weights in the Hugging Face layout (safetensors or torch files) as training init: the same report,
strict loads, the toolkit's backbone against VideoMAE's forward on the same tensors in VideoMAE's names."""

from __future__ import annotations

import pytest
import torch
from checkpoint_fixtures import (
    last_block_tokens,
    to_hf_videomae,
    videomae_finetuned,
    videomae_forward,
    videomae_pretraining,
)
from safetensors.torch import save_file

from devias_tk.engine.checkpoint import load_initial_weights
from devias_tk.errors import DeviasError
from devias_tk.models.checkpoints import HF_VIDEOMAE, read_checkpoint, safetensors_metadata
from devias_tk.models.factory import build_model
from devias_tk.models.hf_videomae import to_videomae_layout

DIM, HEADS = 64, 2
TINY = {"size": "tiny", "embed_dim": DIM, "depth": 2, "num_heads": HEADS, "frames": 4, "img_size": 32}


def _model(num_actions: int = 7, **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("naive-action", num_actions=num_actions, num_scenes=3, **{**TINY, **kw}).eval()


def _clips() -> torch.Tensor:
    return torch.randn(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(5))


def test_the_hf_names_are_what_transformers_writes():
    hf = to_hf_videomae(videomae_finetuned(DIM, 1))
    assert {"videomae.embeddings.patch_embeddings.projection.weight",
            "videomae.encoder.layer.0.attention.attention.query.weight",
            "videomae.encoder.layer.0.attention.attention.q_bias",
            "videomae.encoder.layer.0.attention.output.dense.bias",
            "videomae.encoder.layer.0.layernorm_before.weight", "videomae.encoder.layer.0.intermediate.dense.weight",
            "videomae.encoder.layer.0.output.dense.weight", "fc_norm.weight", "classifier.weight"} <= set(hf)
    back = to_videomae_layout(hf)
    assert back.unexpected == [] and back.ignored == {}
    original = videomae_finetuned(DIM, 1)
    assert sorted(back.state) == sorted(original)
    for name, value in original.items():
        torch.testing.assert_close(back.state[name], value, rtol=0, atol=0)
    assert back.source["blocks.0.attn.qkv.weight"] == ", ".join(
        f"videomae.encoder.layer.0.attention.attention.{p}.weight" for p in ("query", "key", "value"))


def test_a_safetensors_classifier_loads_strictly_and_matches_videomae(tmp_path):
    sd = videomae_finetuned(DIM, 2, num_classes=7, mean_pooling=True)
    folder = tmp_path / "videomae-finetuned"  # what save_pretrained writes: a folder with model.safetensors
    folder.mkdir()
    save_file(to_hf_videomae(sd), str(folder / "model.safetensors"), metadata={"format": "pt"})
    assert safetensors_metadata(folder / "model.safetensors") == {"format": "pt"}
    model = _model()
    report = load_initial_weights(model, folder, strict=True)
    assert report.format == HF_VIDEOMAE and report.problems == 0 and report.fresh == []
    assert "head.weight" in report.loaded  # the classifier, same class count, on a naive-action model
    torch.testing.assert_close(model.head.weight, sd["head.weight"])
    clips = _clips()
    reference = videomae_forward(sd, clips, HEADS)
    torch.testing.assert_close(last_block_tokens(model, clips), reference["blocks"], atol=2e-5, rtol=1e-4)
    assert any("fc_norm" in note for note in report.notes)


def test_an_hf_pretraining_file_gives_the_encoder_and_sets_the_decoder_aside(tmp_path):
    sd = videomae_pretraining(DIM, 2)
    path = tmp_path / "pytorch_model.bin"  # HF's torch format, read weights-only
    torch.save(to_hf_videomae(sd), path)
    model = _model()
    report = load_initial_weights(model, path, strict=True)
    assert report.format == HF_VIDEOMAE and report.problems == 0
    assert report.fresh == ["head.bias", "head.weight"]
    assert report.ignored["encoder_to_decoder.weight"] == "pre-training decoder" and "mask_token" in report.ignored
    with torch.no_grad():
        got = model.backbone(_clips())
    torch.testing.assert_close(got, videomae_forward(sd, _clips(), HEADS, prefix="encoder.")["tokens"],
                               atol=2e-5, rtol=1e-4)
    assert "ignored (pre-training decoder): decoder.*" in report.summary()


def test_mismatches_are_reported_in_the_files_own_names(tmp_path):
    hf = to_hf_videomae(videomae_finetuned(DIM, 2, num_classes=7))
    del hf["videomae.encoder.layer.1.attention.attention.value.weight"]  # a projection that cannot be fused
    hf["videomae.encoder.layer.0.attention.attention.key.bias"] = torch.ones(DIM)  # VideoMAE has none
    path = tmp_path / "odd.weights"  # recognised by content, whatever the name
    save_file(hf, str(path))
    model = _model()
    report = load_initial_weights(model, path, strict=False)
    assert report.missing == ["backbone.blocks.1.attn.qkv.weight"]
    assert report.unexpected == sorted(["videomae.encoder.layer.0.attention.attention.key.bias",
                                        "videomae.encoder.layer.1.attention.attention.key.weight",
                                        "videomae.encoder.layer.1.attention.attention.query.weight"])
    with pytest.raises(DeviasError, match="strict loading refused"):
        load_initial_weights(_model(), path, strict=True)
    report = load_initial_weights(_model(mlp_ratio=2.0), path, strict=False)  # reshaped, named as in the file
    assert "videomae.encoder.layer.1.intermediate.dense.weight: file (256, 64), model (128, 64)" in report.reshaped
    with pytest.raises(DeviasError, match=r"no tensor fits this model \(the file holds a video ViT in the Hugging "
                                          r"Face layout \(64 dims, 2 layers, patch kernel 2x16x16\)"):
        load_initial_weights(_model(embed_dim=128), path)


def test_a_damaged_safetensors_file_is_named(tmp_path):
    good = tmp_path / "model.safetensors"
    save_file(to_hf_videomae(videomae_finetuned(DIM, 1)), str(good))
    torn = tmp_path / "torn.safetensors"
    torn.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DeviasError, match=r"torn.safetensors: a damaged safetensors file"):
        read_checkpoint(torn)
