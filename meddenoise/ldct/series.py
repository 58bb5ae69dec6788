"""Simulated low-dose versions of whole CT series (stored values in, stored values out).

:func:`simulate_series` applies :func:`meddenoise.ldct.simulate.simulate_low_dose` slice by
slice in Hounsfield units and maps the result back to the series' stored values (its
rescale, dtype and storable range), keeping padding pixels unchanged, so the result can
be written by any writer as a derived series of the input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from meddenoise.errors import InputError
from meddenoise.image import MedicalImage

__all__ = ["SimulationResult", "simulate_series"]


@dataclass(frozen=True)
class SimulationResult:
    """A simulated series and what happened on the way back to stored values.

    Attributes
    ----------
    image : MedicalImage
        The input with simulated low-dose pixels.
    clipped : int
        Values outside the storable range, clipped to it.
    pixel_mm : float
        Pixel size used for the projections.
    """

    image: MedicalImage
    clipped: int
    pixel_mm: float


def simulate_series(
    image: MedicalImage,
    *,
    dose: float,
    kernel: str,
    hu_offset: float = 0.0,
    pixel_mm: float | None = None,
    photons: float | None = None,
    views: int | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> SimulationResult:
    """Make a low-dose version of a full-dose CT series.

    Parameters
    ----------
    image : MedicalImage
        A grey CT series (full dose).
    dose : float
        Fraction of the original dose, in (0, 1).
    kernel : {"soft", "sharp"}
        Reconstruction filter of the inserted noise; match the series' own kernel.
    hu_offset : float
        Added to the physical values to get HU (-1000 for HU + 1000 data).
    pixel_mm : float, optional
        Pixel size; by default the series' pixel spacing (square pixels required).
    photons : float, optional
        Incident photons per detector element at full dose (the simulator's default
        otherwise).
    views : int, optional
        Projection angles (the simulator's default otherwise).
    seed : int
        Slice ``k`` uses the generator seeded with ``(seed, k)``: reproducible, and the
        same slice gets the same noise whatever else is simulated.
    progress : callable, optional
        ``progress(done, total)`` after each slice.

    Returns
    -------
    SimulationResult

    Raises
    ------
    InputError
        For a colour or non-CT series, non-square or unknown pixels, or bad parameters.
    """
    from meddenoise.ldct.simulate import DoseModel, simulate_low_dose

    if image.is_color:
        raise InputError("low-dose simulation needs a grey CT series, not colour")
    if image.modality.upper() != "CT":
        raise InputError(f"low-dose simulation needs CT, not {image.modality}")
    if pixel_mm is None:
        if image.geometry is None:
            raise InputError("the input has no pixel spacing; give pixel_mm")
        rows, cols = image.geometry.pixel_spacing
        if not np.isclose(rows, cols, rtol=1e-3):
            raise InputError(f"pixels are not square ({rows:g} x {cols:g} mm)")
        pixel_mm = float(rows)
    dose_model = DoseModel() if photons is None else DoseModel(photons=photons)
    out = np.empty_like(image.pixels)
    low_value, high_value = image.value_range
    clipped = 0
    for k in range(image.n_slices):
        hu = image.physical(k, k + 1)[0] + hu_offset
        low = simulate_low_dose(
            hu,
            pixel_mm=pixel_mm,
            dose=dose,
            kernel=kernel,
            model=dose_model,
            views=views,
            rng=np.random.default_rng([seed, k]),
        )
        stored = np.rint((low - hu_offset - image.intercept[k]) / image.slope[k])
        outside = (stored < low_value) | (stored > high_value)
        clipped += int(np.count_nonzero(outside))
        np.clip(stored, low_value, high_value, out=stored)
        slice_out = stored.astype(image.pixels.dtype)
        if image.padding_value is not None:
            padding = image.pixels[k] == image.padding_value
            slice_out[padding] = image.pixels[k][padding]
        out[k] = slice_out
        if progress is not None:
            progress(k + 1, image.n_slices)
    return SimulationResult(image.with_pixels(out), clipped, pixel_mm)
