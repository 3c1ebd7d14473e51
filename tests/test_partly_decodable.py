"""Issue 32, the rest: a video of which only part decodes is named by every stage (decoded N of M declared
frames), a whole one is not; decoder reasons are kept whole on one line; the overlay's title is the full name."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import write_index_video
from run_fixtures import fabricate_run
from typer.testing import CliRunner

from devias_tk.cli import app
from devias_tk.data.guarded import describe_failure
from devias_tk.data.lists import read_list
from devias_tk.data.video import Video
from devias_tk.data.video_source import VideoInfo, decoder_reason
from devias_tk.errors import DeviasError, VideoReadError
from devias_tk.utils.words import REASON_LIMIT, reason_line

runner = CliRunner(env={"COLUMNS": "400", "NO_COLOR": "1"})


def _cut(src, dst, share: float):
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * share)])
    return dst


@pytest.fixture(params=["decord", "pyav"])
def decoder(request, monkeypatch):
    monkeypatch.setenv("DEVIAS_DECODER", request.param)
    return request.param


def test_a_truncated_avi_declares_more_frames_than_decode_and_a_whole_one_does_not(tmp_path, decoder):
    full = write_index_video(tmp_path / "full.avi", 100, noise_rows=48)
    info = Video(full).info
    assert (info.num_frames, info.declared_frames, info.short_read, info.warning) == (100, 100, False, "")
    cut = Video(_cut(full, tmp_path / "cut.avi", 0.5)).info
    # AVI's header (dwLength) still says 100; the packets of about half are left
    assert cut.declared_frames == 100 and 0 < cut.num_frames < 100 and cut.short_read
    assert cut.warning == f"partly decodable: decoded {cut.num_frames} of 100 declared frames"
    assert cut.read_note(padded=True).endswith("; clips padded past the last decoded frame")


def test_a_truncated_mp4_does_not_open_and_says_why(tmp_path, decoder):
    # OpenCV writes the MP4 index (moov) at the end: a cut file has none, which is an error, not a warning
    cut = _cut(write_index_video(tmp_path / "full.mp4", 50), tmp_path / "cut.mp4", 0.5)
    with pytest.raises(VideoReadError) as err:
        Video(cut)
    # decord says only "Error reading <file>..."; FFmpeg's own words come with it
    assert "Invalid data found when processing input" in err.value.reason


def test_frame_folders_and_estimates_declare_nothing_or_allow_rounding():
    assert not VideoInfo(10, 25.0, 4, 4).short_read  # no container: nothing declared
    assert not VideoInfo(98, 25.0, 4, 4, 100, declared_exact=False).short_read  # duration x rate: off by rounding
    estimate = VideoInfo(50, 25.0, 4, 4, 100, declared_exact=False)
    assert estimate.warning == "partly decodable: decoded 50 of about 100 declared frames"


def test_long_reasons_are_kept_whole_on_one_line():
    words = " ".join(f"word{i}" for i in range(300))  # about 2,400 characters
    reason = "\n".join([words[:1500], "  second line", "third"])
    assert len(describe_failure(RuntimeError(reason))) > 1500
    assert describe_failure(RuntimeError(reason)) == f"RuntimeError: {' '.join(reason.split())}"
    assert describe_failure(DeviasError(reason)) == " ".join(reason.split())
    assert describe_failure(VideoReadError("v.avi", reason)) == " ".join(reason.split())
    cut = reason_line(words)
    assert cut.startswith(words[:REASON_LIMIT]) and cut.endswith(f"[... {len(words) - REASON_LIMIT} more characters]")
    # decord's timestamped prefix and dmlc's backtrace are not the reason; the file is <file>
    decord = RuntimeError("[12:00:01] src/video/video_reader.cc:83: ERROR opening: /d/v.avi, Invalid data found "
                          "when processing input\n\nStack trace returned 10 entries:\n[bt] (0) libdecord.so(+0x1)")
    assert decoder_reason(decord, "/d/v.avi") == "ERROR opening: <file>, Invalid data found when processing input"


@pytest.fixture(scope="module")
def run(tiny_benchmark, tmp_path_factory):
    return fabricate_run(tmp_path_factory.mktemp("partly") / "run", tiny_benchmark, "naive-action")


@pytest.fixture()
def bench_with_a_cut_video(tiny_benchmark, tmp_path):
    """A copy of three test videos of the tiny benchmark, the second cut to 60% of its bytes."""
    entries = read_list(tiny_benchmark / "lists/test.txt")[:3]
    root = tmp_path / "bench"
    for e in entries:
        (root / e.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny_benchmark / e.path, root / e.path)
    _cut(tiny_benchmark / entries[1].path, root / entries[1].path, 0.6)
    for name in ("actions.txt", "scenes.txt"):
        shutil.copy(tiny_benchmark / name, root / name)
    (root / "l.txt").write_text("".join(f"{e.path} {e.action} {e.scene}\n" for e in entries))
    info = Video(root / entries[1].path).info
    assert info.short_read, info  # the premise
    return root, entries, info


def test_predict_names_a_partly_decodable_video_in_json_csv_and_console(run, bench_with_a_cut_video, tmp_path):
    root, entries, info = bench_with_a_cut_video
    args = ["predict", "--run", str(run), "--views", "1x1", "--workers", "0", "--device", "cpu", "--top", "2"]
    result = runner.invoke(app, [*args, str(root / "l.txt"), "--json", str(tmp_path / "p.json")])
    assert result.exit_code == 0, result.output
    videos = {v["path"]: v for v in json.loads((tmp_path / "p.json").read_text())["videos"]}
    cut, whole = str((root / entries[1].path).resolve()), str((root / entries[0].path).resolve())
    assert videos[cut]["warning"].startswith(f"partly decodable: decoded {info.num_frames} of "
                                             f"{info.declared_frames} declared frames")
    assert videos[cut]["action"] is not None  # still scored, and said so
    assert videos[whole]["warning"] is None
    assert "1 of 3 inputs scored from part of the video" in result.output and entries[1].path in result.output
    result = runner.invoke(app, [*args, str(root / "l.txt"), "--csv", str(tmp_path / "p.csv")])
    rows = {r.split(",")[1]: r.split(",") for r in (tmp_path / "p.csv").read_text().splitlines()[1:]}
    assert rows[cut][3].startswith("partly decodable") and rows[whole][3] == ""


def test_eval_lists_a_partly_decodable_video_per_split(run, bench_with_a_cut_video, tmp_path):
    root, entries, info = bench_with_a_cut_video
    suite = tmp_path / "s.yaml"
    suite.write_text(f"name: t\nroot: {root}\nviews: [1, 1]\nsplits:\n"
                     f"  - {{name: t, list: {root / 'l.txt'}, seen: true, action: top1}}\n")
    result = runner.invoke(app, ["eval", "--run", str(run), "--suite", str(suite), "--device", "cpu",
                                 "--workers", "0"])
    assert result.exit_code == 0, result.output
    assert "scored from the frames that decode" in result.output and entries[1].path in result.output
    report_md = (run / "eval" / "t" / "report.md").read_text()
    detail = f"decoded {info.num_frames} of {info.declared_frames} declared frames"
    assert f"- partly decodable: `{entries[1].path}` ({detail}" in report_md
    assert "- t: 3 videos listed, 0 unreadable, 1 partly decodable, scored: action 3" in report_md
    report = json.loads((run / "eval" / "t" / "report.json").read_text())
    assert list(report["partly_decodable"]["t"]) == [entries[1].path]
    assert report["splits"]["t"]["partly_decodable"] == 1


def test_the_overlay_title_is_the_full_name_and_the_file_its_relative_path(run, tiny_benchmark, tmp_path,
                                                                           monkeypatch):
    from devias_tk.evaluate import figures

    titles = []
    real = figures.attention_grid
    monkeypatch.setattr(figures, "attention_grid", lambda ex, *a, **k: titles.append(ex[0]["title"]) or real(ex, *a,
                                                                                                           **k))
    entry = read_list(tiny_benchmark / "lists/test.txt")[0]
    nested = tmp_path / "in" / "deep folder" / "clip.avi"
    nested.parent.mkdir(parents=True)
    shutil.copy(tiny_benchmark / entry.path, nested)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["predict", "--run", str(run), "in", "--views", "1x1", "--workers", "0",
                                 "--device", "cpu", "--overlay", "ov"])
    assert result.exit_code == 0, result.output
    assert titles == ["in/deep folder/clip.avi"]
    assert len(list((tmp_path / "ov").rglob("*.png"))) == 1



def test_features_masks_and_scenes_stores_note_a_partly_decodable_video(run, bench_with_a_cut_video, tmp_path):
    from test_scenes_label import _brightness_model

    from devias_tk.cache.store import VideoStore
    from devias_tk.data.windows import ClipGrid
    from devias_tk.evaluate.features import extract_features
    from devias_tk.evaluate.predict import load_run
    from devias_tk.masks import extract as masks
    from devias_tk.masks.windows import WindowSpec
    from devias_tk.scenes import label as scenes

    root, entries, info = bench_with_a_cut_video
    lst = root / "l.txt"
    summaries = {
        "features": extract_features(load_run(run, device="cpu"), root, lst, tmp_path / "f.zarr", workers=0),
        "masks": masks.extract(root, lst, tmp_path / "m.zarr", WindowSpec(window=8, stride=2, hop=2, size=48,
                                                                          tubelet_size=12), show_progress=False),
        "scenes": scenes.label(root, lst, _brightness_model(), tmp_path / "s.zarr", ClipGrid(3, 2, 4), device="cpu",
                               crops="1:1", show_progress=False),
    }
    detail = f"partly decodable: decoded {info.num_frames} of {info.declared_frames} declared frames"
    for kind, summary in summaries.items():
        assert summary.failed == {} and list(summary.partial) == [entries[1].path], kind
        store = VideoStore(tmp_path / f"{kind[0]}.zarr")
        assert store.video_attrs(entries[1].path)["warning"].startswith(detail), kind
        assert "warning" not in store.video_attrs(entries[0].path), kind
