import numpy as np
import pytest

from meddenoise.errors import InputError
from meddenoise.image import MedicalImage
from meddenoise.intensity import (
    CT_WINDOW,
    IntensityMapping,
    RestoreStats,
    from_model,
    plan_mapping,
    to_model,
)


def _ct(values, *, padding=None):
    img = MedicalImage.from_array(np.asarray(values, dtype=np.int16), modality="CT")
    img.intercept[:] = -1024.0
    img.value_range = (-2048.0, 4095.0)
    img.padding_value = padding
    return img


def test_ct_uses_the_fixed_hu_window_whatever_the_content():
    dark = _ct(np.full((2, 8, 8), 0))
    bright = _ct(np.full((2, 8, 8), 2000))
    assert plan_mapping(dark) == plan_mapping(bright)
    assert (plan_mapping(dark).low, plan_mapping(dark).high) == CT_WINDOW
    x, _ = to_model(_ct([[0, 1024, 1024 + 3071, 5000]]))
    np.testing.assert_allclose(x[0, :, 0], [[0.0, 1024 / 4095, 1.0, 1.0]] * 3, rtol=1e-6)


def test_identity_round_trip_is_exact_with_padding_and_out_of_window_values():
    rng = np.random.default_rng(0)
    stored = rng.integers(-2000, 4095, size=(3, 17, 23)).astype(np.int16)
    stored[0, :2] = -2000  # padding
    stored[1, 5, 5] = 4095  # metal, above the window: clipped on the way in
    img = _ct(stored, padding=-2000)
    x, mapping = to_model(img)
    assert x.min() >= 0.0
    assert x.max() <= 1.0
    back, stats = from_model(x, img, mapping)
    assert back.dtype == np.int16
    np.testing.assert_array_equal(back, stored)
    assert stats.clipped == 0
    assert stats.passed_through >= 2 * 23 + 1


def test_per_slice_rescale_shares_one_mapping_and_round_trips():
    rng = np.random.default_rng(1)
    stored = rng.integers(0, 4096, size=(3, 16, 16)).astype(np.uint16)
    img = MedicalImage.from_array(stored, modality="MR")
    img.slope[:] = [3.774, 1.0, 0.25]
    img.intercept[:] = [0.0, 12.5, -3.0]
    img.value_range = (0.0, 4095.0)
    mapping = plan_mapping(img)
    assert mapping.kind == "range"
    x, _ = to_model(img, mapping)
    back, _ = from_model(x, img, mapping)
    np.testing.assert_array_equal(back, stored)


def test_chunks_use_the_series_mapping_so_slices_do_not_flicker():
    ramp = np.linspace(100, 200, 64).reshape(8, 8)
    stored = np.stack([ramp, ramp + 2900]).astype(np.uint16)
    img = MedicalImage.from_array(stored, modality="MR")
    whole, mapping = to_model(img)
    first, _ = to_model(img, mapping, start=0, stop=1)
    np.testing.assert_array_equal(first, whole[:1])
    alone, _ = to_model(MedicalImage.from_array(stored[:1], modality="MR"))
    assert not np.allclose(alone, first)  # planning per slice would change the values


def test_monochrome1_is_inverted_for_the_model_and_back():
    stored = np.array([[[0, 100, 4095, 7]]], dtype=np.uint16)
    img = MedicalImage.from_array(stored, modality="CR", photometric="MONOCHROME1")
    img.value_range = (0.0, 4095.0)
    x, mapping = to_model(img)
    assert mapping.invert
    assert x[0, 0, 0, 0] == pytest.approx(1.0)  # stored 0 is white in MONOCHROME1
    assert x[0, 0, 0, 2] < x[0, 0, 0, 1]
    back, _ = from_model(x, img, mapping)
    np.testing.assert_array_equal(back, stored)


def test_grey_is_three_equal_channels_and_comes_back_as_their_mean():
    img = MedicalImage.from_array(np.array([[10, 200]], dtype=np.uint8))
    x, mapping = to_model(img)
    assert mapping.kind == "fixed"
    assert x.shape == (1, 3, 1, 2)
    np.testing.assert_array_equal(x[0, 0], x[0, 2])
    out = x.copy()
    out[0, 0] += 3 / 255
    out[0, 1] -= 0 / 255
    back, _ = from_model(out, img, mapping)
    np.testing.assert_array_equal(back, [[[11, 201]]])


def test_rgb_keeps_channels_and_round_trips():
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, size=(5, 7, 3)).astype(np.uint8)
    img = MedicalImage.from_array(rgb)
    x, mapping = to_model(img)
    assert x.shape == (1, 3, 5, 7)
    np.testing.assert_allclose(x[0, 1], rgb[..., 1] / 255.0, rtol=1e-6)
    back, _ = from_model(x, img, mapping)
    np.testing.assert_array_equal(back[0], rgb)


def test_values_beyond_the_storable_range_are_clipped_and_counted():
    stored = np.full((2, 4, 4), 4095, dtype=np.uint16)
    img = MedicalImage.from_array(stored, modality="MR")
    img.slope[:] = [1.0, 0.1]  # slice 1 can hold at most 409.5 in physical units
    img.value_range = (0.0, 4095.0)
    ones = np.ones((2, 3, 4, 4), np.float32)
    img.pixels[1] = 0  # slice 1 inside the window [0, 4095]; the model says 1.0 = 4095
    back, stats = from_model(ones, img, plan_mapping(img))
    assert stats.clipped == 16
    assert back[1].max() == 4095


def test_model_output_outside_zero_one_is_clamped():
    img = MedicalImage.from_array(np.array([[0, 255]], dtype=np.uint8))
    x, mapping = to_model(img)
    back, _ = from_model(x + np.array([-5.0, 5.0]).reshape(1, 1, 1, 2), img, mapping)
    np.testing.assert_array_equal(back, [[[0, 255]]])


def test_flat_image_gets_an_invertible_mapping():
    img = MedicalImage.from_array(np.full((4, 4), 7, dtype=np.uint16), modality="MR")
    mapping = plan_mapping(img)
    assert mapping.high > mapping.low
    x, _ = to_model(img, mapping)
    back, _ = from_model(x, img, mapping)
    np.testing.assert_array_equal(back, img.pixels)


def test_mapping_round_trips_through_plain_data_and_rejects_nonsense():
    m = IntensityMapping("ct", -1024.0, 3071.0, invert=False)
    assert IntensityMapping.from_dict(m.to_dict()) == m
    with pytest.raises(InputError):
        IntensityMapping("range", 5.0, 5.0)
    with pytest.raises(InputError):
        IntensityMapping("range", 0.0, float("nan"))


def test_output_of_the_wrong_shape_is_refused():
    img = MedicalImage.from_array(np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(InputError, match="shape"):
        from_model(np.zeros((1, 3, 4, 5)), img, plan_mapping(img))


def test_restore_stats_add_up():
    assert RestoreStats(1, 2) + RestoreStats(3, 4) == RestoreStats(4, 6)
