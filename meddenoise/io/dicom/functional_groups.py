"""Derivation tags of enhanced multi-frame instances (Enhanced CT, MR, PET, XA...).

In an enhanced instance each frame says where it comes from: the frame type macros
(``MRImageFrameTypeSequence``, ``CTImageFrameTypeSequence``...) carry a FrameType that
follows the ImageType rules, and the Derivation Image functional group
(``DerivationImageSequence``) lists the source frame. The Enhanced image modules then
list every referenced instance once in ``SourceImageEvidenceSequence``.

The functions here change the dataset they are given: call them on the derived copy, as
:func:`meddenoise.io.dicom.derive.derive_dataset` does.
"""

from __future__ import annotations

from pydicom import uid
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from meddenoise.io.dicom.derivation import (
    Derivation,
    clip_text,
    code_item,
    derived_image_type,
    reference_item,
)
from meddenoise.io.dicom.frames import number_of_frames

__all__ = [
    "ENHANCED_SOP_CLASSES",
    "derive_frame_types",
    "is_enhanced",
    "number_of_frames",
    "set_frame_derivations",
    "source_image_evidence",
]

_GROUPS = ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence")

#: SOP classes whose ImageType and FrameType follow the common enhanced rules (four
#: values, value 2 always PRIMARY), functional groups or not.
ENHANCED_SOP_CLASSES: frozenset[str] = frozenset(
    {
        uid.EnhancedCTImageStorage,
        uid.EnhancedMRImageStorage,
        uid.EnhancedMRColorImageStorage,
        uid.EnhancedPETImageStorage,
        uid.EnhancedXAImageStorage,
        uid.EnhancedXRFImageStorage,
        uid.EnhancedUSVolumeStorage,
        uid.LegacyConvertedEnhancedCTImageStorage,
        uid.LegacyConvertedEnhancedMRImageStorage,
        uid.LegacyConvertedEnhancedPETImageStorage,
        uid.XRay3DAngiographicImageStorage,
        uid.XRay3DCraniofacialImageStorage,
        uid.BreastTomosynthesisImageStorage,
        uid.IntravascularOpticalCoherenceTomographyImageStorageForPresentation,
        uid.IntravascularOpticalCoherenceTomographyImageStorageForProcessing,
        uid.VLWholeSlideMicroscopyImageStorage,
    }
)


def is_enhanced(ds: Dataset) -> bool:
    """Tell an enhanced SOP class or an instance with multi-frame functional groups."""
    return str(ds.get("SOPClassUID", "")) in ENHANCED_SOP_CLASSES or any(
        name in ds for name in _GROUPS
    )


def derive_frame_types(ds: Dataset) -> int:
    r"""Make every FrameType in the functional groups DERIVED\PRIMARY (value 3 on kept).

    Returns
    -------
    int
        How many FrameType values were changed.
    """
    changed = 0
    for name in _GROUPS:
        for group in ds.get(name) or []:
            for element in group:
                if element.VR != "SQ":
                    continue
                for macro in element.value:
                    if "FrameType" in macro:
                        macro.FrameType = derived_image_type(macro.FrameType, enhanced=True)
                        changed += 1
    return changed


def _derivation_image_item(source: Dataset, frame: int, derivation: Derivation) -> Dataset:
    item = Dataset()
    item.DerivationDescription = clip_text(derivation.description)
    item.DerivationCodeSequence = Sequence([code_item(derivation.code)])
    item.SourceImageSequence = Sequence(
        [reference_item(source.SOPClassUID, source.SOPInstanceUID, frame)]
    )
    return item


def set_frame_derivations(ds: Dataset, source: Dataset, derivation: Derivation) -> bool:
    """Give each frame a DerivationImageSequence that references its source frame.

    Frame ``f`` (one-based) of the derived instance comes from frame ``f`` of ``source``.
    A DerivationImageSequence of the source (in the shared or per-frame groups) is
    replaced: it named the source's own sources. Also sets SourceImageEvidenceSequence.

    Returns
    -------
    bool
        False, changing nothing, when the instance has no per-frame group for each frame.
    """
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame is None or len(per_frame) != number_of_frames(ds):
        return False
    for group in ds.get("SharedFunctionalGroupsSequence") or []:
        if "DerivationImageSequence" in group:
            del group.DerivationImageSequence
    for index, group in enumerate(per_frame):
        group.DerivationImageSequence = Sequence(
            [_derivation_image_item(source, index + 1, derivation)]
        )
    ds.SourceImageEvidenceSequence = source_image_evidence(source)
    return True


def source_image_evidence(source: Dataset) -> Sequence:
    """Return a SourceImageEvidenceSequence listing the source instance.

    The items follow the Hierarchical SOP Instance Reference macro: study, series, then
    the referenced instance.
    """
    instance = Dataset()
    instance.ReferencedSOPClassUID = source.SOPClassUID
    instance.ReferencedSOPInstanceUID = source.SOPInstanceUID
    series = Dataset()
    series.SeriesInstanceUID = source.SeriesInstanceUID
    series.ReferencedSOPSequence = Sequence([instance])
    study = Dataset()
    study.StudyInstanceUID = source.StudyInstanceUID
    study.ReferencedSeriesSequence = Sequence([series])
    return Sequence([study])
