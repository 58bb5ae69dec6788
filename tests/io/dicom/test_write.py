"""Laws of the derived-series writer: identity, tag diff, atomicity, determinism, options.

The tests build the MedicalImage + DicomSource the reader would hand over with
:func:`load_series` (pydicom.dcmread, sort by InstanceNumber, stack pixel_array, drop
PixelData), so they do not depend on the DICOM reader.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut

from meddenoise.errors import InputError
from meddenoise.image import MedicalImage
from meddenoise.io.dicom import write as write_module
from meddenoise.io.dicom.derive import CHANGED_KEYWORDS
from meddenoise.io.dicom.source import DicomSource
from meddenoise.io.dicom.write import ClippedValuesWarning, Derivation, write_dicom

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
DICOMDIR_TESTS = PYDICOM_FILES / "dicomdirtests"
XA30_T1 = "mri/dcm_qa_xa30/5_anat-T1w_acq-tfl"

#: Attributes of the pixel module that a grey source keeps, changed statistics aside.
GREY_PIXEL_CHANGES = frozenset(
    {
        "SmallestImagePixelValue",
        "LargestImagePixelValue",
        "SmallestPixelValueInSeries",
        "LargestPixelValueInSeries",
    }
)

#: Attributes that must be identical in a source and its derived instance.
KEPT_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "StudyID",
    "FrameOfReferenceUID",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceThickness",
    "SliceLocation",
    "RescaleSlope",
    "RescaleIntercept",
    "Modality",
    "SOPClassUID",
    "InstanceNumber",
    "Manufacturer",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PhotometricInterpretation",
    "Rows",
    "Columns",
    "BurnedInAnnotation",
    "NumberOfFrames",
    "WindowCenter",
    "WindowWidth",
)


def pydicom_data_file(name: str) -> Path:
    """A file of the pydicom-data package (larger NEMA files); skip where absent."""
    try:
        path = Path(str(importlib.metadata.distribution("pydicom-data").locate_file("")))
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("pydicom-data is not installed")
    found = path / "data_store" / "data" / name
    if not found.is_file():
        pytest.skip(f"{name} is not in pydicom-data")
    return found


def stored_frames(ds: Dataset) -> np.ndarray:
    """Stored values of one instance as (F, H, W) or (F, H, W, 3); palette as RGB."""
    arr = ds.pixel_array
    if ds.PhotometricInterpretation == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
    frames = int(ds.get("NumberOfFrames") or 1)
    color = int(ds.SamplesPerPixel) == 3 or ds.PhotometricInterpretation == "PALETTE COLOR"
    if frames == 1 and arr.ndim == (3 if color else 2):
        arr = arr[None]
    return np.asarray(arr)


def load_series(paths: list[Path], *, drop_pixel_data: bool = True) -> MedicalImage:
    """Build what the reader hands over: datasets in write-back order, stacked pixels."""
    datasets = [pydicom.dcmread(p) for p in paths]
    order = sorted(
        range(len(paths)), key=lambda i: (int(datasets[i].get("InstanceNumber") or 0), paths[i])
    )
    datasets = [datasets[i] for i in order]
    files = [paths[i] for i in order]
    stacks, frames = [], []
    for index, ds in enumerate(datasets):
        arr = stored_frames(ds)
        stacks.append(arr)
        frames.extend((index, f) for f in range(arr.shape[0]))
        if drop_pixel_data:
            del ds.PixelData
    pixels = np.concatenate(stacks)
    first = datasets[0]
    color = pixels.ndim == 4
    bits = int(first.BitsStored)
    signed = int(first.PixelRepresentation) == 1
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    source = DicomSource(
        datasets=datasets, files=files, frames=frames, series_uid=first.SeriesInstanceUID
    )
    return MedicalImage(
        pixels=pixels,
        modality=str(first.get("Modality", "OT")),
        slope=1.0,
        intercept=0.0,
        photometric="RGB" if color else str(first.PhotometricInterpretation),
        value_range=(float(low), float(high)),
        format="dicom",
        path=files[0].parent,
        source=source,
    )


def written_files(path: Path) -> list[Path]:
    return sorted(path.iterdir()) if path.is_dir() else [path]


def pydicom_case(name: str) -> list[Path]:
    target = PYDICOM_FILES / name
    return sorted(p for p in target.iterdir()) if target.is_dir() else [target]


PYDICOM_CASES = {
    "CT_small": "CT_small.dcm",
    "MR_small": "MR_small.dcm",
    "dicomdir_CT2": "dicomdirtests/77654033/CT2",
    "dicomdir_CT5N": "dicomdirtests/98892001/CT5N",
    "dicomdir_MR700": "dicomdirtests/98892003/MR700",
    "dicomdir_CR1_monochrome1": "dicomdirtests/77654033/CR1/6154",
    "dicomdir_CR3_monochrome1": "dicomdirtests/77654033/CR3/6278",
}

SHARED_CASES = {
    "philips_std_5mm": "ct/philips_std_5mm",
    "ct_693_UNCR": "ct/693_UNCR.dcm",
    "mr_MR2_UNCR": "mri/MR2_UNCR.dcm",
    "xray_RG1_UNCR": "xray/RG1_UNCR.dcm",
    "enhanced_mr_xa30": XA30_T1,
}


def shared_case(shared_data: Path, name: str) -> list[Path]:
    target = shared_data / name
    return sorted(p for p in target.iterdir() if p.is_file()) if target.is_dir() else [target]


def assert_identity(image: MedicalImage, out: Path) -> list[Dataset]:
    """Each written file holds exactly the stored values of its source instance."""
    files = written_files(out)
    assert len(files) == len(image.source.datasets)
    derived = [pydicom.dcmread(f) for f in files]
    start = 0
    for ds in derived:
        got = stored_frames(ds)
        expected = image.pixels[start : start + got.shape[0]]
        start += got.shape[0]
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
    assert start == image.n_slices
    return derived


@pytest.mark.parametrize("case", list(PYDICOM_CASES))
def test_identity_pydicom_files(case: str, tmp_path: Path) -> None:
    paths = pydicom_case(PYDICOM_CASES[case])
    image = load_series(paths)
    out = write_dicom(image, tmp_path / "out")
    derived = assert_identity(image, out)
    sources = [pydicom.dcmread(p) for p in image.source.files]
    for src, ds in zip(sources, derived, strict=True):
        assert ds.PhotometricInterpretation == src.PhotometricInterpretation
        np.testing.assert_array_equal(ds.pixel_array, src.pixel_array)


def test_identity_monochrome1_stays_monochrome1(tmp_path: Path) -> None:
    image = load_series(pydicom_case(PYDICOM_CASES["dicomdir_CR1_monochrome1"]))
    assert image.photometric == "MONOCHROME1"
    (ds,) = assert_identity(image, write_dicom(image, tmp_path / "cr"))
    assert ds.PhotometricInterpretation == "MONOCHROME1"


def test_identity_enhanced_multiframe_emri(tmp_path: Path) -> None:
    image = load_series([pydicom_data_file("emri_small.dcm")])
    assert image.n_slices == 10
    (ds,) = assert_identity(image, write_dicom(image, tmp_path / "emri"))
    assert int(ds.NumberOfFrames) == 10
    assert list(ds.ImageType[:2]) == ["DERIVED", "PRIMARY"]


@pytest.mark.parametrize("case", list(SHARED_CASES))
def test_identity_shared_data(case: str, shared_data: Path, tmp_path: Path) -> None:
    image = load_series(shared_case(shared_data, SHARED_CASES[case]))
    derived = assert_identity(image, write_dicom(image, tmp_path / "out"))
    if case == "philips_std_5mm":
        assert len(derived) == 28
    if case == "enhanced_mr_xa30":
        (ds,) = derived
        assert int(ds.NumberOfFrames) == image.n_slices > 1


def _differing_keywords(src: Dataset, out: Dataset) -> set[str]:
    names = set()
    for tag in set(src.keys()) | set(out.keys()):
        if tag == 0x7FE00010 or tag.element == 0:  # pixel data, dropped group lengths
            continue
        a, b = src.get(tag), out.get(tag)
        if a is None or b is None or a.value != b.value:
            element = a if a is not None else b
            names.add(element.keyword or str(tag))
    return names


def _without_derivation(groups: Any) -> list[Dataset]:
    """Functional group items with FrameType and DerivationImageSequence removed."""
    items = []
    for group in groups or []:
        item = Dataset()
        for element in group:
            if element.keyword == "DerivationImageSequence":
                continue
            if element.VR == "SQ":
                macros = []
                for macro in element.value:
                    copy = Dataset()
                    copy.update({e.tag: e for e in macro if e.keyword != "FrameType"})
                    macros.append(copy)
                item.add_new(element.tag, "SQ", macros)
            else:
                item.add(element)
        items.append(item)
    return items


def assert_tag_diff(image: MedicalImage, out: Path) -> None:
    """Only allow-listed attributes differ; the listed kept attributes are identical."""
    sources = [pydicom.dcmread(p, stop_before_pixels=True) for p in image.source.files]
    derived = [pydicom.dcmread(f, stop_before_pixels=True) for f in written_files(out)]
    allowed = CHANGED_KEYWORDS | GREY_PIXEL_CHANGES
    for src, ds in zip(sources, derived, strict=True):
        assert _differing_keywords(src, ds) <= allowed
        for keyword in KEPT_KEYWORDS:
            assert (keyword in src) == (keyword in ds), keyword
            if keyword in src:
                assert src[keyword].value == ds[keyword].value, keyword
        for name in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
            assert _without_derivation(src.get(name)) == _without_derivation(ds.get(name))
        assert ds.SOPInstanceUID != src.SOPInstanceUID
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        assert ds.SeriesInstanceUID != src.SeriesInstanceUID
        assert ds.ImageType[0] == "DERIVED"
        assert list(ds.ImageType[2:]) == list(src.get("ImageType", [])[2:])
        assert "denoised" in ds.SeriesDescription
        assert len(ds.SeriesDescription) <= 64
        assert int(ds.SeriesNumber) == int(src.get("SeriesNumber") or 0) + 1000
        assert "IconImageSequence" not in ds
        assert ds.ContributingEquipmentSequence[-1].Manufacturer == "meddenoise"
    assert len({ds.SeriesInstanceUID for ds in derived}) == 1
    assert len({ds.SOPInstanceUID for ds in derived}) == len(derived)


@pytest.mark.parametrize("case", list(PYDICOM_CASES))
def test_tag_diff_pydicom_files(case: str, tmp_path: Path) -> None:
    image = load_series(pydicom_case(PYDICOM_CASES[case]))
    assert_tag_diff(image, write_dicom(image, tmp_path / "out"))


def test_tag_diff_emri(tmp_path: Path) -> None:
    image = load_series([pydicom_data_file("emri_small.dcm")])
    assert_tag_diff(image, write_dicom(image, tmp_path / "out"))


@pytest.mark.parametrize("case", ["philips_std_5mm", "ct_693_UNCR", "enhanced_mr_xa30"])
def test_tag_diff_shared_data(case: str, shared_data: Path, tmp_path: Path) -> None:
    image = load_series(shared_case(shared_data, SHARED_CASES[case]))
    assert_tag_diff(image, write_dicom(image, tmp_path / "out"))


def test_enhanced_frames_reference_their_source_frame(shared_data: Path, tmp_path: Path) -> None:
    image = load_series(shared_case(shared_data, XA30_T1))
    (src,) = image.source.datasets
    (ds,) = [pydicom.dcmread(f) for f in written_files(write_dicom(image, tmp_path / "o"))]
    for number, group in enumerate(ds.PerFrameFunctionalGroupsSequence, start=1):
        (item,) = group.DerivationImageSequence
        assert item.DerivationCodeSequence[0].CodeValue == "113087"
        (ref,) = item.SourceImageSequence
        assert ref.ReferencedSOPInstanceUID == src.SOPInstanceUID
        assert int(ref.ReferencedFrameNumber) == number
        assert ref.PurposeOfReferenceCodeSequence[0].CodeValue == "121322"
        (frame_type,) = group.MRImageFrameTypeSequence
        assert list(frame_type.FrameType[:2]) == ["DERIVED", "PRIMARY"]
    evidence = ds.SourceImageEvidenceSequence[0]
    assert evidence.StudyInstanceUID == src.StudyInstanceUID
    assert evidence.ReferencedSeriesSequence[0].SeriesInstanceUID == src.SeriesInstanceUID


def test_single_frame_references(tmp_path: Path) -> None:
    image = load_series(pydicom_case(PYDICOM_CASES["dicomdir_CT5N"]))
    out = write_dicom(image, tmp_path / "out")
    for src, path in zip(image.source.datasets, written_files(out), strict=True):
        ds = pydicom.dcmread(path)
        (ref,) = ds.SourceImageSequence
        assert ref.ReferencedSOPInstanceUID == src.SOPInstanceUID
        assert ref.ReferencedSOPClassUID == src.SOPClassUID
        assert ref.PurposeOfReferenceCodeSequence[0].CodeValue == "121322"
        assert ds.DerivationCodeSequence[0].CodeMeaning == "Smoothing"
        assert ds.ReferencedSeriesSequence[-1].SeriesInstanceUID == src.SeriesInstanceUID
        item = ds.ContributingEquipmentSequence[-1]
        assert item.PurposeOfReferenceCodeSequence[0].CodeValue == "109102"
        assert item.SoftwareVersions == Derivation().software_version


def test_new_values_are_written_with_statistics(tmp_path: Path) -> None:
    image = load_series(pydicom_case(PYDICOM_CASES["MR_small"]))
    pixels = image.pixels.copy()
    pixels[0, 0, 0] = 1234
    pixels[0, 1, 1] = -5
    (ds,) = assert_identity(
        image.with_pixels(pixels), write_dicom(image.with_pixels(pixels), tmp_path / "o")
    )
    assert ds.SmallestImagePixelValue == -5
    assert ds.LargestImagePixelValue == int(pixels.max())
    assert ds["SmallestImagePixelValue"].VR == "SS"


def test_out_of_range_values_are_clipped_and_counted(tmp_path: Path) -> None:
    image = load_series(pydicom_case(PYDICOM_CASES["MR_small"]))
    (src,) = image.source.datasets
    src.BitsStored, src.HighBit = 12, 11
    pixels = np.clip(image.pixels, -2048, 2047)
    pixels[0, 0, :3] = [5000, -5000, 2047]
    with pytest.warns(ClippedValuesWarning, match=r"\b2 stored values"):
        out = write_dicom(image.with_pixels(pixels), tmp_path / "o")
    (ds,) = [pydicom.dcmread(f) for f in written_files(out)]
    np.testing.assert_array_equal(ds.pixel_array[0, :3], [2047, -2048, 2047])


def test_multiframe_frames_are_reassembled_in_frame_order(tmp_path: Path) -> None:
    image = load_series(pydicom_case(PYDICOM_CASES["CT_small"]))
    (src,) = image.source.datasets
    src.NumberOfFrames = 3
    frames = np.stack([image.pixels[0] + k for k in range(3)])
    # slices come in reverse frame order, as a geometric sort may leave them
    image.source.frames = [(0, 2), (0, 1), (0, 0)]
    shuffled = MedicalImage(**{**image.__dict__, "pixels": frames[::-1].copy(), "slope": 1.0})
    out = write_dicom(shuffled, tmp_path / "o")
    (ds,) = [pydicom.dcmread(f) for f in written_files(out)]
    np.testing.assert_array_equal(ds.pixel_array, frames)


def test_folder_file_names_follow_write_back_order(tmp_path: Path) -> None:
    image = load_series(pydicom_case(PYDICOM_CASES["dicomdir_CT5N"]))
    out = write_dicom(image, tmp_path / "series")
    assert [p.name for p in written_files(out)] == [f"IM0000{i}.dcm" for i in range(1, 6)]
    numbers = [int(pydicom.dcmread(p).InstanceNumber) for p in written_files(out)]
    assert numbers == [int(ds.InstanceNumber) for ds in image.source.datasets]


def test_single_instance_to_dcm_file(tmp_path: Path) -> None:
    image = load_series(pydicom_case(PYDICOM_CASES["CT_small"]))
    out = write_dicom(image, tmp_path / "ct.dcm")
    assert out.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct.dcm"]
    assert_identity(image, out)


def test_several_instances_refuse_a_dcm_file(tmp_path: Path) -> None:
    image = load_series(pydicom_case(PYDICOM_CASES["dicomdir_CT5N"]))
    with pytest.raises(InputError, match="folder"):
        write_dicom(image, tmp_path / "ct.dcm")
    assert list(tmp_path.iterdir()) == []


def test_failure_midway_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image = load_series(pydicom_case(PYDICOM_CASES["dicomdir_CT5N"]))
    calls = []
    real = write_module.dcmwrite

    def failing(path: Any, ds: Dataset, **kwargs: Any) -> None:
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        real(path, ds, **kwargs)

    monkeypatch.setattr(write_module, "dcmwrite", failing)
    with pytest.raises(InputError, match="cannot write \\(disk full\\)"):
        write_dicom(image, tmp_path / "out")
    assert len(calls) == 3
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_overwrite(tmp_path: Path) -> None:
    image = load_series(pydicom_case(PYDICOM_CASES["dicomdir_CT2"]))
    out = write_dicom(image, tmp_path / "out")
    first = {pydicom.dcmread(p).SOPInstanceUID for p in written_files(out)}
    with pytest.raises(InputError, match="already exists"):
        write_dicom(image, out)
    assert {pydicom.dcmread(p).SOPInstanceUID for p in written_files(out)} == first
    write_dicom(image, out, overwrite=True)
    second = {pydicom.dcmread(p).SOPInstanceUID for p in written_files(out)}
    assert len(second) == 4
    assert not second & first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_never_writes_over_the_input(tmp_path: Path) -> None:
    folder = tmp_path / "input"
    shutil.copytree(DICOMDIR_TESTS / "98892001" / "CT5N", folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    image = load_series(sorted(folder.iterdir()))
    with pytest.raises(InputError, match="input"):
        write_dicom(image, folder, overwrite=True)
    with pytest.raises(InputError, match="input"):
        write_dicom(image, sorted(folder.iterdir())[0], overwrite=True)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_deterministic_mode_is_byte_identical(tmp_path: Path) -> None:
    image = load_series(pydicom_case(PYDICOM_CASES["dicomdir_MR700"]))
    a = write_dicom(image, tmp_path / "a", entropy="batch-7")
    b = write_dicom(image, tmp_path / "b", entropy="batch-7")
    c = write_dicom(image, tmp_path / "c", entropy="batch-8")
    bytes_a = [p.read_bytes() for p in written_files(a)]
    assert bytes_a == [p.read_bytes() for p in written_files(b)]
    uids_a = {pydicom.dcmread(p).SOPInstanceUID for p in written_files(a)}
    uids_c = {pydicom.dcmread(p).SOPInstanceUID for p in written_files(c)}
    assert not uids_a & uids_c
    ds = pydicom.dcmread(written_files(a)[0])
    assert ds.SOPInstanceUID.startswith("2.25.")
    assert ds.SOPInstanceUID.is_valid


def test_default_mode_gives_new_uids_each_run(tmp_path: Path) -> None:
    image = load_series(pydicom_case(PYDICOM_CASES["CT_small"]))
    a = pydicom.dcmread(write_dicom(image, tmp_path / "a.dcm"))
    b = pydicom.dcmread(write_dicom(image, tmp_path / "b.dcm"))
    assert a.SOPInstanceUID != b.SOPInstanceUID
    assert a.SeriesInstanceUID != b.SeriesInstanceUID
    assert a.SOPInstanceUID.startswith("2.25.")


def test_uid_prefix_and_derivation_options(tmp_path: Path) -> None:
    from datetime import datetime

    image = load_series(pydicom_case(PYDICOM_CASES["CT_small"]))
    derivation = Derivation.from_model("two_stage", "sha256:abc", {"tile": 256})
    out = write_dicom(
        image,
        tmp_path / "o.dcm",
        derivation=derivation,
        uid_prefix="1.2.826.0.1.3680043.8.498.",
        timestamp=datetime(2026, 1, 2, 3, 4, 5),
    )
    ds = pydicom.dcmread(out)
    assert ds.SOPInstanceUID.startswith("1.2.826.0.1.3680043.8.498.")
    assert ds.DerivationDescription == derivation.description
    assert "two_stage sha256:abc" in ds.DerivationDescription
    assert (ds.SeriesDate, ds.ContentTime) == ("20260102", "030405.000000")
    assert ds.ContributingEquipmentSequence[-1].ContributionDateTime.startswith("20260102030405")
    with pytest.raises(InputError, match="prefix"):
        write_dicom(image, tmp_path / "p.dcm", uid_prefix="not a uid")


def test_private_tags_kept_or_stripped(tmp_path: Path) -> None:
    image = load_series(pydicom_case(PYDICOM_CASES["dicomdir_CR1_monochrome1"]))
    kept = pydicom.dcmread(write_dicom(image, tmp_path / "kept.dcm"))
    stripped = pydicom.dcmread(write_dicom(image, tmp_path / "gone.dcm", strip_private=True))
    source_private = [e.tag for e in image.source.datasets[0] if e.tag.is_private]
    assert source_private
    assert [e.tag for e in kept if e.tag.is_private] == source_private
    found: list[int] = []
    stripped.walk(lambda _ds, e: found.append(e.tag) if e.tag.is_private else None)
    assert found == []


def test_rgb_ybr_and_palette_sources_become_rgb(tmp_path: Path) -> None:
    for name in (
        "examples_rgb_color.dcm",
        "SC_ybr_full_422_uncompressed.dcm",
        "examples_palette.dcm",
    ):
        image = load_series([PYDICOM_FILES / name])
        out = write_dicom(image, tmp_path / name)
        if name == "examples_palette.dcm":
            # 16-bit table entries of 8-bit colours (v << 8) are stored as 8-bit RGB
            assert image.pixels.dtype == np.uint16
            image.pixels = (image.pixels >> 8).astype(np.uint8)
        (ds,) = assert_identity(image, out)
        assert ds.PhotometricInterpretation == "RGB"
        assert (ds.SamplesPerPixel, ds.PlanarConfiguration) == (3, 0)
        assert "RedPaletteColorLookupTableData" not in ds
        assert "RedPaletteColorLookupTableDescriptor" not in ds


def test_lossy_source_stays_lossy(tmp_path: Path) -> None:
    try:
        image = load_series([PYDICOM_FILES / "SC_rgb_jpeg_dcmtk.dcm"])
    except Exception as exc:
        pytest.skip(f"no JPEG decoder: {exc}")
    src = pydicom.dcmread(PYDICOM_FILES / "SC_rgb_jpeg_dcmtk.dcm", stop_before_pixels=True)
    del src.LossyImageCompression
    image.source.datasets[0] = src
    (ds,) = assert_identity(image, write_dicom(image, tmp_path / "o.dcm"))
    assert ds.LossyImageCompression == "01"
    assert ds.LossyImageCompressionMethod == "ISO_10918_1"
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian


def test_needs_a_dicom_source(tmp_path: Path) -> None:
    image = MedicalImage.from_array(np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(InputError, match="DICOM"):
        write_dicom(image, tmp_path / "o")


def test_frame_map_must_cover_every_frame(tmp_path: Path) -> None:
    image = load_series(pydicom_case(PYDICOM_CASES["dicomdir_CT2"]))
    image.source.frames[1] = (0, 0)
    with pytest.raises(InputError, match="repeats frame"):
        write_dicom(image, tmp_path / "o")
    image.source.frames[1] = (1, 1)
    with pytest.raises(InputError, match="lacks frames"):
        write_dicom(image, tmp_path / "o")
    assert list(tmp_path.iterdir()) == []


def test_pixels_must_fit_the_instances(tmp_path: Path) -> None:
    image = load_series(pydicom_case(PYDICOM_CASES["CT_small"]))
    small = MedicalImage(**{**image.__dict__, "pixels": image.pixels[:, :64, :64].copy()})
    with pytest.raises(InputError, match="frames are"):
        write_dicom(small, tmp_path / "o")
    assert list(tmp_path.iterdir()) == []


def test_no_warning_when_nothing_is_clipped(tmp_path: Path) -> None:
    image = load_series(pydicom_case(PYDICOM_CASES["CT_small"]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_dicom(image, tmp_path / "o")


def test_write_image_dispatches_to_the_dicom_writer(tmp_path: Path) -> None:
    from meddenoise.io import write_image

    image = load_series(pydicom_case(PYDICOM_CASES["dicomdir_CT2"]))
    out = write_image(image, tmp_path / "series", entropy="x")
    assert len(written_files(out)) == 4
