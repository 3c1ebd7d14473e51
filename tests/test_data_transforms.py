import numpy as np
import pytest

from devias_tk.data import transforms as tf


def test_short_side_size_keeps_aspect():
    assert tf.short_side_size(240, 320, 224) == (224, 299)
    assert tf.short_side_size(320, 240, 224) == (299, 224)


def test_three_crops_run_along_the_long_side():
    assert tf.three_crop_boxes(224, 299, 224) == [
        tf.Box(0, 0, 224, 224), tf.Box(0, 37, 224, 224), tf.Box(0, 75, 224, 224)
    ]
    assert tf.three_crop_boxes(300, 224, 224)[2] == tf.Box(76, 0, 224, 224)
    assert tf.spatial_boxes(224, 299, 224, 1) == [tf.Box(0, 37, 224, 224)]
    with pytest.raises(ValueError):
        tf.spatial_boxes(224, 299, 224, 2)


def test_random_resized_box_stays_inside_and_respects_scale():
    rng = np.random.default_rng(0)
    for _ in range(200):
        b = tf.random_resized_box(96, 128, rng, scale=(0.3, 1.0))
        assert b.y >= 0 and b.y + b.h <= 96 and b.x >= 0 and b.x + b.w <= 128
        assert b.h * b.w >= 0.3 * 96 * 128 * 0.9  # rounding slack


def test_same_box_aligns_frames_and_masks():
    # frame pixel value and mask value both encode the column, so after the same crop they agree
    cols = np.tile(np.arange(64, dtype=np.uint8), (48, 1))
    frames = np.repeat(cols[None, :, :, None], 3, axis=3).repeat(2, axis=0)  # (2, 48, 64, 3)
    masks = cols[None].repeat(2, axis=0)  # (2, 48, 64)
    box = tf.Box(5, 10, 20, 30)
    f = tf.crop_resize(frames, box, 20, interpolation=0)
    m = tf.crop_resize(masks, box, 20, interpolation=0)
    assert f.shape == (2, 20, 20, 3) and m.shape == (2, 20, 20)
    assert np.array_equal(f[..., 0], m)
    assert f[0, 0, 0, 0] == 10 and tf.hflip(f)[0, 0, 0, 0] == f[0, 0, -1, 0]


def test_normalisation_values():
    frames = np.zeros((1, 1, 1, 3), np.uint8)
    frames[..., 0] = 255
    x = tf.to_normalized_tensor_layout(frames)
    assert x.shape == (3, 1, 1, 1)
    np.testing.assert_allclose(x[:, 0, 0, 0], [(1 - 0.485) / 0.229, -0.456 / 0.224, -0.406 / 0.225], rtol=1e-6)


def test_normalisation_table_is_bit_identical_to_the_arithmetic():
    frames = np.random.default_rng(0).integers(0, 256, (3, 5, 7, 3), dtype=np.uint8)
    frames[0, 0, :3, 0] = (0, 128, 255)
    arithmetic = (frames.astype(np.float32) / 255.0 - np.asarray(tf.IMAGENET_MEAN, np.float32)) / np.asarray(
        tf.IMAGENET_STD, np.float32)
    x = tf.to_normalized_tensor_layout(frames)
    assert x.dtype == np.float32 and x.flags.c_contiguous
    assert np.array_equal(x, arithmetic.transpose(3, 0, 1, 2))
    other = tf.to_normalized_tensor_layout(frames, mean=(0.5,) * 3, std=(0.5,) * 3)
    assert other[0, 0, 0, 0] == -1.0 and other[0, 0, 0, 2] == 1.0


def test_color_jitter_is_photometric_and_shared_by_frames():
    rng = np.random.default_rng(0)
    frames = np.repeat(rng.integers(0, 256, (1, 8, 8, 3), dtype=np.uint8), 3, axis=0)
    out = tf.color_jitter(frames, 0.4, np.random.default_rng(1))
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert np.array_equal(out[0], out[1]) and np.array_equal(out[1], out[2])  # same factors for every frame
    assert not np.array_equal(out, frames)
    assert tf.color_jitter(frames, 0.0, rng) is frames
    grey = np.full((1, 2, 2, 3), 100, np.uint8)  # grey stays grey under contrast and saturation
    jittered = tf.color_jitter(grey, 0.4, np.random.default_rng(3))
    assert (jittered == jittered[..., :1]).all()
