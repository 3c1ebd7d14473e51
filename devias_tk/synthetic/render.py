"""Render one synthetic video: background canvas, camera shake, distractors and the actor.

Everything is drawn on a canvas `margin` pixels larger than the frame on each side; camera
shake is a sub-pixel translation of the crop window, applied to background, distractors and
actor alike. The ground-truth mask is the actor's own drawing, shaken the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from devias_tk.synthetic import figure

_SUBPIXEL_BITS = 4
_SUBPIXEL = 1 << _SUBPIXEL_BITS


@dataclass(frozen=True)
class ActorStyle:
    """Per-video appearance of the actor; independent of the action class."""

    height: float  # figure height h, pixels
    thickness: int
    torso_rgb: tuple[int, int, int]
    limb_rgb: tuple[int, int, int]
    head_rgb: tuple[int, int, int]
    facing: int
    speed: float
    phase: float
    x_start: float  # fraction of the allowed horizontal band
    ground: float  # feet line, fraction of frame height
    prop_rgb: tuple[int, int, int] = (255, 255, 255)
    prop_scale: float = 0.0  # 0: no prop; else a factor on figure.PROP_SIZE
    band: float = 1.0  # share of the frame's horizontal room the root may use, centred (1: all of it)


@dataclass(frozen=True)
class Distractor:
    """A small object drifting across the scene (class-independent motion)."""

    rgb: tuple[int, int, int]
    radius: float
    start: tuple[float, float]
    velocity: tuple[float, float]  # pixels per second


def _random_rgb(rng: np.random.Generator, s: tuple[float, float], v: tuple[float, float]) -> tuple[int, int, int]:
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(*s) * 255, rng.uniform(*v) * 255]]], np.uint8)
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def sample_actor_style(rng: np.random.Generator, frame_height: int, height_range: tuple[float, float],
                       thickness_range: tuple[float, float], props: bool = False,
                       band: float = 1.0) -> ActorStyle:
    """Appearance of one actor: height as a share of the frame height, limb thickness as a share of that;
    with `props`, the colour and size of the object it holds (its shape comes from the action)."""
    height = rng.uniform(*height_range) * frame_height
    style = ActorStyle(
        height=height,
        thickness=max(1, int(round(height * rng.uniform(*thickness_range)))),
        torso_rgb=_random_rgb(rng, (0.3, 1.0), (0.35, 1.0)),
        limb_rgb=_random_rgb(rng, (0.3, 1.0), (0.35, 1.0)),
        head_rgb=_random_rgb(rng, (0.2, 0.8), (0.5, 1.0)),
        facing=int(rng.choice([-1, 1])),
        speed=float(rng.uniform(0.8, 1.25)),
        phase=float(rng.uniform(0, 2 * np.pi)),
        x_start=float(rng.uniform(0, 1)),
        ground=float(rng.uniform(0.82, 0.95)),
        band=band,
    )
    if not props:
        return style
    # drawn after the rest, so the other draws match a benchmark made without props
    return replace(style, prop_rgb=_random_rgb(rng, (0.3, 1.0), (0.35, 1.0)), prop_scale=float(rng.uniform(0.85, 1.15)))


def sample_shake(
    rng: np.random.Generator, num_frames: int, fps: float, amplitude: float, limit: float
) -> np.ndarray:
    """Per-frame (dx, dy) camera offsets: two random sinusoids per axis plus a little jitter."""
    t = np.arange(num_frames) / fps
    out = np.zeros((num_frames, 2))
    if amplitude <= 0:
        return out
    for axis in range(2):
        slow = np.sin(2 * np.pi * rng.uniform(0.3, 1.5) * t + rng.uniform(0, 2 * np.pi))
        fast = np.sin(2 * np.pi * rng.uniform(2.0, 5.0) * t + rng.uniform(0, 2 * np.pi))
        out[:, axis] = amplitude * (0.7 * slow + 0.3 * fast) + rng.normal(0, 0.1 * amplitude, num_frames)
    return np.clip(out, -limit, limit)


def sample_distractors(rng: np.random.Generator, height: int, width: int, probability: float) -> list[Distractor]:
    if rng.random() >= probability:
        return []
    items = []
    for _ in range(rng.integers(1, 3)):
        speed = rng.uniform(0.2, 0.6) * width
        angle = rng.uniform(0, 2 * np.pi)
        items.append(
            Distractor(
                rgb=_random_rgb(rng, (0.2, 1.0), (0.3, 1.0)),
                radius=float(rng.uniform(0.02, 0.05) * height),
                start=(float(rng.uniform(0, width)), float(rng.uniform(0, height))),
                velocity=(float(speed * np.cos(angle)), float(speed * np.sin(angle))),
            )
        )
    return items


def _fixed(p: np.ndarray) -> tuple[int, int]:
    return int(round(p[0] * _SUBPIXEL)), int(round(p[1] * _SUBPIXEL))


def actor_joints(action: str, style: ActorStyle, num_frames: int, fps: float, frame_w: int,
                 frame_h: int, margin: int) -> tuple[figure.Skeleton, np.ndarray, np.ndarray]:
    """Skeleton (relative, units of h), root positions in canvas pixels (T, 2) and facing (T,) of +-1."""
    t = np.arange(num_frames) / fps
    pose = figure.action_pose(action, t, style.speed, style.phase)
    h = style.height
    low, high = margin + 0.3 * h, margin + frame_w - 0.3 * h
    if high < low:
        low = high = margin + frame_w / 2
    # a band narrower than the frame keeps the actor near the centre, as a camera framing a person would
    shrink = (high - low) * (1.0 - style.band) / 2
    low, high = low + shrink, high - shrink
    start = low + style.x_start * (high - low)
    displacement = style.facing * np.cumsum(pose.travel) / fps * h
    root_x, direction = figure.reflect_track(start, displacement, low, high)
    # Figures that travel face where they go; the others keep their sampled facing.
    facing = np.where(pose.travel > 0, direction * style.facing, style.facing)
    root_y = margin + style.ground * frame_h - figure.STANDING_LEG * h + pose.lift * h
    skeletons = [figure.skeleton(pose, +1), figure.skeleton(pose, -1)]
    joints = {}
    for name in figure.Skeleton.__dataclass_fields__:
        right, left = getattr(skeletons[0], name), getattr(skeletons[1], name)
        joints[name] = np.where((facing > 0)[:, None], right, left)
    return figure.Skeleton(**joints), np.stack([root_x, root_y], axis=-1), facing.astype(int)


def draw_actor(canvas: np.ndarray, skel: figure.Skeleton, root: np.ndarray, frame: int,
               style: ActorStyle, colours: bool = True, prop: tuple[str, str] | None = None,
               facing: int = 1) -> None:
    """Draw frame `frame` of the actor onto `canvas` (RGB, or a 1-channel mask when colours=False);
    `prop` = (shape, joint) adds the object it holds (when style.prop_scale > 0)."""
    h = style.height

    def point(name: str) -> tuple[int, int]:
        return _fixed(root[frame] + getattr(skel, name)[frame] * h)

    for a, b in figure.Skeleton.SEGMENTS:
        is_torso = a == "hip"
        colour = (style.torso_rgb if is_torso else style.limb_rgb) if colours else (255,)
        thick = int(round(style.thickness * (1.5 if is_torso else 1.0)))
        cv2.line(canvas, point(a), point(b), colour, max(1, thick), cv2.LINE_AA, _SUBPIXEL_BITS)
    radius = int(round(figure.HEAD_RADIUS * h * _SUBPIXEL))
    cv2.circle(canvas, point("head"), radius, style.head_rgb if colours else (255,), -1, cv2.LINE_AA,
               _SUBPIXEL_BITS)
    if prop is not None and style.prop_scale > 0:
        shape, joint = prop
        draw_prop(canvas, shape, root[frame] + getattr(skel, joint)[frame] * h, style, facing, colours)


def prop_polygons(shape: str, centre: np.ndarray, size: float, facing: int
                  ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A prop as (filled polygons, open polylines), pixel coordinates, `size` = its extent in pixels."""
    x, y, r = float(centre[0]), float(centre[1]), size / 2
    f = float(facing)

    def pts(*xy: tuple[float, float]) -> np.ndarray:
        return np.array([[x + f * dx * r, y + dy * r] for dx, dy in xy])

    if shape == "case":  # hangs below the hand
        return [pts((-0.8, 0.1), (0.8, 0.1), (0.8, 1.2), (-0.8, 1.2))], [pts((-0.3, 0.1), (-0.3, -0.2), (0.3, -0.2),
                                                                             (0.3, 0.1))]
    if shape == "baton":
        return [pts((-0.25, -1.0), (0.25, -1.0), (0.25, 1.0), (-0.25, 1.0))], []
    if shape == "box":
        return [pts((-0.7, -0.7), (0.7, -0.7), (0.7, 0.7), (-0.7, 0.7))], []
    if shape == "flag":  # pole up from the hand, a pennant at its top
        return [pts((0.0, -2.0), (1.4, -1.6), (0.0, -1.2))], [pts((0.0, 0.0), (0.0, -2.0))]
    if shape == "cross":
        return [pts((-1, -0.3), (1, -0.3), (1, 0.3), (-1, 0.3)), pts((-0.3, -1), (0.3, -1), (0.3, 1), (-0.3, 1))], []
    if shape == "hat":  # a tall cone on the head
        return [pts((-0.9, -0.3), (0.9, -0.3), (0.0, -2.2))], []
    if shape == "kite":
        return [pts((0.0, -1.6), (0.8, -0.6), (0.0, 0.4), (-0.8, -0.6))], []
    if shape == "triangle":
        return [pts((-1.0, 0.8), (1.0, 0.8), (0.0, -1.0))], []
    if shape == "racket":  # handle from the hand, an open head beyond it
        head = [(0.9 * np.cos(a), -1.7 + 0.7 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 13)]
        return [], [pts((0.0, 0.0), (0.0, -1.0)), pts(*head)]
    if shape in ("ball", "ring", "disc"):
        k = {"ball": 0.8, "ring": 1.0, "disc": 1.1}[shape]
        ky = 0.45 if shape == "disc" else k  # a disc is an ellipse (a frisbee seen edge-on)
        outline = pts(*[(k * np.cos(a), ky * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 17)])
        return ([], [outline]) if shape == "ring" else ([outline], [])
    raise ValueError(f"unknown prop shape {shape!r}")


def draw_prop(canvas: np.ndarray, shape: str, centre: np.ndarray, style: ActorStyle, facing: int,
              colours: bool = True) -> None:
    """Draw the actor's prop centred at `centre` (pixels) onto `canvas` (RGB, or a mask with colours=False)."""
    size = figure.PROP_SIZE * style.height * style.prop_scale
    filled, lines = prop_polygons(shape, centre, size, facing)
    colour = style.prop_rgb if colours else (255,)
    # Thin lines and sharp tips change pixels they cover by less than half (the mask's threshold), so the
    # mask's version of the object is a pixel wider all round than the drawn one.
    grow = 0 if colours else 2
    width = max(1, int(round(style.thickness * 0.6))) + grow
    for poly in filled:
        fixed = np.round(poly * _SUBPIXEL).astype(np.int32)
        cv2.fillPoly(canvas, [fixed], colour, cv2.LINE_AA, _SUBPIXEL_BITS)
        if grow:
            cv2.polylines(canvas, [fixed], True, colour, grow, cv2.LINE_AA, _SUBPIXEL_BITS)
    for line in lines:
        cv2.polylines(canvas, [np.round(line * _SUBPIXEL).astype(np.int32)], False, colour, width, cv2.LINE_AA,
                      _SUBPIXEL_BITS)


def render_video(
    background: np.ndarray,
    num_frames: int,
    fps: float,
    margin: int,
    action: str | None,
    style: ActorStyle | None,
    shake: np.ndarray,
    distractors: list[Distractor],
) -> tuple[np.ndarray, np.ndarray]:
    """Frames (T, H, W, 3) uint8 RGB and actor masks (T, H, W) bool.

    `background` is the canvas (H + 2*margin, W + 2*margin, 3); `shake` is (T, 2) in pixels.
    """
    canvas_h, canvas_w = background.shape[:2]
    frame_h, frame_w = canvas_h - 2 * margin, canvas_w - 2 * margin
    frames = np.empty((num_frames, frame_h, frame_w, 3), np.uint8)
    masks = np.zeros((num_frames, frame_h, frame_w), bool)
    has_actor = action is not None and style is not None
    if has_actor:
        skel, root, facing = actor_joints(action, style, num_frames, fps, frame_w, frame_h, margin)
        prop = figure.PROPS[action]
    for i in range(num_frames):
        canvas = background.copy()
        for d in distractors:
            centre = (margin + d.start[0] + d.velocity[0] * i / fps, margin + d.start[1] + d.velocity[1] * i / fps)
            cv2.circle(canvas, _fixed(np.asarray(centre)), int(round(d.radius * _SUBPIXEL)), d.rgb, -1,
                       cv2.LINE_AA, _SUBPIXEL_BITS)
        mask_canvas = None
        if has_actor:
            draw_actor(canvas, skel, root, i, style, prop=prop, facing=int(facing[i]))
            mask_canvas = np.zeros((canvas_h, canvas_w), np.uint8)
            draw_actor(mask_canvas, skel, root, i, style, colours=False, prop=prop, facing=int(facing[i]))
        dx, dy = shake[i]
        if dx == 0 and dy == 0:
            frames[i] = canvas[margin : margin + frame_h, margin : margin + frame_w]
            if mask_canvas is not None:
                masks[i] = mask_canvas[margin : margin + frame_h, margin : margin + frame_w] >= 128
            continue
        warp = np.array([[1, 0, -(margin + dx)], [0, 1, -(margin + dy)]], np.float64)
        frames[i] = cv2.warpAffine(canvas, warp, (frame_w, frame_h), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REFLECT)
        if mask_canvas is not None:
            # the same border as the frame's: an object raised past the canvas edge is reflected into both
            masks[i] = cv2.warpAffine(mask_canvas, warp, (frame_w, frame_h), flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_REFLECT) >= 128
    return frames, masks
