"""Noise estimates of a QA report, before and after denoising, in physical units.

Two estimates, both on the representative slices:

- **wavelet**: scikit-image's ``estimate_sigma`` (the median absolute deviation of the
  finest diagonal wavelet coefficients, Donoho and Johnstone), averaged over slices and
  channels. It assumes white Gaussian noise; large flat padding lowers it.
- **flat regions**: the median standard deviation of the flattest 16x16 blocks. The
  blocks are chosen once, on the input smoothed by a Gaussian (so that the choice follows
  the anatomy, not the noise), among blocks inside the display window and free of
  padding; the same blocks are measured before and after.

Divide by the width of the model's intensity mapping to get the model's [0, 1] scale.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> noisy = 100.0 + rng.normal(0.0, 5.0, (128, 128))
>>> blocks = choose_flat_blocks(noisy, low=0.0, high=200.0)
>>> round(wavelet_sigma([noisy])), round(flat_sigma([noisy], [blocks]))
(5, 5)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "BLOCK",
    "NoiseEstimate",
    "choose_flat_blocks",
    "flat_sigma",
    "wavelet_sigma",
]

F64 = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]

#: Side of the blocks of the flat-region estimate, in pixels.
BLOCK = 16

#: Share of the candidate blocks kept as the flattest.
FLAT_SHARE = 0.1


@dataclass(frozen=True)
class NoiseEstimate:
    """Noise of one series at one stage, in physical units (NaN where not measurable).

    Attributes
    ----------
    wavelet : float
        Wavelet (MAD) estimate of the noise standard deviation.
    flat : float
        Median standard deviation in the flattest blocks.
    """

    wavelet: float
    flat: float


def wavelet_sigma(slices: Sequence[F64]) -> float:
    """Return the mean of ``skimage.restoration.estimate_sigma`` over slices.

    Parameters
    ----------
    slices : sequence of ndarray
        ``(H, W)`` or ``(H, W, 3)`` physical values.
    """
    from skimage.restoration import estimate_sigma

    values = []
    for image in slices:
        if min(image.shape[:2]) < 2:
            continue
        axis = -1 if image.ndim == 3 else None
        values.append(float(estimate_sigma(image, average_sigmas=True, channel_axis=axis)))
    return float(np.mean(values)) if values else float("nan")


def choose_flat_blocks(
    physical: F64, *, low: float, high: float, padding: Mask | None = None
) -> Mask:
    """Choose the flattest blocks of one input slice.

    Parameters
    ----------
    physical : ndarray
        ``(H, W)`` or ``(H, W, 3)`` input values (colour is averaged).
    low, high : float
        Display window: blocks whose mean lies outside it are background, not candidates
        (unless no block lies inside).
    padding : ndarray of bool, optional
        Padding pixels (``(H, W)``); a block holding any is never chosen.

    Returns
    -------
    ndarray of bool
        ``(H // BLOCK, W // BLOCK)``: the chosen blocks (none for slices under one block).
    """
    from scipy import ndimage

    grey = physical.mean(axis=-1) if physical.ndim == 3 else physical
    smooth = ndimage.gaussian_filter(grey, 2.0)
    means = _blocks(grey).mean(axis=(-2, -1))
    spread = _blocks(smooth).std(axis=(-2, -1))
    raw_spread = _blocks(grey).std(axis=(-2, -1))
    usable = raw_spread > 0
    if padding is not None:
        usable &= ~_blocks(padding.astype(np.float64)).any(axis=(-2, -1))
    inside = usable & (means >= low) & (means <= high)
    candidates = inside if inside.any() else usable
    chosen = np.zeros(candidates.shape, dtype=bool)
    if not candidates.any():
        return chosen
    keep = max(1, int(np.ceil(FLAT_SHARE * candidates.sum())))
    order = np.argsort(np.where(candidates, spread, np.inf), axis=None, kind="stable")[:keep]
    chosen.flat[order] = True
    return chosen


def flat_sigma(slices: Sequence[F64], blocks: Sequence[Mask]) -> float:
    """Return the median standard deviation of the chosen blocks over all slices.

    For colour slices, the standard deviation of each channel, averaged over channels.
    """
    stds = []
    for image, mask in zip(slices, blocks, strict=True):
        if not mask.any():
            continue
        channels = np.moveaxis(image, -1, 0) if image.ndim == 3 else image[None]
        spread = np.mean([_blocks(c).std(axis=(-2, -1)) for c in channels], axis=0)
        stds.append(spread[mask])
    return float(np.median(np.concatenate(stds))) if stds else float("nan")


def _blocks(image: F64) -> F64:
    """View a 2-D image as ``(H // BLOCK, W // BLOCK, BLOCK, BLOCK)`` (edges dropped)."""
    rows, cols = image.shape[0] // BLOCK, image.shape[1] // BLOCK
    cut = image[: rows * BLOCK, : cols * BLOCK]
    tiled: F64 = cut.reshape(rows, BLOCK, cols, BLOCK).swapaxes(1, 2)
    return tiled
