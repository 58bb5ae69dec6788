import numpy as np
import pytest

from meddenoise import noise
from meddenoise.errors import InputError


def flat(value: float, shape=(3, 512, 512), dtype=np.float64):
    return np.full(shape, value, dtype=dtype)


@pytest.mark.parametrize("sigma", [10, 25, 50])
def test_gaussian_std_on_flat_image_within_two_percent(sigma):
    out = noise.gaussian_noise(flat(0.5), sigma, rng=1, clip=False)
    std = (out - 0.5).std()
    assert abs(std - sigma / 255) / (sigma / 255) < 0.02
    assert abs((out - 0.5).mean()) < 0.01 * sigma / 255


def test_clipped_gaussian_stays_in_range_and_keeps_dtype():
    out = noise.gaussian_noise(flat(0.95, dtype=np.float32), 75, rng=2)
    assert out.dtype == np.float32
    assert out.min() >= 0.0
    assert out.max() == 1.0


def test_speckle_std_is_proportional_to_intensity():
    sigma = 25
    stds = {
        v: (noise.speckle_noise(flat(v), sigma, rng=3, clip=False) - v).std()
        for v in (0.1, 0.3, 0.6)
    }
    for v, std in stds.items():
        assert abs(std - v * sigma / 255) / (v * sigma / 255) < 0.02
    assert abs(stds[0.6] / stds[0.1] - 6.0) < 0.12
    # speckle leaves black black
    assert np.array_equal(noise.speckle_noise(flat(0.0), 50, rng=4), flat(0.0))


def test_poisson_mean_and_variance():
    peak, value = 200.0, 0.4
    out = noise.poisson_noise(flat(value), peak, rng=5, clip=False)
    assert abs(out.mean() - value) < 0.002
    assert abs(out.var() - value / peak) / (value / peak) < 0.02
    # quantised to multiples of 1/peak
    assert np.allclose(out * peak, np.round(out * peak))


def test_rician_is_rayleigh_on_black_and_gaussian_at_high_snr():
    sigma = 20
    s = sigma / 255
    dark = noise.rician_noise(flat(0.0), sigma, rng=6, clip=False)
    assert abs(dark.mean() - s * np.sqrt(np.pi / 2)) / (s * np.sqrt(np.pi / 2)) < 0.01
    assert dark.min() >= 0
    bright = noise.rician_noise(flat(0.8), sigma, rng=7, clip=False)
    assert abs(bright.std() - s) / s < 0.02


def test_impulse_fraction_and_values():
    out = noise.impulse_noise(flat(0.5), 0.1, rng=8)
    changed = out != 0.5
    assert abs(changed.mean() - 0.1) < 0.003
    assert set(np.unique(out[changed])) == {0.0, 1.0}
    assert abs((out[changed] == 1.0).mean() - 0.5) < 0.01


def test_algorithm1_parameters_are_uniform_and_balanced():
    params = [noise.sample_noise_params(np.random.default_rng(i)) for i in range(4000)]
    sigmas = np.array([p.sigma for p in params])
    kinds = [p.kind for p in params]
    assert sigmas.min() >= 0
    assert sigmas.max() < 75
    assert abs(sigmas.mean() - 37.5) < 1.5
    # uniform: each quarter of the range holds about a quarter of the draws
    counts, _ = np.histogram(sigmas, bins=4, range=(0, 75))
    assert np.all(np.abs(counts / 4000 - 0.25) < 0.03)
    assert abs(kinds.count("gaussian") / 4000 - 0.5) < 0.03


def test_algorithm1_applies_the_drawn_noise():
    image = flat(0.5, shape=(3, 256, 256))
    out, params = noise.add_random_noise(image, rng=11, clip=False)
    gen = np.random.default_rng(11)
    drawn = noise.sample_noise_params(gen)
    assert drawn == params
    expected = noise.add_noise(image, params.kind, params.sigma, rng=gen, clip=False)
    assert np.array_equal(out, expected)
    std = (out - 0.5).std()
    scale = 0.5 if params.kind == "speckle" else 1.0
    assert abs(std - scale * params.sigma / 255) < 0.02 * scale * params.sigma / 255 + 1e-6


def test_same_seed_same_noise_other_seed_other_noise():
    image = flat(0.5, shape=(3, 32, 32))
    a, pa = noise.add_random_noise(image, rng=42)
    b, pb = noise.add_random_noise(image, rng=42)
    c, _ = noise.add_random_noise(image, rng=43)
    assert np.array_equal(a, b)
    assert pa == pb
    assert not np.array_equal(a, c)


def test_input_is_never_modified():
    image = flat(0.5, shape=(3, 16, 16))
    before = image.copy()
    for kind in noise.NOISE_KINDS:
        noise.add_noise(image, kind, 0.2 if kind == "impulse" else 25, rng=0)
    assert np.array_equal(image, before)


@pytest.mark.parametrize(
    ("kind", "level", "match"),
    [
        ("gaussian", -1, "sigma"),
        ("speckle", float("nan"), "sigma"),
        ("poisson", 0, "peak"),
        ("impulse", 1.5, "amount"),
        ("pink", 10, "unknown noise kind 'pink'"),
    ],
)
def test_bad_parameters_are_input_errors(kind, level, match):
    with pytest.raises(InputError, match=match):
        noise.add_noise(flat(0.5, shape=(4, 4)), kind, level, rng=0)


def test_integer_images_are_refused():
    with pytest.raises(InputError, match="float image"):
        noise.gaussian_noise(np.zeros((4, 4), dtype=np.uint8), 10, rng=0)
