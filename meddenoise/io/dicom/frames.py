"""Per-frame attributes of a DICOM instance: position, orientation, spacing and rescale.

A classic instance keeps them at the top level of the dataset. An enhanced multi-frame
instance (Enhanced CT/MR/XA...) keeps them in functional groups: each frame's item of the
PerFrameFunctionalGroupsSequence, else the SharedFunctionalGroupsSequence, holds
PlanePositionSequence, PlaneOrientationSequence, PixelMeasuresSequence and
PixelValueTransformationSequence.
"""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from meddenoise.io.dicom.slices import SliceInfo

__all__ = ["describe_frames", "is_enhanced", "number_of_frames"]


def number_of_frames(ds: Dataset) -> int:
    """NumberOfFrames, 1 where absent or empty.

    >>> number_of_frames(Dataset())
    1
    """
    value = ds.get("NumberOfFrames")
    try:
        return max(1, int(value)) if value not in (None, "") else 1
    except (TypeError, ValueError):
        return 1


def is_enhanced(ds: Dataset) -> bool:
    """Tell whether an instance has functional groups (enhanced multi-frame).

    >>> is_enhanced(Dataset())
    False
    """
    return "PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds


def describe_frames(ds: Dataset, index: int) -> list[SliceInfo]:
    """Return a :class:`SliceInfo` for each frame of an instance.

    Parameters
    ----------
    ds : pydicom.Dataset
        The instance (its header suffices).
    index : int
        The instance's index in its series (``SliceInfo.dataset``).

    Returns
    -------
    list of SliceInfo
        One per frame in frame order. A classic multi-frame instance has no per-frame
        position (positions are None beyond a single frame).

    Examples
    --------
    >>> ds = Dataset()
    >>> ds.RescaleSlope, ds.RescaleIntercept, ds.InstanceNumber = 2, -10, 3
    >>> info = describe_frames(ds, 0)[0]
    >>> info.slope, info.intercept, info.instance_number, info.position
    (2.0, -10.0, 3, None)
    """
    n = number_of_frames(ds)
    instance = _int(ds.get("InstanceNumber"))
    if is_enhanced(ds):
        return [_enhanced_frame(ds, index, f, instance) for f in range(n)]
    slope, intercept = _rescale(ds)
    single = n == 1
    return [
        SliceInfo(
            dataset=index,
            frame=f,
            instance_number=instance,
            position=_floats(ds.get("ImagePositionPatient"), 3) if single else None,
            orientation=_floats(ds.get("ImageOrientationPatient"), 6) if single else None,
            pixel_spacing=_floats(ds.get("PixelSpacing"), 2),
            thickness=_float(ds.get("SliceThickness")),
            slope=slope,
            intercept=intercept,
        )
        for f in range(n)
    ]


def _enhanced_frame(ds: Dataset, index: int, frame: int, instance: int | None) -> SliceInfo:
    plane = _group(ds, frame, "PlanePositionSequence")
    orient = _group(ds, frame, "PlaneOrientationSequence")
    measures = _group(ds, frame, "PixelMeasuresSequence")
    transform = _group(ds, frame, "PixelValueTransformationSequence")
    slope, intercept = _rescale(transform if transform is not None else ds)
    return SliceInfo(
        dataset=index,
        frame=frame,
        instance_number=instance,
        position=_floats(_get(plane, "ImagePositionPatient"), 3),
        orientation=_floats(_get(orient, "ImageOrientationPatient"), 6),
        pixel_spacing=_floats(_get(measures, "PixelSpacing"), 2),
        thickness=_float(_get(measures, "SliceThickness")),
        slope=slope,
        intercept=intercept,
    )


def _group(ds: Dataset, frame: int, keyword: str) -> Dataset | None:
    """Return the first item of a functional group macro: per-frame, else shared."""
    for name, item_index in (
        ("PerFrameFunctionalGroupsSequence", frame),
        ("SharedFunctionalGroupsSequence", 0),
    ):
        groups = ds.get(name)
        if not isinstance(groups, Sequence) or item_index >= len(groups):
            continue  # absent, or not a sequence in a malformed file
        macro = groups[item_index].get(keyword)
        if isinstance(macro, Sequence) and macro:
            item: Dataset = macro[0]
            return item
    return None


def _get(ds: Dataset | None, keyword: str) -> Any:
    return None if ds is None else ds.get(keyword)


def _rescale(ds: Dataset) -> tuple[float, float]:
    slope = _float(ds.get("RescaleSlope"))
    intercept = _float(ds.get("RescaleIntercept"))
    return (1.0 if slope is None else slope), (0.0 if intercept is None else intercept)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _floats(value: Any, n: int) -> Any:
    """Return a tuple of ``n`` floats, or None if the value is absent or malformed."""
    if value is None or isinstance(value, str):
        return None
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return out if len(out) == n else None
