"""Law a: through an identity model, every writer reproduces the input's stored values.

read_image -> to_model -> (identity) -> from_model -> write_image -> read_image, and the
stored pixel values of the result equal the input's exactly, with the same dtype.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from meddenoise.image import MedicalImage
from meddenoise.intensity import from_model, plan_mapping, to_model
from meddenoise.io import read_image, write_image

PYDICOM_FILES = Path(__import__("pydicom").__file__).parent / "data" / "test_files"
NIBABEL_FILES = Path(__import__("nibabel").__file__).parent / "tests" / "data"
DICOMDIR_SERIES = [
    "77654033/CR1",
    "77654033/CR2",
    "77654033/CR3",
    "77654033/CT2",
    "98892001/CT2N",
    "98892001/CT5N",
    "98892003/MR1",
    "98892003/MR2",
    "98892003/MR700",
]
COMPRESSED = ["MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm"]
SHARED_DICOM = [
    "ct/philips_std_5mm",
    "ct/693_UNCR.dcm",
    "mri/MR2_UNCR.dcm",
    "mri/MR-SIEMENS-DICOM-WithOverlays.dcm",
    "xray/RG1_UNCR.dcm",
    "xray/RG3_UNCR.dcm",
    "mri/dcm_qa_xa30/5_anat-T1w_acq-tfl",
    "mri/dcm_qa_xa30/6_anat-T1w_acq-tfl",
]
SHARED_OTHER = [
    ("ct/philips_std_1mm.nii.gz", "CT", ".nii.gz"),
    ("ct/philips_tilt_m18p5.nii.gz", "CT", ".nii.gz"),
    ("mri/S0_10slices.nii.gz", "MR", ".nii.gz"),
    ("mri/aniso_vox.nii.gz", "MR", ".nii.gz"),
    ("mri/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz", "MR", ".nii.gz"),
    ("ldct/fbp/dose_010/signal_absent/signal_absent.mhd", "CT", ".mha"),
    ("dermoscopy/ISIC_0000000.jpg", None, ".png"),
    ("microscopy/cell.png", None, ".png"),
    ("microscopy/img2d.tif", None, ".tif"),
]
NIBABEL = [
    "anatomical.nii",
    "example4d.nii.gz",
    "example_nifti2.nii.gz",
    "functional.nii",
    "standard.nii.gz",
]


def denoise_identity(image: MedicalImage, chunk: int = 7) -> MedicalImage:
    """What the engine does, with the identity as the model, chunk by chunk."""
    mapping = plan_mapping(image)
    out = np.empty_like(image.pixels)
    for start in range(0, image.n_slices, chunk):
        stop = start + chunk
        x, _ = to_model(image, mapping, start=start, stop=stop)
        out[start:stop], _ = from_model(x, image, mapping, start=start, stop=stop)
    return image.with_pixels(out)


def round_trip(
    source: Path, out: Path, modality: str | None = None, series_uid: str | None = None
) -> None:
    image = read_image(source, modality=modality, series_uid=series_uid)
    before = hash_tree(source)
    written = write_image(denoise_identity(image), out)
    again = read_image(written, modality=modality)
    assert again.pixels.dtype == image.pixels.dtype
    assert again.shape == image.shape
    np.testing.assert_array_equal(again.pixels, image.pixels)
    np.testing.assert_allclose(again.slope, image.slope)
    np.testing.assert_allclose(again.intercept, image.intercept)
    assert again.photometric == image.photometric
    assert hash_tree(source) == before  # the input is never changed


def hash_tree(path: Path) -> dict[str, int]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p): hash(p.read_bytes()) for p in files}


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm"])
def test_pydicom_single_files(tmp_path, name):
    round_trip(PYDICOM_FILES / name, tmp_path / "out")


@pytest.mark.parametrize("name", COMPRESSED)
def test_pydicom_compressed_variants(tmp_path, name):
    pytest.importorskip("pylibjpeg")
    pytest.importorskip("openjpeg")
    pytest.importorskip("rle")
    round_trip(PYDICOM_FILES / name, tmp_path / "out")


@pytest.mark.parametrize("series", DICOMDIR_SERIES)
def test_dicomdir_test_series(tmp_path, series):
    """Each series of each folder (some folders hold several series)."""
    import pydicom

    folder = PYDICOM_FILES / "dicomdirtests" / series
    uids = {pydicom.dcmread(f, stop_before_pixels=True).SeriesInstanceUID for f in folder.iterdir()}
    for k, uid in enumerate(sorted(uids)):
        round_trip(folder, tmp_path / f"out{k}", series_uid=uid)


@pytest.mark.parametrize("name", SHARED_DICOM)
def test_shared_dicom(tmp_path, shared_data, name):
    round_trip(shared_data / name, tmp_path / "out")


@pytest.mark.parametrize(("name", "modality", "suffix"), SHARED_OTHER)
def test_shared_nifti_metaimage_and_raster(tmp_path, shared_data, name, modality, suffix):
    round_trip(shared_data / name, tmp_path / f"out{suffix}", modality)


@pytest.mark.parametrize("name", NIBABEL)
def test_nibabel_test_files(tmp_path, name):
    path = NIBABEL_FILES / name
    if not path.exists():
        pytest.skip(f"{name} not in this nibabel")
    round_trip(path, tmp_path / ("out.nii.gz" if name.endswith(".gz") else "out.nii"))


@pytest.mark.parametrize(("suffix", "dtype"), [(".png", np.uint16), (".tif", np.uint16)])
def test_sixteen_bit_grey_raster(tmp_path, suffix, dtype):
    import tifffile
    from PIL import Image

    rng = np.random.default_rng(0)
    arr = rng.integers(0, 65536, size=(33, 47)).astype(dtype)
    source = tmp_path / f"in{suffix}"
    if suffix == ".tif":
        tifffile.imwrite(source, arr)
    else:
        Image.fromarray(arr).save(source)
    round_trip(source, tmp_path / f"out{suffix}")


def test_rgba_png_keeps_its_alpha(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    arr = rng.integers(0, 256, size=(20, 30, 4)).astype(np.uint8)
    source = tmp_path / "in.png"
    Image.fromarray(arr, mode="RGBA").save(source)
    round_trip(source, tmp_path / "out.png")
    back = np.asarray(Image.open(tmp_path / "out.png"))
    np.testing.assert_array_equal(back, arr)
