import numpy as np
import pytest

from meddenoise.errors import InputError
from meddenoise.ldct.simulate import (
    KERNELS,
    PADDING_HU,
    DoseModel,
    default_views,
    noise_power_spectrum,
    simulate_low_dose,
)

SIZE = 160
RADIUS = 74.0
CROP = 96  # central square inside the disc: its corners lie 68 px from the centre
SEEDS = (0, 1, 2, 3, 4, 5)
LOW_BAND = (0.0, 1 / 32)  # cycles/pixel: the lowest of 16 bins
MID_BAND = (0.1, 0.25)
HIGH_CUT = 0.25


def _radius(shape=(SIZE, SIZE)):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.hypot(yy - shape[0] / 2 + 0.5, xx - shape[1] / 2 + 0.5)


def _phantom():
    """A water disc (0 HU) in air (-1000 HU)."""
    return np.where(_radius() < RADIUS, 0.0, -1000.0)


def _crop(image):
    lo = (SIZE - CROP) // 2
    return image[..., lo : lo + CROP, lo : lo + CROP]


def _noise(kernel, dose=0.25, seed=0, pixel_mm=1.0):
    phantom = _phantom()
    low = simulate_low_dose(phantom, pixel_mm=pixel_mm, dose=dose, kernel=kernel, rng=seed)
    return low - phantom


def _band_mean(freqs, nps, band):
    sel = (freqs >= band[0]) & (freqs < band[1])
    return float(nps[sel].mean())


def _nps_stats(stack):
    freqs, nps = noise_power_spectrum(stack, bins=16)
    weight = nps * freqs  # radial average x annulus circumference ~ power per band
    return {
        "low_mid": _band_mean(freqs, nps, LOW_BAND) / _band_mean(freqs, nps, MID_BAND),
        "high_fraction": float(weight[freqs > HIGH_CUT].sum() / weight.sum()),
        "peak": float(freqs[np.argmax(nps)]),
        "nps": nps,
    }


@pytest.fixture(scope="module")
def noise_stacks():
    """Inserted noise inside the disc, six realisations per kernel, plus white noise."""
    stacks = {k: np.stack([_crop(_noise(k, seed=s)) for s in SEEDS]) for k in KERNELS}
    sharp = stacks["sharp"]
    stacks["white"] = np.random.default_rng(99).normal(0.0, sharp.std(), size=sharp.shape)
    return stacks


@pytest.fixture(scope="module")
def nps_stats(noise_stacks):
    return {name: _nps_stats(stack) for name, stack in noise_stacks.items()}


def test_nps_measure_is_flat_for_white_noise(nps_stats):
    white = nps_stats["white"]
    assert 0.7 < white["low_mid"] < 1.4
    # a flat spectrum puts the area fraction 1 - 0.25**2 / 0.5**2 = 0.75 above 0.25 c/p
    assert 0.65 < white["high_fraction"] < 0.85


def test_ct_noise_is_not_white_low_frequencies_are_suppressed(nps_stats):
    white = nps_stats["white"]["low_mid"]
    for kernel in KERNELS:
        ratio = nps_stats[kernel]["low_mid"]
        assert ratio < 0.5, (kernel, ratio)
        assert ratio < 0.6 * white, (kernel, ratio, white)


def test_sharp_kernel_has_more_high_frequency_power_than_soft(nps_stats):
    soft, sharp = nps_stats["soft"]["high_fraction"], nps_stats["sharp"]["high_fraction"]
    assert sharp > soft + 0.2, (soft, sharp)
    # the Hann window removes most of the power above 0.25 cycles/pixel
    assert soft < 0.35


def test_soft_nps_peaks_at_a_lower_frequency_than_sharp(nps_stats):
    soft, sharp = nps_stats["soft"]["peak"], nps_stats["sharp"]["peak"]
    assert soft < sharp, (soft, sharp)
    assert 0.05 < soft < 0.25


def test_sharp_noise_is_stronger_than_soft_at_the_same_dose(noise_stacks):
    assert noise_stacks["sharp"].std() > 1.5 * noise_stacks["soft"].std()


def test_noise_std_follows_the_dose():
    stds = {d: _crop(_noise("soft", dose=d, seed=5)).std() for d in (0.1, 0.25, 0.5)}
    assert stds[0.1] > stds[0.25] > stds[0.5] > 1.0
    expected = {d: np.sqrt(1.0 / d - 1.0) for d in stds}
    scale = stds[0.5] / expected[0.5]
    for d in (0.1, 0.25):
        assert abs(stds[d] / (scale * expected[d]) - 1.0) < 0.2, (d, stds, expected)


def test_mean_inside_and_air_outside_are_kept():
    phantom = _phantom()
    low = simulate_low_dose(phantom, pixel_mm=0.7, dose=0.25, kernel="sharp", rng=3)
    r = _radius()
    inside, air = r < RADIUS - 4, r > RADIUS + 4
    assert abs(low[inside].mean() - phantom[inside].mean()) < 5.0
    assert abs(low[air].mean() + 1000.0) < 5.0
    assert low[inside].std() > 5.0  # noise was added


def test_padding_outside_the_field_of_view_is_unchanged_and_shape_kept():
    rect = np.full((64, 96), -1000.0)
    rect[16:48, 24:72] = 40.0
    rect[:, :8] = -3024.0
    low = simulate_low_dose(rect, pixel_mm=0.8, dose=0.5, kernel="soft", rng=0, views=60)
    assert low.shape == rect.shape
    assert low.dtype == np.float64
    assert np.array_equal(low[:, :8], rect[:, :8])
    assert not np.array_equal(low[:, 8:], rect[:, 8:])
    assert rect.min() < PADDING_HU


def test_integer_input_is_accepted():
    phantom = _phantom().astype(np.int16)
    low = simulate_low_dose(phantom, pixel_mm=1.0, dose=0.5, kernel="soft", rng=0)
    assert low.dtype == np.float64
    assert low.shape == phantom.shape


def test_same_seed_same_output_different_seed_different():
    phantom = _phantom()
    kwargs = {"pixel_mm": 1.0, "dose": 0.3, "kernel": "soft", "views": 90}
    a = simulate_low_dose(phantom, rng=7, **kwargs)
    b = simulate_low_dose(phantom, rng=np.random.default_rng(7), **kwargs)
    c = simulate_low_dose(phantom, rng=8, **kwargs)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_default_views():
    assert default_views((512, 512)) == 512
    assert default_views((100, 130)) == 136
    assert default_views((4, 4)) == 16


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"dose": 0.0}, "dose"),
        ({"dose": 1.0}, "dose"),
        ({"dose": 1.5}, "dose"),
        ({"dose": float("nan")}, "dose"),
        ({"kernel": "medium"}, "kernel"),
        ({"pixel_mm": 0.0}, "pixel_mm"),
        ({"pixel_mm": -1.0}, "pixel_mm"),
        ({"views": 0}, "views"),
    ],
)
def test_bad_parameters_raise_input_error(change, match):
    kwargs = {"pixel_mm": 1.0, "dose": 0.5, "kernel": "soft", "rng": 0, **change}
    with pytest.raises(InputError, match=match):
        simulate_low_dose(np.zeros((16, 16)), **kwargs)


def test_bad_slices_raise_input_error():
    kwargs = {"pixel_mm": 1.0, "dose": 0.5, "kernel": "soft"}
    with pytest.raises(InputError, match="2-D"):
        simulate_low_dose(np.zeros((2, 16, 16)), **kwargs)
    with pytest.raises(InputError, match="2-D"):
        simulate_low_dose(np.zeros(16), **kwargs)
    bad = np.zeros((16, 16))
    bad[3, 4] = np.nan
    with pytest.raises(InputError, match="NaN"):
        simulate_low_dose(bad, **kwargs)
    with pytest.raises(InputError, match="real-valued"):
        simulate_low_dose(np.zeros((16, 16), dtype=complex), **kwargs)


def test_bad_dose_model_raises_input_error():
    with pytest.raises(InputError, match="photons"):
        DoseModel(photons=0.0)
    with pytest.raises(InputError, match="electronic_noise"):
        DoseModel(electronic_noise=-1.0)


def test_electronic_noise_adds_variance():
    phantom = _phantom()
    kwargs = {"pixel_mm": 1.0, "dose": 0.1, "kernel": "soft", "rng": 0, "views": 64}
    quiet = simulate_low_dose(phantom, model=DoseModel(electronic_noise=0.0), **kwargs)
    loud = simulate_low_dose(phantom, model=DoseModel(electronic_noise=200.0), **kwargs)
    assert _crop(loud - phantom).std() > 1.1 * _crop(quiet - phantom).std()


def test_nps_sums_to_the_variance_and_rejects_bad_input():
    rng = np.random.default_rng(0)
    white = rng.normal(3.0, 2.0, size=(64, 64))
    freqs, nps = noise_power_spectrum(white, bins=8)
    assert freqs.shape == nps.shape == (8,)
    assert freqs[0] > 0
    assert freqs[-1] < 0.5
    assert abs(np.nanmean(nps) / white.var() - 1.0) < 0.2  # flat at the variance
    _, sparse = noise_power_spectrum(white, bins=64)
    assert np.isnan(sparse[0])  # only the excluded zero frequency falls in it
    with pytest.raises(InputError, match="2-D"):
        noise_power_spectrum(np.zeros(8))
    with pytest.raises(InputError, match="bins"):
        noise_power_spectrum(white, bins=0)
    with pytest.raises(InputError, match="NaN"):
        noise_power_spectrum(np.full((8, 8), np.inf))
