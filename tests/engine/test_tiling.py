import numpy as np
import pytest

from meddenoise.engine.tiling import plan_tiles
from meddenoise.errors import InputError


@pytest.mark.parametrize(
    ("height", "width", "tile", "margin"),
    [(300, 517, 256, 94), (300, 517, 64, 94), (1, 1, 256, 94), (1, 777, 100, 10), (50, 50, 7, 0)],
)
def test_cores_partition_the_image_and_windows_are_equal(height, width, tile, margin):
    tiles = plan_tiles(height, width, tile=tile, margin=margin)
    cover = np.zeros((height, width), dtype=int)
    for t in tiles:
        y0, y1, x0, x1 = t.core
        cover[y0:y1, x0:x1] += 1
        wy0, wy1, wx0, wx1 = t.window
        assert 0 <= wy0 <= y0 < y1 <= wy1 <= height
        assert 0 <= wx0 <= x0 < x1 <= wx1 <= width
        # each window edge is an image edge or at least `margin` from the core
        assert wy0 == 0 or y0 - wy0 >= margin
        assert wx0 == 0 or x0 - wx0 >= margin
        assert wy1 == height or wy1 - y1 >= margin
        assert wx1 == width or wx1 - x1 >= margin
        cy0, cy1, cx0, cx1 = t.core_in_window
        assert (cy1 - cy0, cx1 - cx0) == (y1 - y0, x1 - x0)
    assert (cover == 1).all()
    assert len({t.window_shape for t in tiles}) == 1


def test_a_tile_larger_than_the_image_is_the_whole_image():
    (only,) = plan_tiles(40, 30, tile=512, margin=94)
    assert only.window == only.core == (0, 40, 0, 30)


def test_bad_tiling_is_an_input_error():
    with pytest.raises(InputError):
        plan_tiles(0, 5, tile=8, margin=1)
    with pytest.raises(InputError):
        plan_tiles(5, 5, tile=0, margin=1)
    with pytest.raises(InputError):
        plan_tiles(5, 5, tile=4, margin=-1)
