import numpy as np
import pytest

from meddenoise.errors import InputError
from meddenoise.image import Geometry, MedicalImage, dtype_range


@pytest.mark.parametrize(
    ("shape", "expected", "color"),
    [
        ((4, 5), (1, 4, 5), False),
        ((4, 5, 3), (1, 4, 5, 3), True),
        ((2, 4, 5), (2, 4, 5), False),
        ((2, 4, 5, 3), (2, 4, 5, 3), True),
    ],
)
def test_from_array_shapes(shape, expected, color):
    img = MedicalImage.from_array(np.zeros(shape, dtype=np.uint16))
    assert img.shape == expected
    assert img.is_color is color
    assert img.value_range == (0.0, 65535.0)
    assert img.slope.shape == (expected[0],)


def test_a_grey_stack_of_three_columns_can_be_declared_grey():
    img = MedicalImage.from_array(np.zeros((2, 4, 3), np.int16), photometric="MONOCHROME1")
    assert img.shape == (2, 4, 3)
    assert not img.is_color


def test_physical_applies_per_slice_rescale_in_float64():
    img = MedicalImage.from_array(np.array([[[1, 2]], [[1, 2]]], dtype=np.int16))
    img.slope[:] = [1.0, 2.5]
    img.intercept[:] = [-1024.0, 10.0]
    phys = img.physical()
    assert phys.dtype == np.float64
    np.testing.assert_array_equal(phys, [[[-1023.0, -1022.0]], [[12.5, 15.0]]])
    np.testing.assert_array_equal(img.physical(1, 2), phys[1:2])


def test_bad_images_are_refused():
    with pytest.raises(InputError, match="photometric"):
        MedicalImage.from_array(np.zeros((4, 4), np.uint8), photometric="YBR_FULL")
    with pytest.raises(InputError, match="does not fit"):
        MedicalImage.from_array(np.zeros((4, 4), np.uint8), photometric="RGB")
    with pytest.raises(InputError, match="slope"):
        MedicalImage.from_array(np.zeros((4, 4), np.uint8), slope=0.0)
    img = MedicalImage.from_array(np.zeros((4, 4), np.uint8))
    with pytest.raises(InputError, match="do not match"):
        img.with_pixels(np.zeros((1, 4, 4), np.int16))
    assert img.with_pixels(np.ones((1, 4, 4), np.uint8)).pixels.sum() == 16


def test_geometry_of_a_tilted_stack():
    tilt = np.deg2rad(20.0)
    col = np.array([0.0, np.cos(tilt), -np.sin(tilt)])
    positions = np.array([[0.0, 0.0, 2.5 * k] for k in range(4)])
    geo = Geometry(positions, np.array([1.0, 0.0, 0.0]), col, (0.5, 0.4), 2.5)
    np.testing.assert_allclose(geo.normal, [0.0, np.sin(tilt), np.cos(tilt)], atol=1e-12)
    assert geo.slice_spacing == pytest.approx(2.5 * np.cos(tilt))
    np.testing.assert_allclose(geo.direction @ geo.direction.T, np.eye(3), atol=1e-12)
    one = Geometry(positions[:1], geo.row_direction, col, (0.5, 0.4))
    assert one.slice_spacing is None


def test_dtype_range():
    assert dtype_range(np.uint8) == (0.0, 255.0)
    assert dtype_range(np.bool_) == (0.0, 1.0)
    assert dtype_range(np.float64)[1] == np.inf
