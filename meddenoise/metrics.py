"""The paper's five image-quality metrics: PSNR, MSE, SSIM, DeltaE and VIFP.

Conventions: ``reference`` and ``test`` are float arrays in [0, 1], ``(H, W)`` or
channel-first ``(C, H, W)`` with C = 1 or 3, of the same shape. As in the paper, PSNR and
MSE are computed on the 0..255 scale (the inputs are multiplied by 255, not quantised).
Where scikit-image has the metric it is used; VIFP follows Sheikh and Bovik's reference
implementation (``vifp_mscale.m``).

Examples
--------
>>> import numpy as np
>>> ref = np.linspace(0, 1, 64 * 64).reshape(64, 64)
>>> psnr(ref, ref)
inf
>>> round(psnr(ref, np.clip(ref + 10 / 255, 0, 1)), 2) > 28
True
>>> round(vifp(ref, ref), 6)
1.0
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from meddenoise.errors import InputError

__all__ = ["METRICS", "compute_metrics", "delta_e", "mse", "psnr", "ssim", "vifp"]

FloatArray = npt.NDArray[np.floating]
F64 = npt.NDArray[np.float64]

#: Metric names in the paper's order, with whether higher is better.
METRICS: dict[str, bool] = {
    "psnr": True,
    "ssim": True,
    "delta_e": False,
    "vifp": True,
    "mse": False,
}


def mse(reference: FloatArray, test: FloatArray) -> float:
    """Mean squared error on the 0..255 scale."""
    from skimage.metrics import mean_squared_error

    ref, tst = _pair(reference, test)
    return float(mean_squared_error(ref * 255.0, tst * 255.0))


def psnr(reference: FloatArray, test: FloatArray) -> float:
    """Peak signal-to-noise ratio in dB with a peak of 255; ``inf`` for identical images."""
    from skimage.metrics import peak_signal_noise_ratio

    ref, tst = _pair(reference, test)
    if np.array_equal(ref, tst):
        return math.inf
    return float(peak_signal_noise_ratio(ref * 255.0, tst * 255.0, data_range=255.0))


def ssim(reference: FloatArray, test: FloatArray) -> float:
    """Structural similarity (Wang et al. 2004: Gaussian window, sigma 1.5), channel mean."""
    from skimage.metrics import structural_similarity

    ref, tst = _pair(reference, test)
    if min(ref.shape[-2:]) < 7:
        raise InputError(f"SSIM needs images of at least 7x7 pixels, got {ref.shape[-2:]}")
    return float(
        structural_similarity(
            ref * 255.0,
            tst * 255.0,
            data_range=255.0,
            channel_axis=0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
    )


def delta_e(reference: FloatArray, test: FloatArray) -> float:
    """Mean CIEDE2000 colour difference in CIELAB (grey images are repeated to RGB)."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    ref, tst = _pair(reference, test)
    if ref.shape[0] == 1:
        ref, tst = np.repeat(ref, 3, axis=0), np.repeat(tst, 3, axis=0)
    if ref.shape[0] != 3:
        raise InputError(f"DeltaE needs 1 or 3 channels, got {ref.shape[0]}")
    lab_ref = rgb2lab(np.clip(ref, 0.0, 1.0), channel_axis=0)
    lab_tst = rgb2lab(np.clip(tst, 0.0, 1.0), channel_axis=0)
    return float(np.mean(deltaE_ciede2000(lab_ref, lab_tst, channel_axis=0)))


def vifp(reference: FloatArray, test: FloatArray, *, sigma_nsq: float = 2.0) -> float:
    """Pixel-domain visual information fidelity (Sheikh and Bovik 2006), channel mean.

    Four scales of Gaussian-windowed local statistics on the 0..255 scale; ``sigma_nsq``
    is the variance of the visual noise. Identical images give 1. A constant reference
    carries no information: VIFP is then 1 if the test image equals it, else NaN.
    """
    ref, tst = _pair(reference, test)
    if min(ref.shape[-2:]) < _VIFP_MIN_SIZE:
        raise InputError(
            f"VIFP needs images of at least {_VIFP_MIN_SIZE}x{_VIFP_MIN_SIZE} pixels, "
            f"got {ref.shape[-2:]}"
        )
    values = [_vifp_channel(r * 255.0, t * 255.0, sigma_nsq) for r, t in zip(ref, tst, strict=True)]
    return float(np.mean(values))


def compute_metrics(reference: FloatArray, test: FloatArray) -> dict[str, float]:
    """Return all five metrics, keyed as in :data:`METRICS`."""
    return {
        "psnr": psnr(reference, test),
        "ssim": ssim(reference, test),
        "delta_e": delta_e(reference, test),
        "vifp": vifp(reference, test),
        "mse": mse(reference, test),
    }


def _pair(reference: FloatArray, test: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Validate two images and return them as float64 ``(C, H, W)``."""
    ref = np.asarray(reference, dtype=np.float64)
    tst = np.asarray(test, dtype=np.float64)
    if ref.shape != tst.shape:
        raise InputError(f"images differ in shape: {ref.shape} vs {tst.shape}")
    if ref.ndim == 2:
        ref, tst = ref[None], tst[None]
    if ref.ndim != 3 or ref.shape[0] not in (1, 3):
        raise InputError(f"expected (H, W) or (C, H, W) with C in (1, 3), got {ref.shape}")
    if not (np.isfinite(ref).all() and np.isfinite(tst).all()):
        raise InputError("images contain NaN or Inf")
    return ref, tst


# The smallest side for which all four scales keep at least one valid window position.
_VIFP_MIN_SIZE = 41


def _gaussian_window(size: int) -> F64:
    """1-D factor of MATLAB's ``fspecial('gaussian', size, size / 5)``."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x**2) / (2.0 * (size / 5.0) ** 2))
    # fspecial also zeroes 2-D taps below eps * max; for these sizes the smallest tap is
    # about 4e-3 of the maximum, so none is zeroed and the window is separable.
    window: F64 = g / g.sum()
    return window


def _filter_valid(img: F64, win: F64) -> F64:
    """Separable correlation with MATLAB's ``filter2(..., 'valid')`` output size."""
    out = ndimage.correlate1d(img, win, axis=0, mode="constant")
    out = ndimage.correlate1d(out, win, axis=1, mode="constant")
    half = len(win) // 2
    result: F64 = out[half:-half, half:-half]
    return result


def _vifp_channel(ref: F64, dist: F64, sigma_nsq: float) -> float:
    eps = 1e-10
    num = 0.0
    den = 0.0
    for scale in range(1, 5):
        win = _gaussian_window(2 ** (4 - scale + 1) + 1)
        if scale > 1:
            ref = _filter_valid(ref, win)[::2, ::2]
            dist = _filter_valid(dist, win)[::2, ::2]
        mu1, mu2 = _filter_valid(ref, win), _filter_valid(dist, win)
        sigma1_sq = _filter_valid(ref * ref, win) - mu1 * mu1
        sigma2_sq = _filter_valid(dist * dist, win) - mu2 * mu2
        sigma12 = _filter_valid(ref * dist, win) - mu1 * mu2
        sigma1_sq[sigma1_sq < 0] = 0
        sigma2_sq[sigma2_sq < 0] = 0
        g = sigma12 / (sigma1_sq + eps)
        sv_sq = sigma2_sq - g * sigma12
        flat_ref = sigma1_sq < eps
        g[flat_ref] = 0
        sv_sq[flat_ref] = sigma2_sq[flat_ref]
        sigma1_sq[flat_ref] = 0
        flat_dist = sigma2_sq < eps
        g[flat_dist] = 0
        sv_sq[flat_dist] = 0
        negative = g < 0
        sv_sq[negative] = sigma2_sq[negative]
        g[negative] = 0
        sv_sq[sv_sq <= eps] = eps
        num += float(np.sum(np.log10(1.0 + g**2 * sigma1_sq / (sv_sq + sigma_nsq))))
        den += float(np.sum(np.log10(1.0 + sigma1_sq / sigma_nsq)))
    if den == 0.0:
        return 1.0 if np.array_equal(ref, dist) else math.nan
    return num / den
