"""RandAugment for video clips, drawn once per clip, with masks that follow the geometric ops.

Config strings use timm's `rand_augment_transform` grammar: `rand-m7-n4-mstd0.5-inc1` (VideoMAE's
fine-tuning default) draws n = 4 ops uniformly, with replacement, from 15; each fires with probability
p = 0.5 at magnitude m = 7 of 10 plus N(0, mstd = 0.5) noise drawn per op, clipped to [0, mmax = 10];
`inc1` picks the op variants whose strength grows with the magnitude. As in VideoMAE's video loader,
one draw (ops, magnitudes, signs) serves every frame of the clip.

Op arguments at magnitude m (L = m / 10; +- a random sign per op):
  Rotate +-30L degrees about the centre; ShearX / ShearY factor +-0.3L; TranslateXRel / YRel +-0.45L of the
  side; Posterize keeps int(4L) bits (increasing: 4 - int(4L)); Solarize inverts values >= int(256L)
  (increasing: >= 256 - int(256L)); SolarizeAdd adds int(110L) (at most 128) below 128; Color, Contrast,
  Brightness, Sharpness blend with a degenerate image at factor 1.8L + 0.1 (increasing: 1 +- 0.9L, >= 0.1);
  AutoContrast, Equalize, Invert take no argument.

Geometric ops are affines, held in normalised coordinates (the unit square over the whole frame, origin at
its top-left corner, so a pixel i of an n-pixel side covers [i / n, (i + 1) / n)); `warp_masks` applies the
same affine at any mask's own resolution, so a mask store at a working size and a coarse per-tubelet map
move exactly as the frames do. Photometric ops touch frames only.

Deviations from timm (PIL), for speed on uint8 clips (T, H, W, 3) with OpenCV:
- Resampling is bilinear for frames and masks alike (VideoMAE uses PIL bicubic for frames); OpenCV blends the
  fill into the outermost half pixel where PIL cuts hard at the sample point. Frames fill with grey 128
  (timm's fill), masks with 0.
- Blends (Color, Contrast, Brightness, Sharpness) round to the nearest level where PIL truncates (at most
  one grey level apart); the grey conversion is OpenCV's (same ITU-R 601 weights). Histogram ops
  (AutoContrast, Equalize) and Contrast's mean use each frame's own statistics, as PIL does per image.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import cv2
import numpy as np

OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd", "Color", "Contrast",
       "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")
INCREASING_OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing",
                  "SolarizeAdd", "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing",
                  "SharpnessIncreasing", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")
GEOMETRIC = frozenset({"Rotate", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel"})
FRAME_FILL = 128  # timm's fill colour (128, 128, 128)
GRAMMAR = "rand-m<magnitude>-n<ops>[-p<prob>][-mstd<std>][-mmax<max>][-inc<0|1>], e.g. rand-m7-n4-mstd0.5-inc1"


@dataclass(frozen=True)
class RandAugmentSpec:
    """A parsed config string (defaults: timm's)."""

    magnitude: float = 10.0
    num_ops: int = 2
    prob: float = 0.5
    magnitude_std: float = 0.0  # inf: magnitude uniform in [0, magnitude]
    magnitude_max: float = 10.0
    increasing: bool = False

    @property
    def ops(self) -> tuple[str, ...]:
        return INCREASING_OPS if self.increasing else OPS


@dataclass(frozen=True)
class Op:
    """One drawn op: its name and argument (degrees, shear factor, side fraction, bits, threshold, addend or
    blend factor; 0 for the argument-free ops)."""

    name: str
    value: float = 0.0

    @property
    def geometric(self) -> bool:
        return self.name in GEOMETRIC


def parse_rand_augment(config: str) -> RandAugmentSpec:
    """Parse a timm RandAugment string; a bad one raises ValueError naming the part to fix."""
    parts = str(config).split("-")
    if parts[0] != "rand":
        raise ValueError(f"RandAugment {config!r} must start with 'rand-' ({GRAMMAR})")
    values: dict[str, float] = {}
    for part in parts[1:]:
        match = re.fullmatch(r"(mstd|mmax|inc|m|n|p)(\d+(?:\.\d*)?|\.\d+)", part)
        if match is None:
            raise ValueError(f"RandAugment {config!r}: cannot read {part!r} ({GRAMMAR}; named op sets such as "
                             f"'tweights' are not supported)")
        key, number = match.groups()
        if key in values:
            raise ValueError(f"RandAugment {config!r}: {key!r} given twice")
        values[key] = float(number)
    for key in ("m", "n", "mmax", "inc"):
        if key in values and not values[key].is_integer():
            raise ValueError(f"RandAugment {config!r}: {key} must be an integer (got {values[key]:g})")
    std = values.get("mstd", 0.0)
    spec = RandAugmentSpec(
        magnitude=values.get("m", 10.0), num_ops=int(values.get("n", 2)), prob=values.get("p", 0.5),
        magnitude_std=math.inf if std > 100 else std,  # timm: mstd above 100 means uniform sampling
        magnitude_max=values.get("mmax", 10.0), increasing=bool(values.get("inc", 0)),
    )
    if spec.num_ops < 1:
        raise ValueError(f"RandAugment {config!r}: n must be at least 1")
    if not 0 < spec.prob <= 1:
        raise ValueError(f"RandAugment {config!r}: p must be in (0, 1] (got {spec.prob:g})")
    if values.get("inc", 0) not in (0, 1):
        raise ValueError(f"RandAugment {config!r}: inc must be 0 or 1")
    return spec


def op_value(name: str, magnitude: float, negate: bool = False) -> float:
    """The argument of op `name` at `magnitude` (0..10 scale); `negate` flips the sign of the signed ops."""
    level = magnitude / 10.0
    sign = -1.0 if negate else 1.0
    if name in ("AutoContrast", "Equalize", "Invert"):
        return 0.0
    if name == "Rotate":
        return sign * 30.0 * level
    if name in ("ShearX", "ShearY"):
        return sign * 0.3 * level
    if name in ("TranslateXRel", "TranslateYRel"):
        return sign * 0.45 * level
    if name == "Posterize":
        return float(int(4 * level))
    if name == "PosterizeIncreasing":
        return float(4 - int(4 * level))
    if name == "Solarize":
        return float(min(256, int(256 * level)))
    if name == "SolarizeIncreasing":
        return float(256 - min(256, int(256 * level)))
    if name == "SolarizeAdd":
        return float(min(128, int(110 * level)))
    if name in ("Color", "Contrast", "Brightness", "Sharpness"):
        return 1.8 * level + 0.1
    if name in ("ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing", "SharpnessIncreasing"):
        return max(0.1, 1.0 + sign * 0.9 * level)
    raise ValueError(f"unknown RandAugment op {name!r}")


_SIGNED = GEOMETRIC | {"ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing", "SharpnessIncreasing"}


def draw(spec: RandAugmentSpec, rng: np.random.Generator) -> tuple[Op, ...]:
    """The ops that fire for one clip, in order: a deterministic function of `rng`'s state."""
    ops = spec.ops
    out = []
    for choice in rng.integers(len(ops), size=spec.num_ops):
        name = ops[int(choice)]
        if spec.prob < 1 and rng.random() > spec.prob:
            continue
        magnitude = spec.magnitude
        if math.isinf(spec.magnitude_std):
            magnitude = rng.uniform(0, magnitude)
        elif spec.magnitude_std > 0:
            magnitude = rng.normal(magnitude, spec.magnitude_std)
        magnitude = min(max(float(magnitude), 0.0), spec.magnitude_max)
        negate = bool(rng.random() > 0.5) if name in _SIGNED else False
        out.append(Op(name, op_value(name, magnitude, negate)))
    return tuple(out)


# --- geometry -------------------------------------------------------------------------------------------------


def normalized_affine(op: Op, height: int, width: int) -> np.ndarray:
    """3x3 map from output to input points in normalised coordinates, for frames of `height` x `width`.

    PIL's ops are defined in pixels (shears about the top-left corner, rotation about the centre); the
    frame's aspect ratio turns them into the normalised affine every other resolution shares.
    """
    aspect = height / width
    a = np.eye(3)
    if op.name == "ShearX":  # x_in = x + f y (pixels)
        a[0, 1] = op.value * aspect
    elif op.name == "ShearY":  # y_in = y + f x
        a[1, 0] = op.value / aspect
    elif op.name == "TranslateXRel":  # x_in = x + f W: the picture moves left for f > 0
        a[0, 2] = op.value
    elif op.name == "TranslateYRel":
        a[1, 2] = op.value
    elif op.name == "Rotate":  # counter-clockwise on screen by `value` degrees about the centre (PIL's rotate)
        c, s = math.cos(math.radians(op.value)), math.sin(math.radians(op.value))
        linear = np.array([[c, -s * aspect], [s / aspect, c]])
        a[:2, :2] = linear
        a[:2, 2] = np.array([0.5, 0.5]) - linear @ np.array([0.5, 0.5])
    else:
        raise ValueError(f"{op.name} is not a geometric op")
    return a


def _opencv_matrix(norm: np.ndarray, height: int, width: int) -> np.ndarray:
    """The normalised affine at an array of `height` x `width`, as OpenCV's 2x3 inverse map (pixel centres at
    integer coordinates, where the normalised frame puts them at i + 0.5)."""
    scale = np.diag([width, height, 1.0])
    pixel = scale @ norm @ np.linalg.inv(scale)
    linear, shift = pixel[:2, :2], pixel[:2, 2]
    return np.hstack([linear, (shift + linear @ np.array([0.5, 0.5]) - 0.5)[:, None]])


def _warp(images: np.ndarray, norm: np.ndarray, fill: float | tuple[float, ...]) -> np.ndarray:
    """A stack (N, h, w[, C]) warped image by image (faster than stacking images as channels)."""
    height, width = images.shape[1:3]
    matrix = _opencv_matrix(norm, height, width)
    return np.stack([cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=fill) for image in images])


def warp_masks(masks: np.ndarray, ops: tuple[Op, ...], frame_shape: tuple[int, int]) -> np.ndarray:
    """The geometric ops of `ops`, in order, on a mask (h, w) or a stack of masks (N, h, w) at their own
    resolution, filled with 0; `frame_shape` = (H, W) of the frames the ops were drawn for."""
    out = masks if masks.ndim == 3 else masks[None]
    moved = False
    for op in ops:
        if op.geometric:
            out, moved = _warp(out, normalized_affine(op, *frame_shape), 0), True
    if not moved:
        return masks
    return out if masks.ndim == 3 else out[0]


# --- photometric ----------------------------------------------------------------------------------------------


def _lut(frames: np.ndarray, table: np.ndarray) -> np.ndarray:
    """One 256-entry table for every pixel and channel."""
    t, h, w, c = frames.shape
    return cv2.LUT(frames.reshape(t * h, w * c), table.astype(np.uint8)).reshape(frames.shape)


def _lut_per_frame(frames: np.ndarray, tables: np.ndarray) -> np.ndarray:
    """tables (T, 3, 256): one table per frame and channel."""
    luts = np.clip(tables, 0, 255).astype(np.uint8).transpose(0, 2, 1)[:, :, None, :]  # (T, 256, 1, 3)
    return np.stack([cv2.LUT(frame, np.ascontiguousarray(lut)) for frame, lut in zip(frames, luts, strict=True)])


def _histograms(frames: np.ndarray) -> np.ndarray:
    """(T, 3, 256) counts per frame and channel (OpenCV: several times numpy's bincount)."""
    return np.stack([np.stack([cv2.calcHist([frame], [c], None, [256], [0, 256]).ravel() for c in range(3)])
                     for frame in frames]).astype(np.int64)


def autocontrast(frames: np.ndarray) -> np.ndarray:
    """Stretch each frame's channel from its [min, max] to [0, 255] (PIL's, without cut-off)."""
    present = _histograms(frames) > 0
    lo = np.argmax(present, axis=-1).astype(np.float64)[..., None]
    hi = (255 - np.argmax(present[..., ::-1], axis=-1)).astype(np.float64)[..., None]
    levels = np.arange(256, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = 255.0 / (hi - lo)
        stretched = np.trunc(levels * scale - lo * scale)
    tables = np.where(hi > lo, stretched, levels)
    return _lut_per_frame(frames, tables)


def equalize(frames: np.ndarray) -> np.ndarray:
    """PIL's histogram equalisation, per frame and channel."""
    hist = _histograms(frames)
    before = np.cumsum(hist, axis=-1) - hist  # count below each level
    present = hist > 0
    last = 255 - np.argmax(present[..., ::-1], axis=-1)  # highest level present
    step = (hist.sum(axis=-1) - np.take_along_axis(hist, last[..., None], axis=-1)[..., 0]) // 255
    safe = np.maximum(step, 1)[..., None]
    tables = (safe // 2 + before) // safe
    identity = (present.sum(axis=-1) <= 1) | (step == 0)
    tables = np.where(identity[..., None], np.arange(256), tables)
    return _lut_per_frame(frames, tables)


def _blend(degenerate: np.ndarray, image: np.ndarray, factor: float) -> np.ndarray:
    """degenerate + factor (image - degenerate), rounded and clipped to uint8."""
    return cv2.addWeighted(image, factor, degenerate, 1.0 - factor, 0.0)


def _flat(frames: np.ndarray) -> np.ndarray:
    t, h, w, c = frames.shape
    return frames.reshape(t * h, w, c)


def _grey(frames: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(_flat(frames), cv2.COLOR_RGB2GRAY).reshape(frames.shape[:3])


def color(frames: np.ndarray, factor: float) -> np.ndarray:
    grey = cv2.cvtColor(_grey(frames).reshape(-1, frames.shape[2]), cv2.COLOR_GRAY2RGB)
    return _blend(grey, _flat(frames), factor).reshape(frames.shape)


def contrast(frames: np.ndarray, factor: float) -> np.ndarray:
    means = (_grey(frames).mean(axis=(1, 2)) + 0.5).astype(int)  # PIL: the frame's mean grey, rounded
    return np.stack([cv2.addWeighted(frame, factor, frame, 0.0, (1.0 - factor) * float(mean))
                     for frame, mean in zip(frames, means, strict=True)])


def brightness(frames: np.ndarray, factor: float) -> np.ndarray:
    flat = _flat(frames)
    return cv2.addWeighted(flat, factor, flat, 0.0, 0.0).reshape(frames.shape)


_SMOOTH = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], np.float32) / 13  # PIL's ImageFilter.SMOOTH


def sharpness(frames: np.ndarray, factor: float) -> np.ndarray:
    """Blend with PIL's SMOOTH-filtered frames, whose one-pixel border is the frame itself."""
    smooth = np.stack([cv2.filter2D(frame, -1, _SMOOTH, borderType=cv2.BORDER_REPLICATE) for frame in frames])
    smooth[:, 0], smooth[:, -1], smooth[:, :, 0], smooth[:, :, -1] = (
        frames[:, 0], frames[:, -1], frames[:, :, 0], frames[:, :, -1])
    return _blend(_flat(smooth), _flat(frames), factor).reshape(frames.shape)


_LEVELS = np.arange(256)


def _photometric(frames: np.ndarray, op: Op) -> np.ndarray:
    name, value = op.name.removesuffix("Increasing"), op.value
    if name == "AutoContrast":
        return autocontrast(frames)
    if name == "Equalize":
        return equalize(frames)
    if name == "Invert":
        return _lut(frames, 255 - _LEVELS)
    if name == "Posterize":
        bits = int(value)
        return frames if bits >= 8 else _lut(frames, _LEVELS & ~(2 ** (8 - bits) - 1))
    if name == "Solarize":
        return _lut(frames, np.where(value > _LEVELS, _LEVELS, 255 - _LEVELS))  # invert levels >= value
    if name == "SolarizeAdd":
        return _lut(frames, np.where(_LEVELS < 128, np.minimum(255, _LEVELS + int(value)), _LEVELS))
    if name == "Color":
        return color(frames, value)
    if name == "Contrast":
        return contrast(frames, value)
    if name == "Brightness":
        return brightness(frames, value)
    if name == "Sharpness":
        return sharpness(frames, value)
    raise ValueError(f"unknown RandAugment op {op.name!r}")


def apply_to_frames(frames: np.ndarray, ops: tuple[Op, ...], fill: int = FRAME_FILL) -> np.ndarray:
    """The ops, in order, on every frame of a uint8 clip (T, H, W, 3); geometric ones fill with `fill`."""
    if not ops:
        return frames
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"RandAugment needs uint8 frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
    height, width = frames.shape[1:3]
    for op in ops:
        if op.geometric:
            frames = _warp(frames, normalized_affine(op, height, width), (fill,) * 3)
        else:
            frames = _photometric(np.ascontiguousarray(frames), op)
    return frames
