"""`predict --overlay`: a video's centre view with the action and scene slots' attention drawn over it.

`slot_attention` runs the model once on a centre clip; `overlay_frames` (arrays in, arrays out) lays
every frame beside the action slot's and the scene slot's attention of its tubelet under a text bar;
`write_overlay` writes them as an H.264 MP4 (PyAV; a GIF where no H.264 encoder exists, see
`devias_tk.evaluate.playable`) and, through `figures.attention_grid`, a PNG sheet
with one frame per tubelet. A model without slot attention (the baselines) gets its frames and
predictions only, and the bar says so.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from devias_tk.evaluate import figures
from devias_tk.evaluate.playable import write_playable
from devias_tk.evaluate.predict import RunModel

NO_ATTENTION = "no slot attention in {method}: predictions only"


@torch.no_grad()
def slot_attention(run: RunModel, clip: torch.Tensor, device: torch.device) -> dict:
    """One centre clip (C, T, H, W) -> attn (K, t', h', w') float32 or None, action_slot, scene_slot."""
    model = run.model
    out = model(clip[None].to(device))
    if out.get("attn") is None or not hasattr(model, "backbone") or "slots" not in out:
        return {"attn": None, "action_slot": 0, "scene_slot": 0}
    pred = model.predict_from_output(out)
    t, h, w = model.backbone.grid(*clip.shape[1:])
    attn = out["attn"][0].float().cpu().numpy().reshape(out["attn"].shape[1], t, h, w)
    return {"attn": attn, "action_slot": int(pred["action_slot"][0]), "scene_slot": int(pred["scene_slot"][0])}


def overlay_frames(frames: np.ndarray, attn: np.ndarray | None, action_slot: int, scene_slot: int,
                   lines: list[str], scale: int = 2) -> np.ndarray:
    """(T, H, W, 3) uint8 frames -> (T, H', W', 3) uint8: each frame, then (with `attn` (K, t', h', w'))
    the action slot's and the scene slot's map of its tubelet, side by side, scaled, under `lines`."""
    num_frames = frames.shape[0]
    out = []
    for i, frame in enumerate(frames):
        panels = [frame]
        if attn is not None:
            t = min(i * attn.shape[1] // num_frames, attn.shape[1] - 1)
            panels += [figures.heat_overlay(frame, attn[slot, t]) for slot in (action_slot, scene_slot)]
        row = np.concatenate(panels, axis=1)
        row = cv2.resize(row, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        out.append(np.concatenate([figures.text_bar(lines, row.shape[1]), row], axis=0))
    stacked = np.stack(out)
    # H.264 in yuv420p wants even sides
    pad_h, pad_w = stacked.shape[1] % 2, stacked.shape[2] % 2
    return np.pad(stacked, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), constant_values=255)


def label_lines(action: list[tuple[str, float]] | None, scene: list[tuple[str, float]] | None,
                top: int = 3) -> list[str]:
    """'action: Run 81.9%, Jump 9.1%, ...' and the scene line, for what the model predicts."""
    lines = []
    for task, ranked in (("action", action), ("scene", scene)):
        if ranked is not None:
            lines.append(f"{task}: " + ", ".join(f"{label} {100 * p:.1f}%" for label, p in ranked[:top]))
    return lines


def write_overlay(base: Path, title: str, clip: np.ndarray, attention: dict, lines: list[str], method: str,
                  tubelet: int = 2, fps: float = 8.0) -> tuple[Path, Path]:
    """Write <base>.mp4 (every frame; .gif without an H.264 encoder) and <base>.png (one frame per tubelet, headed
    by `title`); returns both paths.

    base: the output path without suffix (`output_names.overlay_stem` below the folder); title: the video's
    full name, which the file name may have shortened or changed; clip: the normalised centre view
    (C, T, H, W); attention: `slot_attention`'s dict."""
    attn = attention["attn"]
    if attn is None:
        lines = [*lines, NO_ATTENTION.format(method=method)]
    frames = figures.denormalise(clip)
    scale = max(2, 128 // frames.shape[1])  # small clips blown up so the text bar has room
    video = overlay_frames(frames, attn, attention["action_slot"], attention["scene_slot"], lines, scale)
    movie = write_playable(base, video, fps)
    png = figures.attention_grid([{
        "clip": clip, "attn": attn, "action_slot": attention["action_slot"], "scene_slot": attention["scene_slot"],
        "title": title, "lines": lines, "tubelets": max(1, frames.shape[0] // tubelet),
    }], base.with_name(base.name + ".png"), scale)
    return movie, png
