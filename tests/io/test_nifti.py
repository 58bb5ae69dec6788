from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from meddenoise.errors import InputError
from meddenoise.image import Geometry, MedicalImage
from meddenoise.io.nifti import NiftiSource, read_nifti, write_nifti

NIBABEL_DATA = Path(nib.__file__).parent / "tests" / "data"
NIBABEL_FILES = [
    "anatomical.nii",
    "example4d.nii.gz",
    "example_nifti2.nii.gz",
    "functional.nii",
    "standard.nii.gz",
    "reoriented_anat_moved.nii",
]
SHARED_FILES = [
    "ct/philips_std_1mm.nii.gz",
    "ct/philips_bone_1mm.nii.gz",
    "ct/philips_tilt_m18p5.nii.gz",
    "ct/philips_tilt_p16p5.nii.gz",
    "mri/S0_10slices.nii.gz",
    "mri/aniso_vox.nii.gz",
    "mri/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
]
FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])
# An oblique, sheared affine (gantry-tilt-like) and a different orthonormal qform.
SHEARED = np.array(
    [
        [-0.8, 0.0, 0.0, 90.0],
        [0.0, -0.75, 0.0, 110.0],
        [0.0, -0.25, 2.5, -40.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
)
OBLIQUE = np.array(
    [
        [0.7 * np.cos(0.3), -0.9 * np.sin(0.3), 0.0, -20.0],
        [0.7 * np.sin(0.3), 0.9 * np.cos(0.3), 0.0, 35.0],
        [0.0, 0.0, 2.0, 12.5],
        [0.0, 0.0, 0.0, 1.0],
    ]
)


def raw_header(path: Path) -> nib.Nifti1Header:
    """The header as stored on disk (nibabel's loaded header drops the scaling)."""
    klass = type(nib.load(path).header)
    with nib.openers.ImageOpener(path) as handle:
        return klass.from_fileobj(handle)


def unscaled(path: Path) -> np.ndarray:
    return np.asarray(nib.load(path).dataobj.get_unscaled())


def make_nifti(
    path: Path,
    shape: tuple[int, ...],
    dtype: str,
    *,
    slope: float | None = None,
    inter: float | None = None,
    version: int = 1,
) -> np.ndarray:
    rng = np.random.default_rng(sum(shape))
    if np.dtype(dtype).kind == "f":
        data = rng.normal(100.0, 30.0, shape).astype(dtype)
    else:
        data = rng.integers(-1000, 3000, shape).astype(dtype)
    klass = nib.Nifti2Image if version == 2 else nib.Nifti1Image
    img = klass(data, SHEARED, dtype=dtype)
    img.set_sform(SHEARED, code="scanner")
    img.set_qform(OBLIQUE, code="aligned")
    img.header.set_xyzt_units("mm", "sec")
    if slope is not None:
        img.header.set_slope_inter(slope, inter)
    nib.save(img, path)
    return data


def assert_identity_round_trip(src: Path, tmp_path: Path) -> None:
    first = read_nifti(src)
    out = tmp_path / ("out.nii.gz" if src.name.endswith(".gz") else "out.nii")
    assert write_nifti(first, out) == out
    second = read_nifti(out)
    assert second.pixels.dtype == first.pixels.dtype
    assert np.array_equal(second.pixels, first.pixels)
    assert np.array_equal(unscaled(out), unscaled(src))
    assert nib.load(out).get_data_dtype() == nib.load(src).get_data_dtype()
    assert np.array_equal(second.slope, first.slope)
    assert np.array_equal(second.intercept, first.intercept)
    before, after = raw_header(src), raw_header(out)
    for key in before:
        if key == "vox_offset":
            continue
        assert np.array_equal(before[key], after[key], equal_nan=before[key].dtype.kind == "f"), key


CASES = [
    ((7, 5), "int16", 0.5, -10.0, 1),
    ((7, 5, 4), "int16", 0.25, 3.0, 1),
    ((6, 5, 4, 3), "int16", 2.0, -1024.0, 1),
    ((7, 5, 4), "float32", None, None, 1),
    ((6, 5, 4, 2), "float32", None, None, 2),
    ((7, 5, 4), "uint8", None, None, 2),
]


@pytest.mark.parametrize(("shape", "dtype", "slope", "inter", "version"), CASES)
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_generated_round_trip_keeps_stored_values_and_header(
    tmp_path, shape, dtype, slope, inter, version, suffix
):
    src = tmp_path / f"in{suffix}"
    data = make_nifti(src, shape, dtype, slope=slope, inter=inter, version=version)
    image = read_nifti(src)
    assert image.pixels.dtype == np.dtype(dtype)
    assert image.slope[0] == (slope or 1.0)
    assert image.intercept[0] == (inter or 0.0)
    assert isinstance(image.source, NiftiSource)
    assert image.source.version == version
    assert image.source.shape == shape
    assert image.source.sform_code == 1
    assert image.source.qform_code == 2
    assert np.array_equal(unscaled(src), data)
    assert_identity_round_trip(src, tmp_path)


def test_slices_follow_the_documented_axes(tmp_path):
    src = tmp_path / "4d.nii"
    data = make_nifti(src, (6, 5, 4, 3), "int16")
    image = read_nifti(src)
    assert image.shape == (12, 5, 6)
    for t in range(3):
        for z in range(4):
            assert np.array_equal(image.pixels[t * 4 + z], data[:, :, z, t].T)
    assert image.photometric == "MONOCHROME2"
    assert image.value_range == (-32768.0, 32767.0)
    assert image.modality == "OT"
    assert read_nifti(src, modality="MR").modality == "MR"
    flat = tmp_path / "2d.nii"
    data2 = make_nifti(flat, (7, 5), "int16")
    image2 = read_nifti(flat)
    assert image2.shape == (1, 5, 7)
    assert np.array_equal(image2.pixels[0], data2.T)


def test_three_load_save_cycles_keep_the_scaling(tmp_path):
    src = tmp_path / "c0.nii.gz"
    data = make_nifti(src, (5, 4, 3), "int16", slope=0.07540697, inter=3100.7617)
    scl = raw_header(src)["scl_slope"], raw_header(src)["scl_inter"]
    path = src
    for cycle in range(1, 4):
        out = tmp_path / f"c{cycle}.nii.gz"
        write_nifti(read_nifti(path), out)
        path = out
    header = raw_header(path)
    assert (header["scl_slope"], header["scl_inter"]) == scl
    assert np.array_equal(unscaled(path), data)
    assert np.array_equal(nib.load(path).get_fdata(), nib.load(src).get_fdata())
    assert np.array_equal(nib.load(path).header.get_sform(), nib.load(src).header.get_sform())
    assert np.array_equal(nib.load(path).header.get_qform(), nib.load(src).header.get_qform())


@pytest.mark.parametrize("name", SHARED_FILES)
def test_shared_data_round_trip(shared_data, tmp_path, name):
    src = shared_data / name
    if not src.is_file():
        pytest.skip(f"{name} is not in the shared data")
    assert_identity_round_trip(src, tmp_path)


def test_every_shared_nifti_is_in_the_round_trip_list(shared_data):
    present = {str(p.relative_to(shared_data)) for p in shared_data.glob("*/*.nii*")}
    assert present <= set(SHARED_FILES)


def test_shared_4d_volume_gives_one_slice_per_z(shared_data):
    src = shared_data / "mri" / "S0_10slices.nii.gz"
    if not src.is_file():
        pytest.skip("S0_10slices.nii.gz is not in the shared data")
    image = read_nifti(src)
    assert image.shape == (10, 128, 128)
    assert image.source.shape == (128, 128, 10, 1)
    assert image.pixels.dtype == np.uint16


@pytest.mark.parametrize("name", NIBABEL_FILES)
def test_nibabel_test_files_round_trip(tmp_path, name):
    src = NIBABEL_DATA / name
    if not src.is_file():
        pytest.skip(f"nibabel does not ship {name}")
    assert_identity_round_trip(src, tmp_path)


def lps_position(affine_ras: np.ndarray, k: int) -> np.ndarray:
    return (FLIP @ affine_ras @ np.array([0.0, 0.0, k, 1.0]))[:3]


def test_tilted_ct_geometry_follows_the_sform(shared_data):
    src = shared_data / "ct" / "philips_tilt_m18p5.nii.gz"
    if not src.is_file():
        pytest.skip("philips_tilt_m18p5.nii.gz is not in the shared data")
    image = read_nifti(src)
    sform = nib.load(src).header.get_sform()
    qform = nib.load(src).header.get_qform()
    geometry = image.geometry
    assert geometry is not None
    assert geometry.positions.shape == (54, 3)
    for k in (0, 1, 27, 53):
        np.testing.assert_allclose(geometry.positions[k], lps_position(sform, k), atol=1e-6)
    # The qform is the orthonormal approximation: it is off by the shear away from slice 0.
    assert np.linalg.norm(geometry.positions[53] - lps_position(qform, 53)) > 1.0
    lps = FLIP @ sform
    np.testing.assert_allclose(
        geometry.row_direction, lps[:3, 0] / np.linalg.norm(lps[:3, 0]), atol=1e-9
    )
    np.testing.assert_allclose(
        geometry.column_direction, lps[:3, 1] / np.linalg.norm(lps[:3, 1]), atol=1e-9
    )
    np.testing.assert_allclose(geometry.pixel_spacing, (0.4824219, 0.4824219), atol=1e-6)
    # The tilt: rows run from posterior towards inferior-anterior by 18.5 degrees.
    tilt = np.degrees(np.arcsin(abs(geometry.column_direction[2])))
    assert tilt == pytest.approx(18.5, abs=0.1)


def test_sheared_generated_geometry_follows_the_sform(tmp_path):
    src = tmp_path / "sheared.nii.gz"
    make_nifti(src, (6, 5, 4), "int16")
    geometry = read_nifti(src).geometry
    assert geometry is not None
    for k in range(4):
        np.testing.assert_allclose(geometry.positions[k], lps_position(SHEARED, k), atol=1e-5)
    np.testing.assert_allclose(geometry.row_direction, [1.0, 0.0, 0.0], atol=1e-7)
    np.testing.assert_allclose(geometry.pixel_spacing, (np.hypot(0.75, 0.25), 0.8), atol=1e-6)


def sitk_matches(path: Path, geometry: Geometry) -> None:
    sitk = pytest.importorskip("SimpleITK")
    ref = sitk.ReadImage(str(path))
    np.testing.assert_allclose(geometry.positions[0], ref.GetOrigin(), atol=1e-4)
    sx, sy, sz = ref.GetSpacing()
    np.testing.assert_allclose(geometry.pixel_spacing, (sy, sx), atol=1e-4)
    assert geometry.slice_spacing == pytest.approx(sz, abs=1e-4)
    direction = np.array(ref.GetDirection()).reshape(3, 3)
    np.testing.assert_allclose(geometry.direction, direction, atol=1e-4)


def test_oblique_geometry_agrees_with_simpleitk(tmp_path):
    src = tmp_path / "oblique.nii.gz"
    data = np.arange(6 * 5 * 4, dtype=np.int16).reshape(6, 5, 4)
    img = nib.Nifti1Image(data, OBLIQUE)
    img.set_qform(OBLIQUE, code="scanner")
    img.set_sform(OBLIQUE, code="scanner")
    nib.save(img, src)
    image = read_nifti(src)
    assert image.geometry is not None
    sitk_matches(src, image.geometry)


def test_shared_ct_geometry_agrees_with_simpleitk(shared_data):
    src = shared_data / "ct" / "philips_std_1mm.nii.gz"
    if not src.is_file():
        pytest.skip("philips_std_1mm.nii.gz is not in the shared data")
    image = read_nifti(src)
    assert image.geometry is not None
    sitk_matches(src, image.geometry)


def test_image_from_another_format_gets_its_geometry_and_scaling(tmp_path):
    pixels = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5)
    row, col = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, -1.0])
    positions = np.array([[-10.0 + 3.0 * k, 20.0, 30.0] for k in range(3)])
    image = MedicalImage.from_array(pixels, modality="CT", slope=1.0, intercept=-1024.0)
    image.geometry = Geometry(positions, row, col, (0.7, 0.5))
    out = write_nifti(image, tmp_path / "from_dicom.nii.gz")
    back = read_nifti(out)
    assert back.pixels.dtype == np.uint16
    assert np.array_equal(back.pixels, pixels)
    assert np.array_equal(back.intercept, [-1024.0] * 3)
    assert back.geometry is not None
    np.testing.assert_allclose(back.geometry.positions, positions, atol=1e-4)
    np.testing.assert_allclose(back.geometry.row_direction, row, atol=1e-6)
    np.testing.assert_allclose(back.geometry.column_direction, col, atol=1e-6)
    np.testing.assert_allclose(back.geometry.pixel_spacing, (0.7, 0.5), atol=1e-6)
    header = nib.load(out).header
    assert int(header["sform_code"]) == 1
    assert int(header["qform_code"]) == 1


def test_per_slice_scaling_is_written_as_physical_float32(tmp_path):
    pixels = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    image = MedicalImage.from_array(pixels)
    image.slope = np.array([1.0, 2.0])
    image.intercept = np.array([0.0, -5.0])
    back = read_nifti(write_nifti(image, tmp_path / "phys.nii"))
    assert back.pixels.dtype == np.float32
    assert np.array_equal(back.pixels, image.physical().astype(np.float32))
    assert back.geometry is not None
    np.testing.assert_allclose(back.geometry.positions[1], [0.0, 0.0, 1.0])


def test_colour_images_are_refused(tmp_path):
    image = MedicalImage.from_array(np.zeros((4, 5, 3), dtype=np.uint8))
    with pytest.raises(InputError, match="colour"):
        write_nifti(image, tmp_path / "rgb.nii")
    assert list(tmp_path.iterdir()) == []


def test_rgb24_nifti_is_refused(tmp_path):
    rgb = np.zeros((4, 3, 2), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    src = tmp_path / "rgb24.nii"
    nib.save(nib.Nifti1Image(rgb, np.eye(4)), src)
    with pytest.raises(InputError, match=r"rgb24\.nii.*not supported"):
        read_nifti(src)


def test_existing_output_is_kept_without_overwrite(tmp_path):
    src = tmp_path / "in.nii"
    make_nifti(src, (4, 3, 2), "int16")
    image = read_nifti(src)
    out = tmp_path / "out.nii"
    out.write_bytes(b"keep me")
    with pytest.raises(InputError, match="already exists"):
        write_nifti(image, out)
    assert out.read_bytes() == b"keep me"
    write_nifti(image, out, overwrite=True)
    assert np.array_equal(read_nifti(out).pixels, image.pixels)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.nii", "out.nii"]


def test_wrong_output_suffix_is_refused(tmp_path):
    image = MedicalImage.from_array(np.zeros((4, 5), dtype=np.int16))
    with pytest.raises(InputError, match=r"\.nii"):
        write_nifti(image, tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []


def truncate(src: Path, dst: Path, keep: float) -> Path:
    content = src.read_bytes()
    dst.write_bytes(content[: int(len(content) * keep)])
    return dst


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("keep", [0.1, 0.6, 0.99])
def test_truncated_files_raise_input_error_naming_the_file(tmp_path, suffix, keep):
    src = tmp_path / f"whole{suffix}"
    make_nifti(src, (40, 30, 20), "float32")
    bad = truncate(src, tmp_path / f"broken{suffix}", keep)
    with pytest.raises(InputError, match=r"broken\.nii") as info:
        read_nifti(bad)
    assert "\n" not in str(info.value)


def test_empty_and_garbage_files_raise_input_error(tmp_path):
    empty = tmp_path / "empty.nii"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.nii: empty file"):
        read_nifti(empty)
    garbage = tmp_path / "garbage.nii"
    garbage.write_bytes(b"not a nifti " * 100)
    with pytest.raises(InputError, match=r"garbage\.nii"):
        read_nifti(garbage)
    with pytest.raises(InputError, match="no such file"):
        read_nifti(tmp_path / "missing.nii")


@pytest.mark.parametrize(("value", "word"), [(np.nan, "NaN"), (np.inf, "Inf"), (-np.inf, "Inf")])
def test_non_finite_voxels_raise_input_error(tmp_path, value, word):
    data = np.ones((5, 4, 3), dtype=np.float32)
    data[2, 1, 2] = value
    src = tmp_path / "bad_values.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), src)
    with pytest.raises(InputError, match=rf"{word} in .*bad_values\.nii\.gz.*slice 2"):
        read_nifti(src)


def test_nibabel_file_with_nan_is_refused():
    src = NIBABEL_DATA / "resampled_anat_moved.nii"
    if not src.is_file():
        pytest.skip("nibabel does not ship resampled_anat_moved.nii")
    with pytest.raises(InputError, match="NaN in"):
        read_nifti(src)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_huge_declared_dimensions_are_refused_before_allocation(tmp_path, suffix):
    src = tmp_path / f"huge{suffix}"
    img = nib.Nifti1Image(np.zeros((4, 4, 4), dtype=np.int16), np.eye(4))
    img.header.set_data_shape((30000, 30000, 30000))  # 54 TB declared, a few bytes stored
    with nib.openers.ImageOpener(src, "wb") as handle:
        img.header.write_to(handle)
        handle.write(np.zeros(64, dtype=np.int16).tobytes())
    with pytest.raises(InputError, match=r"huge\.nii.*header declares 54000000000\d* bytes"):
        read_nifti(src)
