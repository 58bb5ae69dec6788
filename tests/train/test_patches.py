from pathlib import Path

import numpy as np
import pytest

from meddenoise.errors import InputError
from meddenoise.train.images import TrainingImage
from meddenoise.train.patches import PatchSampler, downscaled_view
from meddenoise.train.split import SplitItem


def _image(family, shape, value):
    item = SplitItem(Path(family), "OT", family, "train", family)
    return TrainingImage(item, [np.full(shape, value, np.float32)])


def test_families_are_drawn_with_equal_odds_whatever_their_size():
    images = [_image("ct", (1, 40, 40), 0.2)] + [_image("dermoscopy", (3, 40, 40), 0.8)] * 50
    sampler = PatchSampler(images, patch=8, batch=400, sigma_max=0.0, seed=1)
    clean, noisy = sampler.sample()
    share = float(np.mean(clean[:, 0, 0, 0] < 0.5))
    assert 0.42 < share < 0.58
    np.testing.assert_array_equal(clean, noisy)  # sigma_max 0: no noise


def test_small_slices_are_padded_and_grey_is_repeated():
    sampler = PatchSampler([_image("mri", (1, 5, 30), 0.5)], patch=16, batch=3, seed=0)
    clean, noisy = sampler.sample()
    assert clean.shape == (3, 3, 16, 16)
    np.testing.assert_array_equal(clean[:, 0], clean[:, 2])
    assert not np.array_equal(clean, noisy)
    assert 0.0 <= noisy.min() <= noisy.max() <= 1.0


def _ramp(family, channels):
    item = SplitItem(Path(family), "OT", family, "train", family)
    ramp = np.linspace(0.1, 0.9, 40 * 40, dtype=np.float32).reshape(1, 40, 40)
    return TrainingImage(item, [np.repeat(ramp, channels, axis=0)])


def test_a_grey_patch_carries_one_noise_in_its_three_channels():
    clean, noisy = PatchSampler([_ramp("ct", 1)], patch=16, batch=8, seed=4).sample()
    for channel in (1, 2):
        np.testing.assert_array_equal(noisy[:, 0], noisy[:, channel])
        np.testing.assert_array_equal(clean[:, 0], clean[:, channel])
    assert not np.array_equal(clean, noisy)


def test_per_channel_grey_noise_is_three_noises_after_the_repetition():
    grey = PatchSampler([_ramp("ct", 1)], patch=16, batch=8, seed=4, grey_noise="per_channel")
    clean, noisy = grey.sample()
    assert not np.array_equal(noisy[:, 0], noisy[:, 1])
    # the same draw as a three-channel image holding the grey one three times
    rgb = PatchSampler([_ramp("ct", 3)], patch=16, batch=8, seed=4).sample()
    np.testing.assert_array_equal(clean, rgb[0])
    np.testing.assert_array_equal(noisy, rgb[1])


def test_grey_noise_leaves_colour_images_alone():
    images = [_ramp("dermoscopy", 3)]
    a = PatchSampler(images, patch=16, batch=4, seed=5).sample()
    b = PatchSampler(images, patch=16, batch=4, seed=5, grey_noise="per_channel").sample()
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1][:, 0], a[1][:, 1])


def test_bad_grey_noise_is_refused():
    with pytest.raises(InputError, match="grey_noise"):
        PatchSampler([_ramp("ct", 1)], patch=8, batch=1, grey_noise="rgb")


def test_state_makes_sampling_resumable():
    images = [_image("ct", (1, 50, 50), 0.4)]
    a = PatchSampler(images, patch=8, batch=4, seed=3)
    a.sample()
    state = a.state()
    expected = a.sample()
    b = PatchSampler(images, patch=8, batch=4, seed=99)
    b.set_state(state)
    for got, want in zip(b.sample(), expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_family_weights_set_the_odds_and_equal_weights_keep_the_original_draw():
    images = [_image("ct", (1, 40, 40), 0.2), _image("dermoscopy", (3, 40, 40), 0.8)]
    weighted = PatchSampler(images, patch=8, batch=600, sigma_max=0.0, seed=1, weights={"ct": 3})
    share = float(np.mean(weighted.sample()[0][:, 0, 0, 0] < 0.5))
    assert 0.69 < share < 0.81  # 3 : 1
    plain = PatchSampler(images, patch=8, batch=20, seed=2).sample()
    equal = PatchSampler(images, patch=8, batch=20, seed=2, weights={"ct": 2, "dermoscopy": 2})
    for got, want in zip(equal.sample(), plain, strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_zero_weight_leaves_a_family_out():
    images = [_image("ct", (1, 40, 40), 0.2), _image("dermoscopy", (3, 40, 40), 0.8)]
    sampler = PatchSampler(images, patch=8, batch=50, sigma_max=0.0, seed=1, weights={"ct": 0})
    assert sampler.sample()[0][:, 0, 0, 0].min() == np.float32(0.8)


def test_clean_fraction_leaves_that_share_of_patches_noise_free():
    images = [_image("ct", (1, 40, 40), 0.4)]
    clean, noisy = PatchSampler(images, patch=8, batch=400, seed=4, clean_fraction=0.25).sample()
    untouched = np.all(clean == noisy, axis=(1, 2, 3))
    assert 0.18 < float(untouched.mean()) < 0.32


@pytest.mark.parametrize("option", ["clean_fraction", "downscale_fraction"])
def test_zero_fraction_keeps_the_original_draw(option):
    images = [_ramp("ct", 1), _image("dermoscopy", (3, 40, 40), 0.8)]
    plain = PatchSampler(images, patch=8, batch=20, seed=6).sample()
    zero = PatchSampler(images, patch=8, batch=20, seed=6, **{option: 0.0}).sample()
    for got, want in zip(zero, plain, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("fraction", [-0.1, 1.0])
def test_bad_clean_fraction_is_refused(fraction):
    with pytest.raises(InputError, match="clean_fraction"):
        PatchSampler([_ramp("ct", 1)], patch=8, batch=1, clean_fraction=fraction)


def _stripes(period):
    item = SplitItem(Path("mri"), "MR", "mri", "train", "mri")
    row = (np.arange(120) // period % 2).astype(np.float32) * 0.6 + 0.2
    return TrainingImage(item, [np.tile(row, (1, 120, 1))])


def test_downscaled_patches_show_finer_detail_and_that_share_of_them():
    # Stripes 4 pixels wide: a patch shrunk by f in [2, 3] has them 1.3 to 2 pixels wide.
    images = [_stripes(4)]
    kw = {"patch": 16, "batch": 300, "sigma_max": 0.0, "seed": 2, "downscale_max": 3.0}
    plain, _ = PatchSampler(images, **kw).sample()
    mixed, _ = PatchSampler(images, downscale_fraction=0.5, **kw).sample()

    def transitions(batch):
        # Total variation across the stripes (the larger of the two axes, whichever way
        # the patch was turned): finer stripes have more edges per patch.
        rows = np.abs(np.diff(batch[:, 0], axis=1)).sum(axis=(1, 2))
        cols = np.abs(np.diff(batch[:, 0], axis=2)).sum(axis=(1, 2))
        return np.maximum(rows, cols)

    base = float(np.median(transitions(plain)))
    finer = transitions(mixed) > 1.2 * base
    assert 0.3 < float(finer.mean()) < 0.5  # about half the patches, minus those with f near 1
    assert mixed.min() >= 0.2
    assert mixed.max() <= 0.8


def test_downscaled_view_is_anti_aliased():
    # A one-pixel checkerboard shrunk by 3 averages out to its mean instead of aliasing.
    board = ((np.indices((90, 90)).sum(axis=0) % 2) * 1.0).astype(np.float32)[None]
    out = downscaled_view(board, 16, 3.0, np.random.default_rng(0))
    assert out.shape == (1, 16, 16)
    assert abs(float(out.mean()) - 0.5) < 0.05
    assert float(out.std()) < 0.1


@pytest.mark.parametrize(("fraction", "largest"), [(-0.1, 3.0), (1.0, 3.0), (0.5, 0.9)])
def test_bad_downscale_options_are_refused(fraction, largest):
    with pytest.raises(InputError, match="downscale"):
        PatchSampler(
            [_ramp("ct", 1)],
            patch=8,
            batch=1,
            downscale_fraction=fraction,
            downscale_max=largest,
        )
