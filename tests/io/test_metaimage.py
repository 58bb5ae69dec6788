from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813

from meddenoise.errors import InputError
from meddenoise.image import Geometry, MedicalImage
from meddenoise.io.metaimage import MetaImageSource, read_metaimage, write_metaimage

LDCT = [
    "ldct/fbp/dose_010/signal_absent/signal_absent.mhd",
    "ldct/fbp/dose_055/signal_present/signal_present.mhd",
    "ldct/fbp/ground_truth.mhd",
    "ldct/additional_demos/ground_truth.mhd",
]
# A rotation about z by 0.4 rad: an oblique but orthonormal ITK direction (columns = axes).
C, S = np.cos(0.4), np.sin(0.4)
DIRECTION = (C, -S, 0.0, S, C, 0.0, 0.0, 0.0, 1.0)


def make_mhd(path: Path, array: np.ndarray, **options: object) -> np.ndarray:
    img = sitk.GetImageFromArray(array, isVector=array.ndim == 4)
    img.SetSpacing((0.7, 0.9, 2.5))
    img.SetOrigin((-12.0, 30.5, 100.0))
    img.SetDirection(DIRECTION)
    sitk.WriteImage(img, str(path), **options)
    return array


def volume(dtype: str = "int16", shape: tuple[int, ...] = (4, 5, 6)) -> np.ndarray:
    rng = np.random.default_rng(7)
    if np.dtype(dtype).kind == "f":
        return rng.normal(0.0, 50.0, shape).astype(dtype)
    return rng.integers(0, 3000, shape).astype(dtype)


@pytest.mark.parametrize("name", LDCT)
@pytest.mark.parametrize("suffix", [".mhd", ".mha"])
def test_ldct_round_trip_is_identical(shared_data, tmp_path, name, suffix):
    src = shared_data / name
    if not src.is_file():
        pytest.skip(f"{name} is not in the shared data")
    first = read_metaimage(src, modality="CT")
    out = write_metaimage(first, tmp_path / f"out{suffix}")
    second = read_metaimage(out)
    assert second.pixels.dtype == first.pixels.dtype
    assert np.array_equal(second.pixels, first.pixels)
    ref = sitk.ReadImage(str(src))
    assert np.array_equal(
        sitk.GetArrayFromImage(sitk.ReadImage(str(out))), sitk.GetArrayFromImage(ref)
    )
    assert second.source.spacing == first.source.spacing
    assert second.source.origin == first.source.origin
    assert second.source.direction == first.source.direction
    expected = {".mhd": ["out.mhd", "out.raw"], ".mha": ["out.mha"]}[suffix]
    assert sorted(p.name for p in tmp_path.iterdir()) == expected


def test_every_ldct_file_round_trips_through_mha(shared_data, tmp_path):
    files = sorted(shared_data.glob("ldct/**/*.mhd"))
    if not files:
        pytest.skip("ldct data are not in the shared data")
    for k, src in enumerate(files):
        first = read_metaimage(src)
        second = read_metaimage(write_metaimage(first, tmp_path / f"{k}.mha"))
        assert second.pixels.dtype == first.pixels.dtype
        assert np.array_equal(second.pixels, first.pixels), src


def test_ldct_stack_of_ten_raw_files(shared_data):
    src = shared_data / LDCT[0]
    if not src.is_file():
        pytest.skip("ldct data are not in the shared data")
    image = read_metaimage(src, modality="CT")
    assert image.shape == (10, 256, 256)
    assert image.pixels.dtype == np.int16
    assert image.modality == "CT"
    assert image.value_range == (-32768.0, 32767.0)
    assert [p.name for p in image.source.files[1:3]] == [
        "signal_absent_001.raw",
        "signal_absent_002.raw",
    ]
    assert len(image.source.files) == 11
    first_raw = np.fromfile(src.parent / "signal_absent_001.raw", dtype="<i2").reshape(256, 256)
    assert np.array_equal(image.pixels[0], first_raw)
    assert image.geometry is not None
    np.testing.assert_allclose(image.geometry.positions[:, 2], np.arange(10.0))


def test_geometry_comes_from_origin_spacing_and_direction(tmp_path):
    src = tmp_path / "oblique.mha"
    data = make_mhd(src, volume())
    image = read_metaimage(src)
    assert np.array_equal(image.pixels, data)
    assert image.modality == "OT"
    assert image.photometric == "MONOCHROME2"
    geometry = image.geometry
    assert geometry is not None
    d = np.array(DIRECTION).reshape(3, 3)
    np.testing.assert_allclose(geometry.row_direction, d[:, 0])
    np.testing.assert_allclose(geometry.column_direction, d[:, 1])
    assert geometry.pixel_spacing == pytest.approx((0.9, 0.7))
    for k in range(4):
        expected = np.array([-12.0, 30.5, 100.0]) + k * 2.5 * d[:, 2]
        np.testing.assert_allclose(geometry.positions[k], expected)
    np.testing.assert_allclose(geometry.direction, d, atol=1e-12)


@pytest.mark.parametrize("dtype", ["int16", "uint16", "uint8", "float32", "float64"])
def test_generated_round_trip_keeps_values_and_geometry(tmp_path, dtype):
    src = tmp_path / "in.mhd"
    make_mhd(src, volume(dtype))
    first = read_metaimage(src)
    second = read_metaimage(write_metaimage(first, tmp_path / "out.mhd"))
    assert second.pixels.dtype == np.dtype(dtype)
    assert np.array_equal(second.pixels, first.pixels)
    assert second.source.spacing == pytest.approx((0.7, 0.9, 2.5))
    assert second.source.direction == pytest.approx(DIRECTION)
    assert second.source.origin == pytest.approx((-12.0, 30.5, 100.0))


def test_compressed_input_stays_compressed(tmp_path):
    src = tmp_path / "in.mhd"
    data = make_mhd(src, volume(), useCompression=True)
    image = read_metaimage(src)
    assert image.source.compressed
    out = write_metaimage(image, tmp_path / "out.mhd")
    assert "CompressedData = True" in out.read_text(errors="replace")
    assert (tmp_path / "out.zraw").is_file()
    assert np.array_equal(read_metaimage(out).pixels, data)


def test_two_dimensional_and_rgb_images(tmp_path):
    flat = tmp_path / "flat.mha"
    sitk.WriteImage(sitk.GetImageFromArray(volume("uint16", (5, 6))), str(flat))
    image = read_metaimage(flat)
    assert image.shape == (1, 5, 6)
    back = read_metaimage(write_metaimage(image, tmp_path / "flat_out.mha"))
    assert back.source.dimension == 2
    assert np.array_equal(back.pixels, image.pixels)
    rgb = tmp_path / "rgb.mha"
    colour = volume("uint8", (2, 5, 6, 3))
    sitk.WriteImage(sitk.GetImageFromArray(colour, isVector=True), str(rgb))
    image = read_metaimage(rgb)
    assert image.photometric == "RGB"
    assert np.array_equal(image.pixels, colour)
    back = read_metaimage(write_metaimage(image, tmp_path / "rgb_out.mhd"))
    assert np.array_equal(back.pixels, colour)


def test_image_from_another_format_gets_its_geometry(tmp_path):
    pixels = volume("uint16", (3, 4, 5))
    row, col = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, -1.0])
    positions = np.array([[-10.0 + 2.0 * k, 20.0, 30.0] for k in range(3)])
    image = MedicalImage.from_array(pixels, modality="CT", intercept=-1024.0)
    image.geometry = Geometry(positions, row, col, (0.7, 0.5))
    back = read_metaimage(write_metaimage(image, tmp_path / "ct.mha"))
    # No rescale fields in MetaImage: physical values, here exact in int16.
    assert back.pixels.dtype == np.int16
    assert np.array_equal(back.pixels, pixels.astype(np.int32) - 1024)
    assert back.geometry is not None
    np.testing.assert_allclose(back.geometry.positions, positions, atol=1e-6)
    np.testing.assert_allclose(back.geometry.row_direction, row, atol=1e-9)
    np.testing.assert_allclose(back.geometry.column_direction, col, atol=1e-9)
    assert back.geometry.pixel_spacing == pytest.approx((0.7, 0.5))


def test_fractional_scaling_is_written_as_float32(tmp_path):
    image = MedicalImage.from_array(np.arange(12, dtype=np.uint16).reshape(3, 4), slope=0.5)
    back = read_metaimage(write_metaimage(image, tmp_path / "f.mha"))
    assert back.pixels.dtype == np.float32
    np.testing.assert_array_equal(back.pixels[0], np.arange(12).reshape(3, 4) * 0.5)


def test_existing_outputs_are_kept_without_overwrite(tmp_path):
    image = MedicalImage.from_array(volume("int16", (4, 5)))
    out = tmp_path / "out.mhd"
    raw = tmp_path / "out.raw"
    raw.write_bytes(b"keep")
    with pytest.raises(InputError, match=r"out\.raw: already exists"):
        write_metaimage(image, out)
    assert raw.read_bytes() == b"keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.raw"]
    write_metaimage(image, out, overwrite=True)
    assert np.array_equal(read_metaimage(out).pixels, image.pixels)
    with pytest.raises(InputError, match=r"out\.mhd: already exists"):
        write_metaimage(image, out)


def test_data_file_of_the_input_is_never_replaced(tmp_path):
    src = tmp_path / "a.mhd"
    make_mhd(src, volume())
    text = src.read_text().replace("ElementDataFile = a.raw", "ElementDataFile = b.raw")
    src.write_text(text)
    (tmp_path / "a.raw").rename(tmp_path / "b.raw")
    image = read_metaimage(src)
    assert isinstance(image.source, MetaImageSource)
    with pytest.raises(InputError, match="refusing to write over the input"):
        write_metaimage(image, tmp_path / "b.mhd", overwrite=True)
    assert np.array_equal(read_metaimage(src).pixels, image.pixels)


def test_wrong_suffix_is_refused(tmp_path):
    image = MedicalImage.from_array(volume("int16", (4, 5)))
    with pytest.raises(InputError, match=r"\.mhd or \.mha"):
        write_metaimage(image, tmp_path / "out.nrrd")
    assert list(tmp_path.iterdir()) == []


def test_truncated_and_missing_data_files_raise_input_error(tmp_path):
    src = tmp_path / "cut.mhd"
    make_mhd(src, volume())
    raw = tmp_path / "cut.raw"
    raw.write_bytes(raw.read_bytes()[:100])
    with pytest.raises(InputError, match=r"cut\.mhd: header declares 240 bytes.*hold 100"):
        read_metaimage(src)
    raw.unlink()
    with pytest.raises(InputError, match=r"cut\.mhd: data file cut\.raw is missing"):
        read_metaimage(src)
    mha = tmp_path / "cut.mha"
    make_mhd(mha, volume())
    mha.write_bytes(mha.read_bytes()[:-50])
    with pytest.raises(InputError, match=r"cut\.mha"):
        read_metaimage(mha)


def test_huge_declared_size_is_refused_before_allocation(tmp_path):
    src = tmp_path / "huge.mhd"
    make_mhd(src, volume())
    src.write_text(src.read_text().replace("DimSize = 6 5 4", "DimSize = 100000 100000 1000"))
    with pytest.raises(InputError, match=r"huge\.mhd: header declares 20000000000000 bytes"):
        read_metaimage(src)


def test_empty_garbage_and_nan_files_raise_input_error(tmp_path):
    empty = tmp_path / "empty.mhd"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.mhd: empty file"):
        read_metaimage(empty)
    garbage = tmp_path / "garbage.mha"
    garbage.write_bytes(b"\x00\x01 not a header " * 50)
    with pytest.raises(InputError, match=r"garbage\.mha: not a MetaImage header"):
        read_metaimage(garbage)
    nan = tmp_path / "nan.mha"
    data = volume("float32")
    data[1, 2, 3] = np.nan
    make_mhd(nan, data)
    with pytest.raises(InputError, match=r"NaN in .*nan\.mha"):
        read_metaimage(nan)


def test_modality_from_header_or_hint(tmp_path):
    src = tmp_path / "mr.mhd"
    make_mhd(src, volume())
    src.write_text(
        src.read_text().replace("ObjectType = Image", "ObjectType = Image\nModality = MET_MOD_MR")
    )
    assert read_metaimage(src).modality == "MR"
    assert read_metaimage(src, modality="CT").modality == "CT"
