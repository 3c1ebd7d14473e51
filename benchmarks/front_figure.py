"""The README's picture: a trained DEVIAS run's action and scene slot attention on a seen and an unseen clip,
beside the demo's seen / unseen action bars on both benchmarks.

The clips are the first video of the seen test list, and of the `hat-random` list (actor pasted into a scene
its action never appeared with), that the run classifies right; the caption says so. The bars are the
3-seed means passed as `--bars` (what `eval compare` printed), so the figure shows measured figures only.

    .venv/bin/python benchmarks/front_figure.py runs/demo/devias-s0 data/synthetic docs/img/demo-result.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from devias_tk.data.dataset import ClipDataset
from devias_tk.data.lists import read_list
from devias_tk.evaluate import figures
from devias_tk.evaluate.overlay import slot_attention
from devias_tk.evaluate.predict import load_run
from devias_tk.evaluate.videos import clip_spec

# method, figures (seen, unseen), critters (seen, unseen): docs/measured.md#make-demo, seeds 0-2
BARS = [
    ("Naive Action", (94.7, 3.5), (93.3, 3.8)),
    ("Two-Token w/ FAME", (91.0, 48.1), (83.8, 21.5)),
    ("DEVIAS", (96.0, 60.0), (90.4, 44.1)),
    ("ceiling", (88.0, 85.5), (74.6, 71.5)),
]


def first_right(run, root: Path, list_name: str, limit: int = 40) -> dict:
    """The first clip of a list whose action the run predicts right, with its slot attention."""
    entries = read_list(root / "lists" / list_name)[:limit]
    dataset = ClipDataset(root, entries, clip_spec(run, (1, 1)), train=False)
    for i, entry in enumerate(entries):
        clip = dataset[i]["clip"][0]
        with torch.no_grad():
            pred = run.model.predict(clip[None])
        action = int(pred["action_logits"][0].argmax())
        if action == entry.action:
            attention = slot_attention(run, clip, torch.device("cpu"))
            scene = run.scenes[entry.scene] if entry.scene >= 0 else "?"
            title = f"{list_name.removesuffix('.txt')}: {run.actions[action]} in {scene}"
            return {"clip": clip.numpy(), "title": title, **attention}
    raise SystemExit(f"no clip of {list_name} among the first {limit} is classified right")


def _strips(example: dict) -> list:
    """Frames, action-slot and scene-slot heat maps: one row each, one frame per tubelet."""
    frames = figures.denormalise(example["clip"])
    attn = example["attn"]
    step = frames.shape[0] // attn.shape[1]
    picked = frames[::step][: attn.shape[1]]
    rows = [list(picked)]
    for slot in (example["action_slot"], example["scene_slot"]):
        rows.append([figures.heat_overlay(f, attn[slot, t]) for t, f in enumerate(picked)])
    return [np.concatenate(r, axis=1) for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("root", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    run = load_run(args.run)
    examples = [first_right(run, args.root, name) for name in ("test.txt", "hat-random.txt")]
    fig = plt.figure(figsize=(11, 6.4))
    for e, ex in enumerate(examples):
        strips = _strips(ex)
        for r, (label, strip) in enumerate(zip(("frames", "action slot", "scene slot"), strips, strict=True)):
            ax = fig.add_axes((0.04, 0.955 - 0.15 * (3 * e + r + 1) - 0.04 * e, 0.44, 0.145))
            ax.imshow(strip)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_ylabel(label, fontsize=8)
            if r == 0:
                ax.set_title(ex["title"], fontsize=9, loc="left")
    for k, bench in enumerate(("figures", "critters")):
        ax = fig.add_axes((0.53 + 0.24 * k, 0.2, 0.2, 0.7))
        names = [b[0] for b in BARS]
        seen = [b[1 + k][0] for b in BARS]
        unseen = [b[1 + k][1] for b in BARS]
        xs = range(len(BARS))
        ax.bar([x - 0.2 for x in xs], seen, 0.4, label="seen action", color="#9bb7d4")
        ax.bar([x + 0.2 for x in xs], unseen, 0.4, label="unseen action", color="#d1495b")
        ax.set_xticks(list(xs), names, rotation=35, ha="right", fontsize=8)
        ax.set_ylim(0, 110)  # headroom for the legend above the bars
        ax.set_title(f"{bench} benchmark (3 seeds)", fontsize=9)
        if k == 0:
            ax.set_ylabel("top-1 %")
            ax.legend(fontsize=7, loc="upper center", ncols=2)
    fig.text(0.53, 0.03, "ceiling: Naive Action trained where the scene carries no hint of the action",
             fontsize=7)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}: {', '.join(e['title'] for e in examples)}")


if __name__ == "__main__":
    main()
