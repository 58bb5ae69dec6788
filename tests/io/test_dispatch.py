import gzip

import pytest

from meddenoise.errors import InputError
from meddenoise.image import MedicalImage
from meddenoise.io import detect_format, output_format, read_image, write_image


@pytest.mark.parametrize(
    ("name", "head", "expected"),
    [
        ("x.bin", b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "png"),
        ("x", b"\xff\xd8\xff\xe0" + b"\0" * 20, "jpeg"),
        ("x.dat", b"II*\x00" + b"\0" * 20, "tiff"),
        ("noext", b"\0" * 128 + b"DICM" + b"\0" * 20, "dicom"),
        ("x.mhd", b"ObjectType = Image\n", "metaimage"),
        ("DICOMDIR", b"\1\2\3", "dicom"),
    ],
)
def test_detect_format_by_content_then_name(tmp_path, name, head, expected):
    path = tmp_path / name
    path.write_bytes(head)
    assert detect_format(path) == expected


def test_gzip_is_nifti_only_by_name(tmp_path):
    nii = tmp_path / "a.nii.gz"
    nii.write_bytes(gzip.compress(b"\0" * 400))
    assert detect_format(nii) == "nifti"
    other = tmp_path / "a.gz"
    other.write_bytes(gzip.compress(b"\0" * 400))
    with pytest.raises(InputError, match="unknown file type"):
        detect_format(other)


def test_folders_are_dicom_and_bad_paths_are_input_errors(tmp_path):
    assert detect_format(tmp_path) == "dicom"
    with pytest.raises(InputError, match="no such file"):
        detect_format(tmp_path / "missing.dcm")
    empty = tmp_path / "empty.png"
    empty.touch()
    with pytest.raises(InputError, match="empty file"):
        read_image(empty)
    text = tmp_path / "notes.txt"
    text.write_text("hello, not an image")
    with pytest.raises(InputError, match="unknown file type") as exc:
        read_image(text)
    assert str(text) in str(exc.value)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("out", "dicom"),
        ("out.dcm", "dicom"),
        ("out.nii.gz", "nifti"),
        ("out.NII", "nifti"),
        ("out.mha", "metaimage"),
        ("out.tif", "tiff"),
        ("out.jpeg", "jpeg"),
    ],
)
def test_output_format_from_suffix(name, fmt):
    assert output_format(name) == fmt


def test_unknown_output_suffix_and_format_are_refused(tmp_path):
    with pytest.raises(InputError, match="cannot tell"):
        output_format(tmp_path / "out.xyz")
    img = MedicalImage.from_array([[1, 2]])
    with pytest.raises(InputError, match="unknown output format"):
        write_image(img, tmp_path / "out", format="bmp")
    png = tmp_path / "a.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(InputError, match="series_uid"):
        read_image(png, series_uid="1.2.3")
