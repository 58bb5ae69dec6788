from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from meddenoise.errors import InputError
from meddenoise.image import MedicalImage
from meddenoise.io.raster import RasterSource, read_raster, write_raster

RNG = np.random.default_rng(3)


def random(shape: tuple[int, ...], dtype: str = "uint8") -> np.ndarray:
    return RNG.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)


def png_bytes(array: np.ndarray, colour_type: int, *, size: tuple[int, int] | None = None) -> bytes:
    """A PNG written by hand (Pillow cannot write 16-bit colour), filter 0 on every row."""
    height, width = array.shape[:2]
    width, height = size or (width, height)
    big = array.astype(f">u{array.dtype.itemsize}")
    rows = b"".join(b"\x00" + row.tobytes() for row in big)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, array.dtype.itemsize * 8, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def ihdr(path: Path) -> tuple[int, int]:
    """Bit depth and colour type written in a PNG file."""
    head = path.read_bytes()[:26]
    return head[24], head[25]


def assert_round_trip(src: Path, tmp_path: Path, suffix: str | None = None) -> MedicalImage:
    first = read_raster(src)
    out = write_raster(first, tmp_path / f"out{suffix or src.suffix}")
    second = read_raster(out)
    assert second.pixels.dtype == first.pixels.dtype
    assert np.array_equal(second.pixels, first.pixels)
    assert second.photometric == first.photometric
    if first.alpha is None:
        assert second.alpha is None
    else:
        assert second.alpha is not None
        assert np.array_equal(second.alpha, first.alpha)
    return second


PIL_CASES = [
    ("grey8.png", (6, 7), "uint8", "L", 8, 0),
    ("grey16.png", (6, 7), "uint16", "I;16", 16, 0),
    ("rgb8.png", (6, 7, 3), "uint8", "RGB", 8, 2),
    ("rgba8.png", (6, 7, 4), "uint8", "RGBA", 8, 6),
    ("la8.png", (6, 7, 2), "uint8", "LA", 8, 4),
]


@pytest.mark.parametrize(("name", "shape", "dtype", "mode", "depth", "colour_type"), PIL_CASES)
def test_png_round_trip_keeps_mode_bit_depth_and_alpha(
    tmp_path, name, shape, dtype, mode, depth, colour_type
):
    array = random(shape, dtype)
    src = tmp_path / name
    Image.fromarray(array).save(src)
    assert ihdr(src) == (depth, colour_type)
    image = read_raster(src, modality="XC")
    assert image.format == "png"
    assert image.modality == "XC"
    assert image.pixels.dtype == np.dtype(dtype)
    assert image.value_range == (0.0, float(np.iinfo(dtype).max))
    assert image.geometry is None
    assert np.array_equal(image.slope, [1.0])
    assert np.array_equal(image.intercept, [0.0])
    assert isinstance(image.source, RasterSource)
    assert image.source.mode == mode
    assert image.source.bit_depth == depth
    has_alpha = mode in ("LA", "RGBA")
    grey = mode in ("L", "I;16", "LA")
    expected = array[..., :-1] if has_alpha else array
    if grey and expected.ndim == 3:
        expected = expected[..., 0]
    assert np.array_equal(image.pixels[0], expected)
    assert image.photometric == ("MONOCHROME2" if grey else "RGB")
    if has_alpha:
        assert image.alpha is not None
        assert np.array_equal(image.alpha[0], array[..., -1])
    else:
        assert image.alpha is None
    assert_round_trip(src, tmp_path)
    assert ihdr(tmp_path / "out.png") == (depth, colour_type)


def test_palette_png_becomes_rgb(tmp_path):
    index = random((5, 6), "uint8") % 4
    palette = [10, 20, 30, 200, 0, 0, 0, 255, 0, 7, 8, 9]
    im = Image.fromarray(index, mode="L").convert("P")
    im.putpalette(palette + [0] * (768 - len(palette)))
    im.putdata(index.ravel().tolist())
    src = tmp_path / "palette.png"
    im.save(src)
    image = read_raster(src)
    assert image.source.mode == "P"
    assert image.photometric == "RGB"
    expected = np.array(palette, dtype=np.uint8).reshape(4, 3)[index]
    assert np.array_equal(image.pixels[0], expected)
    write_raster(image, tmp_path / "out.png")
    assert ihdr(tmp_path / "out.png") == (8, 2)


def test_palette_png_with_transparency_becomes_rgba(tmp_path):
    index = np.array([[0, 1], [1, 0]], dtype=np.uint8)
    im = Image.fromarray(index, mode="L").convert("P")
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    im.putdata(index.ravel().tolist())
    src = tmp_path / "transparent.png"
    im.save(src, transparency=0)
    image = read_raster(src)
    assert image.alpha is not None
    assert np.array_equal(image.alpha[0], [[0, 255], [255, 0]])
    assert np.array_equal(image.pixels[0, 0, 1], [0, 0, 255])


TIFF_CASES = [
    ("grey16", (6, 7), "uint16", "minisblack", None, "MONOCHROME2"),
    ("rgb8", (6, 7, 3), "uint8", "rgb", None, "RGB"),
    ("rgba16", (6, 7, 4), "uint16", "rgb", ["unassalpha"], "RGB"),
    ("grey_alpha8", (6, 7, 2), "uint8", "minisblack", ["unassalpha"], "MONOCHROME2"),
    ("pages16", (3, 6, 7), "uint16", "minisblack", None, "MONOCHROME2"),
    ("white8", (6, 7), "uint8", "miniswhite", None, "MONOCHROME1"),
]


@pytest.mark.parametrize(("name", "shape", "dtype", "photometric", "extra", "expected"), TIFF_CASES)
def test_tiff_round_trip(tmp_path, name, shape, dtype, photometric, extra, expected):
    array = random(shape, dtype)
    src = tmp_path / f"{name}.tif"
    tifffile.imwrite(src, array, photometric=photometric, extrasamples=extra)
    image = read_raster(src)
    assert image.format == "tiff"
    assert image.photometric == expected
    assert image.pixels.dtype == np.dtype(dtype)
    pages = array if name.startswith("pages") else array[None]
    if extra:
        assert image.alpha is not None
        assert np.array_equal(image.alpha, pages[..., -1])
        pages = pages[..., :-1]
        if pages.shape[-1] == 1:
            pages = pages[..., 0]
    assert np.array_equal(image.pixels, pages)
    assert_round_trip(src, tmp_path)
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        assert len(tif.pages) == pages.shape[0]
        assert tif.pages.first.photometric == tifffile.PHOTOMETRIC[photometric.upper()]


def test_tiff_float_and_compression_are_kept(tmp_path):
    array = RNG.normal(size=(2, 5, 6)).astype(np.float32)
    src = tmp_path / "float.tif"
    tifffile.imwrite(src, array, photometric="minisblack", compression="zlib")
    image = read_raster(src)
    assert image.source.compression == "adobe_deflate"
    assert np.array_equal(image.pixels, array)
    assert_round_trip(src, tmp_path)
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        assert tif.pages.first.compression == tifffile.COMPRESSION.ADOBE_DEFLATE


def test_jpeg_decoded_values_survive_png_and_jpeg_is_close(tmp_path):
    smooth = np.add.outer(np.arange(32), np.arange(48)).astype(np.uint8)
    array = np.stack([smooth, smooth[::-1], 255 - smooth], axis=-1)
    src = tmp_path / "photo.jpg"
    Image.fromarray(array).save(src, quality=90)
    image = read_raster(src)
    assert image.format == "jpeg"
    assert image.photometric == "RGB"
    assert np.array_equal(image.pixels[0], np.asarray(Image.open(src)))
    assert_round_trip(src, tmp_path, ".png")
    again = read_raster(write_raster(image, tmp_path / "again.jpg"))
    difference = np.abs(again.pixels.astype(int) - image.pixels.astype(int))
    assert difference.mean() < 2.0


def test_grey_jpeg(tmp_path):
    src = tmp_path / "grey.jpg"
    Image.fromarray(np.full((8, 9), 77, dtype=np.uint8)).save(src)
    image = read_raster(src)
    assert image.photometric == "MONOCHROME2"
    assert image.shape == (1, 8, 9)
    assert np.all(np.abs(image.pixels.astype(int) - 77) <= 1)


def test_shared_dermoscopy_and_microscopy_round_trip(shared_data, tmp_path):
    files = sorted((shared_data / "dermoscopy").glob("*.jpg"))[:3]
    files += sorted(p for p in (shared_data / "microscopy").rglob("*") if p.is_file())
    if not files:
        pytest.skip("no raster images in the shared data")
    for k, src in enumerate(files):
        folder = tmp_path / str(k)
        folder.mkdir()
        suffix = ".png" if src.suffix.lower() == ".jpg" else src.suffix
        image = assert_round_trip(src, folder, suffix)
        assert image.pixels.dtype in (np.uint8, np.uint16)


def test_shared_microscopy_modes(shared_data):
    cell = shared_data / "microscopy" / "cell.png"
    tif = shared_data / "microscopy" / "img2d.tif"
    if not cell.is_file() or not tif.is_file():
        pytest.skip("microscopy images are not in the shared data")
    image = read_raster(cell)
    assert image.shape == (1, 660, 550)
    assert image.source.mode == "L"
    image = read_raster(tif)
    assert image.shape == (1, 512, 512)
    assert image.pixels.dtype == np.uint16
    assert int(image.pixels.max()) == 235
    rgba = sorted((shared_data / "microscopy" / "dsb2018").glob("0114f484*.png"))
    if rgba:
        image = read_raster(rgba[0])
        assert image.shape == (1, 256, 256, 3)
        assert image.alpha is not None
        assert np.all(image.alpha == 255)


def test_images_from_other_formats(tmp_path):
    ct = MedicalImage.from_array(np.zeros((4, 5), dtype=np.int16), modality="CT")
    for suffix in (".png", ".jpg", ".tif"):
        with pytest.raises(InputError, match="NIfTI"):
            write_raster(ct, tmp_path / f"ct{suffix}")
    stack = MedicalImage.from_array(random((3, 4, 5), "uint16"))
    with pytest.raises(InputError, match="one image, not 3 slices"):
        write_raster(stack, tmp_path / "stack.png")
    assert np.array_equal(read_raster(write_raster(stack, tmp_path / "s.tif")).pixels, stack.pixels)
    rgb16 = MedicalImage.from_array(random((4, 5, 3), "uint16"))
    with pytest.raises(InputError, match="write TIFF"):
        write_raster(rgb16, tmp_path / "rgb16.png")
    rgba = MedicalImage.from_array(random((4, 5, 3), "uint8"))
    rgba.alpha = random((1, 4, 5), "uint8")
    with pytest.raises(InputError, match="JPEG"):
        write_raster(rgba, tmp_path / "rgba.jpg")
    with pytest.raises(InputError, match=r"\.png"):
        write_raster(rgba, tmp_path / "rgba.bmp")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.tif"]


def test_existing_output_is_kept_without_overwrite(tmp_path):
    image = MedicalImage.from_array(random((4, 5), "uint8"))
    out = tmp_path / "out.png"
    out.write_bytes(b"keep")
    with pytest.raises(InputError, match="already exists"):
        write_raster(image, out)
    assert out.read_bytes() == b"keep"
    write_raster(image, out, overwrite=True)
    assert np.array_equal(read_raster(out).pixels, image.pixels)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_wrong_signature_empty_and_missing_files(tmp_path):
    fake = tmp_path / "fake.png"
    fake.write_text("this is not an image")
    with pytest.raises(InputError, match=r"fake\.png: not a PNG, JPEG or TIFF"):
        read_raster(fake)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.png: empty file"):
        read_raster(empty)
    with pytest.raises(InputError, match="no such file"):
        read_raster(tmp_path / "missing.png")


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
def test_truncated_files_raise_input_error_naming_the_file(tmp_path, suffix):
    src = tmp_path / f"whole{suffix}"
    array = random((64, 64, 3), "uint8")
    if suffix == ".tif":
        tifffile.imwrite(src, array, photometric="rgb")
    else:
        Image.fromarray(array).save(src)
    bad = tmp_path / f"broken{suffix}"
    bad.write_bytes(src.read_bytes()[: src.stat().st_size * 6 // 10])
    with pytest.raises(InputError, match=r"broken\.(png|jpg|tif): truncated or corrupt"):
        read_raster(bad)


def test_huge_declared_png_is_refused_before_decoding(tmp_path):
    src = tmp_path / "bomb.png"
    src.write_bytes(png_bytes(np.zeros((1, 1), np.uint8), 0, size=(100_000, 100_000)))
    with pytest.raises(InputError, match=r"bomb\.png: image too large"):
        read_raster(src)


def test_huge_declared_tiff_is_refused_before_decoding(tmp_path):
    src = tmp_path / "bomb.tif"
    tifffile.imwrite(src, np.zeros((4, 4), np.uint8))
    content = bytearray(src.read_bytes())
    with tifffile.TiffFile(src) as tif:
        for code in (256, 257):  # ImageWidth, ImageLength
            tag = tif.pages.first.tags[code]
            fmt = "<H" if tag.dtype == tifffile.DATATYPE.SHORT else "<I"
            content[tag.valueoffset : tag.valueoffset + struct.calcsize(fmt)] = struct.pack(
                fmt, 65535
            )
    src.write_bytes(bytes(content))
    with pytest.raises(InputError, match=r"bomb\.tif: image too large \(65535x65535"):
        read_raster(src)


def test_sixteen_bit_colour_png_is_refused(tmp_path):
    src = tmp_path / "rgb16.png"
    src.write_bytes(png_bytes(random((3, 4, 3), "uint16"), 2))
    with pytest.raises(InputError, match=r"rgb16\.png: 16-bit colour PNG"):
        read_raster(src)
