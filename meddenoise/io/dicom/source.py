"""What the DICOM reader hands to the DICOM writer: the source datasets and frame map."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["DicomSource"]


@dataclass
class DicomSource:
    """The source instances of a :class:`~meddenoise.image.MedicalImage` read from DICOM.

    Attributes
    ----------
    datasets : list of pydicom.Dataset
        One per source instance, in the order the instances are written back, with their
        file meta (``ds.file_meta``); the pixel data may have been dropped after decoding.
    files : list of Path
        The file each dataset was read from (same order).
    frames : list of tuple of int
        For each slice ``k`` of ``image.pixels``: ``(dataset index, frame index)``. A
        single-frame series has ``(k, 0)`` after geometric sorting; an enhanced
        multi-frame instance has ``(0, f)``.
    series_uid : str
        SeriesInstanceUID of the source series.
    warnings : list of str
        What the reader noticed and tolerated (duplicate positions, gaps...).
    """

    datasets: list[Dataset]
    files: list[Path]
    frames: list[tuple[int, int]]
    series_uid: str
    warnings: list[str] = field(default_factory=list)
