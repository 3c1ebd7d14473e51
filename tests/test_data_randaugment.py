"""RandAugment on clips: the config grammar, the draw, PIL's op semantics, and masks that move with the frames."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from devias_tk.data import randaugment as ra
from devias_tk.data.randaugment import Op

VIDEOMAE = "rand-m7-n4-mstd0.5-inc1"
GEOMETRIC_CASES = [Op("Rotate", 21.0), Op("Rotate", -13.5), Op("ShearX", 0.21), Op("ShearX", -0.3),
                   Op("ShearY", 0.21), Op("ShearY", -0.12), Op("TranslateXRel", 0.315), Op("TranslateXRel", -0.2),
                   Op("TranslateYRel", 0.25), Op("TranslateYRel", -0.315)]
CHAIN = (Op("Rotate", 17.0), Op("ShearX", -0.2), Op("TranslateYRel", 0.1), Op("ShearY", 0.15))
PHOTOMETRIC_CASES = [Op("AutoContrast"), Op("Equalize"), Op("Invert"), Op("PosterizeIncreasing", 2),
                     Op("SolarizeIncreasing", 77), Op("SolarizeAdd", 77), Op("ColorIncreasing", 1.63),
                     Op("ColorIncreasing", 0.37), Op("ContrastIncreasing", 1.63), Op("ContrastIncreasing", 0.37),
                     Op("BrightnessIncreasing", 1.63), Op("BrightnessIncreasing", 0.37),
                     Op("SharpnessIncreasing", 1.63), Op("SharpnessIncreasing", 0.37)]


# --- the config string -----------------------------------------------------------------------------------------


def test_parse_the_videomae_string():
    spec = ra.parse_rand_augment(VIDEOMAE)
    assert spec == ra.RandAugmentSpec(magnitude=7, num_ops=4, prob=0.5, magnitude_std=0.5, magnitude_max=10,
                                      increasing=True)
    assert spec.ops == ra.INCREASING_OPS and len(spec.ops) == 15
    assert ra.parse_rand_augment("rand") == ra.RandAugmentSpec()  # timm's defaults: m10, n2, p0.5
    assert ra.parse_rand_augment("rand-n3-m9-mstd101").magnitude_std == math.inf  # above 100: uniform
    assert ra.parse_rand_augment("rand-m9-p0.8-mmax12-inc0").ops == ra.OPS


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("randaug-m7", "must start with 'rand-'"),
        ("rand-m7-x3", "cannot read 'x3'"),
        ("rand-m", "cannot read 'm'"),
        ("rand-tweights", "named op sets"),
        ("rand-m7.5", "m must be an integer"),
        ("rand-m7-m8", "'m' given twice"),
        ("rand-n0", "n must be at least 1"),
        ("rand-p1.5", "p must be in (0, 1]"),
        ("rand-inc2", "inc must be 0 or 1"),
    ],
)
def test_a_bad_string_is_named(config, message):
    with pytest.raises(ValueError) as err:
        ra.parse_rand_augment(config)
    assert message in str(err.value) and config in str(err.value)


def test_config_key_is_validated():
    from devias_tk.errors import DeviasError
    from devias_tk.train.config import config_from

    assert config_from(None, []).data.rand_augment is None
    assert config_from(None, [f"data.rand_augment={VIDEOMAE}"]).data.rand_augment == VIDEOMAE
    with pytest.raises(DeviasError, match=r"data\.rand_augment: RandAugment 'rand-m7-q4'"):
        config_from(None, ["data.rand_augment=rand-m7-q4"])


# --- the draw --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "magnitude", "negate", "value"),
    [
        ("Rotate", 7, False, 21.0), ("Rotate", 7, True, -21.0), ("ShearX", 7, True, -0.21),
        ("TranslateYRel", 7, False, 0.315), ("Posterize", 7, False, 2), ("PosterizeIncreasing", 7, False, 2),
        ("PosterizeIncreasing", 0, False, 4), ("Solarize", 7, False, 179), ("SolarizeIncreasing", 7, False, 77),
        ("SolarizeAdd", 7, False, 77), ("SolarizeAdd", 10, False, 110), ("Color", 7, False, 1.36),
        ("ColorIncreasing", 7, False, 1.63), ("SharpnessIncreasing", 7, True, 0.37),
        ("ContrastIncreasing", 10, True, 0.1), ("Invert", 7, False, 0.0),
    ],
)
def test_op_arguments_by_hand(name, magnitude, negate, value):
    assert ra.op_value(name, magnitude, negate) == pytest.approx(value)


def test_draw_statistics_follow_the_string():
    spec = ra.parse_rand_augment(VIDEOMAE)
    draws = [ra.draw(spec, np.random.default_rng([7, i])) for i in range(3000)]
    assert np.mean([len(d) for d in draws]) == pytest.approx(2.0, abs=0.08)  # 4 ops, each fires with p 0.5
    names = [op.name for d in draws for op in d]
    assert set(names) == set(ra.INCREASING_OPS)
    rotations = np.array([op.value for d in draws for op in d if op.name == "Rotate"])
    magnitudes = np.abs(rotations) / 3  # 30 degrees at magnitude 10
    assert magnitudes.mean() == pytest.approx(7.0, abs=0.06) and magnitudes.std() == pytest.approx(0.5, abs=0.06)
    assert (rotations > 0).mean() == pytest.approx(0.5, abs=0.07)


def test_the_draw_is_a_function_of_the_rng():
    spec = ra.parse_rand_augment(VIDEOMAE)
    first = [ra.draw(spec, np.random.default_rng([0, 3, i])) for i in range(20)]
    again = [ra.draw(spec, np.random.default_rng([0, 3, i])) for i in range(20)]
    assert first == again
    assert len({d for d in first}) > 15  # different samples, different draws


# --- geometric ops: masks move with the frames -----------------------------------------------------------------


def _shapes(height: int, width: int, supersample: int = 4) -> np.ndarray:
    """A disc and a rectangle given in normalised coordinates, rendered at (height, width) as uint8 soft
    coverage (supersampled), so every resolution shows the same picture."""
    hs, ws = height * supersample, width * supersample
    v, u = (np.mgrid[0:hs, 0:ws] + 0.5) / np.array([hs, ws])[:, None, None]
    inside = ((u - 0.4) ** 2 + ((v - 0.55) * height / width) ** 2 < 0.15**2) | (
        (u > 0.6) & (u < 0.75) & (v > 0.2) & (v < 0.45))
    coverage = inside.reshape(height, supersample, width, supersample).mean(axis=(1, 3))
    return np.round(255 * coverage).astype(np.uint8)


def _clip_drawing(masks: np.ndarray) -> np.ndarray:
    """Frames that draw each mask in white on black, in every channel."""
    return np.repeat(masks[..., None], 3, axis=-1)


@pytest.mark.parametrize("ops", [(op,) for op in GEOMETRIC_CASES] + [CHAIN], ids=lambda ops: "+".join(
    f"{op.name}{op.value:g}" for op in ops))
def test_geometric_ops_move_the_mask_exactly_as_the_frames(ops):
    masks = np.stack([_shapes(48, 64), _shapes(48, 64)[:, ::-1].copy(), 255 - _shapes(48, 64)])
    frames = ra.apply_to_frames(_clip_drawing(masks), ops, fill=0)
    moved = ra.warp_masks(masks, ops, (48, 64))
    assert not np.array_equal(moved, masks)
    for channel in range(3):
        np.testing.assert_array_equal(frames[..., channel], moved)  # pixel-exact, soft values included
    np.testing.assert_array_equal(frames[..., 0] > 127, moved > 127)
    single = ra.warp_masks(masks[0], ops, (48, 64))  # a single (h, w) clip mask moves like a stack's member
    np.testing.assert_array_equal(single, moved[0])


def test_geometric_fill_is_grey_for_frames_and_zero_for_masks():
    masks = np.full((1, 16, 64), 200, np.uint8)
    ops = (Op("TranslateXRel", 0.25),)  # 16 pixels: the picture moves left, the right quarter is new
    frames = ra.apply_to_frames(_clip_drawing(masks), ops)
    moved = ra.warp_masks(masks, ops, (16, 64))
    assert (frames[:, :, :48] == 200).all() and (frames[:, :, 48:] == ra.FRAME_FILL).all()
    assert (moved[:, :, :48] == 200).all() and (moved[:, :, 48:] == 0).all()


def _centroid(mask: np.ndarray) -> np.ndarray:
    """(u, v) centroid of a mask in normalised coordinates."""
    h, w = mask.shape
    v, u = (np.mgrid[0:h, 0:w] + 0.5) / np.array([h, w])[:, None, None]
    weight = mask.astype(np.float64)
    return np.array([(u * weight).sum(), (v * weight).sum()]) / weight.sum()


@pytest.mark.parametrize("ops", [(op,) for op in GEOMETRIC_CASES] + [CHAIN], ids=lambda ops: "+".join(
    f"{op.name}{op.value:g}" for op in ops))
def test_masks_at_other_resolutions_agree_up_to_resampling(ops):
    """Frames at the source size, a clip mask at half of it (the mask store's working size) and a coarse
    per-tubelet map, each moved at its own resolution. Tolerance: after bringing the source-size result to
    the smaller size (area average), mean |difference| <= 2 grey levels at half size and <= 10 at 1/8 size
    (each bilinear pass blurs edges by up to a pixel of that size; measured: <= 1.5 and <= 8.9 for a chain
    of four ops), and the shapes' centroids agree within 0.1 pixel of the smaller size (measured <= 0.075)."""
    source = (96, 128)
    moved_source = ra.warp_masks(_shapes(*source), ops, source)
    for (h, w), tolerance in (((48, 64), 2), ((12, 16), 10)):
        moved = ra.warp_masks(_shapes(h, w), ops, source)
        reference = cv2.resize(moved_source, (w, h), interpolation=cv2.INTER_AREA)
        assert np.abs(moved.astype(int) - reference).mean() <= tolerance
        np.testing.assert_allclose(_centroid(moved) * [w, h], _centroid(moved_source) * [w, h], atol=0.1)


def test_the_affine_moves_a_point_where_pil_would():
    """The disc's centre goes where the op's own pixel formula sends it (counter-clockwise rotation, shears
    about the top-left corner, translation by a share of the side), checked through the centroid."""
    h, w = 96, 128
    disc = np.zeros((h, w), np.uint8)
    cv2.circle(disc, (50, 40), 10, 255, -1)
    cx, cy = 50.5, 40.5  # pixel (50, 40)'s centre in continuous coordinates
    angle = math.radians(20)
    # output point p with input A(p) = (cx, cy): solve the pixel-space map of each op for p
    rot_x = w / 2 + math.cos(angle) * (cx - w / 2) + math.sin(angle) * (cy - h / 2)
    rot_y = h / 2 - math.sin(angle) * (cx - w / 2) + math.cos(angle) * (cy - h / 2)
    cases = {Op("Rotate", 20.0): (rot_x, rot_y), Op("ShearX", 0.2): (cx - 0.2 * cy, cy),
             Op("ShearY", -0.2): (cx, cy + 0.2 * cx), Op("TranslateXRel", 0.1): (cx - 0.1 * w, cy)}
    for op, (x, y) in cases.items():
        moved = ra.warp_masks(disc, (op,), (h, w))
        np.testing.assert_allclose(_centroid(moved) * [w, h], [x, y], atol=0.05, err_msg=op.name)


# --- photometric ops -------------------------------------------------------------------------------------------


def test_photometric_ops_leave_masks_unchanged():
    masks = np.stack([_shapes(24, 32)] * 2)
    assert ra.warp_masks(masks, tuple(PHOTOMETRIC_CASES), (48, 64)) is masks
    mixed = (Op("Equalize"), CHAIN[0], Op("Invert"), CHAIN[1])
    np.testing.assert_array_equal(ra.warp_masks(masks, mixed, (48, 64)), ra.warp_masks(masks, CHAIN[:2], (48, 64)))


def _natural_clip() -> np.ndarray:
    """Two frames of smooth colour ramps plus noise, with different value ranges (per-frame statistics)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:56]
    base = np.stack([xx * 3.0 + 30, yy * 4.0 + 20, (xx + yy) * 1.5 + 60], -1)
    frames = np.stack([base, 0.5 * base[::-1] + 40]) + rng.normal(0, 6, (2, 40, 56, 3))
    return np.clip(frames, 0, 255).astype(np.uint8)


def _timm_reference(frames: np.ndarray, op: Op) -> np.ndarray:
    """The same op through timm's PIL implementation, frame by frame (bilinear, fill 128)."""
    pil = pytest.importorskip("PIL.Image")
    auto_augment = pytest.importorskip("timm.data.auto_augment")
    name = op.name.removesuffix("Increasing")
    function = {"AutoContrast": "auto_contrast", "Equalize": "equalize", "Invert": "invert", "Rotate": "rotate",
                "Posterize": "posterize", "Solarize": "solarize", "SolarizeAdd": "solarize_add", "Color": "color",
                "Contrast": "contrast", "Brightness": "brightness", "Sharpness": "sharpness", "ShearX": "shear_x",
                "ShearY": "shear_y", "TranslateXRel": "translate_x_rel", "TranslateYRel": "translate_y_rel"}[name]
    fn = getattr(auto_augment, function)
    if op.geometric:
        kwargs = {"resample": pil.BILINEAR, "fillcolor": (ra.FRAME_FILL,) * 3}
        return np.stack([np.asarray(fn(pil.fromarray(f), op.value, **kwargs)) for f in frames])
    args = () if name in ("AutoContrast", "Equalize", "Invert") else (
        (int(op.value),) if name in ("Posterize", "Solarize", "SolarizeAdd") else (op.value,))
    return np.stack([np.asarray(fn(pil.fromarray(f), *args)) for f in frames])


@pytest.mark.parametrize("op", PHOTOMETRIC_CASES, ids=lambda op: f"{op.name}{op.value:g}")
def test_photometric_ops_match_timm(op):
    """Table ops are PIL-exact; blends round where PIL truncates, and Color's grey is OpenCV's: within 2."""
    frames = _natural_clip()
    out = ra.apply_to_frames(frames, (op,))
    difference = np.abs(out.astype(int) - _timm_reference(frames, op))
    exact = op.name in ("AutoContrast", "Equalize", "Invert", "PosterizeIncreasing", "SolarizeIncreasing",
                        "SolarizeAdd")
    assert difference.max() <= (0 if exact else 2)
    assert not np.array_equal(out, frames)


@pytest.mark.parametrize("op", GEOMETRIC_CASES, ids=lambda op: f"{op.name}{op.value:g}")
def test_geometric_ops_match_timm_inside_the_picture(op):
    """Away from the fill edge (where OpenCV blends the fill over half a pixel and PIL cuts), within 1 level."""
    frames = _natural_clip()
    out = ra.apply_to_frames(frames, (op,))
    inside = ra.warp_masks(np.full(frames.shape[1:3], 255, np.uint8), (op,), frames.shape[1:3]) == 255
    inside = cv2.erode(inside.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert inside.mean() > 0.3
    difference = np.abs(out.astype(int) - _timm_reference(frames, op))
    assert difference[:, inside].max() <= 1


def test_bad_frames_are_refused():
    with pytest.raises(ValueError, match="uint8 frames"):
        ra.apply_to_frames(np.zeros((2, 8, 8, 3), np.float32), (Op("Invert"),))
    frames = np.zeros((2, 8, 8), np.uint8)
    assert ra.apply_to_frames(frames, ()) is frames  # no ops: untouched, whatever it is


# --- in the training loader ------------------------------------------------------------------------------------


@pytest.fixture()
def ramp_clip(tmp_path):
    """A 48 x 96 video whose red channel is an x ramp, and a mask store whose clip masks (24 x 48, the working
    size) and per-tubelet maps (6 x 12) carry the same ramp: any misalignment between them shows."""
    from devias_tk.cache.store import VideoStore
    from devias_tk.data.encode import write_video

    video = np.zeros((12, 48, 96, 3), np.uint8)
    video[..., 0] = np.linspace(20, 235, 96).astype(np.uint8)
    write_video(tmp_path / "ramp.avi", video, fps=25)
    soft = np.broadcast_to(np.linspace(20, 235, 48).astype(np.uint8), (4, 24, 48)).copy()
    tubelet = np.broadcast_to(np.linspace(20, 235, 12).astype(np.uint8), (4, 2, 6, 12)).copy()
    store = VideoStore.open_or_create(tmp_path / "m.zarr", {"kind": "fame-masks"}, ("kind",))
    store.commit("ramp.avi", {"soft": (soft, soft.shape), "tubelet": (tubelet, tubelet.shape)},
                 {"num_frames": 12, "starts": [0, 2, 4, 6]})
    return tmp_path


def _loader(root, rand_augment, **spec_args):
    from devias_tk.data.lists import VideoEntry
    from devias_tk.data.windows import ClipGrid
    from devias_tk.train.data import TrainClips, TrainDataSpec

    spec = TrainDataSpec(grid=ClipGrid(window=4, stride=2, hop=2), size=32, guide_shape=(8, 8),
                         rand_augment=rand_augment, **spec_args)
    return TrainClips(root, [VideoEntry("ramp.avi", 0, 0)], spec, root / "m.zarr")


def test_loader_moves_masks_with_the_frames(ramp_clip, monkeypatch):
    """Full-area crop (the centre 48 x 64, resized to 32), no flip: TranslateXRel 0.25 moves the picture by a
    quarter of the frame, i.e. 12 output columns, in the clip, the clip mask and the tubelet maps alike."""
    plain = _loader(ramp_clip, None, scale=(1.0, 1.0), flip=False)[0]
    monkeypatch.setattr(ra, "draw", lambda spec, rng: (Op("TranslateXRel", 0.25),))
    moved = _loader(ramp_clip, VIDEOMAE, scale=(1.0, 1.0), flip=False)[0]
    np.testing.assert_array_equal(moved["clip"][:, :, :, :20], plain["clip"][:, :, :, 12:])
    np.testing.assert_array_equal(moved["soft_mask"][:, :20], plain["soft_mask"][:, 12:])
    np.testing.assert_array_equal(moved["tubelet_mask"][..., :5], plain["tubelet_mask"][..., 3:])  # 3 of 12 px
    grey = (ra.FRAME_FILL / 255 - 0.485) / 0.229
    np.testing.assert_allclose(moved["clip"][0, :, :, 28:], grey, atol=1e-5)  # frames fill grey ...
    assert (moved["soft_mask"][:, 28:] == 0).all() and (moved["tubelet_mask"][..., 7] == 0).all()  # masks 0


def test_loader_photometric_ops_leave_masks_alone(ramp_clip, monkeypatch):
    plain = _loader(ramp_clip, None, scale=(1.0, 1.0), flip=False)[0]
    monkeypatch.setattr(ra, "draw", lambda spec, rng: (Op("Invert"),))
    inverted = _loader(ramp_clip, VIDEOMAE, scale=(1.0, 1.0), flip=False)[0]
    red = lambda item: item["clip"][0].numpy() * 0.229 + 0.485  # noqa: E731
    np.testing.assert_allclose(red(inverted), 1 - red(plain), atol=1.01 / 255)
    np.testing.assert_array_equal(inverted["soft_mask"], plain["soft_mask"])
    np.testing.assert_array_equal(inverted["tubelet_mask"], plain["tubelet_mask"])


def test_loader_draw_is_reproducible_and_leaves_crop_and_flip_alone(ramp_clip, monkeypatch):
    on = _loader(ramp_clip, VIDEOMAE, scale=(0.2, 1.0), flip=True)
    changed = 0
    for epoch in range(6):
        first, again = on[(epoch, 0)], on[(epoch, 0)]  # a resumed run asks for the same (epoch, index)
        for key in ("clip", "soft_mask", "tubelet_mask"):
            np.testing.assert_array_equal(first[key], again[key])
        changed += not np.array_equal(first["clip"], _loader(ramp_clip, None, scale=(0.2, 1.0), flip=True)[
            (epoch, 0)]["clip"])
    assert changed >= 3
    # With RandAugment on but no op firing, crop and flip are those of the loader without it.
    monkeypatch.setattr(ra, "draw", lambda spec, rng: ())
    off = _loader(ramp_clip, None, scale=(0.2, 1.0), flip=True)
    for epoch in range(6):
        a, b = on[(epoch, 0)], off[(epoch, 0)]
        for key in ("clip", "soft_mask", "tubelet_mask"):
            np.testing.assert_array_equal(a[key], b[key])
