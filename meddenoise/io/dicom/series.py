"""Grouping DICOM instances into series and choosing the series to read.

Works on headers only (datasets read without pixel data). An image instance is one with
Rows and Columns; RT structure sets, plans, structured reports and DICOMDIRs are not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.uid import UID

from meddenoise.errors import InputError
from meddenoise.io.dicom.files import InstanceFile

__all__ = [
    "Instance",
    "check_sizes",
    "describe_series",
    "drop_repeated_instances",
    "group_series",
    "is_image",
    "select_series",
    "sop_class_name",
]

#: Series without a SeriesInstanceUID are grouped under this key.
NO_SERIES_UID = "(no SeriesInstanceUID)"


@dataclass(frozen=True)
class Instance:
    """An instance file and its header."""

    file: InstanceFile
    header: Dataset


def sop_class_name(ds: Dataset) -> str:
    """Name the SOP class of a header (its UID where pydicom does not know it).

    >>> ds = Dataset()
    >>> ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    >>> sop_class_name(ds)
    'RT Structure Set Storage'
    """
    uid = ds.get("SOPClassUID") or getattr(ds, "file_meta", Dataset()).get(
        "MediaStorageSOPClassUID"
    )
    if not uid:
        return "unknown SOP class"
    name = UID(str(uid)).name
    return name if name != str(uid) else str(uid)


def is_image(ds: Dataset) -> bool:
    """Tell whether an instance describes pixel data (has Rows and Columns).

    >>> ds = Dataset()
    >>> is_image(ds)
    False
    >>> ds.Rows, ds.Columns = 4, 4
    >>> is_image(ds)
    True
    """
    return "Rows" in ds and "Columns" in ds


def group_series(instances: Sequence[Instance]) -> dict[str, list[Instance]]:
    """Group instances by SeriesInstanceUID, keeping their order."""
    groups: dict[str, list[Instance]] = {}
    for inst in instances:
        uid = str(inst.header.get("SeriesInstanceUID") or NO_SERIES_UID)
        groups.setdefault(uid, []).append(inst)
    return groups


def describe_series(uid: str, members: Sequence[Instance]) -> str:
    """One-line description: ``UID (modality, series N, N instances)``.

    Never names the patient: no patient attribute, and not the free-text
    SeriesDescription, which sometimes does.
    """
    head = members[0].header
    modality = str(head.get("Modality") or "no modality")
    number = head.get("SeriesNumber")
    series = f", series {number}" if number not in (None, "") else ""
    n = len(members)
    return f"{uid} ({modality}{series}, {n} instance{'s' if n != 1 else ''})"


def select_series(
    groups: dict[str, list[Instance]], series_uid: str | None, *, where: str
) -> tuple[str, list[Instance]]:
    """Choose one series.

    Parameters
    ----------
    groups : dict
        Series UID to its instances (:func:`group_series`).
    series_uid : str or None
        The series asked for; may be omitted when there is only one.
    where : str
        What holds the series (``"/data/x: folder"``), to start messages.

    Raises
    ------
    InputError
        Listing every series on one line, if ``series_uid`` is missing with several
        series, or names no series present.
    """
    listing = "; ".join(describe_series(uid, members) for uid, members in groups.items())
    if series_uid is not None:
        wanted = series_uid.strip()
        if wanted not in groups:
            raise InputError(f"{where} holds no series {wanted}; it holds: {listing}")
        return wanted, groups[wanted]
    if len(groups) > 1:
        raise InputError(
            f"{where} holds {len(groups)} series; choose one with series_uid "
            f"(--series-uid on the command line): {listing}"
        )
    uid, members = next(iter(groups.items()))
    return uid, members


def drop_repeated_instances(members: Sequence[Instance]) -> tuple[list[Instance], list[str]]:
    """Keep one file per SOPInstanceUID (a folder may hold the same instance twice)."""
    kept: dict[str, Instance] = {}
    repeated: list[str] = []
    for inst in members:
        uid = str(inst.header.get("SOPInstanceUID") or f"#{id(inst)}")
        if uid in kept:
            repeated.append(str(inst.file.path))
        else:
            kept[uid] = inst
    notes = []
    if repeated:
        notes.append(
            f"{len(repeated)} file(s) repeat an instance already read (same SOPInstanceUID) "
            f"and were ignored, e.g. {repeated[0]}"
        )
    return list(kept.values()), notes


def check_sizes(members: Sequence[Instance], uid: str) -> None:
    """Check that every instance of a series has the same Rows, Columns and samples.

    Raises
    ------
    InputError
        Naming each size found and a file of each.
    """
    sizes: dict[tuple[int, int, int], str] = {}
    for inst in members:
        h = inst.header
        try:
            key = (int(h.Rows), int(h.Columns), int(h.get("SamplesPerPixel") or 1))
        except (TypeError, ValueError):  # empty, or several values
            raise InputError(
                f"{inst.file.path}: invalid Rows {h.Rows!r}, Columns {h.Columns!r} or "
                f"SamplesPerPixel {h.get('SamplesPerPixel')!r}"
            ) from None
        sizes.setdefault(key, str(inst.file.path))
    if len(sizes) > 1:
        found = "; ".join(
            f"{r}x{c}{' x' + str(s) + ' samples' if s != 1 else ''} (e.g. {f})"
            for (r, c, s), f in sizes.items()
        )
        raise InputError(
            f"series {uid} mixes image sizes (rows x columns): {found}; "
            "keep the files of one size in the input"
        )
