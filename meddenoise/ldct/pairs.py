"""Pair the slices of a low-dose and a full-dose series, and hold out blocks of slices.

Two reconstructions of the same scan (or a series and its simulated low-dose version)
share their slice positions. :func:`pair_slices` matches slices by where they lie along
the slice normal (DICOM ImagePositionPatient, NIfTI/MetaImage geometry), after checking
that both series have the same matrix, pixel spacing, orientation and in-plane origin;
it never pairs by file order when geometry is known. :func:`split_blocks` chooses the
validation slices as whole blocks of neighbouring slices, so a validation slice never
sits next to a training slice of the same block (adjacent thin slices are nearly
identical and would leak).

Examples
--------
>>> split_blocks(20, block=4, val_fraction=0.25)
([0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15, 16, 17, 18, 19], [8, 9, 10, 11])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from meddenoise.errors import InputError
from meddenoise.image import MedicalImage

__all__ = ["SlicePair", "pair_slices", "split_blocks"]


@dataclass(frozen=True)
class SlicePair:
    """One matched slice: its index in each series and its position along the normal.

    Attributes
    ----------
    low : int
        Slice index in the low-dose series.
    full : int
        Slice index in the full-dose series.
    offset_mm : float or None
        Position along the slice normal (mm), where the series have geometry.
    """

    low: int
    full: int
    offset_mm: float | None


def pair_slices(
    low: MedicalImage,
    full: MedicalImage,
    *,
    tolerance_mm: float | None = None,
    names: tuple[str, str] = ("low-dose", "full-dose"),
) -> list[SlicePair]:
    """Match the slices of two series of the same scan by geometry.

    Parameters
    ----------
    low, full : MedicalImage
        Grey series of the same object and field of view.
    tolerance_mm : float, optional
        Largest distance along the normal between paired slices; by default a quarter of
        the smaller slice spacing (0.1 mm for single slices).
    names : tuple of str
        How the two series are named in error messages.

    Returns
    -------
    list of SlicePair
        In order along the slice normal. Slices of one series without a partner in the
        other are left out.

    Raises
    ------
    InputError
        When the series are colour, differ in matrix, pixel spacing, orientation or
        in-plane origin, have no slice position in common, or (without geometry) differ
        in slice count.
    """
    a, b = names
    for image, name in ((low, a), (full, b)):
        if image.is_color:
            raise InputError(f"{name} series is colour; low-dose CT pairs must be grey")
    if low.shape[1:] != full.shape[1:]:
        raise InputError(
            f"{a} slices are {low.shape[1]}x{low.shape[2]} but {b} slices are "
            f"{full.shape[1]}x{full.shape[2]}; the series do not match"
        )
    if low.geometry is None or full.geometry is None:
        if low.n_slices != full.n_slices:
            raise InputError(
                f"without slice positions the series must have as many slices "
                f"({a} {low.n_slices}, {b} {full.n_slices})"
            )
        return [SlicePair(k, k, None) for k in range(low.n_slices)]
    gl, gf = low.geometry, full.geometry
    if not np.allclose(gl.pixel_spacing, gf.pixel_spacing, rtol=1e-3, atol=1e-4):
        raise InputError(
            f"pixel spacing differs ({a} {_mm(gl.pixel_spacing)}, {b} {_mm(gf.pixel_spacing)})"
        )
    if not (
        np.allclose(gl.row_direction, gf.row_direction, atol=1e-3)
        and np.allclose(gl.column_direction, gf.column_direction, atol=1e-3)
    ):
        raise InputError(f"slice orientation differs between the {a} and {b} series")
    # In-plane origin: the first pixel of both series must project to the same row/column.
    shift = gl.positions[0] - gf.positions[0]
    in_plane = np.array([shift @ gl.row_direction, shift @ gl.column_direction])
    if np.any(np.abs(in_plane) > 0.5 * np.asarray(gl.pixel_spacing)[::-1]):
        raise InputError(
            f"the {a} and {b} series cover different fields of view "
            f"(in-plane shift {_mm(tuple(in_plane))})"
        )
    offsets_low = gl.positions @ gl.normal
    offsets_full = gf.positions @ gl.normal
    if tolerance_mm is None:
        spacings = [s for s in (gl.slice_spacing, gf.slice_spacing) if s]
        tolerance_mm = 0.25 * min(spacings) if spacings else 0.1
    pairs: list[SlicePair] = []
    used: set[int] = set()
    for i in np.argsort(offsets_low, kind="stable"):
        distance = np.abs(offsets_full - offsets_low[i])
        j = int(np.argmin(distance))
        if distance[j] <= tolerance_mm and j not in used:
            used.add(j)
            pairs.append(SlicePair(int(i), j, float(offsets_low[i])))
    if not pairs:
        raise InputError(
            f"the {a} and {b} series have no slice position in common "
            f"({a} {offsets_low.min():.1f}..{offsets_low.max():.1f} mm, "
            f"{b} {offsets_full.min():.1f}..{offsets_full.max():.1f} mm along the normal)"
        )
    return pairs


def split_blocks(
    n: int, *, block: int = 8, val_fraction: float = 0.2, guard: int = 0
) -> tuple[list[int], list[int]]:
    """Split ``n`` slices (in position order) into training and validation blocks.

    The slices are cut into consecutive blocks of ``block``; validation takes whole blocks
    evenly spaced through the volume and away from its ends (at least one, and never all
    when there are two or more). ``guard`` training slices on each side of a validation
    block are dropped.

    Parameters
    ----------
    n : int
        Number of paired slices.
    block : int
        Slices per block.
    val_fraction : float
        Share of blocks for validation, in [0, 1).
    guard : int
        Training slices dropped next to each validation block.

    Returns
    -------
    train, validation : list of int
        Positions in ``0..n-1``; validation is empty when ``val_fraction`` is 0 or there
        is a single block.

    Raises
    ------
    InputError
        For ``n < 1``, ``block < 1``, ``guard < 0`` or ``val_fraction`` outside [0, 1).
    """
    if n < 1 or block < 1 or guard < 0 or not 0.0 <= val_fraction < 1.0:
        raise InputError(
            f"bad block split (n={n}, block={block}, val_fraction={val_fraction}, guard={guard})"
        )
    blocks = [list(range(s, min(s + block, n))) for s in range(0, n, block)]
    count = len(blocks)
    k = 0 if val_fraction == 0 or count < 2 else min(count - 1, max(1, round(val_fraction * count)))
    chosen = {min(count - 1, int((i + 0.5) * count / k)) for i in range(k)} if k else set()
    validation = sorted(s for i in chosen for s in blocks[i])
    blocked = set(validation)
    for s in validation:
        blocked.update(range(max(0, s - guard), min(n, s + guard + 1)))
    train = [s for s in range(n) if s not in blocked]
    return train, validation


def _mm(values: tuple[float, ...]) -> str:
    return "x".join(f"{v:.4g}" for v in values) + " mm"
