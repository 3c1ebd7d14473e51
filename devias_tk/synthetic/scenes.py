"""Scene backgrounds: class-specific textures, SCUBA-like stylized and sinusoid backgrounds.

A scene class has a structure (how the picture is laid out) and a palette; every video draws its
own jittered instance. Similarity between scene classes (for the HAT-like close / far splits) is
defined by these parameters alone: the palette's mean colour in CIE Lab and the structure family.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class SceneClass:
    name: str
    family: str  # layout family: bands, vertical, grid, dots
    palette: tuple[tuple[RGB, float], ...]  # main colours and their approximate area shares


SCENE_CLASSES = (
    SceneClass("beach", "bands", (((135, 190, 235), 0.35), ((30, 100, 170), 0.2), ((225, 200, 150), 0.45))),
    SceneClass("forest", "vertical", (((40, 90, 40), 0.6), ((70, 140, 60), 0.2), ((100, 70, 40), 0.2))),
    SceneClass("desert", "bands", (((240, 225, 180), 0.4), ((215, 150, 80), 0.4), ((180, 110, 60), 0.2))),
    SceneClass("city", "grid", (((170, 175, 185), 0.35), ((60, 60, 70), 0.5), ((230, 210, 120), 0.15))),
    SceneClass("brick_wall", "grid", (((160, 60, 45), 0.8), ((200, 190, 180), 0.2))),
    SceneClass("ocean", "bands", (((20, 60, 120), 0.5), ((40, 160, 170), 0.5))),
    SceneClass("checker_floor", "grid", (((230, 230, 220), 0.5), ((50, 50, 60), 0.5))),
    SceneClass("meadow", "dots", (((160, 210, 250), 0.3), ((90, 170, 60), 0.6), ((240, 220, 60), 0.1))),
    SceneClass("night_sky", "dots", (((15, 20, 50), 0.9), ((230, 230, 200), 0.1))),
    SceneClass("library", "vertical", (((90, 55, 30), 0.3), ((150, 40, 40), 0.25), ((40, 90, 60), 0.25),
                                        ((50, 60, 130), 0.2))),
    SceneClass("snow", "dots", (((230, 235, 245), 0.8), ((200, 210, 225), 0.15), ((120, 130, 140), 0.05))),
    SceneClass("sunset", "bands", (((250, 150, 60), 0.4), ((110, 60, 120), 0.4), ((30, 20, 30), 0.2))),
)
SCENE_NAMES = tuple(s.name for s in SCENE_CLASSES)
FAMILIES = ("bands", "vertical", "grid", "dots")
FAMILY_WEIGHT = 0.6  # distance between two families, in Lab units / 100


# ----------------------------------------------------------------------------- helpers


def _jitter(rgb: RGB, rng: np.random.Generator, amount: float = 14.0) -> np.ndarray:
    return np.clip(np.asarray(rgb, np.float32) + rng.uniform(-amount, amount, 3), 0, 255)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Value noise in [0, 1] with features about `cell` pixels wide."""
    gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    coarse = rng.random((gh, gw)).astype(np.float32)
    return np.clip(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC), 0, 1)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return yy / h, xx / w


def _fill(h: int, w: int, rgb: np.ndarray) -> np.ndarray:
    return np.broadcast_to(rgb, (h, w, 3)).astype(np.float32).copy()


def _blend(img: np.ndarray, where: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    w = where[..., None].astype(np.float32)
    return img * (1 - w) + rgb * w


def _shade(img: np.ndarray, noise: np.ndarray, amount: float) -> np.ndarray:
    return img * (1 + amount * (noise[..., None] - 0.5))


# ----------------------------------------------------------------------------- scene classes


def _beach(rng, h, w):
    yy, xx = _grid(h, w)
    sky, sea, sand = (_jitter(c, rng) for c, _ in SCENE_CLASSES[0].palette)
    horizon = 0.35 + rng.uniform(-0.05, 0.05)
    shore = (horizon + 0.2 + rng.uniform(-0.04, 0.04)
             + 0.02 * np.sin(2 * np.pi * xx * rng.uniform(1.5, 3) + rng.uniform(0, 6)))
    img = _fill(h, w, sand)
    img = _shade(img, _smooth_noise(rng, h, w, 6), 0.25)
    sea_img = _shade(_fill(h, w, sea), 0.5 + 0.5 * np.sin(yy * rng.uniform(50, 80) + xx * 3), 0.3)
    img = np.where((yy < shore)[..., None], sea_img, img)
    sky_img = sky * (0.85 + 0.3 * yy[..., None])
    return np.where((yy < horizon)[..., None], sky_img, img)


def _forest(rng, h, w):
    dark, light, trunk = (_jitter(c, rng) for c, _ in SCENE_CLASSES[1].palette)
    img = _blend(_fill(h, w, dark), _smooth_noise(rng, h, w, rng.uniform(4, 8)) > 0.55, light)
    for _ in range(rng.integers(5, 9)):
        x = rng.uniform(0, 1) * w
        half = rng.uniform(0.02, 0.04) * w
        x0, x1 = int(x - half), int(x + half)
        img[:, max(0, x0) : max(0, x1)] = _jitter(trunk, rng, 10)
    return _shade(img, _smooth_noise(rng, h, w, 3), 0.3)


def _desert(rng, h, w):
    yy, xx = _grid(h, w)
    sky, sand, dark = (_jitter(c, rng) for c, _ in SCENE_CLASSES[2].palette)
    horizon = 0.4 + rng.uniform(-0.05, 0.05) + 0.06 * np.sin(2 * np.pi * xx * rng.uniform(0.7, 1.5) + rng.uniform(0, 6))
    ripples = 0.5 + 0.5 * np.sin(2 * np.pi * (yy * rng.uniform(5, 9) + 0.15 * np.sin(2 * np.pi * xx * 1.3)))
    ground = _blend(_fill(h, w, sand), ripples > 0.7, dark)
    return np.where((yy < horizon)[..., None], _fill(h, w, sky), ground)


def _city(rng, h, w):
    sky, building, window = (_jitter(c, rng) for c, _ in SCENE_CLASSES[3].palette)
    img = _fill(h, w, sky)
    x = -rng.uniform(0, 0.1) * w
    while x < w:
        bw = rng.uniform(0.12, 0.25) * w
        top = int(h * rng.uniform(0.15, 0.55))
        x0, x1 = int(max(0, x)), int(min(w, x + bw - 1))
        img[top:, x0:x1] = _jitter(building, rng, 12)
        cell = max(3, int(rng.uniform(0.05, 0.08) * h))
        for wy in range(top + cell // 2, h - cell, cell):
            for wx in range(x0 + cell // 3, x1 - cell // 2, cell):
                if rng.random() < 0.7:
                    img[wy : wy + cell // 2, wx : wx + max(1, cell // 2)] = window
        x += bw
    return img


def _brick_wall(rng, h, w):
    yy, xx = _grid(h, w)
    brick, mortar = (_jitter(c, rng) for c, _ in SCENE_CLASSES[4].palette)
    rows = rng.uniform(7, 10)
    row = np.floor(yy * rows)
    shift = (row % 2) * 0.5
    cols = rows / 2.2
    fx = (xx * cols + shift) % 1.0
    fy = (yy * rows) % 1.0
    is_mortar = (fx < 0.06) | (fy < 0.12)
    tone = _smooth_noise(rng, h, w, 10)
    img = _shade(_fill(h, w, brick), tone, 0.35)
    return _blend(img, is_mortar, mortar)


def _ocean(rng, h, w):
    yy, xx = _grid(h, w)
    deep, teal = (_jitter(c, rng) for c, _ in SCENE_CLASSES[5].palette)
    k = rng.uniform(6, 10)
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * (k * yy + 0.08 * np.sin(2 * np.pi * xx * rng.uniform(2, 4)
                                                             + rng.uniform(0, 6))))
    return deep * (1 - wave[..., None]) + teal * wave[..., None]


def _checker_floor(rng, h, w):
    yy, xx = _grid(h, w)
    light, dark = (_jitter(c, rng) for c, _ in SCENE_CLASSES[6].palette)
    angle = np.radians(rng.uniform(-12, 12))
    cells = rng.uniform(5, 8)
    u = (xx * w * np.cos(angle) + yy * h * np.sin(angle)) / w * cells
    v = (-xx * w * np.sin(angle) + yy * h * np.cos(angle)) / w * cells
    checker = (np.floor(u) + np.floor(v)) % 2
    return _blend(_fill(h, w, light), checker > 0.5, dark)


def _dots(img: np.ndarray, rng: np.random.Generator, count: int, colours: list[np.ndarray],
          radius: tuple[float, float], region: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    h, w = img.shape[:2]
    out = np.ascontiguousarray(img)
    for _ in range(count):
        centre = (int(rng.uniform(0, w)), int(rng.uniform(region[0], region[1]) * h))
        r = max(1, int(rng.uniform(*radius) * h))
        colour = colours[rng.integers(len(colours))]
        cv2.circle(out, centre, r, tuple(float(v) for v in colour), -1, cv2.LINE_AA)
    return out


def _meadow(rng, h, w):
    yy, _ = _grid(h, w)
    sky, grass, flower = (_jitter(c, rng) for c, _ in SCENE_CLASSES[7].palette)
    horizon = 0.3 + rng.uniform(-0.05, 0.05)
    ground = _shade(_fill(h, w, grass), _smooth_noise(rng, h, w, 3), 0.4)
    img = np.where((yy < horizon)[..., None], _fill(h, w, sky), ground)
    colours = [flower, np.array([250, 250, 250], np.float32), np.array([235, 120, 170], np.float32)]
    return _dots(img, rng, int(rng.uniform(25, 45) * w * h / 12288), colours, (0.008, 0.02), (horizon + 0.05, 1.0))


def _night_sky(rng, h, w):
    yy, _ = _grid(h, w)
    navy, moon = (_jitter(c, rng) for c, _ in SCENE_CLASSES[8].palette)
    img = navy * (1 + 0.8 * yy[..., None])
    img = _dots(img, rng, int(rng.uniform(40, 70) * w * h / 12288), [np.array([240, 240, 255], np.float32)],
                (0.004, 0.01))
    centre = (int(rng.uniform(0.15, 0.85) * w), int(rng.uniform(0.1, 0.3) * h))
    cv2.circle(img, centre, max(2, int(rng.uniform(0.07, 0.11) * h)), tuple(float(v) for v in moon), -1, cv2.LINE_AA)
    return img


def _library(rng, h, w):
    wood, *books = (_jitter(c, rng) for c, _ in SCENE_CLASSES[9].palette)
    img = _fill(h, w, wood * 0.7)
    shelf = rng.uniform(0.22, 0.3)
    board = max(2, int(0.04 * h))
    y = int(rng.uniform(0, shelf) * h)
    while y < h:
        top = y + board
        bottom = min(h, int(y + shelf * h))
        x = 0
        while x < w:
            bw = max(2, int(rng.uniform(0.02, 0.05) * w))
            book_top = top + int(rng.uniform(0, 0.25) * (bottom - top))
            img[book_top:bottom, x : x + bw - 1] = _jitter(tuple(books[rng.integers(len(books))]), rng, 25)
            x += bw
        img[y : y + board] = wood
        y = bottom
    return img


def _snow(rng, h, w):
    yy, _ = _grid(h, w)
    white, grey, dark = (_jitter(c, rng, 8) for c, _ in SCENE_CLASSES[10].palette)
    img = white * (1 - yy[..., None]) + grey * yy[..., None]
    for _ in range(rng.integers(2, 5)):  # distant trees
        cx, base = rng.uniform(0, 1) * w, rng.uniform(0.45, 0.7) * h
        tw, th = rng.uniform(0.05, 0.1) * w, rng.uniform(0.15, 0.3) * h
        pts = np.array([[cx, base - th], [cx - tw, base], [cx + tw, base]], np.int32)
        cv2.fillPoly(img, [pts], tuple(float(v) for v in dark), cv2.LINE_AA)
    return _dots(img, rng, int(rng.uniform(40, 70) * w * h / 12288), [np.array([255, 255, 255], np.float32)],
                 (0.006, 0.015))


def _sunset(rng, h, w):
    yy, _ = _grid(h, w)
    orange, purple, ground = (_jitter(c, rng) for c, _ in SCENE_CLASSES[11].palette)
    horizon = 0.78 + rng.uniform(-0.05, 0.05)
    t = np.clip(yy / horizon, 0, 1)[..., None]
    img = purple * (1 - t) + orange * t
    sun = (int(rng.uniform(0.2, 0.8) * w), int(horizon * h))
    cv2.circle(img, sun, max(3, int(rng.uniform(0.12, 0.18) * h)), (255.0, 220.0, 120.0), -1, cv2.LINE_AA)
    img[int(horizon * h) :] = ground
    return img


_RENDERERS: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "beach": _beach, "forest": _forest, "desert": _desert, "city": _city, "brick_wall": _brick_wall,
    "ocean": _ocean, "checker_floor": _checker_floor, "meadow": _meadow, "night_sky": _night_sky,
    "library": _library, "snow": _snow, "sunset": _sunset,
}


def render_scene(scene: int, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A jittered instance of scene class `scene` as uint8 RGB (height, width, 3)."""
    img = _RENDERERS[SCENE_CLASSES[scene].name](rng, height, width)
    return np.clip(np.asarray(img, np.float32), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- unseen backgrounds


def render_sinusoid(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """SCUBA's sinusoid stripes: 384x384 canvas, rotated, centre-cropped to 256, resized."""
    size = 384
    colour = rng.random(3)
    stripe = 1.0 - colour
    half_width = 5 + 15 * rng.random()
    shift = (3 + 2 * rng.random()) * half_width
    omega = 2 * np.pi / (1000 * rng.random() + 4)
    offset = (200 * rng.random() - 100) * omega
    amplitude = 10 + 100 * rng.random()
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    curve = amplitude * np.sin(omega * xx + offset) + 128
    in_band = np.mod(yy - curve + half_width, shift) < 2 * half_width
    img = np.where(in_band[..., None], stripe, colour).astype(np.float32) * 255
    rot = cv2.getRotationMatrix2D((size / 2, size / 2), float(rng.uniform(0, 360)), 1.0)
    img = cv2.warpAffine(img, rot, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    lo = (size - 256) // 2
    img = img[lo : lo + 256, lo : lo + 256]
    return np.clip(cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA), 0, 255).astype(np.uint8)


def _random_vivid(rng: np.random.Generator) -> tuple[float, float, float]:
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(120, 255), rng.uniform(120, 255)]]], np.uint8)
    return tuple(float(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def render_stylized(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Procedural abstract art: overlapping vivid shapes and strokes, then a swirl warp."""
    palette = [_random_vivid(rng) for _ in range(rng.integers(4, 7))]
    img = np.empty((height, width, 3), np.float32)
    img[:] = palette[0]
    scale = min(height, width)
    for _ in range(rng.integers(15, 30)):
        colour = palette[rng.integers(len(palette))]
        kind = rng.integers(3)
        if kind == 0:
            pts = (rng.random((rng.integers(3, 7), 2)) * [width, height]).astype(np.int32)
            cv2.fillPoly(img, [pts], colour, cv2.LINE_AA)
        elif kind == 1:
            centre = (int(rng.uniform(0, width)), int(rng.uniform(0, height)))
            cv2.circle(img, centre, max(2, int(rng.uniform(0.05, 0.3) * scale)), colour, -1, cv2.LINE_AA)
        else:
            pts = (rng.random((rng.integers(3, 6), 2)) * [width, height]).astype(np.int32)
            cv2.polylines(img, [pts], False, colour, max(1, int(rng.uniform(0.02, 0.06) * scale)), cv2.LINE_AA)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    amp = rng.uniform(0.02, 0.06) * scale
    freq = rng.uniform(1, 3) * 2 * np.pi
    map_x = xx + amp * np.sin(freq * yy / height + rng.uniform(0, 6))
    map_y = yy + amp * np.sin(freq * xx / width + rng.uniform(0, 6))
    img = cv2.remap(img, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return np.clip(img, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- similarity


def scene_descriptor(scene: int) -> np.ndarray:
    """Palette mean colour in Lab (/100) followed by the weighted structure-family one-hot."""
    cls = SCENE_CLASSES[scene]
    weights = np.array([share for _, share in cls.palette], np.float32)
    colours = np.array([rgb for rgb, _ in cls.palette], np.float32) / 255.0
    mean_rgb = (colours * weights[:, None]).sum(0) / weights.sum()
    lab = cv2.cvtColor(mean_rgb.reshape(1, 1, 3).astype(np.float32), cv2.COLOR_RGB2Lab)[0, 0] / 100.0
    family = np.zeros(len(FAMILIES), np.float32)
    family[FAMILIES.index(cls.family)] = FAMILY_WEIGHT / np.sqrt(2)  # two one-hots differ by FAMILY_WEIGHT
    return np.concatenate([lab, family])


def scene_distances(num_scenes: int) -> np.ndarray:
    """Pairwise Euclidean distances between the first `num_scenes` scene classes' descriptors."""
    d = np.stack([scene_descriptor(s) for s in range(num_scenes)])
    return np.sqrt(((d[:, None] - d[None]) ** 2).sum(-1))
