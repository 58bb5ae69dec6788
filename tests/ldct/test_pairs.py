import numpy as np
import pytest

from meddenoise.errors import InputError
from meddenoise.image import Geometry, MedicalImage
from meddenoise.ldct.pairs import pair_slices, split_blocks


def volume(z, *, size=(8, 8), spacing=(0.5, 0.5), origin=(0.0, 0.0), row=(1, 0, 0)):
    image = MedicalImage.from_array(np.zeros((len(z), *size), np.int16), modality="CT")
    row_dir = np.array(row, float)
    col_dir = np.array([0.0, 1.0, 0.0])
    positions = np.array([[origin[0], origin[1], zi] for zi in z], float)
    image.geometry = Geometry(positions, row_dir, col_dir, spacing)
    return image


def test_slices_pair_by_position_not_by_order():
    low = volume([6.0, 0.0, 2.0, 4.0])  # shuffled
    full = volume([-4.0, -2.0, 0.0, 2.0, 4.0, 6.0, 8.0])  # longer, in order
    pairs = pair_slices(low, full)
    assert [(p.low, p.full) for p in pairs] == [(1, 2), (2, 3), (3, 4), (0, 5)]
    assert [p.offset_mm for p in pairs] == [0.0, 2.0, 4.0, 6.0]


def test_small_position_differences_are_tolerated_large_ones_are_not():
    assert len(pair_slices(volume([0.0, 2.0]), volume([0.3, 2.3]))) == 2
    assert len(pair_slices(volume([0.0, 2.0]), volume([0.0, 3.0]))) == 1
    with pytest.raises(InputError, match="no slice position in common"):
        pair_slices(volume([0.0, 2.0]), volume([10.0, 12.0]))


@pytest.mark.parametrize(
    ("other", "message"),
    [
        ({"size": (8, 9)}, "do not match"),
        ({"spacing": (0.6, 0.6)}, "pixel spacing differs"),
        ({"row": (0, 0, 1)}, "orientation differs"),
        ({"origin": (3.0, 0.0)}, "different fields of view"),
    ],
)
def test_series_that_do_not_match_are_refused(other, message):
    with pytest.raises(InputError, match=message):
        pair_slices(volume([0.0, 2.0]), volume([0.0, 2.0], **other))


def test_without_geometry_slices_pair_by_index_only_when_counts_agree():
    a = MedicalImage.from_array(np.zeros((3, 8, 8), np.int16), modality="CT")
    b = MedicalImage.from_array(np.zeros((3, 8, 8), np.int16), modality="CT")
    assert [(p.low, p.full) for p in pair_slices(a, b)] == [(0, 0), (1, 1), (2, 2)]
    c = MedicalImage.from_array(np.zeros((4, 8, 8), np.int16), modality="CT")
    with pytest.raises(InputError, match="as many slices"):
        pair_slices(a, c)


def test_colour_series_are_refused():
    grey = MedicalImage.from_array(np.zeros((1, 8, 8), np.uint8), modality="CT")
    colour = MedicalImage.from_array(np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(InputError, match="colour"):
        pair_slices(colour, grey)


@pytest.mark.parametrize(
    ("n", "block", "fraction", "guard"), [(70, 8, 0.2, 1), (10, 2, 0.2, 0), (33, 4, 0.3, 2)]
)
def test_validation_blocks_are_whole_blocks_disjoint_from_training(n, block, fraction, guard):
    train, val = split_blocks(n, block=block, val_fraction=fraction, guard=guard)
    assert val
    assert not set(train) & set(val)
    assert split_blocks(n, block=block, val_fraction=fraction, guard=guard) == (train, val)
    blocks = {s // block for s in val}
    for b in blocks:  # every validation block is complete
        assert set(range(b * block, min(n, (b + 1) * block))) <= set(val)
    for s in val:  # no training slice within `guard` of a validation slice
        assert all(abs(s - t) > guard for t in train)
    assert 0 not in val  # the ends of a volume are not chosen first
    assert len(train) + len(val) >= n - 2 * guard * len(blocks)


def test_split_edge_cases():
    assert split_blocks(5, block=8) == ([0, 1, 2, 3, 4], [])
    assert split_blocks(16, block=8, val_fraction=0.0) == (list(range(16)), [])
    train, val = split_blocks(16, block=8, val_fraction=0.99)
    assert train
    assert val
    with pytest.raises(InputError):
        split_blocks(0)
    with pytest.raises(InputError):
        split_blocks(10, val_fraction=1.0)
