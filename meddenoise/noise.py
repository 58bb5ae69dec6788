"""Noise simulation: the paper's Algorithm 1 and the other noise models of medical imaging.

Conventions: images are float arrays in [0, 1] of any shape (usually ``(C, H, W)``);
Gaussian and speckle levels ``sigma`` are given on the 0..255 scale, as in the paper, so
``sigma=25`` means a standard deviation of 25/255. Every function takes ``rng``: a
:class:`numpy.random.Generator`, an integer seed, or ``None`` (fresh entropy); the same
seed gives the same noise. Results keep the input's floating dtype and are clipped to
[0, 1] unless ``clip=False``.

Examples
--------
>>> import numpy as np
>>> flat = np.full((3, 64, 64), 0.5, dtype=np.float32)
>>> noisy = gaussian_noise(flat, 25, rng=0)
>>> noisy.dtype, noisy.shape
(dtype('float32'), (3, 64, 64))
>>> bool(np.array_equal(noisy, gaussian_noise(flat, 25, rng=0)))
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from meddenoise.errors import InputError

__all__ = [
    "EVAL_SIGMAS",
    "NOISE_KINDS",
    "NoiseParams",
    "add_noise",
    "add_random_noise",
    "gaussian_noise",
    "impulse_noise",
    "poisson_noise",
    "rician_noise",
    "sample_noise_params",
    "speckle_noise",
]

FloatArray = npt.NDArray[np.floating]
Seed = np.random.Generator | int | None
NoiseKind = Literal["gaussian", "speckle", "poisson", "rician", "impulse"]

#: Noise kinds :func:`add_noise` knows, with the meaning of their ``level``.
NOISE_KINDS: dict[str, str] = {
    "gaussian": "I + n, n ~ N(0, (level/255)^2)",
    "speckle": "I + I*n, n ~ N(0, (level/255)^2)",
    "poisson": "Poisson(I * level) / level; level = photons at full scale",
    "rician": "|I + n1 + i*n2|, n1, n2 ~ N(0, (level/255)^2) (MRI magnitude)",
    "impulse": "a fraction `level` of values set to 0 or 1 (salt and pepper)",
}

#: The paper's evaluation levels (0..255 scale).
EVAL_SIGMAS: tuple[int, ...] = (10, 25, 50, 75)


@dataclass(frozen=True)
class NoiseParams:
    """One draw of Algorithm 1: which noise and how strong.

    Attributes
    ----------
    kind : {"gaussian", "speckle"}
    sigma : float
        Standard deviation on the 0..255 scale.
    """

    kind: Literal["gaussian", "speckle"]
    sigma: float


def sample_noise_params(rng: Seed = None, *, sigma_max: float = 75.0) -> NoiseParams:
    """Draw Algorithm 1's parameters: ``sigma ~ U(0, sigma_max)``, type with equal odds.

    Examples
    --------
    >>> p = sample_noise_params(0)
    >>> p.kind in ("gaussian", "speckle") and 0 <= p.sigma < 75
    True
    """
    gen = np.random.default_rng(rng)
    sigma = float(gen.uniform(0.0, sigma_max))
    kind: Literal["gaussian", "speckle"] = "gaussian" if gen.random() < 0.5 else "speckle"
    return NoiseParams(kind=kind, sigma=sigma)


def add_random_noise(
    image: FloatArray, *, rng: Seed = None, sigma_max: float = 75.0, clip: bool = True
) -> tuple[FloatArray, NoiseParams]:
    """Apply the paper's Algorithm 1 to one image.

    Draws ``sigma ~ U(0, sigma_max)/255`` and, with equal probability, adds Gaussian
    noise ``I + n`` or speckle noise ``I + I*n`` with ``n ~ N(0, sigma^2)`` per value.

    Parameters
    ----------
    image : ndarray
        Float image in [0, 1].
    rng : Generator, int or None
        Source of randomness; one seed fixes both the parameters and the noise.
    sigma_max : float
        Upper end of the uniform sigma range, on the 0..255 scale.
    clip : bool
        Clip the result to [0, 1].

    Returns
    -------
    noisy : ndarray
        Same shape and dtype as ``image``.
    params : NoiseParams
        The kind and sigma drawn.
    """
    gen = np.random.default_rng(rng)
    params = sample_noise_params(gen, sigma_max=sigma_max)
    return add_noise(image, params.kind, params.sigma, rng=gen, clip=clip), params


def add_noise(
    image: FloatArray, kind: str, level: float, *, rng: Seed = None, clip: bool = True
) -> FloatArray:
    """Add noise of a named kind at a fixed level (for evaluation and tests).

    Parameters
    ----------
    image : ndarray
        Float image in [0, 1].
    kind : str
        One of :data:`NOISE_KINDS`.
    level : float
        Sigma on the 0..255 scale (gaussian, speckle, rician), photons at full scale
        (poisson) or the corrupted fraction (impulse).
    rng : Generator, int or None
        Source of randomness.
    clip : bool
        Clip the result to [0, 1] (ignored for impulse noise, which stays in range).

    Raises
    ------
    InputError
        For an unknown kind or a level out of its range.
    """
    if kind == "gaussian":
        return gaussian_noise(image, level, rng=rng, clip=clip)
    if kind == "speckle":
        return speckle_noise(image, level, rng=rng, clip=clip)
    if kind == "poisson":
        return poisson_noise(image, level, rng=rng, clip=clip)
    if kind == "rician":
        return rician_noise(image, level, rng=rng, clip=clip)
    if kind == "impulse":
        return impulse_noise(image, level, rng=rng)
    raise InputError(f"unknown noise kind {kind!r}; valid: {', '.join(NOISE_KINDS)}")


def gaussian_noise(
    image: FloatArray, sigma: float, *, rng: Seed = None, clip: bool = True
) -> FloatArray:
    """Additive white Gaussian noise: ``I + n``, ``n ~ N(0, (sigma/255)^2)``."""
    img = _check_image(image)
    _check_level("sigma", sigma, 0.0, None)
    gen = np.random.default_rng(rng)
    noisy = img + gen.normal(0.0, sigma / 255.0, size=img.shape)
    return _finish(noisy, img.dtype, clip)


def speckle_noise(
    image: FloatArray, sigma: float, *, rng: Seed = None, clip: bool = True
) -> FloatArray:
    """Multiplicative speckle noise: ``I + I*n``, ``n ~ N(0, (sigma/255)^2)``."""
    img = _check_image(image)
    _check_level("sigma", sigma, 0.0, None)
    gen = np.random.default_rng(rng)
    noisy = img + img * gen.normal(0.0, sigma / 255.0, size=img.shape)
    return _finish(noisy, img.dtype, clip)


def poisson_noise(
    image: FloatArray, peak: float, *, rng: Seed = None, clip: bool = True
) -> FloatArray:
    """Photon-counting (shot) noise: ``Poisson(I * peak) / peak``.

    ``peak`` is the expected photon count at intensity 1; lower means noisier. The
    standard deviation at intensity ``I`` is ``sqrt(I / peak)``.
    """
    img = _check_image(image)
    _check_level("peak", peak, 0.0, None, strict=True)
    gen = np.random.default_rng(rng)
    noisy = gen.poisson(np.clip(img, 0.0, None) * peak) / peak
    return _finish(noisy, img.dtype, clip)


def rician_noise(
    image: FloatArray, sigma: float, *, rng: Seed = None, clip: bool = True
) -> FloatArray:
    """Rician noise of MRI magnitude images: ``sqrt((I + n1)^2 + n2^2)``.

    ``n1`` and ``n2`` are independent ``N(0, (sigma/255)^2)``: the noise of the real and
    imaginary channels before the magnitude is taken. The result is biased upwards in dark
    regions, as in real magnitude images.
    """
    img = _check_image(image)
    _check_level("sigma", sigma, 0.0, None)
    gen = np.random.default_rng(rng)
    scale = sigma / 255.0
    real = img + gen.normal(0.0, scale, size=img.shape)
    imag = gen.normal(0.0, scale, size=img.shape)
    return _finish(np.hypot(real, imag), img.dtype, clip)


def impulse_noise(
    image: FloatArray, amount: float, *, rng: Seed = None, salt_vs_pepper: float = 0.5
) -> FloatArray:
    """Salt-and-pepper noise: a fraction ``amount`` of values set to 1 (salt) or 0.

    Parameters
    ----------
    image : ndarray
        Float image in [0, 1].
    amount : float
        Fraction of values replaced, in [0, 1].
    rng : Generator, int or None
        Source of randomness.
    salt_vs_pepper : float
        Fraction of the replaced values set to 1.
    """
    img = _check_image(image)
    _check_level("amount", amount, 0.0, 1.0)
    _check_level("salt_vs_pepper", salt_vs_pepper, 0.0, 1.0)
    gen = np.random.default_rng(rng)
    hit = gen.random(img.shape) < amount
    salt = gen.random(img.shape) < salt_vs_pepper
    out: FloatArray = img.copy()
    out[hit & salt] = 1.0
    out[hit & ~salt] = 0.0
    return out


def _check_image(image: FloatArray) -> FloatArray:
    arr = np.asarray(image)
    if not np.issubdtype(arr.dtype, np.floating):
        raise InputError(
            f"noise needs a float image in [0, 1], got dtype {arr.dtype}; convert first"
        )
    return arr


def _check_level(
    name: str, value: float, low: float, high: float | None, *, strict: bool = False
) -> None:
    bad_low = value <= low if strict else value < low
    if not np.isfinite(value) or bad_low or (high is not None and value > high):
        bounds = f"({low}, {high or 'inf'})" if strict else f"[{low}, {high or 'inf'}]"
        raise InputError(f"noise {name} must be in {bounds}, got {value}")


def _finish(noisy: npt.NDArray[np.floating], dtype: np.dtype, clip: bool) -> FloatArray:
    if clip:
        noisy = np.clip(noisy, 0.0, 1.0)
    result: FloatArray = noisy.astype(dtype, copy=False)
    return result
