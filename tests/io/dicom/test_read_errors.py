"""read_dicom on bad input: one-line InputError naming the file, never a traceback."""

from __future__ import annotations

import shutil
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.pixels import get_decoder
from pydicom.uid import MPEG2MPML, JPEG2000Lossless

from meddenoise.errors import InputError
from meddenoise.io.dicom import files
from meddenoise.io.dicom.read import read_dicom
from tests.io.dicom.synthetic import PYDICOM_FILES, ct_dataset, pydicom_file, write_series


def _error(path: Path, **kwargs: str) -> str:
    with pytest.raises(InputError) as err:
        read_dicom(path, **kwargs)
    text = str(err.value)
    assert "\n" not in text
    assert err.value.exit_code == 2
    return text


@pytest.mark.parametrize(
    ("name", "sop_class"),
    [
        ("rtstruct.dcm", "RT Structure Set Storage"),
        ("reportsi.dcm", "Basic Text SR Storage"),
        ("rtplan.dcm", "RT Plan Storage"),
    ],
)
def test_non_image_objects(name: str, sop_class: str) -> None:
    path = pydicom_file(name)
    assert _error(path) == f"{path}: not an image ({sop_class})"


def test_folder_of_non_images(tmp_path: Path) -> None:
    shutil.copy(pydicom_file("rtstruct.dcm"), tmp_path / "rs.dcm")
    (tmp_path / "notes.txt").write_text("hello")
    text = _error(tmp_path)
    assert text.startswith(f"{tmp_path}: folder holds no image instance, only 1 non-image")
    assert "rs.dcm: not an image (RT Structure Set Storage)" in text


def test_empty_folder_and_folder_without_dicom(tmp_path: Path) -> None:
    assert _error(tmp_path) == f"{tmp_path}: folder holds no DICOM file"
    (tmp_path / "a.txt").write_text("not dicom")
    (tmp_path / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    assert _error(tmp_path) == f"{tmp_path}: folder holds no DICOM file"


def test_non_dicom_files_in_a_folder_are_skipped(tmp_path: Path) -> None:
    _, stack = write_series(tmp_path / "deep" / "er", [0, 1])
    (tmp_path / "README").write_text("a series")
    (tmp_path / "deep" / "junk.bin").write_bytes(bytes(range(256)) * 4)
    np.testing.assert_array_equal(read_dicom(tmp_path).pixels, stack)


def test_truncated_pixel_data() -> None:
    path = pydicom_file("MR_truncated.dcm")
    assert _error(path) == (
        f"{path}: truncated pixel data: 1 frame(s) of 64x64x1 pixels at 16 bits need "
        "8192 bytes, PixelData holds 8130"
    )


def test_truncated_header(tmp_path: Path) -> None:
    data = pydicom_file("CT_small.dcm").read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[:700])
    assert _error(tmp_path / "cut.dcm") == (
        f"{tmp_path / 'cut.dcm'}: incomplete DICOM header: no Rows or Columns in a "
        "CT Image Storage instance (truncated file?)"
    )


def test_wrong_magic(tmp_path: Path) -> None:
    data = bytearray(pydicom_file("CT_small.dcm").read_bytes())
    data[128:132] = b"DICX"
    (tmp_path / "bad.dcm").write_bytes(bytes(data))
    assert "not a DICOM file" in _error(tmp_path / "bad.dcm")


def test_declared_size_beyond_pixel_data_allocates_nothing(tmp_path: Path) -> None:
    ds = ct_dataset(np.zeros((8, 8), np.uint16), series_uid="1.2.3.4")
    ds.Rows, ds.Columns, ds.NumberOfFrames = 60000, 60000, 1000
    ds.save_as(tmp_path / "huge.dcm", enforce_file_format=True)
    tracemalloc.start()
    try:
        text = _error(tmp_path / "huge.dcm")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "1000 frame(s) of 60000x60000x1 pixels" in text
    assert "more than a file of" in text  # checked from the header, before any pixel
    assert peak < 50_000_000


def test_declared_size_beyond_compressed_data(tmp_path: Path) -> None:
    ds = pydicom.dcmread(pydicom_file("MR_small_jp2klossless.dcm"))
    ds.Rows = ds.Columns = 50000
    ds.save_as(tmp_path / "huge.dcm")
    assert "frame(s) of 50000x50000 pixels" in _error(tmp_path / "huge.dcm")


def test_missing_pixel_data(tmp_path: Path) -> None:
    ds = ct_dataset(np.zeros((4, 4), np.uint16), series_uid="1.2.3.4")
    del ds.PixelData
    ds.save_as(tmp_path / "empty.dcm", enforce_file_format=True)
    assert _error(tmp_path / "empty.dcm") == f"{tmp_path / 'empty.dcm'}: no PixelData"


def test_missing_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    path = pydicom_file("MR_small_jp2klossless.dcm")
    monkeypatch.setattr(get_decoder(JPEG2000Lossless), "_available", {})
    text = _error(path)
    assert text.startswith(f"{path}: transfer syntax JPEG 2000 Image Compression (Lossless")
    assert "pip install 'meddenoise[dicom-codecs]'" in text


def test_transfer_syntax_without_any_decoder(tmp_path: Path) -> None:
    ds = pydicom.dcmread(pydicom_file("MR_small.dcm"))
    ds.file_meta.TransferSyntaxUID = MPEG2MPML
    ds.PixelData = encapsulate([bytes(64)])
    ds["PixelData"].VR = "OB"
    ds.save_as(tmp_path / "video.dcm")
    text = _error(tmp_path / "video.dcm")
    assert "no decoder for transfer syntax MPEG2 Main Profile / Main Level" in text
    assert "pip install 'meddenoise[dicom-codecs]'" in text


def test_corrupt_compressed_data(tmp_path: Path) -> None:
    ds = pydicom.dcmread(pydicom_file("MR_small_jp2klossless.dcm"))
    if not get_decoder(JPEG2000Lossless).is_available:
        pytest.skip("no JPEG 2000 decoder installed")
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + bytes(60)])
    ds.save_as(tmp_path / "bad.dcm")
    assert "cannot decode pixel data" in _error(tmp_path / "bad.dcm")


@pytest.mark.filterwarnings("ignore:Invalid value for VR CS:UserWarning")
def test_dicomdir_with_missing_or_escaping_files(tmp_path: Path) -> None:
    shutil.copy(PYDICOM_FILES / "dicomdirtests" / "DICOMDIR", tmp_path / "DICOMDIR")
    assert "which does not exist" in _error(tmp_path / "DICOMDIR")
    ds = pydicom.dcmread(tmp_path / "DICOMDIR")
    ds.DirectoryRecordSequence[3].ReferencedFileID = ["..", "etc", "passwd"]
    ds.save_as(tmp_path / "DICOMDIR")
    assert "names a file outside its folder: ../etc/passwd" in _error(tmp_path / "DICOMDIR")


def test_empty_dicomdir() -> None:
    path = pydicom_file("dicomdirtests/DICOMDIR-empty.dcm")
    assert _error(path) == f"{path}: DICOMDIR holds no DICOM file"


def test_missing_path(tmp_path: Path) -> None:
    assert _error(tmp_path / "nope") == f"{tmp_path / 'nope'}: no such file or folder"


def test_zip_member_larger_than_the_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_series(tmp_path / "s", [0, 1])
    archive = tmp_path / "s.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(tmp_path / "s" / "s0.dcm", "s0.dcm")
    monkeypatch.setattr(files, "MAX_MEMBER_BYTES", 100)
    assert "zip member of " in _error(archive)
    assert "is larger than 100 bytes" in _error(archive)


def test_corrupt_zip(tmp_path: Path) -> None:
    write_series(tmp_path / "s", [0, 1])
    archive = tmp_path / "s.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.write(tmp_path / "s" / "s0.dcm", "s0.dcm")
    data = bytearray(archive.read_bytes())
    data[60:400] = bytes(340)  # damage the compressed member, keep the directory
    archive.write_bytes(bytes(data))
    assert _error(archive).startswith(f"{archive / 's0.dcm'}: cannot read zip member (")


def test_zero_rescale_slope(tmp_path: Path) -> None:
    ds = ct_dataset(np.zeros((4, 4), np.uint16), series_uid="1.2.3.4", slope=0.0)
    ds.save_as(tmp_path / "flat.dcm", enforce_file_format=True)
    assert _error(tmp_path / "flat.dcm") == (
        f"{tmp_path / 'flat.dcm'}: invalid rescale (slope 0.0, intercept -1024.0)"
    )


def test_float_pixel_data_is_not_supported(tmp_path: Path) -> None:
    ds = ct_dataset(np.zeros((4, 4), np.uint16), series_uid="1.2.3.4")
    del ds.PixelData
    ds.FloatPixelData = np.zeros(16, np.float32).tobytes()
    ds.BitsAllocated = 32
    ds.save_as(tmp_path / "float.dcm", enforce_file_format=True)
    assert _error(tmp_path / "float.dcm") == (
        f"{tmp_path / 'float.dcm'}: no PixelData (only FloatPixelData, which is not supported)"
    )
