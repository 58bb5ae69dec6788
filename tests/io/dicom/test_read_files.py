"""read_dicom on real files: shape, dtype, photometric, modality, values as pydicom decodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_color_lut, convert_color_space, get_decoder

from meddenoise.image import MedicalImage
from meddenoise.io import read_image
from meddenoise.io.dicom.read import read_dicom
from meddenoise.io.dicom.source import DicomSource
from tests.io.dicom.synthetic import pydicom_file


def _expected(path: Path) -> np.ndarray:
    """pydicom's pixel_array as (N, H, W[, 3]) with palette colour applied."""
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    if ds.PhotometricInterpretation == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
    frames = int(ds.get("NumberOfFrames") or 1)
    return arr if frames > 1 else arr[None]


def _needs_decoder(path: Path) -> None:
    uid = pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
    if uid.is_compressed and not get_decoder(uid).is_available:
        pytest.skip(f"no decoder installed for {uid.name}")


@pytest.mark.parametrize(
    ("name", "shape", "dtype", "photometric", "modality"),
    [
        ("CT_small.dcm", (1, 128, 128), np.int16, "MONOCHROME2", "CT"),
        ("MR_small.dcm", (1, 64, 64), np.int16, "MONOCHROME2", "MR"),
        ("MR_small_RLE.dcm", (1, 64, 64), np.int16, "MONOCHROME2", "MR"),
        ("MR_small_jp2klossless.dcm", (1, 64, 64), np.int16, "MONOCHROME2", "MR"),
        ("MR_small_jpeg_ls_lossless.dcm", (1, 64, 64), np.int16, "MONOCHROME2", "MR"),
        ("SC_ybr_full_422_uncompressed.dcm", (1, 100, 100, 3), np.uint8, "RGB", "OT"),
        ("SC_rgb_rle_2frame.dcm", (2, 100, 100, 3), np.uint8, "RGB", "OT"),
        ("examples_ybr_color.dcm", (30, 240, 320, 3), np.uint8, "RGB", "US"),
        ("examples_palette.dcm", (1, 350, 800, 3), np.uint16, "RGB", "US"),
        ("ExplVR_BigEnd.dcm", (1, 60, 80, 3), np.uint8, "RGB", "US"),
        ("MR_small_bigendian.dcm", (1, 64, 64), np.int16, "MONOCHROME2", "MR"),
        ("J2K_pixelrep_mismatch.dcm", (1, 512, 512), np.int16, "MONOCHROME2", "CT"),
        ("examples_jpeg2k.dcm", (1, 480, 640, 3), np.uint8, "RGB", "US"),
        ("rtdose_rle.dcm", (15, 10, 10), np.uint32, "MONOCHROME2", "RTDOSE"),
    ],
)
def test_pydicom_files(
    name: str, shape: tuple[int, ...], dtype: type, photometric: str, modality: str
) -> None:
    path = pydicom_file(name)
    _needs_decoder(path)
    img = read_dicom(path)
    assert img.shape == shape
    assert img.pixels.dtype == dtype
    assert img.photometric == photometric
    assert img.modality == modality
    assert img.format == "dicom"
    np.testing.assert_array_equal(img.pixels, _expected(path))
    src = img.source
    assert isinstance(src, DicomSource)
    assert src.files == [path]
    assert src.frames == [(0, f) for f in range(shape[0])]
    assert "PixelData" not in src.datasets[0]
    assert src.datasets[0].file_meta.TransferSyntaxUID  # file meta kept for the writer


def test_ybr_is_converted_to_rgb() -> None:
    path = pydicom_file("SC_ybr_full_422_uncompressed.dcm")
    img = read_dicom(path)
    raw = pydicom.dcmread(path)
    raw.pixel_array_options(as_rgb=False)
    ybr = raw.pixel_array
    assert img.metadata["source_photometric"] == "YBR_FULL_422"
    assert img.source.datasets[0].PhotometricInterpretation == "YBR_FULL_422"
    assert not np.array_equal(img.pixels[0], ybr)  # stored YBR differs from RGB
    np.testing.assert_array_equal(img.pixels[0], convert_color_space(ybr, "YBR_FULL", "RGB"))
    assert img.value_range == (0.0, 255.0)


def test_ct_small_geometry_and_rescale() -> None:
    img = read_dicom(pydicom_file("CT_small.dcm"))
    assert img.slope.tolist() == [1.0]
    assert img.intercept.tolist() == [-1024.0]
    assert img.geometry is not None
    np.testing.assert_allclose(img.geometry.positions[0], [-158.135803, -179.035797, -75.7])
    assert img.geometry.pixel_spacing == (0.661468, 0.661468)
    assert img.geometry.slice_spacing is None


def test_693_signed_14_bits_with_padding(shared_data: Path) -> None:
    path = shared_data / "ct" / "693_UNCR.dcm"
    img = read_dicom(path)
    assert img.shape == (1, 512, 512)
    assert img.pixels.dtype == np.int16
    assert img.value_range == (-8192.0, 8191.0)
    assert img.padding_value == -2000.0
    assert img.intercept.tolist() == [-1024.0]
    assert img.modality == "CT"
    np.testing.assert_array_equal(img.pixels, _expected(path))
    assert (img.pixels == -2000).any()


def test_mr2_slope(shared_data: Path) -> None:
    path = shared_data / "mri" / "MR2_UNCR.dcm"
    img = read_dicom(path)
    assert img.shape == (1, 1024, 1024)
    assert img.pixels.dtype == np.uint16
    assert img.value_range == (0.0, 4095.0)
    assert img.slope[0] == pytest.approx(3.774114)
    assert img.modality == "MR"
    np.testing.assert_array_equal(img.pixels, _expected(path))


@pytest.mark.parametrize(("name", "bits"), [("RG1_UNCR.dcm", 15), ("RG3_UNCR.dcm", 10)])
def test_monochrome1_radiographs(shared_data: Path, name: str, bits: int) -> None:
    path = shared_data / "xray" / name
    img = read_dicom(path)
    assert img.photometric == "MONOCHROME1"
    assert img.modality == "CR"
    assert img.pixels.dtype == np.uint16
    assert img.value_range == (0.0, float(2**bits - 1))
    assert img.geometry is None
    np.testing.assert_array_equal(img.pixels, _expected(path))  # kept as stored


def test_rt_image(shared_data: Path) -> None:
    path = shared_data / "xray" / "RTImageStorage.dcm"
    img = read_dicom(path)
    assert (img.modality, img.shape, img.value_range) == ("RTIMAGE", (1, 1024, 1024), (0, 65535))
    np.testing.assert_array_equal(img.pixels, _expected(path))


@pytest.mark.parametrize("run", ["5_anat-T1w_acq-tfl", "6_anat-T1w_acq-tfl"])
def test_enhanced_mr_96_frames(shared_data: Path, run: str) -> None:
    (path,) = (shared_data / "mri" / "dcm_qa_xa30" / run).glob("*.dcm")
    img = read_dicom(path.parent)
    ds = pydicom.dcmread(path)
    assert img.shape == (96, 128, 128)
    assert img.pixels.dtype == np.uint16
    assert img.modality == "MR"
    assert img.value_range == (0.0, 4095.0)
    np.testing.assert_array_equal(img.pixels, ds.pixel_array)
    assert img.source.frames == [(0, f) for f in range(96)]
    per_frame = ds.PerFrameFunctionalGroupsSequence
    expected = [
        [float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient] for f in per_frame
    ]
    assert img.geometry is not None
    np.testing.assert_allclose(img.geometry.positions, expected)
    np.testing.assert_allclose(img.geometry.row_direction, [0, 1, 0], atol=1e-4)
    assert img.geometry.pixel_spacing == (2.0, 2.0)
    assert img.geometry.slice_spacing == pytest.approx(2.0)
    assert img.slope.tolist() == [1.0] * 96
    assert img.metadata["n_instances"] == 1
    assert img.metadata["sop_class"] == "Enhanced MR Image Storage"


def test_philips_series(shared_data: Path) -> None:
    folder = shared_data / "ct" / "philips_std_5mm"
    img = read_dicom(folder)
    assert img.shape == (28, 512, 512)
    assert img.pixels.dtype == np.uint16
    assert img.value_range == (0.0, 4095.0)
    assert img.metadata["series_description"] == "STD BRAIN 5MM"
    assert img.metadata["n_instances"] == 28
    assert img.geometry is not None
    assert img.geometry.slice_spacing == pytest.approx(5.0)
    z = img.geometry.positions[:, 2]
    assert np.all(np.diff(z) > 0)
    src = img.source
    for k in (0, 13, 27):
        file = src.files[k]
        np.testing.assert_array_equal(img.pixels[k], pydicom.dcmread(file).pixel_array)
        assert float(src.datasets[k].ImagePositionPatient[2]) == z[k]
    assert src.frames == [(k, 0) for k in range(28)]
    assert src.warnings == []


def test_read_image_dispatches_to_dicom(shared_data: Path) -> None:
    img = read_image(shared_data / "ct" / "philips_std_5mm")
    assert isinstance(img, MedicalImage)
    assert img.n_slices == 28
