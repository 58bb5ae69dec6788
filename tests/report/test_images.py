from __future__ import annotations

import numpy as np
import pytest

from meddenoise.report.images import (
    MAX_SIDE,
    Window,
    choose_slices,
    choose_window,
    difference_half_width,
    display_size,
    render_difference,
    render_slice,
    resize_panel,
    slice_content,
)


def test_ct_gets_the_soft_tissue_window_whatever_the_values() -> None:
    window = choose_window(np.array([-3000.0, 5000.0]), hu=True)
    assert (window.low, window.high) == (-160.0, 240.0)
    assert "W400/L40" in window.label


def test_other_images_get_the_1st_to_99th_percentile() -> None:
    values = np.arange(1001, dtype=np.float64)
    window = choose_window(values)
    assert window.low == pytest.approx(10.0)
    assert window.high == pytest.approx(990.0)
    assert "percentile" in window.label


def test_a_flat_input_still_gets_a_usable_window() -> None:
    assert choose_window(np.full(50, 7.0)) == Window(7.0, 8.0, choose_window([7.0]).label)
    mostly_flat = np.concatenate([np.zeros(1000), [50.0]])
    assert (choose_window(mostly_flat).low, choose_window(mostly_flat).high) == (0.0, 50.0)


def test_render_slice_maps_the_window_to_0_255_and_inverts_monochrome1() -> None:
    window = Window(0.0, 100.0, "")
    physical = np.array([[-5.0, 0.0, 50.0, 100.0, 400.0]])
    assert render_slice(physical, window).tolist() == [[0, 0, 128, 255, 255]]
    assert render_slice(physical, window, invert=True).tolist() == [[255, 255, 128, 0, 0]]
    rgb = np.stack([physical, physical / 2, physical * 0], axis=-1)
    assert render_slice(rgb, window).shape == (1, 5, 3)


def test_difference_is_mid_grey_at_zero_and_saturates_at_the_half_width() -> None:
    diff = np.array([[0.0, 10.0, -10.0, 5.0, 99.0]])
    assert render_difference(diff, 10.0).tolist() == [[128, 255, 0, 191, 255]]


def test_difference_half_width_is_a_robust_percentile() -> None:
    rng = np.random.default_rng(0)
    diffs = [rng.normal(0, 1, (100, 100)), rng.normal(0, 1, (100, 100))]
    diffs[0][0, 0] = 1e6  # one outlier does not set the scale
    assert 2.3 < difference_half_width(diffs) < 2.8
    few = np.zeros((100, 100))
    few[0, :3] = [4.0, -9.0, 1.0]  # under 1 % changed: the largest change
    assert difference_half_width([few]) == 9.0
    assert difference_half_width([np.zeros((4, 4))]) == 1.0
    assert difference_half_width([]) == 1.0


def test_slice_content_counts_pixels_above_the_window_bottom() -> None:
    window = Window(0.0, 100.0, "")
    image = np.zeros((10, 10))
    image[:3] = 50.0
    assert slice_content(image, window) == pytest.approx(0.3)
    assert slice_content(np.full((4, 4, 3), 60.0), window) == 1.0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ([1.0], [0]),
        ([0.0, 0.0, 1.0], [0, 1, 2]),  # short stacks: every slice
        ([1.0] * 9, [2, 4, 6]),  # 25, 50 and 75 %
        ([1.0] * 100, [25, 50, 74]),
        ([0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.0, 0.0, 0.0], [3, 4, 5]),  # empty ends skipped
        ([0.0] * 9, [2, 4, 6]),  # nothing anywhere: the targets
        ([0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5], [0, 8]),  # two non-empty slices
    ],
)
def test_choose_slices(content: list[float], expected: list[int]) -> None:
    assert choose_slices(content) == expected


def test_display_size_keeps_the_physical_aspect_and_bounds_the_side() -> None:
    assert display_size(512, 512) == (512, 512)
    assert display_size(2048, 1024) == (MAX_SIDE, MAX_SIDE // 2)
    assert display_size(64, 64, spacing=(3.0, 1.0)) == (192, 64)
    assert display_size(400, 400, spacing=(3.0, 1.0)) == (512, 171)
    assert display_size(10, 10, spacing=(0.0, 1.0)) == (10, 10)


def test_resize_panel_shrinks_grey_and_colour_images() -> None:
    grey = np.tile(np.arange(0, 256, 1, dtype=np.uint8), (256, 1))
    small = resize_panel(grey, (64, 64))
    assert small.shape == (64, 64)
    assert small.dtype == np.uint8
    assert abs(int(small[0, 0]) - 1) <= 1
    assert abs(int(small[0, -1]) - 253) <= 1
    rgb = np.zeros((100, 80, 3), np.uint8)
    assert resize_panel(rgb, (50, 40)).shape == (50, 40, 3)
    assert resize_panel(rgb, (100, 80)) is rgb
