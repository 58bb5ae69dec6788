"""Ordering the slices of a series in space and checking the stack they form.

Pure computation on per-slice attributes (:class:`SliceInfo`), no file access. Slices are
sorted by the projection of their position on the slice normal (the cross product of the
two ImageOrientationPatient vectors), ties broken by InstanceNumber. This works for gantry
tilt, where positions are sheared along a row or column direction.

Decisions (documented in the reader):

- Distinct slices at the same position are an error: such a series holds several volumes
  (time points, echoes, b-values) and mixing them in one stack would be wrong.
- Steps deviating more than 10 % from the median step are reported as a gap warning.
- Without positions or with several orientations (a localizer), slices stay in
  InstanceNumber order as independent 2-D images, without geometry, with a warning.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from meddenoise.errors import InputError
from meddenoise.image import Geometry

__all__ = ["GAP_TOLERANCE", "SliceInfo", "StackPlan", "plan_stack"]

#: Relative deviation of a slice step from the median step that is reported as a gap.
GAP_TOLERANCE = 0.10
#: Slices closer than this along the normal (mm) are at the same position.
_SAME_POSITION_MM = 1e-3
#: Largest difference between direction cosines of slices of one orientation.
_SAME_ORIENTATION = 1e-4


@dataclass(frozen=True)
class SliceInfo:
    """Where one slice (a single-frame instance or one frame) lies and how it scales.

    Attributes
    ----------
    dataset, frame : int
        Index of the instance in the series and of the frame in the instance.
    instance_number : int or None
        DICOM InstanceNumber.
    position : tuple of 3 float or None
        ImagePositionPatient (mm, LPS).
    orientation : tuple of 6 float or None
        ImageOrientationPatient: row direction, then column direction.
    pixel_spacing : tuple of 2 float or None
        PixelSpacing: row spacing, column spacing (mm).
    thickness : float or None
        SliceThickness (mm).
    slope, intercept : float
        Rescale: physical = stored * slope + intercept.
    """

    dataset: int
    frame: int
    instance_number: int | None = None
    position: tuple[float, float, float] | None = None
    orientation: tuple[float, float, float, float, float, float] | None = None
    pixel_spacing: tuple[float, float] | None = None
    thickness: float | None = None
    slope: float = 1.0
    intercept: float = 0.0


@dataclass(frozen=True)
class StackPlan:
    """The order of the slices and the geometry of the stack they form.

    Attributes
    ----------
    order : list of int
        Indices into the slices given to :func:`plan_stack`, in stack order.
    geometry : Geometry or None
        The stack's geometry, None where the slices do not form one.
    warnings : list of str
        What was noticed and tolerated.
    """

    order: list[int]
    geometry: Geometry | None
    warnings: list[str] = field(default_factory=list)


def plan_stack(
    slices: Sequence[SliceInfo],
    *,
    labels: Sequence[str] | None = None,
    keep_monotonic: bool = False,
) -> StackPlan:
    """Sort slices along the slice normal and build their geometry.

    Parameters
    ----------
    slices : sequence of SliceInfo
        The slices of one series, in any order.
    labels : sequence of str, optional
        A name for each slice (file and frame) used in messages.
    keep_monotonic : bool
        Keep the natural order (InstanceNumber, then instance, then frame) when it is
        already strictly monotonic along the normal, ascending or descending (enhanced
        multi-frame instances); otherwise sort ascending.

    Returns
    -------
    StackPlan

    Raises
    ------
    InputError
        If two distinct slices share a position.

    Examples
    --------
    >>> iop = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    >>> s = [SliceInfo(k, 0, k, (0.0, 0.0, z), iop, (0.5, 0.5)) for k, z in enumerate([5, 0, 10])]
    >>> plan = plan_stack(s)
    >>> plan.order, plan.geometry.slice_spacing
    ([1, 0, 2], 5.0)
    """
    n = len(slices)
    names = list(labels) if labels is not None else [f"slice {k}" for k in range(n)]
    natural = sorted(
        range(n),
        key=lambda k: (
            slices[k].instance_number is None,
            slices[k].instance_number or 0,
            slices[k].dataset,
            slices[k].frame,
        ),
    )
    missing = sum(s.position is None or s.orientation is None for s in slices)
    if missing:
        notes = []
        if len({s.dataset for s in slices}) > 1:
            notes.append(
                f"{missing} of {n} slices lack ImagePositionPatient or "
                "ImageOrientationPatient: slices kept in InstanceNumber order, no geometry"
            )
        return StackPlan(natural, None, notes)
    positions = np.array([s.position for s in slices], dtype=np.float64)
    orientations = np.array([s.orientation for s in slices], dtype=np.float64)
    n_orient = _count_orientations(orientations)
    if n_orient > 1:
        note = (
            f"slices have {n_orient} different orientations (e.g. a localizer): kept as "
            "separate 2-D images in InstanceNumber order, no geometry"
        )
        return StackPlan(natural, None, [note])
    row, col = _unit(orientations[0, :3]), _unit(orientations[0, 3:])
    normal = _unit(np.cross(row, col))
    offsets = positions @ normal
    order = _sort(offsets, natural, keep_monotonic=keep_monotonic)
    _check_duplicates(offsets, order, names)
    notes = _gap_notes(offsets[order]) + _shear_notes(positions[order], normal)
    spacing = slices[order[0]].pixel_spacing
    if spacing is None or min(spacing) <= 0:
        notes.append("no usable PixelSpacing: no geometry")
        return StackPlan(order, None, notes)
    if any(
        s.pixel_spacing is None or not np.allclose(s.pixel_spacing, spacing, atol=1e-4)
        for s in slices
    ):
        notes.append(f"PixelSpacing differs between slices; using {spacing} of the first")
    geometry = Geometry(
        positions=positions[order],
        row_direction=row,
        column_direction=col,
        pixel_spacing=(float(spacing[0]), float(spacing[1])),
        slice_thickness=slices[order[0]].thickness,
    )
    return StackPlan(order, geometry, notes)


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    if norm < 1e-6:
        raise InputError("ImageOrientationPatient holds a zero vector")
    unit: np.ndarray = v / norm
    return unit


def _count_orientations(orientations: np.ndarray) -> int:
    distinct: list[np.ndarray] = []
    for o in orientations:
        if not any(np.allclose(o, d, atol=_SAME_ORIENTATION) for d in distinct):
            distinct.append(o)
    return len(distinct)


def _sort(offsets: np.ndarray, natural: list[int], *, keep_monotonic: bool) -> list[int]:
    if keep_monotonic and len(natural) > 1:
        steps = np.diff(offsets[natural])
        if np.all(steps > _SAME_POSITION_MM) or np.all(steps < -_SAME_POSITION_MM):
            return list(natural)
    rank = {k: r for r, k in enumerate(natural)}
    return sorted(natural, key=lambda k: (float(offsets[k]), rank[k]))


def _check_duplicates(offsets: np.ndarray, order: list[int], names: list[str]) -> None:
    same = [
        (a, b)
        for a, b in itertools.pairwise(order)
        if abs(offsets[b] - offsets[a]) < _SAME_POSITION_MM
    ]
    if not same:
        return
    a, b = same[0]
    raise InputError(
        f"{len(same)} pair(s) of slices share a position, e.g. {names[a]} and {names[b]} at "
        f"{offsets[a]:.3f} mm along the normal; the series may hold several volumes (time "
        "points, echoes), which meddenoise does not mix into one stack: keep one volume's "
        "files in the input"
    )


def _gap_notes(offsets: np.ndarray) -> list[str]:
    if len(offsets) < 3:
        return []
    steps = np.abs(np.diff(offsets))
    median = float(np.median(steps))
    bad = np.flatnonzero(np.abs(steps - median) > GAP_TOLERANCE * median)
    if not len(bad):
        return []
    k = int(bad[np.argmax(np.abs(steps[bad] - median))])
    return [
        f"uneven slice spacing: {len(bad)} of {len(steps)} steps differ from the median "
        f"{median:.4g} mm by more than {GAP_TOLERANCE:.0%} (largest: {steps[k]:.4g} mm "
        f"between slices {k} and {k + 1})"
    ]


def _shear_notes(positions: np.ndarray, normal: np.ndarray) -> list[str]:
    if len(positions) < 2:
        return []
    steps = np.diff(positions, axis=0)
    along = steps @ normal
    across = np.linalg.norm(steps - np.outer(along, normal), axis=1)
    angle = float(np.degrees(np.arctan2(np.median(across), np.median(np.abs(along)))))
    if angle < 0.01:
        return []
    return [
        f"slices are sheared (gantry tilt about {angle:.2f} deg): Geometry.positions are "
        "exact, the slice step is not along the normal"
    ]
