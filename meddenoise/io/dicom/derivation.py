"""What a derived DICOM series says about its making: :class:`Derivation` and its codes.

The building blocks that :mod:`meddenoise.io.dicom.derive` assembles: the coded concepts
(DICOM PS3.16), the derived ImageType, and the items of the reference and equipment
sequences. Every function here is pure: it builds new values and changes no argument.

Examples
--------
>>> derived_image_type(["ORIGINAL", "PRIMARY", "AXIAL"])
['DERIVED', 'SECONDARY', 'AXIAL']
>>> code_item(SMOOTHING).CodeMeaning
'Smoothing'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from meddenoise._version import __version__

__all__ = [
    "PIXEL_ADDITION",
    "PROCESSING_EQUIPMENT",
    "SMOOTHING",
    "SOURCE_IMAGE_PURPOSE",
    "Code",
    "Derivation",
    "clip_text",
    "code_item",
    "contributing_equipment_item",
    "derived_image_type",
    "format_da",
    "format_dt",
    "format_tm",
    "reference_item",
]

#: (code value, coding scheme designator, code meaning)
Code = tuple[str, str, str]

#: CID 7203 has no denoising concept; "Smoothing" is the nearest (DICOM.md).
SMOOTHING: Code = ("113087", "DCM", "Smoothing")
#: CID 7203 concept for a simulated low-dose series: reconstructed noise added to each pixel.
PIXEL_ADDITION: Code = ("113042", "DCM", "Pixel by pixel addition")
#: Purpose of reference of each source image (CID 7202).
SOURCE_IMAGE_PURPOSE: Code = ("121322", "DCM", "Source image for image processing operation")
#: Purpose of the contributing equipment item that names the toolkit (CID 7005).
PROCESSING_EQUIPMENT: Code = ("109102", "DCM", "Processing Equipment")

_ST_MAX = 1024  # characters in a ST value (DerivationDescription, ContributionDescription)
_LO_MAX = 64


@dataclass(frozen=True)
class Derivation:
    """How a derived series was made: the text and numbers written into its tags.

    Attributes
    ----------
    description : str
        DerivationDescription and ContributionDescription: tool, version, model name and
        hash, key parameters (at most 1024 characters are written).
    series_suffix : str
        Appended to the source SeriesDescription (the result is cut to 64 characters,
        keeping the suffix).
    series_number_offset : int
        Added to the source SeriesNumber.
    manufacturer : str
        Manufacturer of the contributing equipment item.
    software_name : str
        ManufacturerModelName of the contributing equipment item.
    software_version : str
        SoftwareVersions of the contributing equipment item.
    code : Code
        DerivationCodeSequence concept (CID 7203): Smoothing for denoising.

    Examples
    --------
    >>> Derivation().description.endswith(", denoised")
    True
    >>> d = Derivation.from_model("two_stage", "sha256:0123456789abcdef", {"tile": 256})
    >>> d.description.split("; ")[1:]
    ['model two_stage sha256:0123456789abcdef', 'tile=256']
    """

    description: str = f"meddenoise {__version__}, denoised"
    series_suffix: str = "denoised"
    series_number_offset: int = 1000
    manufacturer: str = "meddenoise"
    software_name: str = "meddenoise"
    software_version: str = __version__
    code: Code = SMOOTHING

    @classmethod
    def from_model(
        cls, model: str, model_hash: str, parameters: Mapping[str, object] | None = None
    ) -> Derivation:
        """Describe a denoising run: the toolkit version, the model and its parameters.

        Parameters
        ----------
        model : str
            Model (architecture or checkpoint) name.
        model_hash : str
            Hash of the weights, e.g. ``"sha256:..."``.
        parameters : mapping, optional
            Key parameters (tile size, precision...), written as ``key=value``.
        """
        parts = [f"meddenoise {__version__} denoised", f"model {model} {model_hash}"]
        parts.extend(f"{key}={value}" for key, value in (parameters or {}).items())
        return cls(description="; ".join(parts))


def code_item(code: Code) -> Dataset:
    """Return a code sequence item (CodeValue, CodingSchemeDesignator, CodeMeaning)."""
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code
    return item


def derived_image_type(values: Iterable[str] | str | None, *, enhanced: bool = False) -> list[str]:
    r"""Return ImageType (or FrameType) of a derived image: DERIVED\SECONDARY, then value 3 on.

    Enhanced (multi-frame functional group) images allow only PRIMARY as value 2, so
    theirs is DERIVED\PRIMARY.

    >>> derived_image_type("ORIGINAL")
    ['DERIVED', 'SECONDARY']
    >>> derived_image_type(["ORIGINAL", "PRIMARY", "M", "NONE"], enhanced=True)
    ['DERIVED', 'PRIMARY', 'M', 'NONE']
    """
    if values is None:
        kept: list[str] = []
    elif isinstance(values, str):
        kept = []
    else:
        kept = [str(v) for v in values][2:]
    return ["DERIVED", "PRIMARY" if enhanced else "SECONDARY", *kept]


def clip_text(text: str, limit: int = _ST_MAX) -> str:
    """Cut ``text`` to ``limit`` characters (DICOM value length limits).

    >>> clip_text("abcdef", 4)
    'abcd'
    """
    return text[:limit]


def reference_item(sop_class_uid: str, sop_instance_uid: str, frame: int | None = None) -> Dataset:
    """Return a SourceImageSequence item: the instance (and frame) this image comes from.

    Parameters
    ----------
    sop_class_uid, sop_instance_uid : str
        The source instance.
    frame : int, optional
        One-based ReferencedFrameNumber, for one frame of a multi-frame source.
    """
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class_uid
    item.ReferencedSOPInstanceUID = sop_instance_uid
    if frame is not None:
        item.ReferencedFrameNumber = frame
    item.PurposeOfReferenceCodeSequence = Sequence([code_item(SOURCE_IMAGE_PURPOSE)])
    return item


def contributing_equipment_item(derivation: Derivation, timestamp: datetime) -> Dataset:
    """Return the ContributingEquipmentSequence item that names the toolkit."""
    item = Dataset()
    item.Manufacturer = clip_text(derivation.manufacturer, _LO_MAX)
    item.ManufacturerModelName = clip_text(derivation.software_name, _LO_MAX)
    item.SoftwareVersions = clip_text(derivation.software_version, _LO_MAX)
    item.PurposeOfReferenceCodeSequence = Sequence([code_item(PROCESSING_EQUIPMENT)])
    item.ContributionDateTime = format_dt(timestamp)
    item.ContributionDescription = clip_text(derivation.description)
    return item


def format_da(moment: datetime) -> str:
    """Return a DICOM date (DA), ``YYYYMMDD``."""
    return moment.strftime("%Y%m%d")


def format_tm(moment: datetime) -> str:
    """Return a DICOM time (TM), ``HHMMSS.FFFFFF``."""
    return moment.strftime("%H%M%S.%f")


def format_dt(moment: datetime) -> str:
    """Return a DICOM date-time (DT), with the UTC offset where ``moment`` has one.

    >>> format_dt(datetime(2026, 1, 2, 3, 4, 5))
    '20260102030405.000000'
    """
    return moment.strftime("%Y%m%d%H%M%S.%f%z")
