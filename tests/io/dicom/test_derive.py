"""The tag logic of derived instances, as pure functions on small synthetic datasets."""

from __future__ import annotations

import copy
import warnings
from datetime import datetime

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    JPEG2000,
    CTImageStorage,
    EnhancedMRImageStorage,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
)

from meddenoise.errors import InputError
from meddenoise.io.dicom.derivation import Derivation, derived_image_type
from meddenoise.io.dicom.derive import (
    CHANGED_KEYWORDS,
    derive_dataset,
    derived_series_description,
    derived_series_number,
    drop_group_lengths,
    source_timestamp,
)
from meddenoise.io.dicom.functional_groups import set_frame_derivations
from meddenoise.io.dicom.pixel_data import (
    mark_lossy,
    output_dtype,
    palette_rgb_to_8bit,
    set_pixel_data,
    stored_range,
)
from meddenoise.io.dicom.uids import UidFactory

WHEN = datetime(2026, 11, 25, 16, 30, 5, 123456)


def ct_dataset() -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = "1.2.3.4.1"
    ds.StudyInstanceUID = "1.2.3.1"
    ds.SeriesInstanceUID = "1.2.3.2"
    ds.FrameOfReferenceUID = "1.2.3.3"
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "P1"
    ds.Modality = "CT"
    ds.SeriesNumber = 3
    ds.SeriesDescription = "Head 5mm"
    ds.InstanceNumber = 7
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "HELIX"]
    ds.ImagePositionPatient = [0, 0, 10]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.5, 0.5]
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.Rows = ds.Columns = 2
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 1
    icon = Dataset()
    icon.Rows = 1
    ds.IconImageSequence = Sequence([icon])
    ds.add_new(0x00091010, "LO", "private value")
    return ds


def derive(
    ds: Dataset, *, derivation: Derivation | None = None, strip_private: bool = False
) -> Dataset:
    return derive_dataset(
        ds,
        series_uid="2.25.1",
        instance_uid="2.25.2",
        derivation=derivation or Derivation(),
        timestamp=WHEN,
        strip_private=strip_private,
    )


def test_derive_dataset_changes_only_allowed_tags_and_not_the_source() -> None:
    source = ct_dataset()
    before = copy.deepcopy(source)
    ds = derive(source)
    assert source == before
    changed = {
        e.keyword
        for tag in set(source.keys()) | set(ds.keys())
        for e in [source.get(tag) or ds.get(tag)]
        if source.get(tag) is None or ds.get(tag) is None or source[tag].value != ds[tag].value
    }
    assert changed <= CHANGED_KEYWORDS
    for keyword in ("PatientName", "StudyInstanceUID", "FrameOfReferenceUID", "PixelSpacing"):
        assert ds[keyword].value == source[keyword].value
    assert ds.SOPInstanceUID == "2.25.2"
    assert ds.SeriesInstanceUID == "2.25.1"
    assert ds.SeriesNumber == 1003
    assert ds.SeriesDescription == "Head 5mm denoised"
    assert list(ds.ImageType) == ["DERIVED", "SECONDARY", "AXIAL", "HELIX"]
    assert (ds.SeriesDate, ds.SeriesTime) == ("20261125", "163005.123456")
    assert ds.ContentDate == ds.InstanceCreationDate == "20261125"
    assert "IconImageSequence" not in ds
    assert ds.DerivationCodeSequence[0].CodeValue == "113087"
    assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == "1.2.3.4.1"
    assert ds[0x00091010].value == "private value"


def test_derive_dataset_strips_private_tags_on_request() -> None:
    source = ct_dataset()
    item = Dataset()
    item.add_new(0x00111001, "LO", "nested")
    source.add_new(0x00081250, "SQ", Sequence([item]))
    ds = derive(source, strip_private=True)
    assert 0x00091010 not in ds
    assert 0x00111001 not in ds[0x00081250].value[0]


def test_existing_references_and_equipment_are_kept() -> None:
    source = ct_dataset()
    other = Dataset()
    other.SeriesInstanceUID = "9.9.9"
    source.ReferencedSeriesSequence = Sequence([other])
    anonymizer = Dataset()
    anonymizer.Manufacturer = "anonymizer"
    source.ContributingEquipmentSequence = Sequence([anonymizer])
    ds = derive(source)
    assert [i.SeriesInstanceUID for i in ds.ReferencedSeriesSequence] == ["9.9.9", "1.2.3.2"]
    refs = ds.ReferencedSeriesSequence[-1].ReferencedInstanceSequence
    assert refs[0].ReferencedSOPInstanceUID == "1.2.3.4.1"
    makers = [i.Manufacturer for i in ds.ContributingEquipmentSequence]
    assert makers == ["anonymizer", "meddenoise"]
    assert ds.ContributingEquipmentSequence[-1].ContributionDateTime == "20261125163005.123456"


def test_group_lengths_are_dropped_everywhere() -> None:
    ds = ct_dataset()
    ds.add_new(0x00080000, "UL", 1234)
    item = Dataset()
    item.add_new(0x00080000, "UL", 5)
    item.CodeValue = "1"
    ds.DerivationCodeSequence = Sequence([item])
    drop_group_lengths(ds)
    assert 0x00080000 not in ds
    assert 0x00080000 not in ds.DerivationCodeSequence[0]
    assert ds.DerivationCodeSequence[0].CodeValue == "1"


@pytest.mark.parametrize(
    ("source", "suffix", "expected"),
    [
        ("T1", "denoised", "T1 denoised"),
        (None, "denoised", "denoised"),
        ("", "denoised", "denoised"),
        ("x" * 70, "denoised", "x" * 55 + " denoised"),
    ],
)
def test_series_description(source: str | None, suffix: str, expected: str) -> None:
    result = derived_series_description(source, suffix)
    assert result == expected
    assert len(result) <= 64


@pytest.mark.parametrize(
    ("source", "expected"),
    [(3, 1003), ("12", 1012), (None, 1000), ("", 1000), ("x", 1000), (2**31 - 5, 2**31 - 1)],
)
def test_series_number(source: object, expected: int) -> None:
    assert derived_series_number(source, 1000) == expected


def test_image_type_keeps_value_three_on() -> None:
    assert derived_image_type(["ORIGINAL", "PRIMARY"]) == ["DERIVED", "SECONDARY"]
    assert derived_image_type(None) == ["DERIVED", "SECONDARY"]
    assert derived_image_type(["ORIGINAL", "PRIMARY", "LOCALIZER"]) == [
        "DERIVED",
        "SECONDARY",
        "LOCALIZER",
    ]
    assert derived_image_type(["ORIGINAL", "PRIMARY", "M", "NONE"], enhanced=True) == [
        "DERIVED",
        "PRIMARY",
        "M",
        "NONE",
    ]


def test_source_timestamp_fallbacks() -> None:
    ds = Dataset()
    assert source_timestamp(ds) == datetime(1970, 1, 1)
    ds.StudyDate, ds.StudyTime = "20200101", "0830"
    assert source_timestamp(ds) == datetime(2020, 1, 1, 8, 30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pydicom flags the invalid values
        ds.ContentDate, ds.ContentTime = "20200102", "09:15:30.25"
        assert source_timestamp(ds) == datetime(2020, 1, 2, 9, 15, 30, 250000)
        ds.ContentDate = "garbage"
        assert source_timestamp(ds) == datetime(2020, 1, 1, 8, 30)


def test_derivation_from_model_and_long_descriptions() -> None:
    d = Derivation.from_model("two_stage", "sha256:ff", {"tile": 256, "precision": "bf16"})
    assert d.description.endswith("model two_stage sha256:ff; tile=256; precision=bf16")
    long = Derivation(description="x" * 2000)
    ds = derive(ct_dataset(), derivation=long)
    assert len(ds.DerivationDescription) == 1024


def test_uids_deterministic_random_prefixed() -> None:
    a, b = UidFactory(entropy="e"), UidFactory(entropy="e")
    assert a.instance_uid("1.2") == b.instance_uid("1.2")
    assert a.instance_uid("1.2") != a.instance_uid("1.3")
    assert a.instance_uid("1.2") != a.series_uid("1.2")
    assert a.instance_uid("1.2", "model A") != a.instance_uid("1.2", "model B")
    assert a.instance_uid("1.2") != UidFactory(entropy="f").instance_uid("1.2")
    assert UidFactory().instance_uid("1.2") != UidFactory().instance_uid("1.2")
    prefixed = UidFactory(prefix="1.2.826.0.1.3680043.8.498.", entropy="e")
    uid = prefixed.instance_uid("1.2")
    assert uid.startswith("1.2.826.0.1.3680043.8.498.")
    assert uid == prefixed.instance_uid("1.2")
    assert uid.is_valid
    assert len(uid) <= 64
    with pytest.raises(InputError, match="prefix"):
        UidFactory(prefix="1.2.x.")


def enhanced_dataset(frames: int = 3) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = EnhancedMRImageStorage
    ds.SOPInstanceUID = "1.2.3.9"
    ds.StudyInstanceUID = "1.2.3.1"
    ds.SeriesInstanceUID = "1.2.3.2"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    ds.NumberOfFrames = frames
    old = Dataset()
    old.DerivationDescription = "from an older source"
    shared = Dataset()
    shared.DerivationImageSequence = Sequence([old])
    frame_type = Dataset()
    frame_type.FrameType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    shared.MRImageFrameTypeSequence = Sequence([frame_type])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per_frame = []
    for _ in range(frames):
        item = Dataset()
        content = Dataset()
        content.StackID = "1"
        item.FrameContentSequence = Sequence([content])
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    return ds


def test_enhanced_frames_are_derived_one_by_one() -> None:
    source = enhanced_dataset()
    ds = derive(source)
    assert list(ds.ImageType) == ["DERIVED", "PRIMARY", "M", "NONE"]
    shared = ds.SharedFunctionalGroupsSequence[0]
    assert "DerivationImageSequence" not in shared
    assert list(shared.MRImageFrameTypeSequence[0].FrameType[:2]) == ["DERIVED", "PRIMARY"]
    for number, item in enumerate(ds.PerFrameFunctionalGroupsSequence, start=1):
        ref = item.DerivationImageSequence[0].SourceImageSequence[0]
        assert ref.ReferencedSOPInstanceUID == "1.2.3.9"
        assert ref.ReferencedFrameNumber == number
        assert item.FrameContentSequence[0].StackID == "1"
    assert "SourceImageSequence" not in ds
    assert "DerivationDescription" not in ds
    evidence = ds.SourceImageEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == "1.2.3.9"
    # the source keeps its own derivation history
    assert "DerivationImageSequence" in source.SharedFunctionalGroupsSequence[0]


def test_enhanced_without_per_frame_groups_falls_back_to_top_level_references() -> None:
    source = enhanced_dataset()
    del source.PerFrameFunctionalGroupsSequence
    assert set_frame_derivations(copy.deepcopy(source), source, Derivation()) is False
    ds = derive(source)
    assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == "1.2.3.9"


def test_stored_range_and_dtype() -> None:
    ds = Dataset()
    ds.BitsAllocated, ds.BitsStored, ds.PixelRepresentation = 16, 12, 0
    assert stored_range(ds) == (0, 4095)
    assert output_dtype(ds) == np.dtype("<u2")
    ds.PixelRepresentation = 1
    assert stored_range(ds) == (-2048, 2047)
    assert output_dtype(ds) == np.dtype("<i2")
    ds.BitsAllocated = 1
    with pytest.raises(InputError, match="BitsAllocated 1"):
        output_dtype(ds)


def test_set_pixel_data_rounds_clips_and_sets_statistics() -> None:
    ds = ct_dataset()
    ds.SmallestImagePixelValue = 0
    ds.LargestImagePixelValue = 100
    ds.ExtendedOffsetTable = b"\x00" * 8
    frames = np.array([[[-3000.0, 1.4], [1.6, 5000.0]]])
    clipped = set_pixel_data(ds, frames)
    assert clipped == 2
    values = np.frombuffer(ds.PixelData, dtype="<i2").reshape(1, 2, 2)
    np.testing.assert_array_equal(values, [[[-2048, 1], [2, 2047]]])
    assert ds["PixelData"].VR == "OW"
    assert (ds.SmallestImagePixelValue, ds.LargestImagePixelValue) == (-2048, 2047)
    assert ds["SmallestImagePixelValue"].VR == "SS"
    assert "ExtendedOffsetTable" not in ds
    with pytest.raises(InputError, match="finite"):
        set_pixel_data(ct_dataset(), np.full((1, 2, 2), np.nan))
    with pytest.raises(InputError, match="frames for an instance"):
        set_pixel_data(ct_dataset(), np.zeros((2, 2, 2), dtype=np.int16))
    with pytest.raises(InputError, match="frames are"):
        set_pixel_data(ct_dataset(), np.zeros((1, 3, 2), dtype=np.int16))
    floats = ct_dataset()
    floats.FloatPixelData = b"\x00" * 16
    with pytest.raises(InputError, match="FloatPixelData"):
        set_pixel_data(floats, np.zeros((1, 2, 2), dtype=np.int16))


def test_set_pixel_data_unsigned_statistics_are_us() -> None:
    ds = ct_dataset()
    ds.PixelRepresentation = 0
    ds.LargestImagePixelValue = 1
    set_pixel_data(ds, np.array([[[0, 1], [2, 4000]]], dtype=np.uint16))
    assert ds["LargestImagePixelValue"].VR == "US"
    assert ds.LargestImagePixelValue == 4000


def test_palette_rgb_reduction() -> None:
    assert palette_rgb_to_8bit(np.array([257, 514], dtype=np.uint16)).tolist() == [1, 2]
    kept = np.array([0, 300], dtype=np.uint16)
    assert palette_rgb_to_8bit(kept) is kept


@pytest.mark.parametrize(
    ("syntax", "said", "expected"),
    [
        (ExplicitVRLittleEndian, None, None),
        (JPEGBaseline8Bit, None, "01"),
        (JPEGBaseline8Bit, "00", "01"),
        (JPEG2000, "00", "00"),
        (JPEG2000, None, "01"),
        (None, "01", "01"),
    ],
)
def test_mark_lossy(syntax: str | None, said: str | None, expected: str | None) -> None:
    ds = Dataset()
    if said is not None:
        ds.LossyImageCompression = said
    mark_lossy(ds, syntax)
    assert ds.get("LossyImageCompression") == expected
    if expected == "01" and said != "01":
        assert ds.LossyImageCompressionMethod.startswith("ISO_")


def test_source_pixel_data_is_neither_copied_nor_needed() -> None:
    source = ct_dataset()
    source.PixelData = b"\x01\x00" * 4
    ds = derive(source)
    assert "PixelData" not in ds
    assert source.PixelData == b"\x01\x00" * 4
