"""The critters family: textured 2-D creatures whose shape and motion are the action, over panned landscapes.

A second generator for the embedded benchmark, designed independently of the stick-figure family
(`render.py`, `figure.py`, `scenes.py`): it shares the split plan, file layout, lists, meta.json keys and
ground-truth masks (`benchmark.py`), and nothing visual.

- **Actions** (8): each a motion pattern performed by a creature of its own shape family:
  Hop (a rounded blob hopping in parabolas, squashed on landing), Orbit (a ring circling), Dart (a
  rounded triangle zigzagging, tilted into its run), Pulse (a star swelling and shrinking), Twirl (a cross
  spinning in place), Sway (a tall capsule wobbling, sheared over its base), Creep (a worm of discs
  sliding in starts and stops, stretching as it goes), Loop (a crescent tracing a figure eight).
- **Appearance**, drawn per video independently of the class: two texture colours, a texture (stripes,
  dots, checker or blotches), its scale and angle, the creature's size (0.3-0.5 of the frame height),
  rest position near the centre, speed (x0.8-1.25), phase, and a mirror image (motion and shape).
- **Camera**: the creature is the camera's subject (it stays framed while the landscape pans behind it:
  `landscapes.sample_camera`); class-independent clutter (drifting leaves or midges) crosses some videos.

A creature is drawn once per video as a sprite (premultiplied colour and alpha, in its own coordinates)
and every motion is an affine map of it, so a frame costs one warp; the ground-truth mask is where the
warped alpha (the creature's coverage of each pixel) is at least MASK_COVERAGE.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from devias_tk.synthetic import landscapes
from devias_tk.synthetic.scenes import render_sinusoid

GENERATOR_VERSION = 1
FAMILY = "critters"


class SynthConfig(Protocol):
    """What this family reads of benchmark.SynthConfig (not imported: benchmark imports this module)."""

    width: int
    height: int
    num_frames: int
    fps: float
    distractor_prob: float
    actor_height: tuple[float, float]
    actor_band: float


class VideoJob(Protocol):
    """What this family reads of a planned video (benchmark.VideoJob)."""

    action: int
    scene: int
    background: str
    camera: bool
    actor_seed: tuple[int, ...] | None
    scene_seed: tuple[int, ...]

ACTION_NAMES = ("Hop", "Orbit", "Dart", "Pulse", "Twirl", "Sway", "Creep", "Loop")
SHAPES = {"Hop": "blob", "Orbit": "ring", "Dart": "triangle", "Pulse": "star", "Twirl": "cross",
          "Sway": "capsule", "Creep": "worm", "Loop": "crescent"}
SCENE_NAMES = landscapes.LANDSCAPE_NAMES
TEXTURES = ("stripes", "dots", "checker", "blotches")

# A pixel belongs to the creature's mask when the creature covers at least this share of it. Below one half,
# so that the thin tips (a crescent's horns, a star's points) whose pixels are never half covered are masked.
MASK_COVERAGE = 0.25
_BITS = 4  # sub-pixel bits of OpenCV's drawing calls
_ONE = 1 << _BITS


# ----------------------------------------------------------------------------- shapes


def _circle(cx: float, cy: float, r: float, n: int = 40) -> np.ndarray:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], -1)


def _rounded(points: np.ndarray, iterations: int = 2) -> np.ndarray:
    """Chaikin corner cutting of a closed polygon: rounds its corners."""
    for _ in range(iterations):
        nxt = np.roll(points, -1, axis=0)
        points = np.stack([0.75 * points + 0.25 * nxt, 0.25 * points + 0.75 * nxt], 1).reshape(-1, 2)
    return points


def shape_parts(shape: str, rng: np.random.Generator) -> list[list[np.ndarray]]:
    """The creature's body as parts drawn in order, each a list of closed contours (a ring: outer and hole),
    in units of its size: it just fits a circle of diameter 1 about the origin (x right, y down). `rng`
    draws small per-video variations of the outline that keep the family."""
    parts = _outline(shape, rng)
    reach = max(float(np.hypot(c[:, 0], c[:, 1]).max()) for part in parts for c in part)
    return [[c * (0.5 / reach) for c in part] for part in parts]


def _outline(shape: str, rng: np.random.Generator) -> list[list[np.ndarray]]:
    if shape == "blob":
        a = np.linspace(0, 2 * np.pi, 72, endpoint=False)
        r = 0.42 * (1 + 0.09 * np.sin(3 * a + rng.uniform(0, 6)) + 0.05 * np.sin(5 * a + rng.uniform(0, 6)))
        return [[np.stack([r * np.cos(a), 0.88 * r * np.sin(a) + 0.04], -1)]]
    if shape == "ring":
        outer = rng.uniform(0.44, 0.48)
        return [[_circle(0, 0, outer, 64), _circle(0, 0, outer * rng.uniform(0.45, 0.55), 48)]]
    if shape == "triangle":
        a = np.radians([-90, 30, 150])
        tri = np.stack([0.56 * np.cos(a), 0.56 * np.sin(a)], -1)
        return [[_rounded(tri, 2)]]
    if shape == "star":
        points = 5
        a = np.linspace(0, 2 * np.pi, 2 * points, endpoint=False) - np.pi / 2
        r = np.where(np.arange(2 * points) % 2 == 0, 0.52, rng.uniform(0.2, 0.26))
        return [[_rounded(np.stack([r * np.cos(a), r * np.sin(a)], -1), 1)]]
    if shape == "cross":
        arm, half = rng.uniform(0.48, 0.52), rng.uniform(0.13, 0.16)
        plus = np.array([(-half, -arm), (half, -arm), (half, -half), (arm, -half), (arm, half), (half, half),
                         (half, arm), (-half, arm), (-half, half), (-arm, half), (-arm, -half), (-half, -half)])
        return [[_rounded(plus, 1)]]
    if shape == "capsule":
        half_w, half_h = rng.uniform(0.17, 0.21), 0.48
        r = half_w
        top = np.linspace(np.pi, 2 * np.pi, 20)
        bottom = np.linspace(0, np.pi, 20)
        outline = np.concatenate([np.stack([r * np.cos(top), -half_h + r + r * np.sin(top)], -1),
                                  np.stack([r * np.cos(bottom), half_h - r + r * np.sin(bottom)], -1)])
        return [[outline]]
    if shape == "worm":
        count = 5
        xs = np.linspace(-0.34, 0.32, count)
        wave = rng.uniform(0.03, 0.06) * np.sin(np.linspace(0, 2 * np.pi, count) + rng.uniform(0, 6))
        radii = np.array([0.12, 0.145, 0.155, 0.155, 0.17])
        return [[_circle(x, y, r, 32)] for x, y, r in zip(xs, wave, radii, strict=True)]  # tail first, head last
    if shape == "crescent":
        big, small, offset = 0.48, rng.uniform(0.37, 0.41), rng.uniform(0.2, 0.24)
        x = (big**2 - small**2 + offset**2) / (2 * offset)
        y = np.sqrt(max(big**2 - x**2, 1e-6))
        alpha, beta = np.arctan2(y, x), np.arctan2(y, x - offset)
        outer = np.linspace(alpha, 2 * np.pi - alpha, 48)
        inner = np.linspace(2 * np.pi - beta, beta, 40)
        outline = np.concatenate([np.stack([big * np.cos(outer), big * np.sin(outer)], -1),
                                  np.stack([offset + small * np.cos(inner), small * np.sin(inner)], -1)])
        return [[outline]]
    raise ValueError(f"unknown creature shape {shape!r}")


# Where each shape has its eyes (units of size): inside the body in its rest pose.
_EYES = {
    "blob": ((-0.1, -0.12), (0.1, -0.12)), "ring": ((-0.08, -0.36), (0.08, -0.36)),
    "triangle": ((-0.08, 0.08), (0.08, 0.08)), "star": ((-0.07, -0.03), (0.07, -0.03)),
    "cross": ((-0.07, -0.02), (0.07, -0.02)), "capsule": ((-0.08, -0.27), (0.08, -0.27)),
    "worm": ((0.32, -0.05), (0.42, -0.05)), "crescent": ((-0.36, -0.12), (-0.3, 0.0)),
}
# The point a shape squashes or leans about (units of size): its base for Hop and Sway, else its centre.
_ANCHOR_Y = {"blob": 0.45, "capsule": 0.5}


# ----------------------------------------------------------------------------- appearance


@dataclass(frozen=True)
class CreatureStyle:
    """Per-video appearance and timing of the creature; independent of the action class."""

    size: float  # pixels: the diameter of the circle the shape fits in
    colour_a: tuple[float, float, float]
    colour_b: tuple[float, float, float]
    outline: tuple[float, float, float]
    texture: str
    period: float  # texture period, units of size
    angle: float  # texture angle, radians
    speed: float
    phase: float
    mirror: int  # +1 or -1: the creature and its motion mirrored left-right
    rest: tuple[float, float]  # rest position of its centre, pixels in the frame
    shape_seed: int


def _hsv_rgb(h: float, s: float, v: float) -> tuple[float, float, float]:
    hsv = np.array([[[h % 180, np.clip(s, 0, 1) * 255, np.clip(v, 0, 1) * 255]]], np.uint8)
    return tuple(float(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def sample_style(rng: np.random.Generator, frame_h: int, frame_w: int, size_range: tuple[float, float],
                 band: float) -> CreatureStyle:
    """One creature's looks: size as a share of the frame height, rest position within the central `band`
    of the frame's width (and the middle of its height), two texture colours of clearly different hue or
    brightness, texture kind, scale and angle, speed, phase, mirror."""
    hue = rng.uniform(0, 180)
    colour_a = _hsv_rgb(hue, rng.uniform(0.5, 1.0), rng.uniform(0.6, 1.0))
    kind = rng.random()  # the second colour: another hue, or the same hue much paler or darker
    if kind < 0.5:
        colour_b = _hsv_rgb(hue + rng.uniform(30, 150), rng.uniform(0.5, 1.0), rng.uniform(0.55, 1.0))
    elif kind < 0.75:
        colour_b = _hsv_rgb(hue, rng.uniform(0.0, 0.35), rng.uniform(0.9, 1.0))
    else:
        colour_b = _hsv_rgb(hue, rng.uniform(0.6, 1.0), rng.uniform(0.15, 0.35))
    outline = tuple(0.3 * c for c in colour_a)
    size = rng.uniform(*size_range) * frame_h
    rest_x = frame_w / 2 + rng.uniform(-1, 1) * band * frame_w / 2
    rest_y = frame_h * rng.uniform(0.46, 0.56)
    return CreatureStyle(
        size=float(size), colour_a=colour_a, colour_b=colour_b, outline=outline,
        texture=TEXTURES[int(rng.integers(len(TEXTURES)))], period=float(rng.uniform(0.14, 0.24)),
        angle=float(rng.uniform(0, np.pi)), speed=float(rng.uniform(0.8, 1.25)),
        phase=float(rng.uniform(0, 2 * np.pi)), mirror=int(rng.choice([-1, 1])),
        rest=(float(rest_x), float(rest_y)), shape_seed=int(rng.integers(2**31)),
    )


def _texture(style: CreatureStyle, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Texture value in [0, 1] at creature coordinates (u, v) (units of size), anti-aliased."""
    p = style.period
    c, s = np.cos(style.angle), np.sin(style.angle)
    a, b = (u * c + v * s) / p, (-u * s + v * c) / p
    pix = style.size * p  # pixels per texture period: edges about one pixel wide
    if style.texture == "stripes":
        return np.clip(np.sin(2 * np.pi * a) * pix / (2 * np.pi) + 0.5, 0, 1)
    if style.texture == "dots":
        d = np.hypot(a - np.round(a), b - np.round(b))
        return np.clip((0.3 - d) * pix + 0.5, 0, 1)
    if style.texture == "checker":
        return np.clip(np.sin(np.pi * a) * np.sin(np.pi * b) * pix / np.pi + 0.5, 0, 1)
    # blotches: thresholded smooth noise fixed to the body, blobs about half a period wide
    rng = np.random.default_rng(style.shape_seed + 1)
    cells = max(2, int(np.ceil(1.2 / (0.6 * p))) + 2)
    big = cv2.resize(rng.random((cells, cells)).astype(np.float32), (256, 256), interpolation=cv2.INTER_CUBIC)
    iu = np.clip((u + 0.6) / 1.2 * 255, 0, 255).astype(np.int64)
    iv = np.clip((v + 0.6) / 1.2 * 255, 0, 255).astype(np.int64)
    return np.clip((big[iv, iu] - 0.5) * 10 + 0.5, 0, 1)


@dataclass
class Sprite:
    """The creature drawn once in its own coordinates: premultiplied RGB and alpha, (S, S, 4) float32,
    its centre (the shape's origin) at pixel `centre`; one sprite pixel is one frame pixel at scale 1."""

    rgba: np.ndarray
    centre: float
    anchor_y: float  # pixels below the centre the shape squashes and leans about


def draw_sprite(shape: str, style: CreatureStyle) -> Sprite:
    size = style.size
    line = max(1.0, size / 36)
    pad = int(np.ceil(0.12 * size + line + 2))
    side = int(np.ceil(size)) + 2 * pad
    centre = side / 2
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    u, v = (xx + 0.5 - centre) / size, (yy + 0.5 - centre) / size
    t = _texture(style, u, v)[..., None]
    a, b = np.asarray(style.colour_a, np.float32), np.asarray(style.colour_b, np.float32)
    light = 1.12 - 0.25 * np.clip(u + v + 0.5, 0, 1.2)[..., None]  # lit from the upper left
    texture = np.clip((a * (1 - t) + b * t) * light, 0, 255)
    rgb = np.zeros((side, side, 3), np.float32)
    alpha = np.zeros((side, side), np.float32)
    parts = shape_parts(shape, np.random.default_rng(style.shape_seed))
    thickness = max(1, int(round(line)))
    for contours in parts:
        fixed = [np.round((c * size + centre) * _ONE - _ONE / 2).astype(np.int32) for c in contours]
        cover = np.zeros((side, side), np.float32)
        cv2.fillPoly(cover, fixed, 1.0, cv2.LINE_AA, _BITS)
        edge = np.zeros((side, side), np.float32)
        cv2.polylines(edge, fixed, True, 1.0, thickness, cv2.LINE_AA, _BITS)
        cover = np.maximum(cover, edge)
        colour = texture * (1 - edge[..., None]) + np.asarray(style.outline, np.float32) * edge[..., None]
        rgb = rgb * (1 - cover[..., None]) + colour * cover[..., None]
        alpha = alpha * (1 - cover) + cover
    # eyes: white with a dark pupil, looking the way the creature faces
    eye_r = max(1.0, 0.055 * size)
    eyes = np.zeros((side, side), np.float32)
    pupils = np.zeros((side, side), np.float32)
    for ex, ey in _EYES[shape]:
        centre_px = (int(round((ex * size + centre - 0.5) * _ONE)), int(round((ey * size + centre - 0.5) * _ONE)))
        cv2.circle(eyes, centre_px, int(round(eye_r * _ONE)), 1.0, -1, cv2.LINE_AA, _BITS)
        pupil_px = (centre_px[0] + int(round(0.35 * eye_r * _ONE)), centre_px[1])
        cv2.circle(pupils, pupil_px, int(round(0.5 * eye_r * _ONE)), 1.0, -1, cv2.LINE_AA, _BITS)
    eyes, pupils = eyes * alpha, pupils * alpha  # inside the body only
    rgb = rgb * (1 - eyes[..., None]) + np.float32(245) * eyes[..., None]
    rgb = rgb * (1 - pupils[..., None]) + np.float32(15) * pupils[..., None]
    premultiplied = rgb * alpha[..., None]
    return Sprite(np.concatenate([premultiplied, alpha[..., None]], -1), centre, _ANCHOR_Y.get(shape, 0.0) * size)


# ----------------------------------------------------------------------------- motions


@dataclass
class Motion:
    """Per-frame pose (length T): offset from the rest position (units of size), rotation (radians,
    clockwise on screen), scale (x, y) and horizontal shear about the shape's anchor."""

    dx: np.ndarray
    dy: np.ndarray
    theta: np.ndarray
    sx: np.ndarray
    sy: np.ndarray
    shear: np.ndarray


def _triangle_wave(x: np.ndarray) -> np.ndarray:
    """Period 1, in [-1, 1], 0 at x = 0 rising."""
    return 1 - 4 * np.abs(np.mod(x + 0.25, 1.0) - 0.5)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0, 1)
    return x * x * (3 - 2 * x)


def motion(action: str, t: np.ndarray, speed: float, phase: float) -> Motion:
    """The action's motion pattern at times `t` (seconds), `speed` a factor on its tempo, `phase` in radians."""
    n = len(t)
    zeros, ones = np.zeros(n), np.ones(n)
    tau = t * speed
    cycle = phase / (2 * np.pi)
    if action == "Hop":  # parabolic hops, squashed at each landing, drifting sideways and back
        hop = np.mod(tau / 0.62 + cycle, 1.0)
        landing = np.exp(-((np.minimum(hop, 1 - hop) / 0.09) ** 2))
        return Motion(0.3 * np.sin(2 * np.pi * (tau / 2.6 + cycle)), 0.18 - 0.5 * 4 * hop * (1 - hop), zeros,
                      1 + 0.18 * landing, 1 - 0.24 * landing, zeros)
    if action == "Orbit":  # a small circle, about one turn a second
        a = 2 * np.pi * (0.85 * tau + cycle)
        return Motion(0.42 * np.cos(a), 0.34 * np.sin(a), zeros, ones, ones, zeros)
    if action == "Dart":  # sharp zigzag: slow side to side, fast up and down, leaning into the run
        x = 0.48 * _triangle_wave(0.42 * tau + cycle)
        vx = np.sign(np.cos(2 * np.pi * (0.42 * tau + cycle) + 1e-9))
        return Motion(x, 0.24 * _triangle_wave(1.7 * tau + 2 * cycle), 0.3 * vx, ones, ones, zeros)
    if action == "Pulse":  # swelling and shrinking in place
        s = 1 + 0.24 * np.sin(2 * np.pi * (1.3 * tau + cycle))
        return Motion(zeros, zeros, zeros, s, s, zeros)
    if action == "Twirl":  # spinning in place
        return Motion(zeros, zeros, 2 * np.pi * (0.6 * tau + cycle), ones, ones, zeros)
    if action == "Sway":  # wobbling over its base like a jelly
        k = 0.5 * np.sin(2 * np.pi * (0.95 * tau + cycle))
        return Motion(zeros, zeros, zeros, ones, 1 - 0.06 * np.abs(k), k)
    if action == "Creep":  # starts and stops: pause, slide a step, pause...; four steps one way, four back
        steps = 1.15 * tau + 8 * cycle
        done = np.floor(steps) + _smoothstep((np.mod(steps, 1.0) - 0.4) / 0.6)
        moving = np.sin(np.pi * _smoothstep((np.mod(steps, 1.0) - 0.4) / 0.6))
        return Motion(0.5 * _triangle_wave(done / 8), zeros, zeros, 1 + 0.16 * moving, 1 - 0.1 * moving, zeros)
    if action == "Loop":  # a figure eight (Lissajous 1:2)
        a = 2 * np.pi * (0.5 * tau + cycle)
        return Motion(0.46 * np.sin(a), 0.26 * np.sin(2 * a), zeros, ones, ones, zeros)
    raise ValueError(f"unknown critters action {action!r}")


def frame_matrices(style: CreatureStyle, sprite: Sprite, mot: Motion) -> np.ndarray:
    """(T, 2, 3) sprite -> frame affine maps: pose about the anchor, mirror, then the rest position."""
    n = len(mot.dx)
    size = style.size
    out = np.empty((n, 2, 3))
    for i in range(n):
        origin = sprite.centre - 0.5  # the shape's origin in sprite pixel coordinates
        to_origin = np.array([[1, 0, -origin], [0, 1, -origin - sprite.anchor_y], [0, 0, 1]])
        scale = np.diag([mot.sx[i], mot.sy[i], 1.0])
        shear = np.array([[1, mot.shear[i], 0], [0, 1, 0], [0, 0, 1]])
        back = np.array([[1, 0, 0], [0, 1, sprite.anchor_y], [0, 0, 1]])
        c, s = np.cos(mot.theta[i]), np.sin(mot.theta[i])
        rotate = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
        move = np.array([[1, 0, mot.dx[i] * size], [0, 1, mot.dy[i] * size], [0, 0, 1]])
        mirror = np.diag([float(style.mirror), 1.0, 1.0])
        place = np.array([[1, 0, style.rest[0]], [0, 1, style.rest[1]], [0, 0, 1]])
        out[i] = (place @ mirror @ move @ rotate @ back @ shear @ scale @ to_origin)[:2]
    return out


# ----------------------------------------------------------------------------- clutter


@dataclass(frozen=True)
class Flier:
    """A small thing drifting through the scene (a leaf, a midge), independent of the class."""

    rgb: tuple[float, float, float]
    axes: tuple[float, float]  # pixels
    start: tuple[float, float]
    velocity: tuple[float, float]  # pixels per second
    flutter: float  # pixels of sideways flutter
    rate: float  # flutter cycles per second


def sample_fliers(rng: np.random.Generator, frame_h: int, frame_w: int, probability: float) -> list[Flier]:
    if rng.random() >= probability:
        return []
    items = []
    for _ in range(int(rng.integers(1, 4))):
        speed, heading = rng.uniform(0.15, 0.45) * frame_w, rng.uniform(0, 2 * np.pi)
        major = rng.uniform(0.015, 0.035) * frame_h
        items.append(Flier(
            rgb=_hsv_rgb(rng.uniform(0, 180), rng.uniform(0.2, 0.8), rng.uniform(0.15, 0.9)),
            axes=(float(major), float(major * rng.uniform(0.4, 0.8))),
            start=(float(rng.uniform(0, frame_w)), float(rng.uniform(0, frame_h))),
            velocity=(float(speed * np.cos(heading)), float(speed * np.sin(heading))),
            flutter=float(rng.uniform(0.5, 2.0) * major), rate=float(rng.uniform(1.0, 3.0)),
        ))
    return items


def draw_fliers(frames: np.ndarray, fliers: list[Flier], fps: float) -> None:
    for i, frame in enumerate(frames):
        t = i / fps
        for f in fliers:
            wobble = f.flutter * np.sin(2 * np.pi * f.rate * t)
            x = f.start[0] + f.velocity[0] * t - wobble * np.sin(np.arctan2(f.velocity[1], f.velocity[0]))
            y = f.start[1] + f.velocity[1] * t + wobble * np.cos(np.arctan2(f.velocity[1], f.velocity[0]))
            angle = float(np.degrees(np.arctan2(f.velocity[1], f.velocity[0])) + 30 * np.sin(4 * np.pi * f.rate * t))
            cv2.ellipse(frame, ((float(x), float(y)), (2 * f.axes[0], 2 * f.axes[1]), angle), f.rgb, -1, cv2.LINE_AA)


# ----------------------------------------------------------------------------- one video


def composite(frames: np.ndarray, sprite: Sprite, matrices: np.ndarray) -> np.ndarray:
    """Draw the creature over `frames` (T, H, W, 3) uint8 in place; returns its masks (T, H, W) bool."""
    num, h, w = frames.shape[:3]
    masks = np.zeros((num, h, w), bool)
    side = sprite.rgba.shape[0]
    corners = np.array([[0, 0, 1], [side, 0, 1], [0, side, 1], [side, side, 1]], np.float64).T - [[0.5], [0.5], [0]]
    for i in range(num):
        # only the window of the frame the sprite can reach
        reach = matrices[i] @ corners
        x0, y0 = max(0, int(np.floor(reach[0].min())) - 1), max(0, int(np.floor(reach[1].min())) - 1)
        x1, y1 = min(w, int(np.ceil(reach[0].max())) + 2), min(h, int(np.ceil(reach[1].max())) + 2)
        if x1 <= x0 or y1 <= y0:
            continue
        shifted = matrices[i] - [[0, 0, x0], [0, 0, y0]]
        layer = cv2.warpAffine(sprite.rgba, shifted, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
        alpha = layer[..., 3:]
        window = frames[i, y0:y1, x0:x1]
        window[:] = np.clip(window * (1 - alpha) + layer[..., :3] + 0.5, 0, 255).astype(np.uint8)
        masks[i, y0:y1, x0:x1] = alpha[..., 0] >= MASK_COVERAGE
    return masks


def background_frames(job: VideoJob, cfg: SynthConfig) -> np.ndarray:
    """The video without its creature: a landscape seen by the camera (panning, or still for SCUBA-like
    splits) with clutter, or a still abstract / sinusoid picture."""
    h, w, n = cfg.height, cfg.width, cfg.num_frames
    scene_rng = np.random.default_rng(job.scene_seed)
    if job.background == "scene":
        canvas = landscapes.render_landscape(job.scene, scene_rng, *landscapes.canvas_size(h, w))
        camera_rng = np.random.default_rng((*job.scene_seed, 2))
        cameras = landscapes.sample_camera(camera_rng, n, h, w, canvas.shape[:2], moving=job.camera)
        frames = landscapes.film(canvas, cameras, h, w)
        if job.camera:
            draw_fliers(frames, sample_fliers(camera_rng, h, w, cfg.distractor_prob), cfg.fps)
        return frames
    if job.background == "stylized":
        still = landscapes.render_abstract(scene_rng, h, w)
    elif job.background == "sinusoid":
        still = render_sinusoid(scene_rng, h, w)
    else:
        raise ValueError(f"unknown background kind {job.background!r}")
    return np.repeat(still[None], n, axis=0)


def creature(action: str, actor_seed: tuple[int, ...], cfg: SynthConfig) -> tuple[CreatureStyle, Sprite, np.ndarray]:
    """A planned creature: its style, sprite and (T, 2, 3) placement in the frame."""
    style = sample_style(np.random.default_rng(actor_seed), cfg.height, cfg.width, cfg.actor_height, cfg.actor_band)
    sprite = draw_sprite(SHAPES[action], style)
    t = np.arange(cfg.num_frames) / cfg.fps
    return style, sprite, frame_matrices(style, sprite, motion(action, t, style.speed, style.phase))


def render_job(job: VideoJob, cfg: SynthConfig) -> tuple[np.ndarray, np.ndarray]:
    """Frames (T, H, W, 3) uint8 RGB and creature masks (T, H, W) bool of one planned video."""
    frames = background_frames(job, cfg)
    if job.action < 0:
        return frames, np.zeros(frames.shape[:3], bool)
    _, sprite, matrices = creature(ACTION_NAMES[job.action], job.actor_seed, cfg)
    masks = composite(frames, sprite, matrices)
    return frames, masks


def render_scene_image(scene: int, seed: tuple[int, ...], cfg: SynthConfig) -> np.ndarray:
    """A still picture of landscape class `scene` (no creature, no clutter) at the frame size."""
    return landscapes.render_scene_image(scene, np.random.default_rng(seed), cfg.height, cfg.width)
