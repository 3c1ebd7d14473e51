"""Issue 32's rule, as properties: any malformed option value, recipe, suite or list makes a command exit 2
with one line naming what to change, never a traceback; valid input gets past the check (it then stops at
the next missing thing, also exit 2, whose message says so). The oracle deciding "malformed" is written
here from the documented ranges, not taken from the code under test.

Bounded for a small machine: few examples each, no deadline; the whole file runs in well under 2 minutes.
"""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from devias_tk.cli import app
from devias_tk.data.lists import VideoEntry, check_labels
from devias_tk.errors import ListFormatError
from devias_tk.evaluate.output_names import overlay_stem
from devias_tk.models.factory import build_model
from devias_tk.models.key_types import key_specs

runner = CliRunner(env={"COLUMNS": "400", "NO_COLOR": "1"})
FEW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _one_line_error(result) -> str:
    """The command exited 2 with a one-line message and no traceback; returns the message."""
    text = result.output
    assert result.exit_code == 2, (result.exit_code, text, result.exception)
    assert "Traceback" not in text and not (result.exception and not isinstance(result.exception, SystemExit))
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if lines and lines[0].startswith("error:"):
        assert len(lines) == 1, text
        return lines[0]
    assert "Invalid value" in text or "Usage:" in text, text  # click's own usage error, also exit 2
    return text


small = st.integers(min_value=-3, max_value=40)


@FEW
@given(window=small, stride=small, size=small, tubelet=small, hop=small)
def test_masks_extract_options(tmp_path_factory, window, stride, size, tubelet, hop):
    tmp = tmp_path_factory.mktemp("mx")
    result = runner.invoke(app, ["masks", "extract", "--root", str(tmp), "--list", str(tmp / "absent.txt"),
                                 "--out", str(tmp / "m.zarr"), "--window", str(window), "--stride", str(stride),
                                 "--size", str(size), "--tubelet-size", str(tubelet), "--hop", str(hop)])
    message = _one_line_error(result)
    effective_tubelet = tubelet or max(1, size // 4)
    valid = (window >= 2 and window % 2 == 0 and stride >= 1 and size >= 1 and hop >= 0 and tubelet >= 0
             and effective_tubelet <= size)
    if valid:
        assert "list file not found" in message, message
    else:
        assert "list file not found" not in message, message


@FEW
@given(window=small, stride=small, hop=small, batch=small)
def test_scenes_label_options(tmp_path_factory, window, stride, hop, batch):
    tmp = tmp_path_factory.mktemp("sl")
    result = runner.invoke(app, ["scenes", "label", "--root", str(tmp), "--list", str(tmp / "l.txt"), "--model",
                                 str(tmp / "absent.pt"), "--out", str(tmp / "s.zarr"), "--window", str(window),
                                 "--stride", str(stride), "--hop", str(hop), "--batch", str(batch)])
    message = _one_line_error(result)
    valid = window >= 1 and stride >= 1 and hop >= 0 and batch >= 1
    assert ("absent.pt" in message) == valid, message  # a valid grid gets as far as loading the model


SECTIONS = ["data", "model", "loss", "aug", "optim", "run"]
scalar = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False, width=32),
                   st.text("abz019 ._-", max_size=6))
value = st.recursive(scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(st.text("abkz_", min_size=1, max_size=4),
                                                                     inner, max_size=3)), max_leaves=6)
known_keys = st.sampled_from(["lr", "epochs", "batch_size", "frames", "stride", "size", "seed", "amp", "mix",
                              "beta", "method", "depth", "amd_hidden", "num_slots", "root", "betas", "scale"])
section_value = st.one_of(value, st.dictionaries(known_keys, value, max_size=3))
recipe_doc = st.one_of(value, st.dictionaries(st.sampled_from([*SECTIONS, "bogus"]), section_value, max_size=4))


@FEW
@given(doc=recipe_doc)
def test_malformed_recipes(tmp_path_factory, doc):
    """Whatever else is right, data.root is missing: every run stops by then at the latest."""
    tmp = tmp_path_factory.mktemp("rc")
    recipe = tmp / "r.yaml"
    recipe.write_text(yaml.safe_dump(doc))
    for command in (["train", "--recipe", str(recipe), "--out", str(tmp / "run")],
                    ["pretrain", "--recipe", str(recipe), "--out", str(tmp / "pre")]):
        _one_line_error(runner.invoke(app, command))


override_value = st.one_of(st.text("abz019 ._-[]{},:", max_size=8), st.integers(-3, 9).map(str))


@FEW
@given(overrides=st.lists(st.tuples(st.sampled_from([*SECTIONS, "x", ""]), known_keys, override_value), max_size=3))
def test_malformed_overrides(tmp_path_factory, overrides):
    tmp = tmp_path_factory.mktemp("ov")
    recipe = tmp / "r.yaml"
    recipe.write_text("data:\n  root: absent-root\n")
    args = [f"{s}.{k}={v}" if s else f"{k}={v}" for s, k, v in overrides]
    _one_line_error(runner.invoke(app, ["train", "--recipe", str(recipe), "--out", str(tmp / "run"), *args]))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bases=st.lists(st.one_of(st.none(), st.integers(0, 5)), min_size=1, max_size=6))
def test_base_chains_and_cycles(tmp_path_factory, bases):
    """Recipe i inherits recipe bases[i] (None: no base); a chain ending nowhere is fine, a cycle is named."""
    tmp = tmp_path_factory.mktemp("cy")
    for i, b in enumerate(bases):
        base = f"base: r{b}.yaml\n" if b is not None else ""
        (tmp / f"r{i}.yaml").write_text(base + "data:\n  root: absent-root\n")
    seen, i = [], 0
    while i is not None and i < len(bases) and i not in seen:
        seen.append(i)
        i = bases[i]
    message = _one_line_error(runner.invoke(app, ["train", "--recipe", str(tmp / "r0.yaml"), "--out", str(tmp / "o")]))
    if i is None:
        assert "absent-root is not a folder" in message
    elif i >= len(bases):
        assert "recipe not found" in message
    else:
        assert "in a cycle" in message and f"r{i}.yaml" in message


split = st.fixed_dictionaries({"name": st.one_of(st.text("ab", min_size=1, max_size=3), value),
                               "list": st.one_of(st.just("l.txt"), value)},
                              optional={"seen": value, "optional": value, "action": st.one_of(st.just("top1"), value),
                                        "scene": st.one_of(st.just("top5"), value),
                                        "scene_labels": st.one_of(st.just("list"), value), "root": value})
suite_doc = st.one_of(value, st.fixed_dictionaries(
    {"root": st.one_of(st.just("."), value), "splits": st.one_of(st.lists(split, min_size=1, max_size=3), value)},
    optional={"name": value, "views": value, "definition": value, "scene_labels": value}))


@FEW
@given(doc=suite_doc)
def test_malformed_suites(tmp_path_factory, doc):
    tmp = tmp_path_factory.mktemp("su")
    suite = tmp / "s.yaml"
    suite.write_text(yaml.safe_dump(doc))
    message = _one_line_error(runner.invoke(app, ["eval", "--run", str(tmp / "absent-run"), "--suite", str(suite)]))
    splits = doc.get("splits") if isinstance(doc, dict) else None
    if isinstance(splits, list) and any(isinstance(s, dict) and "seen" in s and not isinstance(s["seen"], bool)
                                        for s in splits):
        assert "absent-run" not in message  # `seen: yes-please` never gets as far as the run


labels = st.lists(st.tuples(st.integers(-1, 6), st.integers(-1, 6)), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=labels, num_actions=st.integers(0, 5), num_scenes=st.integers(0, 5), comments=st.integers(0, 2))
def test_list_labels_past_the_class_lists(tmp_path_factory, rows, num_actions, num_scenes, comments):
    path = tmp_path_factory.mktemp("ls") / "l.txt"
    path.write_text("# header\n" * comments + "".join(f"v{i}.avi {a} {s}\n" for i, (a, s) in enumerate(rows)))
    entries = [VideoEntry(f"v{i}.avi", a, s) for i, (a, s) in enumerate(rows)]
    bad = [i for i, (a, s) in enumerate(rows) if a >= num_actions or s >= num_scenes]
    try:
        check_labels(path, entries, num_actions, num_scenes)
    except ListFormatError as exc:
        assert bad and exc.line_no == comments + bad[0] + 1 and f"v{bad[0]}.avi" in str(exc)
    else:
        assert not bad


path_part = st.text("ab _/.\\-é", min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(names=st.lists(path_part, min_size=2, max_size=6, unique=True))
def test_overlay_names_never_collide(names):
    stems = [overlay_stem(n) for n in names]
    assert len(set(stems)) == len(stems), list(zip(names, stems, strict=True))
    assert all(".." not in s.parts and not s.is_absolute() for s in stems)  # never outside the overlay folder


model_value = st.one_of(st.none(), st.booleans(), st.integers(-2, 40), st.floats(-1, 8), st.text("abslot", max_size=5),
                        st.lists(st.one_of(st.integers(-2, 40), st.text("ab", max_size=2)), max_size=3))


@settings(max_examples=40, deadline=None)
@given(config=st.dictionaries(st.sampled_from(sorted(key_specs())), model_value, max_size=3))
def test_model_values_are_checked_before_torch_sees_them(config):
    """A model is built, or ValueError names a model.* key: never a torch TypeError / RuntimeError."""
    base = {"size": "tiny", "depth": 1, "img_size": 32, "frames": 4, "embed_dim": 64, "num_heads": 2,
            "slot_head_dim": 8, "amd_hidden": [8]}
    try:
        build_model("devias", num_actions=3, num_scenes=2, **{**base, **config})
    except ValueError as exc:
        assert "model." in str(exc) or any(k in str(exc) for k in config) or "slot" in str(exc), str(exc)
