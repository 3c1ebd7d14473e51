"""FAME (Ding et al., CVPR 2022) foreground masks as plain functions over numpy arrays.

A clip is `clip_len` sampled frames, float32 RGB in [0, 1], shape (T, H, W, 3):

1. motion map D: mean over consecutive sampled-frame pairs of sum_c |x_t - x_t+1|, Gaussian-blurred
   (odd kernel k = int(0.1 * short_side) // 2 * 2 + 1, sigma k / 3), min-max normalised;
2. colour model on the clip's temporal mean frame in HSV with hue in [0, 1):
   hx = (s cos(2 pi h) + 1) / 2, hy = (s sin(2 pi h) + 1) / 2, v; each quantised to 10 levels
   (round(x * 9)) -> 1000 bins;
3. foreground seeds = the top 50% of D, background seeds = the bottom 10%; a histogram over the
   bins for each, +1 on every background bin (Laplace), each normalised to sum 1;
4. per pixel p_fg / (p_fg + p_bg) of its bin, blurred, min-max normalised -> the soft mask.
The hard mask keeps the top beta * H * W pixels. A per-tubelet mask uses D of one frame pair
(2j, 2j+1) and the whole clip's colours, computed at the clip's (working) size; the stage then
area-pools it to a smaller grid for storage.

Optional, not in the paper: the colour model can be skipped (`FameParams.colour_model=False`), keeping
step 1's blurred motion map as the soft mask. FAME seeds its foreground colours with the top 50% of
motion, which suits an actor covering about half the frame; when the actor covers a fifth of it on a
textured background, most of those seeds are background and step 4 spreads the mask over the scene
(docs/measured.md#mask-quality).

Optional camera-motion compensation (`FameParams.motion_comp`, not in the paper; see
devias_tk.masks.motion): frame t+1 is warped onto frame t before differencing, and the pixels the
warp leaves undefined (the strip the camera uncovered) get difference 0, i.e. no evidence of motion.

The authors' release converts hue from radians with a second 2*pi factor; here hue is in [0, 1)
as the method defines it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from devias_tk.masks.motion import aligned_pair, check_method

NUM_LEVELS = 10
NUM_BINS = NUM_LEVELS**3
EPS = 1e-8


@dataclass(frozen=True)
class FameParams:
    fg_fraction: float = 0.5  # top share of motion pixels used as foreground seeds
    bg_fraction: float = 0.1  # bottom share used as background seeds
    blur_fraction: float = 0.1  # Gaussian kernel ~ this fraction of the short side
    motion_comp: str = "none"  # camera-motion compensation before differencing (masks.motion.METHODS)
    colour_model: bool = True  # steps 2-4; False keeps the blurred motion map as the soft mask

    def __post_init__(self) -> None:
        check_method(self.motion_comp)

    def to_dict(self) -> dict:
        """The settings a store records; a later-added field at its default is left out, so stores
        written before it existed still match."""
        out = asdict(self)
        if self.colour_model:
            del out["colour_model"]
        return out


def blur_kernel_size(short_side: int, blur_fraction: float = 0.1) -> int:
    """Odd Gaussian kernel size int(f * short_side) // 2 * 2 + 1 (11 for a 112-pixel short side)."""
    return int(blur_fraction * short_side) // 2 * 2 + 1


def gaussian_blur(image: np.ndarray, kernel: int) -> np.ndarray:
    if kernel <= 1:
        return image
    return cv2.GaussianBlur(image, (kernel, kernel), sigmaX=kernel / 3, sigmaY=kernel / 3,
                            borderType=cv2.BORDER_REFLECT_101)


def min_max(image: np.ndarray) -> np.ndarray:
    lo, hi = float(image.min()), float(image.max())
    return ((image - lo) / (hi - lo + EPS)).astype(np.float32)


def abs_channel_sum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """sum_c |a - b| over the trailing RGB axis (explicit adds: a reduction over 3 is slow in numpy)."""
    d = np.abs(a - b)
    return d[..., 0] + d[..., 1] + d[..., 2]


def pair_difference(a: np.ndarray, b: np.ndarray, motion_comp: str = "none") -> np.ndarray:
    """sum_c |a - b| (H, W), with b first aligned onto a when `motion_comp` is not 'none'; 0 where b's
    warped image is undefined."""
    aligned, defined = aligned_pair(a, b, motion_comp)
    diff = abs_channel_sum(aligned, a)
    if defined is not None:
        diff[~defined] = 0
    return diff


def pair_differences(frames: np.ndarray, motion_comp: str = "none") -> np.ndarray:
    """sum_c |x_t - x_t+1| for each consecutive pair: (T, H, W, 3) -> (T - 1, H, W)."""
    if motion_comp == "none":
        return abs_channel_sum(frames[1:], frames[:-1])
    return np.stack([pair_difference(frames[t], frames[t + 1], motion_comp) for t in range(len(frames) - 1)])


def motion_map(differences: np.ndarray, kernel: int) -> np.ndarray:
    """Blurred, min-max normalised mean of pair differences (P, H, W) -> (H, W)."""
    return min_max(gaussian_blur(differences.mean(axis=0).astype(np.float32), kernel))


def colour_bins(mean_frame: np.ndarray) -> np.ndarray:
    """Bin index in [0, 1000) of every pixel of a float RGB frame in [0, 1], shape (H, W, 3)."""
    hsv = cv2.cvtColor(np.clip(mean_frame, 0, 1).astype(np.float32), cv2.COLOR_RGB2HSV)
    hue = hsv[..., 0] / 360.0  # OpenCV gives degrees for float input
    sat, val = hsv[..., 1], hsv[..., 2]
    hx = (sat * np.cos(2 * np.pi * hue) + 1) / 2
    hy = (sat * np.sin(2 * np.pi * hue) + 1) / 2
    q = [np.rint(np.clip(c, 0, 1) * (NUM_LEVELS - 1)).astype(np.int32) for c in (hx, hy, val)]
    return q[0] * NUM_LEVELS**2 + q[1] * NUM_LEVELS + q[2]


def seed_indices(motion: np.ndarray, fraction: float, top: bool) -> np.ndarray:
    """Flat indices of the `fraction` of pixels with the highest (top) or lowest motion."""
    flat = motion.reshape(-1).astype(np.float32)
    count = max(1, int(fraction * flat.size))
    if count >= flat.size:
        return np.arange(flat.size)
    order = np.argpartition(-flat if top else flat, count - 1)
    return order[:count]


def motion_seeds(motion: np.ndarray, params: FameParams) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of the foreground and background seeds of a motion map (they depend on motion only)."""
    return seed_indices(motion, params.fg_fraction, True), seed_indices(motion, params.bg_fraction, False)


def likelihood_from_seeds(seeds: tuple[np.ndarray, np.ndarray], bins: np.ndarray) -> np.ndarray:
    """p_fg / (p_fg + p_bg) of each pixel's colour bin, from (foreground, background) seed indices."""
    flat_bins = bins.reshape(-1)
    fg = np.bincount(flat_bins[seeds[0]], minlength=NUM_BINS)
    bg = np.bincount(flat_bins[seeds[1]], minlength=NUM_BINS) + 1.0
    p_fg = fg / fg.sum()
    p_bg = bg / bg.sum()
    ratio = (p_fg / (p_fg + p_bg)).astype(np.float32)
    return ratio[bins]


def foreground_likelihood(motion: np.ndarray, bins: np.ndarray, params: FameParams) -> np.ndarray:
    """p_fg / (p_fg + p_bg) of each pixel's colour bin, from motion-selected seeds: (H, W) in [0, 1]."""
    return likelihood_from_seeds(motion_seeds(motion, params), bins)


def soft_mask_from_seeds(seeds: tuple[np.ndarray, np.ndarray], bins: np.ndarray, kernel: int) -> np.ndarray:
    return min_max(gaussian_blur(likelihood_from_seeds(seeds, bins), kernel))


def soft_mask_from(motion: np.ndarray, bins: np.ndarray, kernel: int, params: FameParams) -> np.ndarray:
    if not params.colour_model:
        return motion
    return soft_mask_from_seeds(motion_seeds(motion, params), bins, kernel)


def area_pool(maps: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Maps (..., H, W) resized to (..., h, w) by area averaging (exact means for integer factors)."""
    flat = maps.reshape(-1, *maps.shape[-2:]).astype(np.float32)
    out = np.stack([cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_AREA) for m in flat])
    return out.reshape(*maps.shape[:-2], *shape)


def fame_soft_mask(frames: np.ndarray, params: FameParams = FameParams()) -> np.ndarray:
    """The clip-level soft mask (H, W) in [0, 1] of a (T, H, W, 3) float clip."""
    kernel = blur_kernel_size(min(frames.shape[1:3]), params.blur_fraction)
    motion = motion_map(pair_differences(frames, params.motion_comp), kernel)
    return soft_mask_from(motion, colour_bins(frames.mean(axis=0)), kernel, params)


def fame_tubelet_masks(frames: np.ndarray, params: FameParams = FameParams(),
                       pooled_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Per-tubelet soft masks (T // 2, H, W): D from frames (2j, 2j + 1), colours from the whole clip,
    both at the frames' size; area-pooled to (T // 2, *pooled_shape) when that is given."""
    kernel = blur_kernel_size(min(frames.shape[1:3]), params.blur_fraction)
    bins = colour_bins(frames.mean(axis=0))
    diffs = [pair_difference(frames[t], frames[t + 1], params.motion_comp) for t in range(0, len(frames) - 1, 2)]
    maps = np.stack([soft_mask_from(motion_map(d[None], kernel), bins, kernel, params) for d in diffs])
    return maps if pooled_shape is None else area_pool(maps, pooled_shape)


def top_fraction_mask(soft: np.ndarray, beta: float) -> np.ndarray:
    """Hard mask with round(beta * H * W) ones on the highest soft values (ties: lower flat index), none on a
    pixel whose soft value is 0 (a map with fewer positive pixels keeps only those)."""
    flat = soft.reshape(-1).astype(np.float32)  # negating uint8 would wrap around
    count = round(beta * flat.size)
    mask = np.zeros(flat.size, bool)
    if count > 0:
        order = np.argsort(-flat, kind="stable")
        mask[order[:count]] = True
    return (mask & (flat > 0)).reshape(soft.shape)


def to_uint8(soft: np.ndarray) -> np.ndarray:
    """Quantise a [0, 1] map to uint8 for caching (resolution 1/255)."""
    return np.rint(np.clip(soft, 0, 1) * 255).astype(np.uint8)
