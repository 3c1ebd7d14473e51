"""`devias-tk import`: published DEVIAS weights as a run directory the other verbs read."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from devias_tk.cli.common import console, err_console, user_errors


@user_errors
def import_cmd(
    checkpoint: Annotated[Path, typer.Argument(help="The authors' trained DEVIAS checkpoint (.pth; weights under 'model', 'module' or at the top level; a 'module.' prefix is removed).", show_default=False)],
    out: Annotated[Path, typer.Option(help="Run directory to write (checkpoints/last.pt, config.yaml, run.json); must not hold a run.")],
    actions: Annotated[Path, typer.Option(help="Action class names, '<index> <name>' per line, in the order of the head's first outputs (e.g. the toolkit's UCF-101 actions.txt).")],
    scenes: Annotated[Path, typer.Option(help="Scene class names in the order of the head's last outputs (e.g. categories_places365.txt for the release's 365 scene outputs).")],
    recipe: Annotated[Path | None, typer.Option(help="Recipe whose data settings (frames, stride, size) evaluation uses (default: the toolkit's defaults, 16 frames, stride 4, 224 pixels).")] = None,
    overrides: Annotated[list[str] | None, typer.Argument(help="section.key=value overrides, e.g. data.frames=16 model.num_heads=12 (model keys win over what the file says).")] = None,
    strict: Annotated[bool, typer.Option("--strict/--non-strict", help="--strict (default): refuse unless every model tensor comes from the file and every file tensor finds its place. --non-strict: write the run anyway; the report lists what was missing (left as initialised), unexpected or reshaped.")] = True,
) -> None:
    """The authors' trained DEVIAS weights as a run directory that eval, predict and features read.

    Loads the release's slot model (VideoMAE ViT, `agg_block.*` slot attention, `mask_predictor.*` action
    mask decoder, the unified `head`) into the toolkit's model, prints the load report, and writes a run directory that `eval`, `predict`, `features` and `train run.init=`
    read like a trained run. The architecture is read off the file; the class lists name the head's outputs
    (actions first, then scenes; their counts must add up to the head's). See docs/checkpoints.md.

    Examples: [bold]devias-tk import devias_ucf101.pth --out runs/devias-release --actions work/ucf101/actions.txt --scenes categories_places365.txt[/]
    [bold]devias-tk eval --run runs/devias-release --suite pipelines/eval/ucf101-table2.yaml[/]
    [bold]devias-tk predict --run runs/devias-release clip.mp4[/]
    """
    from devias_tk.engine.recipe import apply_overrides, load_recipe
    from devias_tk.train.release_import import import_release

    tree = apply_overrides(load_recipe(recipe) if recipe else {}, overrides or [])
    result = import_release(checkpoint, out, actions, scenes, tree, strict=strict, command=" ".join(sys.argv))
    console.print(result.report.summary(), markup=False, highlight=False, soft_wrap=True)
    if result.report.problems:
        err_console.print(f"[yellow]warning:[/] imported with --non-strict: {result.report.problems} tensors missing, "
                          "unexpected or reshaped (listed above); missing ones keep their random initialisation",
                          highlight=False, soft_wrap=True)
    model = result.model_config
    console.print(f"model: ViT {model['embed_dim']} dims x {model['depth']} blocks, {model['num_slots']} slots x "
                  f"{model['slot_iters']} iterations ({'shared' if model['shared_slot_weights'] else 'own'} "
                  f"weights), {len(result.actions)} actions + {len(result.scenes)} scenes; run: {result.run_dir}")
