import pytest

from devias_tk.engine.recipe import apply_overrides, load_recipe
from devias_tk.errors import DeviasError
from devias_tk.train.config import build_config, config_from


def test_recipe_with_base_and_overrides(tmp_path):
    (tmp_path / "base.yaml").write_text("optim:\n  lr: 1.0e-3\n  epochs: 10\nmodel:\n  method: devias\n  depth: 4\n")
    (tmp_path / "child.yaml").write_text("base: base.yaml\noptim:\n  epochs: 3\n")
    tree = load_recipe(tmp_path / "child.yaml")
    assert tree == {"optim": {"lr": 1.0e-3, "epochs": 3}, "model": {"method": "devias", "depth": 4}}
    cfg = config_from(tmp_path / "child.yaml", ["optim.lr=2e-4", "data.scale=[0.2, 1]", "model.method=two-token",
                                                "loss.scene_loss=kl", "optim.clip_grad=null"])
    assert cfg.optim.lr == 2e-4 and cfg.optim.epochs == 3 and cfg.data.scale == (0.2, 1.0)
    assert cfg.method == "two-token" and cfg.model["depth"] == 4 and cfg.loss.scene_loss == "kl"
    assert cfg.optim.clip_grad is None
    assert build_config(cfg.to_dict()).to_dict() == cfg.to_dict()  # what the run directory stores round-trips


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["optim.lrr=1"], "unknown key(s) in 'optim': lrr"),
        (["optim.lr=fast"], "optim.lr: expected float, got 'fast'"),
        (["optim.epochs=2.5"], "optim.epochs: expected int, got 2.5"),
        (["data.scale=[1]"], "data.scale: expected a list of 2 values"),
        (["trainer.x=1"], "unknown section(s): trainer"),
        (["aug.mix=cutmix"], "aug.mix must be one of fame, be, none"),
        (["loss.scene_loss=mse"], "loss: scene_loss must be one of"),
        (["optim=3"], "use section.key=value"),
        (["run.amp=fp8"], "run.amp must be one of auto, native, bf16, fp16, off (got 'fp8')"),
        (["aug.beta=0"], "aug.beta must be in (0, 1]"),
    ],
)
def test_bad_configuration_is_named(overrides, message):
    with pytest.raises(DeviasError) as err:
        config_from(None, overrides)
    assert message in str(err.value)


def test_missing_or_broken_recipe(tmp_path):
    with pytest.raises(DeviasError, match="recipe not found"):
        config_from(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("optim: [1, 2\n")
    with pytest.raises(DeviasError, match="not valid YAML"):
        config_from(tmp_path / "bad.yaml")


def test_overrides_do_not_touch_the_input():
    tree = {"optim": {"lr": 1.0}}
    apply_overrides(tree, ["optim.lr=2"])
    assert tree == {"optim": {"lr": 1.0}}


@pytest.mark.parametrize("name", ["synthetic", "ucf101", "kinetics400", "hvu"])
def test_shipped_recipes_parse(name):
    from pathlib import Path

    cfg = config_from(Path(__file__).parent.parent / "pipelines" / f"{name}.yaml")
    assert cfg.method == "devias" and cfg.aug.mix == "fame"
    # the paper's 16 x 4 frames; the CPU demo's 8 x 8 spans the same 64
    assert (cfg.data.frames, cfg.data.stride) == ((8, 8) if name == "synthetic" else (16, 4))


@pytest.mark.parametrize(("amp", "device", "native", "expected"), [
    ("off", "cpu", True, False), ("off", "cuda", True, False),
    ("bf16", "cpu", False, True),
    ("auto", "cpu", True, False), ("auto", "cuda", False, True),
    ("native", "cpu", True, True), ("native", "cpu", False, False), ("native", "cuda", False, True),
    ("fp16", "cpu", False, True), ("fp16", "cuda", False, True),
])
def test_amp_choice_decides_autocast(monkeypatch, amp, device, native, expected):
    import torch

    from devias_tk.engine import runtime

    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: native)
    assert (runtime.autocast_dtype(amp, torch.device(device)) is not None) is expected


def test_native_bf16_follows_the_cpu_flags(monkeypatch):
    import torch

    from devias_tk.engine.runtime import cpu_has_native_bf16

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert cpu_has_native_bf16() is False
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert cpu_has_native_bf16() is True


def test_a_bare_off_for_amp_means_off(tmp_path):
    # YAML 1.1 reads `off` as false: on the command line and in a recipe it must still mean fp32.
    (tmp_path / "r.yaml").write_text("run:\n  amp: off\n")
    assert config_from(tmp_path / "r.yaml", []).run.amp == "off"
    assert config_from(tmp_path / "r.yaml", ["run.amp=native", "run.amp=off"]).run.amp == "off"
    with pytest.raises(DeviasError, match=r"run\.amp"):
        config_from(tmp_path / "r.yaml", ["run.amp=on"])
