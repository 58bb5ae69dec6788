"""The header of a derived instance: the tag changes of DICOM.md, as pure functions.

:func:`derive_dataset` returns a changed copy of a source dataset and leaves the source
as it was. It changes the identity, date, derivation and reference tags listed in
:data:`CHANGED_KEYWORDS` and nothing else; the pixel module is the business of
:mod:`meddenoise.io.dicom.pixel_data`, which may also change those in
:data:`PIXEL_KEYWORDS`. Patient, study, frame of reference, geometry, equipment,
acquisition, rescale and private tags stay as they were (private tags go only on
request).

Examples
--------
>>> derived_series_description("T1 axial", "denoised")
'T1 axial denoised'
>>> len(derived_series_description("x" * 80, "denoised"))
64
>>> derived_series_number("7", 1000)
1007
"""

from __future__ import annotations

import copy
from datetime import datetime

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from meddenoise.io.dicom.derivation import (
    Derivation,
    clip_text,
    code_item,
    contributing_equipment_item,
    derived_image_type,
    format_da,
    format_tm,
    reference_item,
)
from meddenoise.io.dicom.functional_groups import (
    derive_frame_types,
    is_enhanced,
    set_frame_derivations,
)
from meddenoise.io.dicom.pixel_data import PALETTE_KEYWORDS

__all__ = [
    "CHANGED_KEYWORDS",
    "PIXEL_KEYWORDS",
    "derive_dataset",
    "derived_series_description",
    "derived_series_number",
    "drop_group_lengths",
    "source_timestamp",
]

#: Top-level attributes that a derived instance may change, add or drop: its identity
#: (UIDs, series number and description), its dates, its ImageType, the derivation and
#: reference attributes, the toolkit's ContributingEquipmentSequence item, the dropped
#: icon, and the functional groups (where only FrameType and DerivationImageSequence
#: change). Group length elements (gggg,0000), retired, are dropped as well. Everything
#: else is copied from the source unchanged.
CHANGED_KEYWORDS: frozenset[str] = frozenset(
    {
        "SOPInstanceUID",
        "SeriesInstanceUID",
        "SeriesNumber",
        "SeriesDescription",
        "SeriesDate",
        "SeriesTime",
        "InstanceCreationDate",
        "InstanceCreationTime",
        "ContentDate",
        "ContentTime",
        "ImageType",
        "DerivationDescription",
        "DerivationCodeSequence",
        "SourceImageSequence",
        "ReferencedSeriesSequence",
        "SourceImageEvidenceSequence",
        "ContributingEquipmentSequence",
        "IconImageSequence",
        "SharedFunctionalGroupsSequence",
        "PerFrameFunctionalGroupsSequence",
    }
)

#: Top-level attributes of the pixel module that the writer may change: the pixel data
#: and its statistics, encapsulation leftovers, the lossy compression flag of a source
#: that was stored lossy, and, only for YBR or palette colour sources written as RGB,
#: the photometric interpretation, sample layout, bit depth and palette tables.
PIXEL_KEYWORDS: frozenset[str] = frozenset(
    {
        "PixelData",
        "SmallestImagePixelValue",
        "LargestImagePixelValue",
        "SmallestPixelValueInSeries",
        "LargestPixelValueInSeries",
        "ExtendedOffsetTable",
        "ExtendedOffsetTableLengths",
        "DataSetTrailingPadding",
        "LossyImageCompression",
        "LossyImageCompressionMethod",
        "PhotometricInterpretation",
        "PlanarConfiguration",
        "SamplesPerPixel",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
        *PALETTE_KEYWORDS,
    }
)

_IS_MIN, _IS_MAX = -(2**31), 2**31 - 1
_PIXEL_DATA = 0x7FE00010
_LO_MAX = 64


def derived_series_number(source: object, offset: int) -> int:
    """Return the SeriesNumber of the derived series: source + offset, kept in IS range.

    A missing or empty source number counts as 0.

    >>> derived_series_number(None, 1000)
    1000
    >>> derived_series_number(2**31 - 10, 1000)
    2147483647
    """
    try:
        base = int(str(source)) if source not in (None, "") else 0
    except ValueError:
        base = 0
    return min(max(base + offset, _IS_MIN), _IS_MAX)


def derived_series_description(source: object, suffix: str) -> str:
    """Return the SeriesDescription: the source's, then the suffix, at most 64 characters.

    The source part is shortened, never the suffix.
    """
    suffix = suffix[:_LO_MAX].strip()
    base = str(source).strip() if source not in (None, "") else ""
    if not base:
        return suffix
    room = _LO_MAX - len(suffix) - 1
    if room <= 0:
        return suffix
    return f"{base[:room].rstrip()} {suffix}"


def _parse_dicom_datetime(date: object, time: object) -> datetime | None:
    digits = "".join(ch for ch in str(time or "") if ch.isdigit() or ch == ".")
    whole, _, fraction = digits.partition(".")
    whole = (whole + "000000")[:6]
    micro = (fraction + "000000")[:6]
    try:
        return datetime.strptime(f"{date}{whole}{micro}", "%Y%m%d%H%M%S%f")
    except ValueError:
        return None


def source_timestamp(ds: Dataset) -> datetime:
    """Return a fixed timestamp taken from the source, for byte-identical reruns.

    The first of ContentDate/Time, SeriesDate/Time and StudyDate/Time that parses; else
    1970-01-01 00:00. Used when deterministic UIDs are asked for and no timestamp is
    given, so that the same input always gives the same files.

    >>> ds = Dataset()
    >>> ds.SeriesDate, ds.SeriesTime = "20200304", "101112.5"
    >>> source_timestamp(ds)
    datetime.datetime(2020, 3, 4, 10, 11, 12, 500000)
    """
    for date_key, time_key in (
        ("ContentDate", "ContentTime"),
        ("SeriesDate", "SeriesTime"),
        ("StudyDate", "StudyTime"),
    ):
        date = ds.get(date_key)
        if date:
            moment = _parse_dicom_datetime(date, ds.get(time_key))
            if moment is not None:
                return moment
    return datetime(1970, 1, 1)


def drop_group_lengths(ds: Dataset) -> None:
    """Remove every group length element (gggg,0000), nested ones included.

    They are retired outside the command set, and the values copied from the source
    would be wrong once other attributes change.
    """

    def remove(dataset: Dataset, element: DataElement) -> None:
        if element.tag.element == 0:
            del dataset[element.tag]

    ds.walk(remove)


def _referenced_series(source: Dataset) -> Sequence:
    """ReferencedSeriesSequence of the Common Instance Reference module, source series added."""
    instance = Dataset()
    instance.ReferencedSOPClassUID = source.SOPClassUID
    instance.ReferencedSOPInstanceUID = source.SOPInstanceUID
    ours = Dataset()
    ours.SeriesInstanceUID = source.SeriesInstanceUID
    ours.ReferencedInstanceSequence = Sequence([instance])
    kept = [
        copy.deepcopy(item)
        for item in source.get("ReferencedSeriesSequence") or []
        if item.get("SeriesInstanceUID") != source.SeriesInstanceUID
    ]
    return Sequence([*kept, ours])


def derive_dataset(
    source: Dataset,
    *,
    series_uid: str,
    instance_uid: str,
    derivation: Derivation,
    timestamp: datetime,
    strip_private: bool = False,
) -> Dataset:
    """Return the header of the instance derived from ``source`` (``source`` is unchanged).

    Parameters
    ----------
    source : pydicom.Dataset
        A source instance; its pixel data may be absent.
    series_uid, instance_uid : str
        SeriesInstanceUID of the derived series and SOPInstanceUID of this instance.
    derivation : Derivation
        Description, series suffix and number offset, software name and version.
    timestamp : datetime
        Written as series, instance creation, content and contribution date and time.
    strip_private : bool
        Drop every private attribute, nested ones included.

    Returns
    -------
    pydicom.Dataset
        A new dataset, file meta and PixelData excluded; only :data:`CHANGED_KEYWORDS`
        differ from ``source`` (and private tags when stripped).
    """
    ds = Dataset()
    for tag in sorted(source.keys()):  # the tags only: iterating a Dataset decodes values
        if tag != _PIXEL_DATA:  # replaced by the writer: never copied, never read
            ds.add(copy.deepcopy(source[tag]))  # source[tag] decodes raw and deferred values
    drop_group_lengths(ds)
    if strip_private:
        ds.remove_private_tags()
    ds.SOPInstanceUID = instance_uid
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = derived_series_number(
        source.get("SeriesNumber"), derivation.series_number_offset
    )
    ds.SeriesDescription = derived_series_description(
        source.get("SeriesDescription"), derivation.series_suffix
    )
    date, time = format_da(timestamp), format_tm(timestamp)
    ds.SeriesDate = ds.InstanceCreationDate = ds.ContentDate = date
    ds.SeriesTime = ds.InstanceCreationTime = ds.ContentTime = time
    enhanced = is_enhanced(source)
    ds.ImageType = derived_image_type(source.get("ImageType"), enhanced=enhanced)
    if "IconImageSequence" in ds:
        del ds.IconImageSequence
    equipment = list(ds.get("ContributingEquipmentSequence") or [])
    equipment.append(contributing_equipment_item(derivation, timestamp))
    ds.ContributingEquipmentSequence = Sequence(equipment)
    ds.ReferencedSeriesSequence = _referenced_series(source)
    if enhanced:
        derive_frame_types(ds)
    if not (enhanced and set_frame_derivations(ds, source, derivation)):
        # classic images, and enhanced ones without per-frame groups to hold the references
        ds.DerivationDescription = clip_text(derivation.description)
        ds.DerivationCodeSequence = Sequence([code_item(derivation.code)])
        ds.SourceImageSequence = Sequence(
            [reference_item(source.SOPClassUID, source.SOPInstanceUID)]
        )
    return ds
