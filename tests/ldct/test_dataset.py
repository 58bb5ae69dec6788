import numpy as np
import pytest

from meddenoise.errors import InputError
from meddenoise.ldct.dataset import PairSampler, load_pair

from .conftest import phantom, save_ct


def test_a_pair_loads_in_the_ct_window_with_a_held_out_block(ct_pair):
    low, full = ct_pair
    pair = load_pair(low, full, block=4, val_fraction=0.25, guard=1)
    assert pair.low.shape == pair.full.shape == (12, 48, 48)
    assert pair.low.dtype == np.float32
    # water (0 HU) maps to 1024 / 4095 in the CT window
    assert np.median(pair.full[:, 24, 24]) == pytest.approx(1024 / 4095, abs=0.01)
    assert pair.validation == [4, 5, 6, 7]
    assert pair.train == [0, 1, 2, 9, 10, 11]
    assert pair.describe()["validation_slices"] == [4, 5, 6, 7]


def test_hu_offset_maps_hu_plus_1000_data_like_hu(tmp_path):
    shifted = save_ct(tmp_path / "a.nii.gz", phantom(4) + 1000)
    plain = save_ct(tmp_path / "b.nii.gz", phantom(4))
    a = load_pair(shifted, shifted, hu_offset=-1000, val_fraction=0)
    b = load_pair(plain, plain, val_fraction=0)
    np.testing.assert_allclose(a.full, b.full, atol=1e-6)


def test_series_of_other_positions_do_not_pair(tmp_path):
    a = save_ct(tmp_path / "a.nii.gz", phantom(4))
    b = save_ct(tmp_path / "b.nii.gz", phantom(4), z0=100.0)
    with pytest.raises(InputError, match="no slice position in common"):
        load_pair(a, b)


def test_patches_take_the_same_window_of_both_slices(tmp_path):
    base = phantom(12)
    shifted = save_ct(tmp_path / "shifted.nii.gz", base + 40)
    plain = save_ct(tmp_path / "plain.nii.gz", base)
    pair = load_pair(shifted, plain, val_fraction=0)
    clean, noisy = PairSampler([pair], patch=16, batch=8, seed=0).sample()
    assert clean.shape == noisy.shape == (8, 3, 16, 16)
    inside = (clean > 0.2) & (clean < 0.45)  # soft tissue, not clipped
    np.testing.assert_allclose((noisy - clean)[inside], 40 / 4095, atol=1e-5)
    again = PairSampler([pair], patch=16, batch=8, seed=0).sample()
    np.testing.assert_array_equal(again[0], clean)


def test_a_sampler_needs_training_slices(ct_pair):
    pair = load_pair(*ct_pair, block=12, val_fraction=0.5)
    pair.train = []
    with pytest.raises(InputError, match="no training slices"):
        PairSampler([pair], patch=16, batch=2, seed=0)
