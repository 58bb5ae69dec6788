from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from meddenoise.report.noise import BLOCK, choose_flat_blocks, flat_sigma, wavelet_sigma


def _phantom(rng: np.random.Generator, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Smooth anatomy (a disc, a ramp, an edge) in HU-like values, and a noisy copy."""
    rows, cols = np.mgrid[0:192, 0:192]
    clean = np.where((rows - 96) ** 2 + (cols - 96) ** 2 < 60**2, 40.0, -1000.0)
    clean[:, 150:] = 300.0 + cols[:, 150:] * 2.0
    return clean, clean + rng.normal(0.0, sigma, clean.shape)


@pytest.mark.parametrize("sigma", [5.0, 20.0])
def test_both_estimates_find_white_noise(sigma: float) -> None:
    rng = np.random.default_rng(1)
    _, noisy = _phantom(rng, sigma)
    blocks = choose_flat_blocks(noisy, low=-160.0, high=240.0)
    assert wavelet_sigma([noisy]) == pytest.approx(sigma, rel=0.15)
    assert flat_sigma([noisy], [blocks]) == pytest.approx(sigma, rel=0.15)


def test_flat_blocks_lie_inside_the_window_and_off_the_edges() -> None:
    rng = np.random.default_rng(2)
    clean, noisy = _phantom(rng, 10.0)
    blocks = choose_flat_blocks(noisy, low=-160.0, high=240.0)
    assert blocks.shape == (192 // BLOCK, 192 // BLOCK)
    assert blocks.any()
    grey_means = clean.reshape(12, BLOCK, 12, BLOCK).mean(axis=(1, 3))
    # Chosen blocks hold only the disc (40 HU), never air, the ramp or an edge.
    assert np.all(grey_means[blocks] == 40.0)


def test_padding_blocks_are_never_chosen_and_constant_blocks_are_ignored() -> None:
    rng = np.random.default_rng(3)
    image = rng.normal(0.0, 3.0, (64, 64))
    image[:32] = -2000.0  # constant padding
    padding = np.zeros((64, 64), dtype=bool)
    padding[:32] = True
    blocks = choose_flat_blocks(image, low=-100.0, high=100.0, padding=padding)
    assert not blocks[:2].any()
    assert blocks[2:].any()
    assert flat_sigma([image], [blocks]) == pytest.approx(3.0, rel=0.3)


def test_denoising_lowers_both_estimates_measured_on_the_same_blocks() -> None:
    rng = np.random.default_rng(4)
    _, noisy = _phantom(rng, 15.0)
    smooth = ndimage.gaussian_filter(noisy, 2.0)
    blocks = choose_flat_blocks(noisy, low=-160.0, high=240.0)
    assert flat_sigma([smooth], [blocks]) < 0.3 * flat_sigma([noisy], [blocks])
    assert wavelet_sigma([smooth]) < 0.3 * wavelet_sigma([noisy])


def test_colour_and_degenerate_inputs() -> None:
    rng = np.random.default_rng(5)
    rgb = 100.0 + rng.normal(0.0, 4.0, (64, 64, 3))
    assert wavelet_sigma([rgb]) == pytest.approx(4.0, rel=0.15)
    blocks = choose_flat_blocks(rgb, low=0.0, high=255.0)
    assert flat_sigma([rgb], [blocks]) == pytest.approx(4.0, rel=0.15)
    tiny = np.zeros((8, 8))
    assert not choose_flat_blocks(tiny, low=0.0, high=1.0).any()
    assert math.isnan(flat_sigma([tiny], [choose_flat_blocks(tiny, low=0.0, high=1.0)]))
    assert math.isnan(wavelet_sigma([np.zeros((1, 5))]))
