"""Classical denoisers the paper compares against: NLM, TV, wavelet and BM3D.

Conventions: every ``denoise_*`` function takes a float image in [0, 1], grey ``(H, W)``
or colour ``(H, W, 3)``, and returns a float32 array of the same shape clipped to [0, 1].
``sigma`` is the noise standard deviation in the image's units (so 25/255 for the paper's
sigma 25); where it is ``None`` it is estimated from the image with scikit-image's
wavelet-based :func:`~skimage.restoration.estimate_sigma` (averaged over colour channels),
so a baseline never sees the true noise level unless asked. ``estimate_sigma`` and
``denoise_wavelet`` need PyWavelets: without it every baseline but ``noisy`` is
unavailable (:func:`baseline_unavailable` says why).

The parameter rules, fixed once so results are comparable between runs:

- **NLM**: :func:`~skimage.restoration.denoise_nl_means` with ``fast_mode=True``,
  ``patch_size=5``, ``patch_distance=6``, ``h = 0.8 * sigma`` (scikit-image's gallery
  setting for the fast mode).
- **TV**: :func:`~skimage.restoration.denoise_tv_chambolle` with ``weight = TV_WEIGHT_PER_SIGMA
  * sigma`` = ``2 * sigma``: the best mean PSNR among multiples 0.5, 1, 1.5, 2, 2.5, 3
  and 4 on nine 256x256 crops of the five modalities, both noise kinds, sigma 10 to 75
  (33.7 dB against 33.3 for 1 and 33.6 for 2.5; tuned once, on validation images).
- **Wavelet**: :func:`~skimage.restoration.denoise_wavelet` with ``method="BayesShrink"``,
  ``mode="soft"``, ``rescale_sigma=True``; colour in YCbCr (the gallery setting). Needs
  PyWavelets.
- **BM3D**: the ``bm3d`` package (``bm3d.bm3d`` for grey, ``bm3d.bm3d_rgb`` for colour)
  with ``sigma_psd = sigma``. Licensed for non-commercial use only, so it is an optional
  extra (``pip install meddenoise[eval]``) imported only when called.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> clean = np.tile(np.linspace(0.2, 0.8, 64), (64, 1))
>>> noisy = np.clip(clean + rng.normal(0, 25 / 255, clean.shape), 0, 1)
>>> out = denoise_tv(noisy, sigma=25 / 255)
>>> out.shape, out.dtype
((64, 64), dtype('float32'))
>>> bool(np.abs(out - clean).mean() < np.abs(noisy - clean).mean())
True
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from meddenoise.errors import InputError

__all__ = [
    "BASELINES",
    "TV_WEIGHT_PER_SIGMA",
    "Baseline",
    "baseline_unavailable",
    "denoise_bm3d",
    "denoise_nlm",
    "denoise_noisy",
    "denoise_tv",
    "denoise_wavelet_bayes",
    "estimate_noise_sigma",
]

FloatArray = npt.NDArray[np.floating]
F32 = npt.NDArray[np.float32]
Baseline = Callable[..., F32]

#: TV weight as a multiple of the (estimated) noise standard deviation.
TV_WEIGHT_PER_SIGMA = 2.0


def estimate_noise_sigma(image: FloatArray) -> float:
    """Estimate the noise standard deviation of a grey or colour image (image units).

    Uses :func:`skimage.restoration.estimate_sigma` (median absolute deviation of the
    finest diagonal wavelet band), averaged over channels for colour images.
    """
    from skimage.restoration import estimate_sigma

    img = _check(image)
    axis = -1 if img.ndim == 3 else None
    return float(estimate_sigma(img, channel_axis=axis, average_sigmas=True))


def denoise_noisy(image: FloatArray, *, sigma: float | None = None) -> F32:
    """Return the input unchanged (as float32): the "noisy" row of the tables."""
    return _finish(_check(image))


def denoise_nlm(image: FloatArray, *, sigma: float | None = None) -> F32:
    """Non-local means, fast mode, ``h = 0.8 * sigma`` (see the module notes)."""
    from skimage.restoration import denoise_nl_means

    img = _check(image)
    s = estimate_noise_sigma(img) if sigma is None else sigma
    out = denoise_nl_means(
        img,
        h=0.8 * s,
        fast_mode=True,
        patch_size=5,
        patch_distance=6,
        channel_axis=-1 if img.ndim == 3 else None,
    )
    return _finish(out)


def denoise_tv(image: FloatArray, *, sigma: float | None = None) -> F32:
    """Chambolle total variation with ``weight = TV_WEIGHT_PER_SIGMA * sigma``."""
    from skimage.restoration import denoise_tv_chambolle

    img = _check(image)
    s = estimate_noise_sigma(img) if sigma is None else sigma
    out = denoise_tv_chambolle(
        img, weight=TV_WEIGHT_PER_SIGMA * s, channel_axis=-1 if img.ndim == 3 else None
    )
    return _finish(out)


def denoise_wavelet_bayes(image: FloatArray, *, sigma: float | None = None) -> F32:
    """BayesShrink soft wavelet thresholding (``sigma`` as for :func:`denoise_nlm`)."""
    from skimage.restoration import denoise_wavelet

    img = _check(image)
    color = img.ndim == 3
    out = denoise_wavelet(
        img,
        sigma=sigma,
        method="BayesShrink",
        mode="soft",
        rescale_sigma=True,
        convert2ycbcr=color,
        channel_axis=-1 if color else None,
    )
    return _finish(out)


def denoise_bm3d(image: FloatArray, *, sigma: float | None = None) -> F32:
    """BM3D with ``sigma_psd = sigma`` (estimated where ``None``).

    Raises
    ------
    InputError
        When the optional ``bm3d`` package is not installed.
    """
    reason = baseline_unavailable("bm3d")
    if reason is not None:
        raise InputError(reason)
    import bm3d

    img = _check(image).astype(np.float64)
    s = estimate_noise_sigma(img) if sigma is None else sigma
    out = bm3d.bm3d_rgb(img, s) if img.ndim == 3 else bm3d.bm3d(img, s)
    return _finish(np.asarray(out).reshape(img.shape))


#: Classical methods by name, in the order the tables list them.
BASELINES: dict[str, Baseline] = {
    "noisy": denoise_noisy,
    "nlm": denoise_nlm,
    "tv": denoise_tv,
    "wavelet": denoise_wavelet_bayes,
    "bm3d": denoise_bm3d,
}

_NO_PYWT = "PyWavelets is not installed (pip install PyWavelets)"
_NEEDS: dict[str, tuple[str, str]] = {
    "nlm": ("pywt", _NO_PYWT),
    "tv": ("pywt", _NO_PYWT),
    "wavelet": ("pywt", _NO_PYWT),
    "bm3d": (
        "bm3d",
        "the optional bm3d package is not installed (pip install 'meddenoise[eval]'; "
        "non-commercial licence)",
    ),
}


def baseline_unavailable(name: str) -> str | None:
    """Say why a baseline cannot run here, or return ``None`` when it can.

    Raises
    ------
    InputError
        For a name that is not in :data:`BASELINES`.

    Examples
    --------
    >>> baseline_unavailable("noisy") is None
    True
    """
    if name not in BASELINES:
        raise InputError(f"unknown baseline {name!r}; valid: {', '.join(BASELINES)}")
    module, reason = _NEEDS.get(name, ("", ""))
    if module and importlib.util.find_spec(module) is None:
        return f"{name}: {reason}"
    return None


def _check(image: FloatArray) -> FloatArray:
    arr = np.asarray(image)
    if not np.issubdtype(arr.dtype, np.floating):
        raise InputError(f"baselines need a float image in [0, 1], got dtype {arr.dtype}")
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] == 3)):
        raise InputError(f"baselines need an (H, W) or (H, W, 3) image, got {arr.shape}")
    return arr


def _finish(out: npt.ArrayLike) -> F32:
    result: F32 = np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0)
    return result
