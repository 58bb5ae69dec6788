"""read_dicom on series: selection, geometric order, tilt, DICOMDIR, zip, duplicates, gaps."""

from __future__ import annotations

import math
import shutil
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest

from meddenoise.errors import InputError
from meddenoise.io.dicom.read import read_dicom
from tests.io.dicom.synthetic import PYDICOM_FILES, ct_dataset, write_series

DICOMDIR_TESTS = PYDICOM_FILES / "dicomdirtests"
CT_ROUTINE = "1.3.6.1.4.1.5962.1.1.0.0.0.1196530851.28319.0.2"
CR_LAT = "1.3.6.1.4.1.5962.1.1.0.0.0.1196527414.5534.0.10"
MR_PILOT = "1.3.6.1.4.1.5962.1.1.0.0.0.1196533885.18148.0.136"


def test_shuffled_file_names_read_in_geometric_order(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "ct" / "philips_std_5mm"
    files = sorted(source.iterdir())
    rng = np.random.default_rng(7)
    for k, i in enumerate(rng.permutation(len(files))):
        shutil.copy(files[i], tmp_path / f"x{k:02d}.dcm")
    img = read_dicom(tmp_path)
    ref = read_dicom(source)
    np.testing.assert_array_equal(img.pixels, ref.pixels)
    assert img.geometry is not None
    assert ref.geometry is not None
    np.testing.assert_allclose(img.geometry.positions, ref.geometry.positions)
    z = img.geometry.positions[:, 2]
    assert np.all(np.diff(z) == pytest.approx(5.0))
    for k in range(len(files)):  # each slice comes from the file it is mapped to
        assert float(pydicom.dcmread(img.source.files[k]).ImagePositionPatient[2]) == z[k]


def _sitk_read(folder: Path) -> tuple[object, np.ndarray]:
    sitk = pytest.importorskip("SimpleITK")
    names = sitk.ImageSeriesReader_GetGDCMSeriesFileNames(str(folder))
    image = sitk.ReadImage(names)
    return image, sitk.GetArrayFromImage(image)


def test_geometry_agrees_with_simpleitk(shared_data: Path) -> None:
    folder = shared_data / "ct" / "philips_std_5mm"
    img = read_dicom(folder)
    ref, arr = _sitk_read(folder)
    g = img.geometry
    assert g is not None
    np.testing.assert_allclose(g.positions[0], ref.GetOrigin(), atol=1e-4)  # type: ignore[attr-defined]
    np.testing.assert_allclose(g.direction.ravel(), ref.GetDirection(), atol=1e-4)  # type: ignore[attr-defined]
    spacing = ref.GetSpacing()  # type: ignore[attr-defined]
    np.testing.assert_allclose([*g.pixel_spacing[::-1], g.slice_spacing], spacing, atol=1e-4)
    np.testing.assert_array_equal(img.physical(), arr)  # same slice order, same HU


def test_gantry_tilt_against_simpleitk(shared_data: Path, tmp_path: Path) -> None:
    """Tilt the 5 mm series by 18.5 deg: IOP tilted about x, positions still stepping in z.

    SimpleITK reports the same origin, direction and in-plane spacing, but its slice
    spacing is the distance between slice origins (5 mm) while ours is measured along
    the normal (5 mm x cos 18.5 deg); SimpleITK does not resample, so pixels agree.
    """
    tilt = math.radians(18.5)
    for file in (shared_data / "ct" / "philips_std_5mm").iterdir():
        ds = pydicom.dcmread(file)
        ds.ImageOrientationPatient = [1, 0, 0, 0, math.cos(tilt), math.sin(tilt)]
        ds.save_as(tmp_path / file.name)
    img = read_dicom(tmp_path)
    ref, arr = _sitk_read(tmp_path)
    g = img.geometry
    assert g is not None
    np.testing.assert_allclose(g.positions[0], ref.GetOrigin(), atol=1e-4)  # type: ignore[attr-defined]
    np.testing.assert_allclose(g.direction.ravel(), ref.GetDirection(), atol=1e-4)  # type: ignore[attr-defined]
    sx, sy, sz = ref.GetSpacing()  # type: ignore[attr-defined]
    assert g.pixel_spacing == pytest.approx((sy, sx), abs=1e-4)
    assert sz == pytest.approx(float(np.linalg.norm(g.positions[1] - g.positions[0])), abs=1e-4)
    assert g.slice_spacing == pytest.approx(5.0 * math.cos(tilt), abs=1e-4)
    np.testing.assert_array_equal(img.physical(), arr)
    assert any("gantry tilt about 18.50 deg" in w for w in img.source.warnings)


def test_dicomdir_and_folder_give_the_same_series() -> None:
    via_dir = read_dicom(DICOMDIR_TESTS / "DICOMDIR", series_uid=CT_ROUTINE)
    via_folder = read_dicom(DICOMDIR_TESTS, series_uid=CT_ROUTINE)
    assert via_dir.shape == via_folder.shape == (4, 16, 16)
    np.testing.assert_array_equal(via_dir.pixels, via_folder.pixels)
    assert via_dir.source.files == via_folder.source.files
    z = [float(pydicom.dcmread(f).ImagePositionPatient[2]) for f in via_dir.source.files]
    assert z == pytest.approx([-99.48, 103.02, 104.27, 105.52])
    for k, f in enumerate(via_dir.source.files):
        np.testing.assert_array_equal(via_dir.pixels[k], pydicom.dcmread(f).pixel_array)
    assert via_dir.modality == "CT"
    assert via_dir.pixels.dtype == np.int16
    assert any("uneven slice spacing" in w and "202.5 mm" in w for w in via_dir.source.warnings)


_SERIES = {  # the 13 series of pydicom's dicomdirtests: UID suffix -> modality, slices
    "1194734704.16302.0.2": ("CT", 2),
    "1194734704.16302.0.6": ("CT", 5),
    "1196527414.5534.0.10": ("CR", 1),
    "1196527414.5534.0.6": ("CR", 1),
    "1196527414.5534.0.8": ("CR", 1),
    "1196530851.28319.0.2": ("CT", 4),
    "1196533885.18148.0.118": ("MR", 7),
    "1196533885.18148.0.134": ("MR", 1),
    "1196533885.18148.0.136": ("MR", 3),
    "1196533885.18148.0.15": ("MR", 1),
    "1196533885.18148.0.17": ("MR", 3),
    "1196533885.18148.0.475": ("MR", 1),
    "1196533885.18148.0.481": ("MR", 1),
}


@pytest.mark.parametrize("suffix", sorted(_SERIES))
def test_every_dicomdir_series_via_dicomdir_and_folder(suffix: str) -> None:
    uid = f"1.3.6.1.4.1.5962.1.1.0.0.0.{suffix}"
    modality, n = _SERIES[suffix]
    via_dir = read_dicom(DICOMDIR_TESTS / "DICOMDIR", series_uid=uid)
    via_folder = read_dicom(DICOMDIR_TESTS, series_uid=uid)
    assert via_dir.shape == via_folder.shape == (n, 16, 16)
    assert via_dir.modality == modality
    assert via_dir.photometric == ("MONOCHROME1" if modality == "CR" else "MONOCHROME2")
    np.testing.assert_array_equal(via_dir.pixels, via_folder.pixels)
    assert via_dir.source.files == via_folder.source.files
    assert via_dir.source.warnings == via_folder.source.warnings
    for k, file in enumerate(via_dir.source.files):
        ds = pydicom.dcmread(file)
        assert ds.SeriesInstanceUID == uid
        np.testing.assert_array_equal(via_dir.pixels[k], ds.pixel_array)
        assert via_dir.slope[k] == float(ds.get("RescaleSlope", 1))


@pytest.mark.parametrize("where", ["DICOMDIR", "."])
def test_monochrome1_cr_from_dicomdir(where: str) -> None:
    img = read_dicom(DICOMDIR_TESTS / where, series_uid=CR_LAT)
    (file,) = img.source.files
    assert img.photometric == "MONOCHROME1"
    assert img.modality == "CR"
    assert img.value_range == (0.0, 4095.0)
    assert img.slope[0] == pytest.approx(0.684)
    np.testing.assert_array_equal(img.pixels[0], pydicom.dcmread(file).pixel_array)


def test_mr_localizer_with_three_orientations_is_a_2d_stack() -> None:
    img = read_dicom(DICOMDIR_TESTS / "DICOMDIR", series_uid=MR_PILOT)
    assert img.shape == (3, 16, 16)
    assert img.geometry is None
    numbers = [int(ds.InstanceNumber) for ds in img.source.datasets]
    assert numbers == [1, 2, 3]
    assert any("3 different orientations" in w for w in img.source.warnings)


def test_several_series_are_listed_on_one_line(tmp_path: Path) -> None:
    uid_a, stack_a = write_series(tmp_path / "a", [0, 2, 4], description="HEAD")
    uid_b, _ = write_series(tmp_path / "b", [0, 3], description="NECK", seed=1)
    with pytest.raises(InputError) as err:
        read_dicom(tmp_path)
    text = str(err.value)
    assert "\n" not in text
    assert "folder holds 2 series; choose one with series_uid" in text
    assert f"{uid_a} (CT, 3 instances)" in text
    assert f"{uid_b} (CT, 2 instances)" in text
    assert "HEAD" not in text  # nor free text that may name the patient
    assert "Secret" not in text  # never the patient
    assert "PID-12345" not in text
    img = read_dicom(tmp_path, series_uid=uid_a)
    np.testing.assert_array_equal(img.pixels, stack_a)
    assert img.source.series_uid == uid_a
    with pytest.raises(InputError, match=r"holds no series 1\.2\.3; it holds: "):
        read_dicom(tmp_path, series_uid="1.2.3")


def test_metadata_is_descriptive_only(tmp_path: Path) -> None:
    write_series(tmp_path, [0, 1])
    img = read_dicom(tmp_path)
    assert img.metadata["series_description"] == "SYNTH"
    assert img.metadata["n_instances"] == 2
    text = repr(img.metadata)
    assert "Secret" not in text
    assert "PID-12345" not in text


def test_zip_file(tmp_path: Path) -> None:
    uid, stack = write_series(tmp_path / "series", [4, 0, 2])
    archive = tmp_path / "series.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for k in range(3):
            zf.write(tmp_path / "series" / f"s{k}.dcm", f"study/s{k}.dcm")
        zf.writestr("study/README.txt", "not DICOM")
        zf.write(tmp_path / "series" / "s0.dcm", "../../escape.dcm")
        zf.writestr("study/sub/", "")
    img = read_dicom(archive)
    np.testing.assert_array_equal(img.pixels, stack[[1, 2, 0]])
    assert img.geometry is not None
    assert img.geometry.positions[:, 2].tolist() == [0, 2, 4]
    assert img.source.series_uid == uid
    assert all(archive in f.parents for f in img.source.files)  # names stay inside the zip
    assert any("repeat an instance" in w for w in img.source.warnings)  # the escaping copy
    assert not (tmp_path.parent / "escape.dcm").exists()


def test_duplicate_positions_are_an_error(tmp_path: Path) -> None:
    write_series(tmp_path, [0, 2, 2, 4])
    with pytest.raises(InputError, match=r"1 pair\(s\) of slices share a position.*2\.000 mm"):
        read_dicom(tmp_path)


def test_same_instance_twice_is_read_once(tmp_path: Path) -> None:
    _, stack = write_series(tmp_path, [0, 2, 4])
    shutil.copy(tmp_path / "s1.dcm", tmp_path / "s1_copy.dcm")
    img = read_dicom(tmp_path)
    np.testing.assert_array_equal(img.pixels, stack)
    assert any("1 file(s) repeat an instance" in w for w in img.source.warnings)


def test_gap_is_a_warning(tmp_path: Path) -> None:
    _, stack = write_series(tmp_path, [0, 2, 4, 10, 12])
    img = read_dicom(tmp_path)
    np.testing.assert_array_equal(img.pixels, stack)
    (warning,) = img.source.warnings
    assert "1 of 4 steps differ from the median 2 mm" in warning
    assert "6 mm between slices 2 and 3" in warning


def test_missing_positions_sort_by_instance_number(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    stack = rng.integers(0, 4000, size=(3, 4, 4), dtype=np.uint16)
    uid = pydicom.uid.generate_uid()
    for k, number in enumerate([3, 1, 2]):
        ds = ct_dataset(stack[k], series_uid=uid, position=None, instance=number)
        ds.save_as(tmp_path / f"f{k}.dcm", enforce_file_format=True)
    img = read_dicom(tmp_path)
    assert img.geometry is None
    np.testing.assert_array_equal(img.pixels, stack[[1, 2, 0]])
    assert [int(ds.InstanceNumber) for ds in img.source.datasets] == [1, 2, 3]
    assert any("lack ImagePositionPatient" in w for w in img.source.warnings)


def test_differing_sizes_are_an_error(tmp_path: Path) -> None:
    uid, _ = write_series(tmp_path, [0, 2])
    ds = ct_dataset(np.zeros((5, 5), np.uint16), series_uid=uid, position=(0, 0, 4), instance=3)
    ds.save_as(tmp_path / "odd.dcm", enforce_file_format=True)
    with pytest.raises(InputError, match=r"mixes image sizes") as err:
        read_dicom(tmp_path)
    assert "5x5 (e.g. " in str(err.value)
    assert "odd.dcm)" in str(err.value)
    assert "8x6 (e.g. " in str(err.value)


def test_per_slice_rescale(tmp_path: Path) -> None:
    uid = pydicom.uid.generate_uid()
    for k, slope in enumerate([1.0, 2.5, 0.5]):
        px = np.full((4, 4), k, np.uint16)
        ds = ct_dataset(px, series_uid=uid, position=(0, 0, -k), slope=slope, intercept=k)
        ds.save_as(tmp_path / f"f{k}.dcm", enforce_file_format=True)
    img = read_dicom(tmp_path)
    assert img.slope.tolist() == [0.5, 2.5, 1.0]  # sorted along +z
    assert img.intercept.tolist() == [2.0, 1.0, 0.0]
    assert img.pixels[:, 0, 0].tolist() == [2, 1, 0]


def test_modality_hint_when_the_file_has_none(tmp_path: Path) -> None:
    ds = ct_dataset(np.zeros((4, 4), np.uint16), series_uid="1.2.3.4")
    del ds.Modality
    ds.save_as(tmp_path / "a.dcm", enforce_file_format=True)
    assert read_dicom(tmp_path / "a.dcm", modality="DX").modality == "DX"
    assert read_dicom(tmp_path / "a.dcm").modality == "OT"
    ds.Modality = "CT"
    ds.save_as(tmp_path / "a.dcm", enforce_file_format=True)
    assert read_dicom(tmp_path / "a.dcm", modality="DX").modality == "CT"


def test_memory_is_one_stored_dtype_volume(tmp_path: Path) -> None:
    n, shape = 40, (256, 256)
    write_series(tmp_path, [float(k) for k in range(n)], shape=shape)
    tracemalloc.start()
    try:
        img = read_dicom(tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    volume = n * shape[0] * shape[1] * 2
    assert img.pixels.dtype == np.uint16
    assert img.pixels.nbytes == volume
    # one stored-dtype volume plus headers (~50 kB per instance); float64 alone is 4x
    assert peak < 1.5 * volume + 100_000 * n
