from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from meddenoise.errors import InputError
from meddenoise.evaluation import baselines
from meddenoise.evaluation.baselines import (
    BASELINES,
    baseline_unavailable,
    denoise_bm3d,
    denoise_noisy,
    estimate_noise_sigma,
)
from meddenoise.metrics import psnr

HAS_PYWT = importlib.util.find_spec("pywt") is not None
HAS_BM3D = importlib.util.find_spec("bm3d") is not None
needs_pywt = pytest.mark.skipif(not HAS_PYWT, reason="PyWavelets not installed")


def _smooth(color: bool) -> np.ndarray:
    yy, xx = np.mgrid[0:64, 0:64] / 63.0
    grey = 0.3 + 0.4 * np.sin(3 * xx) * yy
    if not color:
        return grey.astype(np.float32)
    return np.stack([grey, 0.2 + 0.6 * xx, 0.5 + 0.3 * yy], axis=-1).astype(np.float32)


def _noisy(clean: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(clean + rng.normal(0, sigma / 255, clean.shape), 0, 1).astype(np.float32)


def _chw(image: np.ndarray) -> np.ndarray:
    return image[None] if image.ndim == 2 else image.transpose(2, 0, 1)


@needs_pywt
@pytest.mark.parametrize("name", ["nlm", "tv", "wavelet"])
@pytest.mark.parametrize("color", [False, True])
def test_classical_baselines_beat_noisy_at_sigma_50(name: str, color: bool) -> None:
    clean = _smooth(color)
    noisy = _noisy(clean, 50)
    out = BASELINES[name](noisy)
    assert out.shape == clean.shape
    assert out.dtype == np.float32
    assert out.min() >= 0.0
    assert out.max() <= 1.0
    before = psnr(_chw(clean), _chw(noisy))
    after = psnr(_chw(clean), _chw(out))
    assert after > before + 5.0, (name, before, after)


@needs_pywt
@pytest.mark.parametrize("color", [False, True])
def test_estimated_sigma_is_close_to_the_true_one(color: bool) -> None:
    flat = np.full((96, 96, 3) if color else (96, 96), 0.5)
    noisy = flat + np.random.default_rng(1).normal(0, 25 / 255, flat.shape)
    assert estimate_noise_sigma(noisy) == pytest.approx(25 / 255, rel=0.1)


def test_noisy_baseline_is_identity() -> None:
    image = _noisy(_smooth(True), 25).astype(np.float64)
    out = denoise_noisy(image)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, image.astype(np.float32))


def test_tv_with_a_given_sigma_needs_no_estimate() -> None:
    clean = _smooth(False)
    noisy = _noisy(clean, 50)
    out = baselines.denoise_tv(noisy, sigma=50 / 255)
    assert psnr(clean, out) > psnr(clean, noisy) + 5.0


@pytest.mark.parametrize(
    "bad",
    [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 2), np.float32), np.zeros(8, np.float32)],
)
def test_bad_images_raise_input_error(bad: np.ndarray) -> None:
    with pytest.raises(InputError):
        denoise_noisy(bad)


def test_unknown_baseline_lists_the_valid_ones() -> None:
    with pytest.raises(InputError, match="valid: noisy, nlm, tv, wavelet, bm3d"):
        baseline_unavailable("median")


def test_missing_bm3d_is_reported_not_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "bm3d" else real(name, *a)
    )
    reason = baseline_unavailable("bm3d")
    assert reason is not None
    assert "non-commercial" in reason
    assert "\n" not in reason
    with pytest.raises(InputError, match="bm3d"):
        denoise_bm3d(_smooth(False))


@pytest.mark.skipif(not HAS_BM3D, reason="optional bm3d package not installed")
@pytest.mark.parametrize("color", [False, True])
def test_bm3d_denoises_grey_and_colour(color: bool) -> None:
    clean = _smooth(color)
    noisy = _noisy(clean, 50)
    out = denoise_bm3d(noisy, sigma=50 / 255)
    assert out.shape == clean.shape
    assert out.dtype == np.float32
    assert psnr(_chw(clean), _chw(out)) > psnr(_chw(clean), _chw(noisy)) + 5.0
