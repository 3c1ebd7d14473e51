"""The authors' DEVIAS checkpoints: the release's key names onto the toolkit's DEVIAS, strict reports, the
toolkit's forward against one written from the raw release tensors, and the run directory the verbs read."""

from __future__ import annotations

import argparse
import json

import pytest
import torch
from checkpoint_fixtures import devias_release, devias_release_forward, release_vit_b_shapes, videomae_finetuned
from typer.testing import CliRunner

from devias_tk.cli import app
from devias_tk.data.lists import read_class_names, read_list
from devias_tk.engine.checkpoint import load_initial_weights
from devias_tk.errors import DeviasError
from devias_tk.evaluate.predict import load_run
from devias_tk.models.checkpoints import DEVIAS_RELEASE, map_video_vit
from devias_tk.models.factory import build_model
from devias_tk.train.release_import import import_release, infer_model

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
DIM, HEADS = 128, 2  # 64-dim heads, as every VideoMAE ViT: the head count is read off the width
DATA = {"data": {"frames": 4, "stride": 2, "size": 32}}  # 2 x 2 x 2 tokens, 4 patches per frame


def _classes(tmp_path, actions: int = 3, scenes: int = 2):
    a, s = tmp_path / "actions.txt", tmp_path / "scenes.txt"
    a.write_text("".join(f"{i} action{i}\n" for i in range(actions)))
    s.write_text("".join(f"{i} scene{i}\n" for i in range(scenes)))
    return a, s


def _clips(n: int = 3) -> torch.Tensor:
    return torch.randn(n, 3, 4, 32, 32, generator=torch.Generator().manual_seed(7))


def _matches_release(model: torch.nn.Module, sd: dict) -> None:
    clips = _clips()
    reference = devias_release_forward(sd, clips, HEADS)
    with torch.no_grad():
        out = model(clips)
        pred = model.predict_from_output(out)
    for key in ("slots", "logits", "attn"):
        torch.testing.assert_close(out[key], reference[key], atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(torch.sigmoid(out["mask_logits"]), reference["mask"], atol=2e-5, rtol=1e-4)
    # the release's inference: softmax over the unified output, the slot with the largest action probability
    probs = reference["logits"].softmax(-1)
    action_slot = probs[..., :3].amax(-1).argmax(1)
    torch.testing.assert_close(pred["action_logits"], reference["logits"][torch.arange(3), action_slot][:, :3])


def test_a_release_checkpoint_imports_strictly_and_matches_its_own_forward(tmp_path):
    sd = devias_release(DIM, 2, iters=3, tied=True)
    path = tmp_path / "checkpoint-best.pth"
    # as the release's save_model writes it: argparse args beside the weights
    torch.save({"model": sd, "epoch": 29, "args": argparse.Namespace(num_latents=2)}, path)
    actions, scenes = _classes(tmp_path)
    result = import_release(path, tmp_path / "run", actions, scenes, DATA)
    report = result.report
    assert report.format == DEVIAS_RELEASE and report.container == "model"
    assert report.problems == 0 and report.fresh == []
    # 3 iterations with one tied set of weights: iterations 1 and 2 are copies, set aside as such
    assert sum("tied copy" in why for why in report.ignored.values()) == 2 * 15
    assert result.model_config | {"slot_iters": 3, "shared_slot_weights": True, "slot_heads": 4, "slot_head_dim": 32,
                                  "num_slots": 2, "embed_dim": DIM, "num_heads": HEADS, "amd_hidden": [64, 32]} \
        == result.model_config
    assert any("sigmoid" in note for note in report.notes)
    run = load_run(tmp_path / "run")
    assert run.method == "devias" and run.actions == ["action0", "action1", "action2"]
    _matches_release(run.model, sd)
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["imported_from"]["format"] == DEVIAS_RELEASE and meta["imported_from"]["load_report"]["missing"] == []
    with pytest.raises(DeviasError, match="already holds a run"):
        import_release(path, tmp_path / "run", actions, scenes, DATA)


def test_untied_iterations_and_a_ddp_prefix_load_too(tmp_path):
    sd = devias_release(DIM, 1, iters=2, tied=False, seed=9)
    torch.save({f"module.{k}": v for k, v in sd.items()}, tmp_path / "untied.pth")
    actions, scenes = _classes(tmp_path)
    result = import_release(tmp_path / "untied.pth", tmp_path / "run", actions, scenes, DATA)
    assert result.report.problems == 0 and result.report.ignored == {}
    assert result.model_config["shared_slot_weights"] is False and result.model_config["slot_iters"] == 2
    _matches_release(load_run(tmp_path / "run").model, sd)


def test_the_vit_b_release_layout_covers_every_tensor_of_the_toolkit_model():
    shapes = release_vit_b_shapes()
    state = {k: torch.empty(v, device="meta") for k, v in shapes.items()}
    config = infer_model(state)
    assert config | {"embed_dim": 768, "depth": 12, "num_heads": 12, "num_slots": 2, "slot_iters": 4,
                     "shared_slot_weights": False, "slot_head_dim": 512, "amd_hidden": [512, 256]} == config
    config.pop("method")
    model = build_model("devias", num_actions=101, num_scenes=365, **config)  # ViT-B: a few seconds on CPU
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    del model
    mapped = map_video_vit(state, DEVIAS_RELEASE, own, prefix="backbone.")
    assert mapped.unexpected == [] and mapped.ignored == {}
    assert sorted(mapped.state) == sorted(own)  # every toolkit tensor, and nothing else
    assert all(tuple(v.shape) == own[k] for k, v in mapped.state.items())
    assert mapped.source["slot_attention.layers.3.norm_inputs.weight"] == "agg_block.layers.3.0.norm_context.weight"
    assert mapped.source["amd.mlp.4.weight"] == "mask_predictor.decoder.4.weight"
    assert mapped.source["slot_attention.slots"] == "agg_block.latents"


def test_strict_import_names_what_is_missing_unexpected_or_reshaped(tmp_path):
    actions, scenes = _classes(tmp_path)
    sd = devias_release(DIM, 1, iters=1)
    del sd["agg_block.layers.0.0.norm_context.weight"]
    sd["agg_block.layers.0.0.fn.to_gate.weight"] = torch.zeros(4)
    torch.save({"model": sd}, tmp_path / "odd.pth")
    with pytest.raises(DeviasError) as err:
        import_release(tmp_path / "odd.pth", tmp_path / "run", actions, scenes, DATA)
    text = str(err.value)
    assert "strict loading refused (devias-release)" in text
    assert "missing: slot_attention.layers.*.norm_inputs.weight" in text  # block indices compacted
    assert "unexpected: agg_block.layers.*.0.fn.to_gate.weight" in text
    assert not (tmp_path / "run").exists()
    # an override the file contradicts: the slot width is reshaped
    reshaped = r"reshaped \(not loaded\): .*to_q.weight: file \(128, 128\), model \(64, 128\)"
    with pytest.raises(DeviasError, match=reshaped):
        import_release(tmp_path / "odd.pth", tmp_path / "run", actions, scenes,
                       {**DATA, "model": {"slot_head_dim": 16}})
    result = import_release(tmp_path / "odd.pth", tmp_path / "run", actions, scenes, DATA, strict=False)
    assert result.report.missing == ["slot_attention.layers.0.norm_inputs.weight"]
    assert result.report.unexpected == ["agg_block.layers.0.0.fn.to_gate.weight"]
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()


def test_wrong_files_and_class_lists_are_refused_with_the_reason(tmp_path):
    actions, scenes = _classes(tmp_path, 3, 3)
    torch.save({"model": devias_release(DIM, 1, iters=1)}, tmp_path / "release.pth")
    with pytest.raises(DeviasError, match=r"unified head has 5 outputs; .* names 3 actions and .* 3 scenes \(6\)"):
        import_release(tmp_path / "release.pth", tmp_path / "run", actions, scenes, DATA)
    torch.save({"model": videomae_finetuned(64, 1)}, tmp_path / "videomae.pth")
    with pytest.raises(DeviasError, match=r"not a DEVIAS release slot model .* video ViT .* run.init="):
        import_release(tmp_path / "videomae.pth", tmp_path / "run", actions, scenes, DATA)
    sd = devias_release(DIM, 1, iters=1)
    sd |= {"head.fc1.weight": sd.pop("head.weight"), "head.fc1.bias": sd.pop("head.bias")}
    torch.save(sd, tmp_path / "mlp.pth")
    with pytest.raises(DeviasError, match="head is an MLP"):
        import_release(tmp_path / "mlp.pth", tmp_path / "run", actions, scenes, DATA)


def test_release_weights_start_training_runs(tmp_path):
    sd = devias_release(DIM, 1, iters=2, tied=True)
    torch.save({"model": sd}, tmp_path / "release.pth")
    config = {"size": "tiny", "embed_dim": DIM, "depth": 1, "num_heads": HEADS, "frames": 4, "img_size": 32,
              "slot_head_dim": 32, "amd_hidden": [64, 32]}
    # DEVIAS on other classes: ViT, slots and mask decoder from the file, the head fresh
    devias = build_model("devias", num_actions=7, num_scenes=4, **config)
    report = load_initial_weights(devias, tmp_path / "release.pth", strict=True)
    assert report.format == DEVIAS_RELEASE and "slot_attention.layers.0.to_q.weight" in report.loaded
    assert report.fresh == ["head.bias", "head.weight"] and "outputs, the model's 11" in report.ignored["head.weight"]
    torch.testing.assert_close(devias.slot_attention.slots, sd["agg_block.latents"])
    # a baseline: the ViT only; the slot model is set aside with its reason
    baseline = build_model("two-token", num_actions=7, num_scenes=4, **{k: v for k, v in config.items()
                                                                        if k not in ("slot_head_dim", "amd_hidden")})
    report = load_initial_weights(baseline, tmp_path / "release.pth", strict=True)
    assert "this model has no slots" in report.ignored["agg_block.latents"]
    torch.testing.assert_close(baseline.backbone.norm.weight, sd["norm.weight"])


def test_cli_import_then_predict(tiny_benchmark, tmp_path):
    actions, scenes = tiny_benchmark / "actions.txt", tiny_benchmark / "scenes.txt"
    outputs = len(read_class_names(actions)) + len(read_class_names(scenes))
    torch.save({"model": devias_release(DIM, 1, iters=2, num_outputs=outputs)}, tmp_path / "release.pth")
    run = tmp_path / "run"
    result = runner.invoke(app, ["import", str(tmp_path / "release.pth"), "--out", str(run), "--actions", str(actions),
                                 "--scenes", str(scenes), "data.frames=4", "data.stride=2", "data.size=32"])
    assert result.exit_code == 0, result.output
    assert "devias-release (weights under 'model')" in result.output and "0 missing, 0 unexpected" in result.output
    video = tiny_benchmark / read_list(tiny_benchmark / "lists/test.txt")[0].path
    result = runner.invoke(app, ["predict", "--run", str(run), str(video), "--views", "1x1", "--jobs", "0",
                                 "--device", "cpu", "--top", "4", "--json", str(tmp_path / "p.json")])
    assert result.exit_code == 0, result.output
    [prediction] = json.loads((tmp_path / "p.json").read_text())["videos"]
    assert len(prediction["action"]) == 4 and abs(sum(p["prob"] for p in prediction["action"]) - 1) < 1e-4
