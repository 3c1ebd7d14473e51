"""Backgrounds of the critters family: photo-like procedural landscapes, a panning camera, abstract art.

Independent of `scenes.py` (the stick-figure family's backgrounds): eight scene classes, each a
structure (how the picture is laid out) and a palette, drawn on a canvas larger than the frame. A video
sees its canvas through a camera that pans slowly across it and zooms slightly; every video draws its
own instance, colour-jittered (brightness, contrast, saturation, hue). Similarity between classes (for
the HAT-like close / far splits) is the CIE Lab distance between the palettes' mean colours plus a
term for the layout (a horizon picture or a ground texture seen from above).

All functions are plain numpy / OpenCV over float32 or uint8 RGB arrays, vectorised over pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Landscape:
    name: str
    layout: str  # "horizon" (sky and distance) or "ground" (a surface seen from close by)
    palette: tuple[tuple[RGB, float], ...]  # main colours and their approximate area shares


LANDSCAPES = (
    Landscape("mountains", "horizon", (((150, 185, 225), 0.35), ((140, 145, 190), 0.25), ((90, 100, 140), 0.2),
                                       ((45, 65, 70), 0.2))),
    Landscape("lake", "horizon", (((185, 205, 220), 0.1), ((35, 65, 45), 0.12), ((35, 110, 125), 0.5),
                                  ((20, 60, 85), 0.28))),
    Landscape("grassland", "ground", (((55, 85, 30), 0.35), ((115, 165, 50), 0.35), ((165, 195, 75), 0.2),
                                      ((205, 210, 140), 0.1))),
    Landscape("tiled_floor", "ground", (((65, 75, 92), 0.45), ((100, 108, 122), 0.4), ((195, 190, 180), 0.15))),
    Landscape("cloudy_sky", "horizon", (((80, 130, 205), 0.4), ((190, 210, 235), 0.2), ((240, 240, 245), 0.25),
                                        ((55, 70, 55), 0.15))),
    Landscape("gravel", "ground", (((150, 135, 115), 0.3), ((120, 105, 90), 0.3), ((185, 175, 160), 0.2),
                                   ((70, 60, 50), 0.2))),
    Landscape("autumn_foliage", "ground", (((180, 40, 25), 0.3), ((225, 120, 30), 0.3), ((235, 190, 50), 0.2),
                                           ((110, 60, 30), 0.2))),
    Landscape("canyon", "horizon", (((160, 75, 45), 0.35), ((200, 130, 70), 0.3), ((225, 185, 135), 0.15),
                                    ((95, 45, 30), 0.1), ((120, 170, 220), 0.1))),
)
LANDSCAPE_NAMES = tuple(s.name for s in LANDSCAPES)
LAYOUTS = ("horizon", "ground")
LAYOUT_WEIGHT = 0.4  # distance between the two layouts, in Lab units / 100

# The canvas a video's camera moves over, as a multiple of the frame size (height, width).
CANVAS_SCALE = (1.25, 1.45)
PAN = (0.12, 0.3)  # horizontal travel of the camera over the clip, share of the frame width
PAN_TILT = 0.06  # vertical travel, at most this share of the frame height either way
ZOOM = (1.0, 1.14)  # zoom range (1: one canvas pixel per frame pixel); a clip drifts within it
ZOOM_DRIFT = 0.06  # at most this much zoom change over a clip


# ----------------------------------------------------------------------------- helpers


def _colour(rgb: RGB, rng: np.random.Generator, amount: float = 12.0) -> np.ndarray:
    return np.clip(np.asarray(rgb, np.float32) + rng.uniform(-amount, amount, 3), 0, 255).astype(np.float32)


def _palette(scene: int, rng: np.random.Generator, amount: float = 12.0) -> list[np.ndarray]:
    return [_colour(c, rng, amount) for c, _ in LANDSCAPES[scene].palette]


def value_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Smooth noise in about [0, 1] with features about `cell` pixels wide (h, w) float32."""
    gh, gw = max(2, int(np.ceil(h / cell)) + 2), max(2, int(np.ceil(w / cell)) + 2)
    coarse = rng.random((gh, gw)).astype(np.float32)
    big = cv2.resize(coarse, (int((gw - 1) * cell) + 1, int((gh - 1) * cell) + 1), interpolation=cv2.INTER_CUBIC)
    oy, ox = int(rng.integers(0, max(1, big.shape[0] - h + 1))), int(rng.integers(0, max(1, big.shape[1] - w + 1)))
    out = big[oy : oy + h, ox : ox + w]
    if out.shape != (h, w):
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(out, 0, 1)


def fbm(rng: np.random.Generator, h: int, w: int, cell: float, octaves: int = 4, gain: float = 0.5) -> np.ndarray:
    """Fractal sum of value noise, normalised to [0, 1]."""
    total = np.zeros((h, w), np.float32)
    amp, norm = 1.0, 0.0
    for _ in range(octaves):
        total += amp * value_noise(rng, h, w, max(1.5, cell))
        norm += amp
        amp *= gain
        cell /= 2
    total /= norm
    lo, hi = float(total.min()), float(total.max())
    return (total - lo) / max(hi - lo, 1e-6)


def profile(rng: np.random.Generator, w: int, cell: float, octaves: int = 4) -> np.ndarray:
    """A 1-D fractal curve over `w` columns, values in [-1, 1] (ridge lines, rims, shores)."""
    return fbm(rng, 1, w, cell, octaves)[0] * 2 - 1


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return yy, xx


def _lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    t = t[..., None].astype(np.float32)
    return a * (1 - t) + b * t


# ----------------------------------------------------------------------------- scene classes


def _mountains(rng, h, w):
    yy, _ = _grid(h, w)
    sky_top, far, mid, near = _palette(0, rng)
    horizon_col = np.clip(sky_top * 0.55 + 255 * 0.45, 0, 255)
    img = _lerp(sky_top, horizon_col, np.clip(yy / (0.6 * h), 0, 1))
    layers = int(rng.integers(3, 5))
    for k in range(layers):
        t = k / (layers - 1)  # 0: farthest
        colour = far * (1 - t) + near * t if t > 0.5 else far * (1 - 2 * t) + mid * 2 * t
        base = h * (0.3 + 0.45 * t + rng.uniform(-0.04, 0.04))
        ridge = base + h * (0.16 - 0.08 * t) * profile(rng, w, w * rng.uniform(0.25, 0.5), 5)
        inside = yy >= ridge[None, :]
        depth = np.clip((yy - ridge[None, :]) / (0.5 * h), 0, 1)
        layer = colour * (1.0 - 0.25 * depth[..., None])
        if k == 0:  # snow on the farthest peaks
            snow = (yy - ridge[None, :] < 0.05 * h) & (ridge[None, :] < base - 0.05 * h)
            layer = np.where(snow[..., None], np.float32(235), layer)
        img = np.where(inside[..., None], layer, img)
    texture = fbm(rng, h, w, 0.06 * h, 3)
    return img * (0.9 + 0.2 * texture[..., None])


def _lake(rng, h, w):
    yy, xx = _grid(h, w)
    sky, trees, water, deep = _palette(1, rng)
    shore = h * rng.uniform(0.18, 0.28)
    treeline = shore - h * (0.06 + 0.05 * (profile(rng, w, 0.04 * w, 3) + 1) / 2)
    img = _lerp(sky * 0.95, sky, yy / max(shore, 1))
    img = np.where((yy >= treeline[None, :])[..., None], trees * (0.8 + 0.3 * fbm(rng, h, w, 0.03 * h, 2))[..., None],
                   img)
    depth = np.clip((yy - shore) / (h - shore), 0, 1)
    base = _lerp(water, deep, depth)
    # ripples: horizontal bands that widen towards the viewer, bent by noise
    warp = fbm(rng, h, w, 0.25 * h, 3)
    phase = (yy - shore) / (0.018 * h + 0.05 * np.maximum(yy - shore, 0)) + 3.0 * warp + 0.15 * xx / h
    ripple = 0.5 + 0.5 * np.sin(2 * np.pi * phase)
    sparkle = 0.7 * np.clip((ripple - 0.94) * 16, 0, 1) * (value_noise(rng, h, w, 0.08 * h) > 0.55)
    surface = base * (0.82 + 0.3 * ripple[..., None])
    surface = surface * (1 - sparkle[..., None]) + np.float32(230) * sparkle[..., None]
    # the trees' reflection just below the shore
    reflection = np.clip(1 - (yy - shore) / (0.1 * h), 0, 1) * 0.5
    surface = surface * (1 - reflection[..., None]) + trees * reflection[..., None]
    return np.where((yy >= shore)[..., None], surface, img)


def _grassland(rng, h, w):
    yy, _ = _grid(h, w)
    soil, green, light, dry = _palette(2, rng)
    img = _lerp(soil * 1.3, soil, np.clip(yy / h, 0, 1)) * (0.8 + 0.4 * fbm(rng, h, w, 0.08 * h, 3))[..., None]
    img = np.ascontiguousarray(img)
    count = int(rng.uniform(2.2, 3.0) * w * h / 100)
    width = max(1, int(round(h / 90)))
    colours = (green, light, dry, soil * 1.6)
    shares = np.array([0.45, 0.3, 0.12, 0.13])
    base_x = rng.uniform(-0.05, 1.05, count) * w
    base_y = np.sort(rng.uniform(0.05, 1.15, count)) * h
    length = rng.uniform(0.12, 0.35, count) * h * (0.6 + 0.4 * base_y / h)
    lean = rng.normal(rng.uniform(-0.3, 0.3), 0.25, count)
    which = rng.choice(len(colours), count, p=shares)
    s = np.linspace(0, 1, 6, dtype=np.float32)[None, :]
    xs = base_x[:, None] + lean[:, None] * length[:, None] * s**1.6
    ys = base_y[:, None] - length[:, None] * s
    blades = np.round(np.stack([xs, ys], -1) * 16).astype(np.int32)
    tone = rng.uniform(0.8, 1.15, count)
    for i in range(count):  # back to front: later (lower) blades cover earlier ones
        colour = tuple(float(v) for v in np.clip(colours[which[i]] * tone[i], 0, 255))
        cv2.polylines(img, [blades[i]], False, colour, width, cv2.LINE_AA, 4)
    return img


def _tiled_floor(rng, h, w):
    yy, xx = _grid(h, w)
    dark, light, grout = _palette(3, rng)
    # a floor plane seen from above at an angle: plane coordinates (P, Q), Q grows towards the top
    horizon = -h * rng.uniform(0.8, 1.6)
    q = h / (yy - horizon)
    p = (xx - w / 2) / (yy - horizon)
    angle = np.radians(rng.uniform(-40, 40))
    tile = rng.uniform(0.08, 0.13)
    fu = (p * np.cos(angle) + q * np.sin(angle)) / tile + rng.uniform(0, 1)
    fv = (-p * np.sin(angle) + q * np.cos(angle)) / tile + rng.uniform(0, 1)
    iu, iv = np.floor(fu).astype(np.int64), np.floor(fv).astype(np.int64)
    key = (iu * 73856093) ^ (iv * 19349663)
    tone = ((key % 1000 + 1000) % 1000).astype(np.float32) / 1000.0
    alternate = ((iu + iv) % 2).astype(np.float32)
    colour = _lerp(dark, light, alternate) * (0.85 + 0.3 * tone[..., None])
    veins = fbm(rng, h, w, 0.12 * h, 4)
    colour = colour * (0.9 + 0.2 * np.abs(np.sin(veins * 12.0)))[..., None]
    line = 0.04 + 0.03 * q  # grout a little wider far away (in tile units), to stay visible
    du, dv = np.abs(fu - np.round(fu)), np.abs(fv - np.round(fv))
    is_grout = np.clip((line - np.minimum(du, dv)) / 0.02 + 0.5, 0, 1)
    img = colour * (1 - is_grout[..., None]) + grout * is_grout[..., None]
    shade = 0.8 + 0.25 * np.clip(yy / h, 0, 1)  # light falls off into the distance
    return img * shade[..., None]


def _cloudy_sky(rng, h, w):
    yy, _ = _grid(h, w)
    blue, pale, cloud, ground = _palette(4, rng)
    horizon = h * rng.uniform(0.72, 0.84)
    img = _lerp(blue, pale, np.clip(yy / horizon, 0, 1) ** 1.5)
    cover = rng.uniform(0.35, 0.6)
    n = fbm(rng, h, w, 0.35 * h, 5)
    squash = np.clip(1.2 - yy / horizon * 0.5, 0.5, 1.2)  # clouds flatten towards the horizon
    density = np.clip((n * squash - (1 - cover)) / 0.25, 0, 1)
    shadow = np.clip((np.roll(n, -max(1, int(0.04 * h)), axis=0) * squash - (1 - cover)) / 0.25, 0, 1)
    cloud_col = cloud * (1 - 0.3 * np.clip(shadow - density + 0.3, 0, 1))[..., None]
    img = img * (1 - density[..., None]) + cloud_col * density[..., None]
    land = horizon + h * 0.03 * profile(rng, w, 0.3 * w, 4)
    ground_img = ground * (0.8 + 0.35 * fbm(rng, h, w, 0.05 * h, 3))[..., None]
    return np.where((yy >= land[None, :])[..., None], ground_img, img)


def _gravel(rng, h, w):
    pebble_colours = _palette(5, rng)
    gap = pebble_colours[3]
    img = np.ascontiguousarray(gap * (0.7 + 0.5 * fbm(rng, h, w, 0.03 * h, 2))[..., None])
    size = h * rng.uniform(0.035, 0.06)
    count = int(2.2 * w * h / size**2)
    cx, cy = rng.uniform(-size, w + size, count), rng.uniform(-size, h + size, count)
    ax = size * rng.uniform(0.6, 1.2, count)
    ay = ax * rng.uniform(0.55, 0.95, count)
    angle = rng.uniform(0, 180, count)
    which = rng.choice(3, count, p=[0.4, 0.35, 0.25])
    tone = rng.uniform(0.75, 1.2, count)
    base = np.clip(np.stack(pebble_colours[:3])[which] * tone[:, None], 0, 255)
    shadows, bodies, lights = (base * 0.5).tolist(), base.tolist(), np.clip(base * 1.18 + 12, 0, 255).tolist()
    shadow_at = np.stack([cx + 0.15 * ax, cy + 0.2 * ay], -1).tolist()
    light_at = np.stack([cx - 0.25 * ax, cy - 0.3 * ay], -1).tolist()
    body_at = np.stack([cx, cy], -1).tolist()
    body_axes, light_axes = np.stack([2 * ax, 2 * ay], -1).tolist(), np.stack([ax, 0.9 * ay], -1).tolist()
    angles = angle.tolist()
    for i in range(count):  # each pebble: a shadow below right, the stone, a light patch above left
        cv2.ellipse(img, (shadow_at[i], body_axes[i], angles[i]), shadows[i], -1, cv2.LINE_AA)
        cv2.ellipse(img, (body_at[i], body_axes[i], angles[i]), bodies[i], -1, cv2.LINE_AA)
        cv2.ellipse(img, (light_at[i], light_axes[i], angles[i]), lights[i], -1, cv2.LINE_AA)
    return cv2.GaussianBlur(img, (0, 0), 0.5)


def _voronoi(rng: np.random.Generator, h: int, w: int, cell: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Jittered-grid Voronoi: (F1, F2 distances in pixels, cell id) per pixel, each pixel checking 3x3 cells."""
    gh, gw = int(np.ceil(h / cell)) + 3, int(np.ceil(w / cell)) + 3  # a ring of cells beyond the picture
    seeds = (np.stack(np.mgrid[-1 : gh - 1, -1 : gw - 1], -1) + rng.uniform(0.1, 0.9, (gh, gw, 2))) * cell  # (y, x)
    yy, xx = _grid(h, w)
    gy, gx = (yy / cell).astype(np.int64) + 1, (xx / cell).astype(np.int64) + 1
    best = np.full((2, h, w), np.inf, np.float32)
    ident = np.zeros((h, w), np.int64)
    for oy in (-1, 0, 1):
        for ox in (-1, 0, 1):
            cy, cx = gy + oy, gx + ox
            s = seeds[cy, cx]
            d = np.sqrt((s[..., 0] - yy) ** 2 + (s[..., 1] - xx) ** 2).astype(np.float32)
            closer = d < best[0]
            second = np.where(closer, best[0], np.minimum(best[1], d))
            ident = np.where(closer, cy * gw + cx, ident)
            best[0] = np.where(closer, d, best[0])
            best[1] = second
    return best[0], best[1], ident


def _autumn_foliage(rng, h, w):
    red, orange, yellow, brown = _palette(6, rng)
    cell = h * rng.uniform(0.07, 0.1)
    f1, f2, ident = _voronoi(rng, h, w, cell)
    table = np.stack([red, orange, yellow, brown])
    n_ids = int(ident.max()) + 1
    choice = rng.choice(4, n_ids, p=[0.3, 0.3, 0.2, 0.2])
    tone = rng.uniform(0.75, 1.15, n_ids).astype(np.float32)
    base = table[choice[ident]] * tone[ident][..., None]
    # each leaf lighter at its centre, a dark vein along the cell borders
    shading = 1.1 - 0.35 * np.clip(f1 / cell, 0, 1)
    edge = np.clip(1 - (f2 - f1) / (0.08 * cell), 0, 1)
    img = base * shading[..., None]
    img = img * (1 - 0.75 * edge[..., None])
    return img * (0.85 + 0.3 * fbm(rng, h, w, 0.25 * h, 3))[..., None]


def _canyon(rng, h, w):
    yy, xx = _grid(h, w)
    rust, ochre, pale, dark, sky = _palette(7, rng)
    rim = h * rng.uniform(0.08, 0.18) + h * 0.06 * profile(rng, w, 0.15 * w, 4)
    tilt = rng.uniform(-0.15, 0.15)
    warp = fbm(rng, h, w, 0.3 * h, 4)
    depth = yy + tilt * xx + 0.12 * h * warp
    thickness = h * rng.uniform(0.05, 0.09)
    layer = np.floor(depth / thickness).astype(np.int64)
    lo = int(layer.min())
    n_layers = int(layer.max()) - lo + 1
    table = np.stack([rust, ochre, pale, dark, rust * 0.85])
    choice = rng.choice(len(table), n_layers, p=[0.33, 0.3, 0.15, 0.1, 0.12])
    strata = table[choice[layer - lo]]
    grain = fbm(rng, h, w, 0.02 * h, 3)
    cracks = fbm(rng, h, w, 0.1 * h, 3)
    crevice = np.clip(1 - np.abs(cracks - 0.5) / 0.03, 0, 1) * 0.45
    img = strata * (0.8 + 0.35 * grain[..., None]) * (1 - crevice[..., None])
    frac = depth / thickness - np.floor(depth / thickness)
    img = img * (0.9 + 0.1 * frac[..., None])  # each stratum darker at its base
    sky_img = _lerp(sky, sky * 0.7 + 255 * 0.3, np.clip(yy / (0.2 * h), 0, 1))
    return np.where((yy < rim[None, :])[..., None], sky_img, img)


_RENDERERS: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "mountains": _mountains, "lake": _lake, "grassland": _grassland, "tiled_floor": _tiled_floor,
    "cloudy_sky": _cloudy_sky, "gravel": _gravel, "autumn_foliage": _autumn_foliage, "canyon": _canyon,
}


# ----------------------------------------------------------------------------- instances and the camera


def colour_jitter(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-instance photo jitter of a uint8 RGB picture: hue (+-8 degrees), saturation, contrast, brightness."""
    hue = rng.uniform(-4, 4)  # OpenCV hue units: 2 degrees
    saturation = rng.uniform(0.85, 1.15)
    contrast = rng.uniform(0.8, 1.2)
    brightness = rng.uniform(0.85, 1.15)
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = np.mod(hsv[..., 0] + hue, 180)
    hsv[..., 1] = np.clip(hsv[..., 1] * saturation, 0, 255)
    rgb = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    mean = rgb.mean(axis=(0, 1), keepdims=True)
    rgb = ((rgb - mean) * contrast + mean) * brightness
    return np.clip(rgb, 0, 255).astype(np.uint8)


def canvas_size(frame_h: int, frame_w: int) -> tuple[int, int]:
    return int(np.ceil(CANVAS_SCALE[0] * frame_h)) + 2, int(np.ceil(CANVAS_SCALE[1] * frame_w)) + 2


def render_landscape(scene: int, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A colour-jittered instance of landscape class `scene`, uint8 RGB (height, width, 3)."""
    img = _RENDERERS[LANDSCAPES[scene].name](rng, height, width)
    grain = rng.normal(0, 3.0, (height, width, 1)).astype(np.float32)  # film grain, fixed to the picture
    img = np.clip(np.asarray(img, np.float32) + grain, 0, 255).astype(np.uint8)
    return colour_jitter(img, rng)


def sample_camera(rng: np.random.Generator, num_frames: int, frame_h: int, frame_w: int,
                  canvas_hw: tuple[int, int], moving: bool = True) -> np.ndarray:
    """Per-frame camera (T, 3): the window's centre (x, y) on the canvas and the zoom.

    A moving camera pans at a roughly steady speed (12-30% of the frame width over the clip, a little
    vertical drift) and zooms slowly in or out; a still one (`moving=False`) holds one random window at zoom 1.
    """
    ch, cw = canvas_hw
    t = np.linspace(0.0, 1.0, num_frames)
    if not moving:
        cx = rng.uniform(frame_w / 2, cw - frame_w / 2)
        cy = rng.uniform(frame_h / 2, ch - frame_h / 2)
        return np.tile([np.round(cx) + (frame_w % 2) / 2, np.round(cy) + (frame_h % 2) / 2, 1.0], (num_frames, 1))
    z0 = rng.uniform(*ZOOM)
    z1 = float(np.clip(z0 + rng.uniform(-ZOOM_DRIFT, ZOOM_DRIFT), *ZOOM))
    zoom = z0 + (z1 - z0) * t
    # the window (frame / zoom) must stay on the canvas at every zoom: room for the centre at zoom 1
    lo_x, hi_x = frame_w / 2, cw - frame_w / 2
    lo_y, hi_y = frame_h / 2, ch - frame_h / 2
    dx = min(rng.uniform(*PAN) * frame_w, hi_x - lo_x) * rng.choice([-1.0, 1.0])
    dy = min(rng.uniform(-PAN_TILT, PAN_TILT) * frame_h, hi_y - lo_y)
    x0 = rng.uniform(lo_x + max(0.0, -dx), hi_x - max(0.0, dx))
    y0 = rng.uniform(lo_y + max(0.0, -dy), hi_y - max(0.0, dy))
    ease = 0.75 * t + 0.25 * (3 * t**2 - 2 * t**3)  # a hand-held start and stop
    return np.stack([x0 + dx * ease, y0 + dy * ease, zoom], axis=-1)


def camera_matrix(camera: np.ndarray, frame_h: int, frame_w: int) -> np.ndarray:
    """The 2x3 canvas -> frame affine of one camera state (x, y, zoom)."""
    x, y, z = (float(v) for v in camera)
    return np.array([[z, 0.0, frame_w / 2 - z * x], [0.0, z, frame_h / 2 - z * y]], np.float64)


def film(canvas: np.ndarray, cameras: np.ndarray, frame_h: int, frame_w: int) -> np.ndarray:
    """The frames (T, H, W, 3) uint8 a camera path sees of a canvas."""
    frames = np.empty((len(cameras), frame_h, frame_w, 3), np.uint8)
    for i, cam in enumerate(cameras):
        frames[i] = cv2.warpAffine(canvas, camera_matrix(cam, frame_h, frame_w), (frame_w, frame_h),
                                   flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return frames


def render_scene_image(scene: int, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A still photograph of landscape class `scene` (the scene model's training images): one window of
    a canvas, at a random zoom, as a video's first frame would show it."""
    canvas = render_landscape(scene, rng, *canvas_size(height, width))
    camera = sample_camera(rng, 1, height, width, canvas.shape[:2], moving=True)
    return film(canvas, camera, height, width)[0]


# ----------------------------------------------------------------------------- abstract art (scuba-stylized)


def _vivid(rng: np.random.Generator, n: int) -> np.ndarray:
    hsv = np.stack([rng.uniform(0, 180, n), rng.uniform(140, 255, n), rng.uniform(140, 255, n)], -1)
    return cv2.cvtColor(hsv.astype(np.uint8)[None], cv2.COLOR_HSV2RGB)[0].astype(np.float32)


def _marbling(rng, h, w):
    """Paint poured and swirled: domain-warped noise through a random vivid gradient."""
    yy, xx = _grid(h, w)
    scale = min(h, w)
    warp_x = fbm(rng, h, w, 0.5 * scale, 4) - 0.5
    warp_y = fbm(rng, h, w, 0.5 * scale, 4) - 0.5
    angle = rng.uniform(0, np.pi)
    freq = rng.uniform(2.0, 5.0) / scale
    field = (xx * np.cos(angle) + yy * np.sin(angle)) * freq + rng.uniform(1.5, 3.5) * (warp_x + warp_y)
    field = field + 0.6 * fbm(rng, h, w, 0.25 * scale, 2)
    colours = _vivid(rng, int(rng.integers(3, 6)))
    pos = np.mod(field, 1.0) * len(colours)
    i0 = np.floor(pos).astype(np.int64) % len(colours)
    frac = pos - np.floor(pos)
    sharp = np.clip((frac - 0.5) * rng.uniform(2, 8) + 0.5, 0, 1)
    return _lerp(colours[i0], colours[(i0 + 1) % len(colours)], sharp)


def _blocks(rng, h, w):
    """Hard-edged colour fields split by heavy lines, with a few rings over them."""
    colours = np.concatenate([_vivid(rng, 4), np.array([[240, 235, 220]], np.float32)])
    img = np.empty((h, w, 3), np.float32)
    line = max(1, int(0.025 * min(h, w)))
    stack = [(0, 0, w, h, 0)]
    rects = []
    while stack:
        x0, y0, x1, y1, depth = stack.pop()
        if depth < 4 and (x1 - x0) * (y1 - y0) > 0.03 * h * w and rng.random() < 0.85:
            if (x1 - x0) / max(1, y1 - y0) * rng.uniform(0.6, 1.6) > 1:
                cut = int(rng.uniform(0.3, 0.7) * (x1 - x0)) + x0
                stack += [(x0, y0, cut, y1, depth + 1), (cut, y0, x1, y1, depth + 1)]
            else:
                cut = int(rng.uniform(0.3, 0.7) * (y1 - y0)) + y0
                stack += [(x0, y0, x1, cut, depth + 1), (x0, cut, x1, y1, depth + 1)]
        else:
            rects.append((x0, y0, x1, y1))
    for x0, y0, x1, y1 in rects:
        img[y0:y1, x0:x1] = colours[rng.choice(len(colours), p=[0.17, 0.17, 0.17, 0.17, 0.32])]
        cv2.rectangle(img, (x0, y0), (x1, y1), (20.0, 20.0, 25.0), line)
    for _ in range(int(rng.integers(1, 4))):
        centre = (float(rng.uniform(0, w)), float(rng.uniform(0, h)))
        r = float(rng.uniform(0.1, 0.3) * min(h, w))
        colour = tuple(float(v) for v in colours[rng.integers(4)])
        cv2.circle(img, (int(centre[0]), int(centre[1])), int(r), colour, max(1, line), cv2.LINE_AA)
    return img


def render_abstract(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Abstract art of no scene class (the scuba-stylized backgrounds): marbled paint or colour blocks."""
    style = _marbling if rng.random() < 0.6 else _blocks
    return np.clip(style(rng, height, width), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- similarity


def landscape_descriptor(scene: int) -> np.ndarray:
    """The palette's mean colour in Lab (/100) followed by the weighted layout one-hot."""
    cls = LANDSCAPES[scene]
    weights = np.array([share for _, share in cls.palette], np.float32)
    colours = np.array([rgb for rgb, _ in cls.palette], np.float32) / 255.0
    mean_rgb = (colours * weights[:, None]).sum(0) / weights.sum()
    lab = cv2.cvtColor(mean_rgb.reshape(1, 1, 3).astype(np.float32), cv2.COLOR_RGB2Lab)[0, 0] / 100.0
    layout = np.zeros(len(LAYOUTS), np.float32)
    layout[LAYOUTS.index(cls.layout)] = LAYOUT_WEIGHT / np.sqrt(2)  # two one-hots differ by LAYOUT_WEIGHT
    return np.concatenate([lab, layout])


def landscape_distances(num_scenes: int) -> np.ndarray:
    """Pairwise Euclidean distances between the first `num_scenes` classes' descriptors."""
    d = np.stack([landscape_descriptor(s) for s in range(num_scenes)])
    return np.sqrt(((d[:, None] - d[None]) ** 2).sum(-1))
